// Bug class: bad input answered 5xx. A NUL character, a fractional or out-of-range number for an
// integer or date-time field, a LIKE pattern with a stray backslash, a deeply nested JSON value and
// concurrent identical schema changes each reached the database and came back as a 500 (mostly on
// PostgreSQL). Each is now a 4xx with a stable code on both dialects, and nothing is half-written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, login, bearer, createUser, type TestApp, useApp } from '../../helpers/app.js';
import { ok, q } from '../fixtures.js';

let t: TestApp;
let admin: string;
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
const req = (method: Method, url: string, payload?: unknown, token = admin, app = t) =>
  app.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
const list = (o: Record<string, string>) => req('GET', `/api/collections/tasks/records${q(o)}`);
const filter = (f: unknown) => list({ filter: JSON.stringify(f) });
let taskId: string;

useApp(async (app, token) => {
  t = app;
  admin = token;
  ok(
    await req('POST', '/api/admin/collections', {
      name: 'tasks',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'body', type: 'text' },
        { name: 'priority', type: 'integer' },
        { name: 'due', type: 'datetime' },
        { name: 'cost', type: 'decimal' },
        { name: 'data', type: 'json' },
        { name: 'people', type: 'members' },
        { name: 'parent', type: 'relation', target: 'tasks' },
        { name: 'team', type: 'group' },
        { name: 'code', type: 'string', unique: true },
      ],
    }),
  );
  for (const title of ['100%', '1000', 'a_b', 'axb', 'back\\slash', 'Mixed']) ok(await req('POST', '/api/collections/tasks/records', { title, priority: 1 }));
  taskId = (await filter({ title: 'Mixed' })).json().items[0].id;
});

/** Runs a table of requests: each must answer the status and code given, never a 5xx. */
async function expectAll(rows: Array<[string, () => ReturnType<typeof req>, number, string]>) {
  for (const [name, run, status, code] of rows) {
    const r = await run();
    assert.ok(r.statusCode < 500, `${name}: answered ${r.statusCode} ${r.body}`);
    assert.equal(r.statusCode, status, `${name}: ${r.body}`);
    assert.equal(r.json().error?.code, code, name);
  }
}

test('bad input 5xx: a NUL character in a value, filter, search or name is a 400, on every path', async () => {
  const NUL = 'a\u0000b';
  // Bodies, path and query values with a raw NUL are refused for every route before the handler
  // (src/http/pipeline/input-bounds.ts); a NUL escaped inside the JSON text of a filter reaches the
  // records checks, which refuse it before any SQL.
  await expectAll([
    ['string field', () => req('POST', '/api/collections/tasks/records', { title: NUL }), 400, 'NUL_CHARACTER'],
    ['text field', () => req('POST', '/api/collections/tasks/records', { body: NUL }), 400, 'NUL_CHARACTER'],
    ['relation value', () => req('POST', '/api/collections/tasks/records', { parent: NUL }), 400, 'NUL_CHARACTER'],
    ['group value', () => req('POST', '/api/collections/tasks/records', { team: NUL }), 400, 'NUL_CHARACTER'],
    ['member id', () => req('POST', '/api/collections/tasks/records', { people: [NUL] }), 400, 'NUL_CHARACTER'],
    ['json value', () => req('POST', '/api/collections/tasks/records', { data: { s: NUL } }), 400, 'NUL_CHARACTER'],
    ['update', () => req('PATCH', `/api/collections/tasks/records/${taskId}`, { title: NUL }), 400, 'NUL_CHARACTER'],
    ['bulk update set', () => req('POST', '/api/collections/tasks/records/bulk-update', { filter: {}, set: { title: NUL } }), 400, 'NUL_CHARACTER'],
    ['import', () => req('POST', '/api/collections/tasks/records/import', { records: [{ title: NUL }] }), 400, 'NUL_CHARACTER'],
    ['import csv', () => req('POST', '/api/collections/tasks/records/import', { csv: `title\n${NUL}\n` }), 400, 'NUL_CHARACTER'],
    ['filter $eq', () => filter({ title: NUL }), 400, 'FILTER_INVALID'],
    ['filter $in', () => filter({ title: { $in: ['x', NUL] } }), 400, 'FILTER_INVALID'],
    ['filter $like', () => filter({ title: { $like: `${NUL}%` } }), 400, 'FILTER_INVALID'],
    ['filter on a member list', () => filter({ people: NUL }), 400, 'FILTER_INVALID'],
    ['filter on id', () => filter({ id: NUL }), 400, 'FILTER_INVALID'],
    ['filter key', () => filter({ [NUL]: 'x' }), 400, 'FIELD_UNKNOWN'],
    ['filter $ne, escaped', () => list({ filter: '{"title":{"$ne":"x\\u0000"}}' }), 400, 'FILTER_INVALID'],
    [
      'filter in an aggregate',
      () => req('GET', `/api/collections/tasks/records/aggregate${q({ metrics: 'count', filter: JSON.stringify({ title: NUL }) })}`),
      400,
      'FILTER_INVALID',
    ],
    ['filter in an export', () => req('GET', `/api/collections/tasks/records/export${q({ filter: JSON.stringify({ title: NUL }) })}`), 400, 'FILTER_INVALID'],
    ['bulk delete filter', () => req('POST', '/api/collections/tasks/records/bulk-delete', { filter: { title: { $like: '\\u0000' } } }), 400, 'FILTER_INVALID'],
    ['search', () => list({ search: NUL }), 400, 'NUL_CHARACTER'],
    ['sort', () => list({ sort: NUL }), 400, 'NUL_CHARACTER'],
    ['fields', () => list({ fields: NUL }), 400, 'NUL_CHARACTER'],
    ['aggregate group', () => req('GET', `/api/collections/tasks/records/aggregate${q({ metrics: 'count', groupBy: NUL })}`), 400, 'NUL_CHARACTER'],
    [
      'collection default',
      () => req('POST', '/api/admin/collections', { name: 'nul_default', fields: [{ name: 'x', type: 'string', default: NUL }] }),
      400,
      'NUL_CHARACTER',
    ],
    ['role description', () => req('POST', '/api/admin/roles', { name: 'nul_role', description: NUL }), 400, 'NUL_CHARACTER'],
  ]);
  assert.equal((await req('GET', '/api/admin/roles/nul_role')).statusCode, 404, 'nothing was written');
});

test('bad input 5xx: a fractional or out-of-range number for an integer or date-time field is a 400, in filters and writes [ASVS V1.4.2, V2.2.1]', async () => {
  await expectAll([
    ['write 1.5', () => req('POST', '/api/collections/tasks/records', { priority: 1.5 }), 400, 'VALIDATION_FAILED'],
    ['write 1e19', () => req('POST', '/api/collections/tasks/records', { priority: 1e19 }), 400, 'VALIDATION_FAILED'],
    // biome-ignore lint/correctness/noPrecisionLoss: 2^63 as a client sends it; the literal is exact as a double
    ['update 2^63', () => req('PATCH', `/api/collections/tasks/records/${taskId}`, { priority: 9223372036854775808 }), 400, 'VALIDATION_FAILED'],
    ['bulk set 0.5', () => req('POST', '/api/collections/tasks/records/bulk-update', { filter: {}, set: { priority: 0.5 } }), 400, 'VALIDATION_FAILED'],
    ['filter 1.5', () => filter({ priority: 1.5 }), 400, 'FILTER_INVALID'],
    ['filter $gt 1e19', () => filter({ priority: { $gt: 1e19 } }), 400, 'FILTER_INVALID'],
    ['filter 10^23', () => list({ filter: '{"priority":99999999999999999999999}' }), 400, 'FILTER_INVALID'],
    ['filter 1e309', () => list({ filter: '{"priority":{"$lt":1e309}}' }), 400, 'FILTER_INVALID'],
    ['filter $in fraction', () => filter({ priority: { $in: [1, 2.5] } }), 400, 'FILTER_INVALID'],
    ['date-time filter fraction', () => filter({ due: { $gt: 0.5 } }), 400, 'FILTER_INVALID'],
    ['createdAt 1e300', () => filter({ createdAt: { $lt: 1e300 } }), 400, 'FILTER_INVALID'],
    [
      'aggregate filter',
      () => req('GET', `/api/collections/tasks/records/aggregate${q({ metrics: 'count', filter: '{"priority":1e19}' })}`),
      400,
      'FILTER_INVALID',
    ],
  ]);
  // Whole numbers in range, and any finite number for a decimal field, are answered.
  assert.equal((await filter({ priority: { $lte: 9007199254740991 } })).statusCode, 200);
  assert.equal((await filter({ cost: { $gt: 1.5e300 } })).statusCode, 200);
  assert.equal((await filter({ due: { $gt: '2020-01-01T00:00:00Z' } })).statusCode, 200);
  ok(await req('POST', '/api/collections/tasks/records', { title: 'big', priority: 9007199254740991, cost: 1e300 }));
});

test('bad input 5xx: LIKE patterns escape with a backslash on both dialects; a stray backslash is a 400 [ASVS V1.2.4, V1.2.9]', async () => {
  ok(await req('POST', '/api/admin/roles', { name: 'scoper' }));
  ok(
    await req('POST', '/api/admin/grants', { role: 'scoper', collection: 'tasks', actions: ['view'], fields: ['title'], scope: { title: { $like: 'x\\%' } } }),
  );
  const titles = async (f: unknown) => {
    const r = await filter(f);
    assert.equal(r.statusCode, 200, r.body);
    return r
      .json()
      .items.map((x: { title: string }) => x.title)
      .sort();
  };
  assert.deepEqual(await titles({ title: { $like: '100\\%' } }), ['100%']);
  assert.deepEqual(await titles({ title: { $like: '100%' } }), ['100%', '1000']);
  assert.deepEqual(await titles({ title: { $like: 'a\\_b' } }), ['a_b']);
  assert.deepEqual(await titles({ title: { $like: 'a_b' } }), ['a_b', 'axb']);
  assert.deepEqual(await titles({ title: { $like: 'back\\\\slash' } }), ['back\\slash']);
  assert.deepEqual(await titles({ title: { $ilike: 'mIxEd' } }), ['Mixed']);
  await expectAll([
    ['trailing backslash', () => filter({ title: { $like: 'abc\\' } }), 400, 'FILTER_INVALID'],
    ['trailing backslash, ilike', () => filter({ title: { $ilike: '%\\' } }), 400, 'FILTER_INVALID'],
    ['backslash before a letter', () => filter({ title: { $like: 'back\\slash' } }), 400, 'FILTER_INVALID'],
    [
      'in a grant scope',
      () => req('POST', '/api/admin/grants', { role: 'scoper', collection: 'tasks', actions: ['view'], fields: ['title'], scope: { title: { $like: 'x\\' } } }),
      400,
      'VALIDATION_FAILED',
    ],
  ]);
  // A search term is literal: a backslash is searched for, never an escape.
  const s = await list({ search: 'k\\s' });
  assert.deepEqual(
    s.json().items.map((x: { title: string }) => x.title),
    ['back\\slash'],
  );
});

test('bad input 5xx: a json value nested past the bound, or too large, is a 400; within the bound it is stored', async () => {
  const nest = (n: number) => {
    let v: unknown = 1;
    for (let i = 0; i < n; i++) v = [v];
    return v;
  };
  for (const deepText of [
    `{"title":"deep","data":${'['.repeat(5000)}1${']'.repeat(5000)}}`,
    `{"title":"deep","data":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`,
  ]) {
    const deep = await t.app.inject({
      method: 'POST',
      url: '/api/collections/tasks/records',
      headers: { ...bearer(admin), 'content-type': 'application/json' },
      payload: deepText,
    });
    assert.equal(deep.statusCode, 400, deep.body);
    assert.equal(deep.json().error.code, 'NESTING_TOO_DEEP');
  }
  await expectAll([
    // Through a JSON body the body bound (32 levels in all) answers first, for every route.
    ['33 levels', () => req('POST', '/api/collections/tasks/records', { data: nest(33) }), 400, 'NESTING_TOO_DEEP'],
    ['deep in an update', () => req('PATCH', `/api/collections/tasks/records/${taskId}`, { data: nest(1000) }), 400, 'NESTING_TOO_DEEP'],
    // The json field bound of the records service holds for any source, CSV cells included.
    ['too many values', () => req('POST', '/api/collections/tasks/records', { data: Array.from({ length: 20_000 }, () => 0) }), 400, 'VALIDATION_FAILED'],
    [
      'csv cell 33 levels',
      () => req('POST', '/api/collections/tasks/records/import', { csv: `title,data\nx,${JSON.stringify(JSON.stringify(nest(33)))}\n` }),
      400,
      'IMPORT_REJECTED',
    ],
    [
      'csv cell 5000 levels',
      () => req('POST', '/api/collections/tasks/records/import', { csv: `title,data\nx,${JSON.stringify(`${'['.repeat(5000)}1${']'.repeat(5000)}`)}\n` }),
      400,
      'IMPORT_REJECTED',
    ],
  ]);
  const csv = await req('POST', '/api/collections/tasks/records/import', { csv: `title,data\nx,${JSON.stringify(JSON.stringify(nest(33)))}\n` });
  assert.deepEqual(
    csv.json().error.details.errors.map((e: { code: string }) => e.code),
    ['VALIDATION_FAILED'],
  );
  ok(await req('POST', '/api/collections/tasks/records/import', { csv: `title,data\ncsv-nested,${JSON.stringify(JSON.stringify(nest(32)))}\n` }), 200);
  const fine = await req('POST', '/api/collections/tasks/records', { title: 'nested', data: nest(30) });
  ok(fine);
  assert.deepEqual(fine.json().data, nest(30));
  assert.deepEqual((await filter({ title: 'csv-nested' })).json().items[0].data, nest(32));
});

test('bad input: a json value holds finite numbers and no prototype key, from a body or a CSV or JSON import alike (silent null, prototype pollution of clients)', async () => {
  const raw = (payload: string) =>
    t.app.inject({ method: 'POST', url: '/api/collections/tasks/records', headers: { ...bearer(admin), 'content-type': 'application/json' }, payload });
  const csvOf = (cell: string) => ({ csv: `title,data\ncsv-bad,"${cell.replaceAll('"', '""')}"\n` });
  const before = (await filter({ title: 'csv-bad' })).json().items.length;
  await expectAll([
    // 1e400 parses to Infinity, which JSON.stringify writes as null: refused, as an integer or decimal field does.
    ['1e400 in a body', () => raw('{"title":"inf","data":{"n":1e400}}'), 400, 'VALIDATION_FAILED'],
    ['-1e400 alone', () => raw('{"title":"inf","data":-1e400}'), 400, 'VALIDATION_FAILED'],
    ['csv cell 1e400', () => req('POST', '/api/collections/tasks/records/import', csvOf('[1e400]')), 400, 'IMPORT_REJECTED'],
    ['csv cell __proto__', () => req('POST', '/api/collections/tasks/records/import', csvOf('{"a":{"__proto__":{"admin":true}}}')), 400, 'IMPORT_REJECTED'],
    [
      'csv cell constructor.prototype',
      () => req('POST', '/api/collections/tasks/records/import', csvOf('{"constructor":{"prototype":{"admin":true}}}')),
      400,
      'IMPORT_REJECTED',
    ],
  ]);
  assert.equal((await filter({ title: 'csv-bad' })).json().items.length, before, 'nothing was imported');
  // The legitimate values: large finite numbers, and a key named constructor that is not a prototype's.
  const fine = await req('POST', '/api/collections/tasks/records/import', csvOf('{"n":1e300,"constructor":"Ford"}'));
  ok(fine, 200);
  assert.deepEqual((await filter({ title: 'csv-bad' })).json().items.at(-1)?.data, { n: 1e300, constructor: 'Ford' });
});

test('bad input 5xx: concurrent identical schema changes: one wins, the others get 409 (or 404 for what is gone), never 500', async () => {
  const peer = await makeApp({ peerOf: t });
  try {
    const peerAdmin = (await login(peer)).token;
    const both = <T>(fn: (app: TestApp, token: string) => Promise<T>) => Promise.all([fn(t, admin), fn(peer, peerAdmin), fn(t, admin), fn(peer, peerAdmin)]);
    // On SQLite the two instances of this test share one process and one file: a lock's wait is asynchronous (D383),
    // so the holder goes on while the others wait, and every loser answers its 409 or 404, never a 503 or a 500.
    const statuses = (rs: Array<{ statusCode: number; body: string }>) =>
      rs
        .map((r) => r.statusCode)
        .sort()
        .join(',');
    const codes = (rs: Array<{ statusCode: number; json(): any }>) => [...new Set(rs.filter((r) => r.statusCode >= 400).map((r) => r.json().error.code))];
    const create = await both((app, tok) =>
      req('POST', '/api/admin/collections', { name: 'race', fields: [{ name: 'a', type: 'string', unique: true }] }, tok, app),
    );
    assert.equal(statuses(create), '201,409,409,409', create.map((r) => r.body).join('\n'));
    assert.deepEqual(codes(create), ['CONFLICT']);
    const addField = await both((app, tok) => req('POST', '/api/admin/collections/race/fields', { name: 'b', type: 'integer', unique: true }, tok, app));
    assert.equal(statuses(addField), '201,409,409,409', addField.map((r) => r.body).join('\n'));
    const dropField = await both((app, tok) => req('DELETE', '/api/admin/collections/race/fields/b', undefined, tok, app));
    assert.equal(statuses(dropField), '200,404,404,404', dropField.map((r) => r.body).join('\n'));
    const drop = await both((app, tok) => req('DELETE', '/api/admin/collections/race', undefined, tok, app));
    assert.equal(statuses(drop), '204,404,404,404', drop.map((r) => r.body).join('\n'));
    // Parallel creates of one unique value: one record, the rest CONFLICT.
    ok(await req('POST', '/api/admin/collections', { name: 'race2', fields: [{ name: 'a', type: 'string', unique: true }] }));
    const recs = await both((app, tok) => req('POST', '/api/collections/race2/records', { a: 'same' }, tok, app));
    assert.equal(statuses(recs), '201,409,409,409', recs.map((r) => r.body).join('\n'));
    // The schema is consistent afterwards: the collection works from either instance.
    ok(await req('POST', '/api/admin/collections', { name: 'race', fields: [{ name: 'a', type: 'string' }] }, peerAdmin, peer));
    ok(await req('POST', '/api/collections/race/records', { a: 'x' }));
  } finally {
    await peer.close();
  }
});

test('bad input 5xx: database refusals are recognised in one place for both dialects', async () => {
  const { dbRefusal } = await import('../../../src/db/errors.js');
  const table: Array<[unknown, string | null]> = [
    [{ code: '23505' }, 'unique'],
    [{ code: 'SQLITE_CONSTRAINT_UNIQUE' }, 'unique'],
    [{ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }, 'unique'],
    [{ code: '42P07' }, 'exists'],
    [{ code: '42701' }, 'exists'],
    [{ code: 'SQLITE_ERROR', message: 'table col_x already exists' }, 'exists'],
    [{ code: 'SQLITE_ERROR', message: 'duplicate column name: b' }, 'exists'],
    [{ code: '42P01' }, 'missing'],
    [{ code: '42703' }, 'missing'],
    [{ code: 'SQLITE_ERROR', message: 'no such table: col_x' }, 'missing'],
    [{ code: 'SQLITE_ERROR', message: 'table col_x has no column named extra' }, 'missing'],
    [{ code: '22003' }, 'value'],
    [{ code: '22P02' }, 'value'],
    [{ code: '22021' }, 'value'],
    [{ code: '22025' }, 'value'],
    [{ code: '54000' }, 'value'],
    [{ code: 'SQLITE_ERROR', message: 'integer overflow' }, 'value'],
    [{ code: '40P01' }, 'conflict'],
    [{ code: '23503' }, 'conflict'],
    [{ code: 'SQLITE_ERROR', message: 'near "x": syntax error' }, null],
    [{ code: '42601' }, null],
    [new Error('boom'), null],
    [null, null],
  ];
  for (const [e, kind] of table) assert.equal(dbRefusal(e), kind, JSON.stringify(e));
});

test('bad input 5xx: text that is not well-formed Unicode (a lone surrogate) is a 400 on every route (D466)', async () => {
  const HALF = 'Pal\ud800isade';
  await expectAll([
    ['string field', () => req('POST', '/api/collections/tasks/records', { title: HALF }), 400, 'MALFORMED_TEXT'],
    ['json value key', () => req('POST', '/api/collections/tasks/records', { data: { [HALF]: 1 } }), 400, 'MALFORMED_TEXT'],
    ['role description', () => req('POST', '/api/admin/roles', { name: 'half_role', description: HALF }), 400, 'MALFORMED_TEXT'],
    // Taken before, it made every TOTP enrolment a 500 (the otpauth URI cannot encode it).
    ['TOTP issuer', () => req('PATCH', '/api/admin/settings/mfa', { issuer: HALF }), 400, 'MALFORMED_TEXT'],
    ['a trailing half', () => req('POST', '/api/collections/tasks/records', { title: 'end\udfff' }), 400, 'MALFORMED_TEXT'],
    // Escaped inside a filter's JSON, it passes the query string's check; the filter's refuses it.
    ['filter, escaped', () => list({ filter: '{"title":"x\\ud800"}' }), 400, 'FILTER_INVALID'],
    ['filter $like, escaped', () => list({ filter: '{"title":{"$like":"\\ud800%"}}' }), 400, 'FILTER_INVALID'],
  ]);
  assert.equal((await req('GET', '/api/admin/roles/half_role')).statusCode, 404, 'nothing was written');
  assert.notEqual((await req('GET', '/api/admin/settings/mfa')).json().issuer, HALF);
  // A whole pair (an emoji) is text like any other.
  ok(await req('POST', '/api/collections/tasks/records', { title: 'Party \ud83c\udf89' }));
});

test('bad input 5xx: a filter holds at most 1 000 values, and a statement that would bind more than either database takes is a 400 (D466)', async () => {
  const values = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${i}`);
  const big = { $or: [{ title: { $in: values(500, 'a') } }, { body: { $in: values(500, 'b') } }, { code: { $in: values(10, 'c') } }] };
  const before = (await list({ perPage: '1' })).json().total;
  ok(await req('POST', '/api/admin/roles', { name: 'wide' }));
  await expectAll([
    ['bulk delete', () => req('POST', '/api/collections/tasks/records/bulk-delete', { filter: big }), 400, 'FILTER_INVALID'],
    ['bulk update', () => req('POST', '/api/collections/tasks/records/bulk-update', { filter: big, set: { title: 'x' } }), 400, 'FILTER_INVALID'],
    [
      'grant scope',
      () => req('POST', '/api/admin/grants', { role: 'wide', collection: 'tasks', actions: ['view'], fields: ['title'], scope: big }),
      400,
      'VALIDATION_FAILED',
    ],
  ]);
  assert.equal((await list({ perPage: '1' })).json().total, before, 'nothing was deleted');
  // Within the bound a filter is taken (each grant below holds 1 000 values). Grant scopes add up: 31 of 1 000 values each would bind 31 000, past what a statement may. The role's list is then
  // refused with its own code (it was a 500: SQLite's "too many SQL variables", PostgreSQL's broken bind message).
  assert.equal((await req('GET', '/api/admin/grants?role=wide')).json().grants?.length ?? 0, 0, 'the grant was not stored');
  for (let g = 0; g < 31; g++)
    ok(
      await req('POST', '/api/admin/grants', {
        role: 'wide',
        collection: 'tasks',
        actions: ['view'],
        fields: ['title'],
        scope: { $or: [{ title: { $in: values(500, `g${g}a`) } }, { title: { $in: values(500, `g${g}b`) } }] },
      }),
    );
  const wideId = await createUser(t, admin, 'wide-reader', 'Amber-thicket-5820');
  ok(await req('PUT', `/api/admin/users/${wideId}/roles`, { roles: ['wide'] }), 204);
  const reader = (await login(t, 'wide-reader', 'Amber-thicket-5820')).token;
  const refused = await req('GET', '/api/collections/tasks/records', undefined, reader);
  assert.equal(refused.statusCode, 400, refused.body);
  assert.equal(refused.json().error.code, 'QUERY_TOO_LARGE');
  assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});
