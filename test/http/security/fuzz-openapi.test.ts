// Bug class: 5xx and leaks on malformed input. A property-based walk over every operation of
// /api/openapi.json, as an administrator, as a member with grants and anonymously, with generated
// malformed values for each path and query parameter and each body field. It fails on any 5xx,
// on an answer outside our error envelope, and on a stack trace, SQL text or file path in a body.
// FUZZ_RUNS (runs per operation and identity, default 8) and FUZZ_SEED make it longer or different.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { login, bearer, createUser, ROOT, type TestApp, useApp } from '../../helpers/app.js';
import { ERRORS } from '../../../src/errors.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 8);
const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const MEMBER_PW = 'Crew-person-secret-4821';

interface Operation {
  method: string;
  path: string;
  params: Array<{ in: 'path' | 'query'; name: string; schema: Schema }>;
  body?: Schema;
}
interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: unknown[];
  anyOf?: Schema[];
  minimum?: number;
  maximum?: number;
}

let t: TestApp;
let ops: Operation[];
let adminToken: string;
let memberToken: string;
const known: Record<string, string[]> = {};

/** Values that have broken parsers, drivers and SQL before. */
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '%00',
  "'",
  '"',
  '\\',
  'x\\',
  '%',
  '_',
  '%_\\',
  "' OR '1'='1",
  '1; DROP TABLE users --',
  '../../../etc/passwd',
  '..%2f..%2f',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent as typed
  '${7*7}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '\r\nX-Injected: 1',
  '\ud800',
  '\udfff\ud800',
  '😀'.repeat(50),
  'a'.repeat(5000),
  '__proto__',
  'constructor',
  'prototype',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
  '1e19',
  '-1e19',
  '99999999999999999999999',
  '1.5',
  '0x10',
  '[]',
  '{}',
  'null',
  'true',
  '2026-13-45T99:99:99Z',
  '9999-12-31T23:59:59Z',
  'name<other@evil.example>',
  'a@b.c, d@e.f',
  '"a@b"@c.d',
  'root',
  '*',
  '$user.id',
  '$where',
  '{"title":{"$like":"abc\\\\"}}',
  '{"title":{"$ilike":"%\\\\"}}',
  '{"n":{"$eq":1.5}}',
  '{"n":{"$gt":1e19}}',
  '{"n":{"$eq":99999999999999999999999}}',
  '{"d":{"$lt":"not a date"}}',
  '{"$or":[]}',
  '{"$and":[{"$or":[{"$not":{}}]}]}',
  '{"title":{"$in":[]}}',
  '{"title":{"$in":["\\u0000"]}}',
  '{"title":{"$eq":{"$eq":1}}}',
  '{"owner.name":{"$eq":"x"}}',
  '{"secret":{"$eq":"x"}}',
  '{"nope":{"$eq":"x"}}',
  '{"__proto__":{"$eq":1}}',
  JSON.stringify(nest(200, { title: { $eq: 'x' } }, '$not')),
  '-title,title',
  'title,-',
  ',',
  'sum:n,avg:title',
  'count,sum:',
  'owner',
  'owner:owner',
];
const NASTY_NUMBERS = [0, -1, 1.5, -0.5, 1e19, -1e19, 1e308, -1e308, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, 2 ** 31, -(2 ** 63)];

/** Percent-encodes a path segment; a lone surrogate goes as the bytes a careless client would send. */
function enc(v: string): string {
  try {
    return encodeURIComponent(v);
  } catch {
    return `${[...Buffer.from(v, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}%ED%A0%80`;
  }
}

function nest(depth: number, leaf: unknown, key: string): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { [key]: v };
  return v;
}

const nastyString = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: nastyString },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(...NASTY_NUMBERS) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}, [null], { $eq: 1 }, { __proto__x: 1 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      nest(3000, 1, 'a'),
      nest(40, 'x', 'b'),
      Array.from({ length: 2000 }, (_, i) => i),
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** A plausible value of a schema's type, so that the other fields get past the schema. */
function plausible(s: Schema | undefined): fc.Arbitrary<unknown> {
  if (!s) return nastyValue;
  if (s.enum?.length) return fc.constantFrom(...s.enum);
  if (s.anyOf?.length) return fc.oneof(...s.anyOf.map(plausible));
  const type = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
  switch (type) {
    case 'integer':
      return fc.integer({ min: s.minimum ?? 0, max: Math.min(s.maximum ?? 1000, 1_000_000) });
    case 'number':
      return fc.double({ min: s.minimum ?? 0, max: s.maximum ?? 1000, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(plausible(s.items), { maxLength: 3 });
    case 'object':
      return s.properties ? bodyOf(s) : fc.dictionary(fc.constantFrom(...fieldNames()), nastyValue, { maxKeys: 3 });
    default:
      return fc.oneof(fc.constantFrom(...pool('any')), fc.string({ maxLength: 12 }));
  }
}

/** A body for an object schema: each property plausible, malformed or left out; sometimes an unknown key. */
function bodyOf(s: Schema): fc.Arbitrary<unknown> {
  const props = Object.entries(s.properties ?? {});
  const fields = props.map(([k, p]) =>
    fc.tuple(fc.constant(k), fc.oneof({ weight: 2, arbitrary: plausible(p) }, { weight: 1, arbitrary: nastyValue }), fc.nat(3)),
  );
  return fc.tuple(fc.tuple(...fields), fc.option(fc.tuple(fc.constantFrom('extra', '__proto__', 'isAdmin', 'id'), nastyValue))).map(([entries, extra]) => {
    const o: Record<string, unknown> = {};
    for (const [k, v, keep] of entries) if (keep > 0) o[k] = v;
    if (extra) Object.defineProperty(o, extra[0], { value: extra[1], enumerable: true, writable: true, configurable: true });
    return o;
  });
}

/** Raw bodies that never parse or that parse into something hostile. */
const RAW_BODIES = [
  '{',
  '[]',
  'null',
  '"x"',
  '{"a":1,}',
  '{"__proto__":{"isAdmin":true}}',
  '{"constructor":{"prototype":{"x":1}}}',
  '['.repeat(10000) + ']'.repeat(10000),
  `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`,
  '{"a":1e999}',
  '{"a":99999999999999999999999}',
  '{"a":"\\ud800"}',
  '{"a":"\\u0000"}',
  '\u0000',
  '\ufeff{}',
];

const pool = (key: string): string[] => known[key] ?? known.any!;
const fieldNames = (): string[] => known.fields!;

function paramValue(p: { name: string; schema: Schema }): fc.Arbitrary<string> {
  const real = known[p.name];
  return fc.oneof(
    { weight: 2, arbitrary: nastyString },
    { weight: real ? 3 : 0, arbitrary: fc.constantFrom(...(real ?? ['x'])) },
    { weight: 1, arbitrary: plausible(p.schema).map((v) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))) },
  );
}

interface Generated {
  path: string;
  query: string;
  body?: string | Buffer;
  contentType?: string;
}

function requestOf(op: Operation): fc.Arbitrary<Generated> {
  const pathParams = op.params.filter((p) => p.in === 'path');
  const queryParams = op.params.filter((p) => p.in === 'query');
  const body: fc.Arbitrary<{ body?: string | Buffer; contentType?: string }> = op.body
    ? fc.oneof(
        {
          weight: 5,
          arbitrary: (op.body.properties ? bodyOf(op.body) : plausible(op.body)).map((b) => ({ body: JSON.stringify(b), contentType: 'application/json' })),
        },
        { weight: 1, arbitrary: fc.constantFrom(...RAW_BODIES).map((b) => ({ body: b, contentType: 'application/json' })) },
        {
          weight: 1,
          arbitrary: fc.constantFrom<{ body?: string | Buffer; contentType?: string }>(
            { body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), contentType: 'application/json' },
            { body: 'a=1', contentType: 'application/x-www-form-urlencoded' },
            { body: '{}', contentType: 'text/plain' },
            {},
          ),
        },
      )
    : fc.constant({});
  return fc
    .record({
      path: fc.tuple(...pathParams.map(paramValue)).map((vals) => {
        let out = op.path;
        pathParams.forEach((p, i) => {
          out = out.replace(`{${p.name}}`, enc(vals[i]!) || '%20');
        });
        return out;
      }),
      query: fc
        .tuple(
          ...queryParams.map((p) => fc.option(paramValue(p), { freq: 2 })),
          fc.option(fc.tuple(fc.constantFrom('unknown', 'filter', '__proto__'), nastyString)),
        )
        .map((vals) => {
          const q = new URLSearchParams();
          queryParams.forEach((p, i) => {
            if (vals[i] !== null && vals[i] !== undefined) q.append(p.name, vals[i] as string);
          });
          const extra = vals[queryParams.length] as [string, string] | null;
          if (extra) q.append(extra[0], extra[1]);
          const s = q.toString();
          return s ? `?${s}` : '';
        }),
      body,
    })
    .map(({ path, query, body: b }) => ({ path, query, ...b }));
}

/** Patterns that must never appear in an answer. */
const LEAKS: Array<[string, RegExp]> = [
  ['stack trace', /\bat [\w$.<>]+ \(|\bat (file:|node:|\/)[^\s]*:\d+:\d+/],
  ['file path', /(\/work\/|\/tmp\/|\/home\/|\/root\/|\/usr\/|node_modules|\.ts:\d|\.js:\d|palisade-test-)/],
  ['SQL text', /\b(SELECT\s.+\sFROM|INSERT INTO|UPDATE\s+\S+\s+SET|DELETE FROM|syntax error|SQLITE_[A-Z]|violates|relation "|column "|near ")/i],
  ['driver error', /\b(ECONNREFUSED|ERR_[A-Z_]{4,}|FST_ERR|TypeError|ReferenceError|RangeError|SyntaxError|Cannot read prop)/],
];

/** Failures of the sweep, collected so that one run reports every class at once (one per operation and kind). */
const failures = new Map<string, string>();
let collecting = false;

async function send(identity: 'admin' | 'member' | 'anonymous', op: Operation, g: Generated) {
  try {
    await check(identity, op, g);
  } catch (e) {
    if (!collecting || !(e instanceof assert.AssertionError)) throw e;
    const key = `${op.method} ${op.path} ${e.message.split(':')[0]} ${/-> (\d+) .{0,60}?"code":"(\w+)"/.exec(e.message)?.slice(1).join(' ') ?? ''}`;
    if (!failures.has(key)) failures.set(key, e.message.slice(0, 700));
  }
}

async function check(identity: 'admin' | 'member' | 'anonymous', op: Operation, g: Generated) {
  const headers: Record<string, string> = {};
  if (identity === 'admin') Object.assign(headers, bearer(adminToken));
  if (identity === 'member') Object.assign(headers, bearer(memberToken));
  if (g.contentType) headers['content-type'] = g.contentType;
  const res = await t.app.inject({ method: op.method as 'GET', url: g.path + g.query, headers, ...(g.body !== undefined ? { payload: g.body } : {}) });
  const what = `${identity} ${op.method} ${g.path}${g.query.slice(0, 300)} body=${String(g.body ?? '').slice(0, 300)} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
  // A deliberate pause of password sign-in (spread-attack defence) is the only 503 by design.
  const paused = res.statusCode === 503 && res.body.includes('"SIGN_IN_PAUSED"');
  assert.ok(res.statusCode < 500 || paused, `5xx: ${what}`);
  if (res.statusCode >= 400) {
    const code = JSON.parse(res.body)?.error?.code as string;
    assert.ok(code in ERRORS, `unregistered error code: ${what}`);
  }
  // A 200 of the doctor names the data directory and key file on purpose (administrators only, D166): its report, not a leak.
  if (!(res.statusCode === 200 && (op.path === '/api/openapi.json' || op.path.endsWith('/export') || op.path === '/api/admin/doctor'))) {
    for (const [kind, re] of LEAKS) assert.doesNotMatch(res.body, re, `${kind} in the answer: ${what}`);
  }
  // An identity whose session a fuzzed request ended signs in again.
  if (res.statusCode === 401 && identity !== 'anonymous') await relogin();
}

async function relogin(): Promise<void> {
  adminToken = (await login(t)).token;
  memberToken = (await login(t, 'member', MEMBER_PW)).token;
}

/** Operations that narrow what later requests can reach run last. */
const LAST = /logout|\/sessions|ip-rules|settings\/(geo|rate-limits|lockout|spread)|keys\/rotate|active-role|\/lock$|DELETE \/api\/admin\/users\/\{id\}$/;

useApp(
  async (app, token) => {
    t = app;
    adminToken = token;
    const req = (method: string, url: string, payload?: unknown) =>
      t.app.inject({ method: method as 'GET', url, headers: bearer(adminToken), ...(payload !== undefined ? { payload: payload as object } : {}) });
    const must = async (r: Promise<{ statusCode: number; body: string }>) => {
      const x = await r;
      assert.ok(x.statusCode < 300, x.body);
      return x;
    };
    await must(req('POST', '/api/admin/collections', { name: 'owners', fields: [{ name: 'name', type: 'string', unique: true }] }));
    await must(
      req('POST', '/api/admin/collections', {
        name: 'things',
        fields: [
          { name: 'title', type: 'string', unique: true },
          { name: 'body', type: 'text' },
          { name: 'n', type: 'integer', indexed: true },
          { name: 'price', type: 'decimal' },
          { name: 'ok', type: 'boolean' },
          { name: 'd', type: 'datetime' },
          { name: 'meta', type: 'json' },
          { name: 'mail', type: 'email' },
          { name: 'kind', type: 'enum', values: ['a', 'b'] },
          { name: 'state', type: 'status', values: ['open', 'done'] },
          { name: 'owner', type: 'relation', target: 'owners' },
          { name: 'who', type: 'user' },
          { name: 'secret', type: 'text', hidden: true },
        ],
      }),
    );
    const owner = (await must(req('POST', '/api/collections/owners/records', { name: 'acme' }))).body;
    const ownerId = JSON.parse(owner).id ?? JSON.parse(owner).record?.id;
    const thing = JSON.parse((await must(req('POST', '/api/collections/things/records', { title: 'first', n: 1, owner: ownerId, meta: { a: 1 } }))).body);
    const memberId = await createUser(t, adminToken, 'member', MEMBER_PW, { email: 'member@example.com' });
    const victimId = await createUser(t, adminToken, 'victim', 'Target-of-the-fuzz-9931', { email: 'victim@example.com' });
    await must(req('POST', '/api/admin/roles', { name: 'crew', permissions: ['users.manage'] }));
    await must(req('PUT', '/api/admin/departments/ops', { roles: ['crew'] }));
    await must(req('PUT', `/api/admin/users/${memberId}/roles`, { roles: ['crew'] }));
    const grant = JSON.parse(
      (
        await must(
          req('POST', '/api/admin/grants', {
            role: 'crew',
            collection: 'things',
            actions: ['view', 'create', 'update', 'delete', 'export', 'import'],
            fields: ['title', 'body', 'n', 'price', 'ok', 'd', 'meta', 'mail', 'kind', 'state', 'owner', 'who'],
            scope: { n: { $lt: 100 } },
          }),
        )
      ).body,
    );
    await must(req('POST', '/api/admin/grants', { role: 'crew', collection: 'owners', actions: ['view'], fields: ['name'] }));
    memberToken = (await login(t, 'member', MEMBER_PW)).token;
    const fields = ['title', 'body', 'n', 'price', 'ok', 'd', 'meta', 'mail', 'kind', 'state', 'owner', 'who', 'secret', 'nope', 'owner.name'];
    Object.assign(known, {
      any: ['things', 'owners', 'title', 'crew', 'ops', 'member', 'x'],
      fields,
      collection: ['things', 'owners', 'nope'],
      name: ['things', 'owners', 'crew', 'ops', 'nope'],
      field: fields,
      id: [thing.id ?? thing.record?.id ?? 'x', victimId, grant.id ?? grant.grant?.id ?? 'x', '1', '0'],
      userId: [memberId, victimId],
      recordId: [thing.id ?? 'x'],
    });
    const doc = (await t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    ops = [];
    for (const [path, item] of Object.entries<
      Record<string, { parameters?: Operation['params']; requestBody?: { content: Record<string, { schema: Schema }> } }>
    >(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        ops.push({ method: method.toUpperCase(), path, params: op.parameters ?? [], body: op.requestBody?.content['application/json']?.schema });
      }
    }
    ops.sort((a, b) => Number(LAST.test(`${a.method} ${a.path}`)) - Number(LAST.test(`${b.method} ${b.path}`)));
  },
  { env: { LOG_LEVEL: 'silent', LOCKOUT_MAX_ATTEMPTS: '100', SPREAD_THRESHOLD: '100000' } },
);

/** Raw JSON values (text, so that numbers JSON.stringify cannot write are sent too), one at a time in each slot. */
const RAW_VALUES = [
  '"\\u0000"',
  '"a\\u0000b"',
  '1.5',
  '-0.5',
  '1e19',
  '-1e19',
  '99999999999999999999999',
  '1e309',
  '-1e309',
  '0.1e-400',
  '-0',
  '"x\\\\"',
  '"%\\\\"',
  '""',
  '" "',
  'null',
  'true',
  '[]',
  '{}',
  '[null]',
  '{"$eq":1}',
  '"\\ud800"',
  '"2026-13-45T99:99:99Z"',
  '"9999-12-31T23:59:59Z"',
  '"name<x@evil.example>"',
  '"1; DROP TABLE users --"',
  '"__proto__"',
  `"${'a'.repeat(20000)}"`,
  '['.repeat(3000) + ']'.repeat(3000),
  `${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`,
  '"things"',
  '"title"',
];
/** Query-string values, one at a time in each parameter. */
const QUERY_VALUES = [...new Set([...NASTY_STRINGS.filter((v) => v.length < 1000), ...RAW_VALUES.filter((v) => v.length < 200)])];
/** Fields of `things` written one at a time, and filters on each with hostile operands. */
const WRITE_FIELDS = ['title', 'n', 'price', 'ok', 'd', 'meta', 'mail', 'kind', 'state', 'owner', 'who', 'secret'];
const FILTERS = (() => {
  const out: string[] = [];
  // Each field with each hostile operand, under one operator in turn; LIKE patterns with escapes on every text field.
  const ops = ['$eq', '$gt', '$like', '$ilike', '$in', '$lte', '$ne'];
  let i = 0;
  for (const f of [...WRITE_FIELDS, 'id', 'createdAt', 'owner.name', 'nope']) {
    for (const v of ['1.5', '1e19', '99999999999999999999999', '"x\\\\"', '"2026-13-45"', '{"$eq":1}', '[]', 'null', 'true']) {
      const op = ops[i++ % ops.length]!;
      out.push(`{"${f}":{"${op}":${op === '$in' && !v.startsWith('[') ? `[${v}]` : v}}}`);
    }
  }
  for (const f of ['title', 'body', 'mail', 'kind', 'owner.name']) {
    for (const op of ['$like', '$ilike']) for (const v of ['"x\\\\"', '"%\\\\"', '"\\\\%"', '"_\\\\_"', '1', 'null']) out.push(`{"${f}":{"${op}":${v}}}`);
  }
  out.push(JSON.stringify(nest(3000, { title: { $eq: 'x' } }, '$not')), JSON.stringify({ $or: Array.from({ length: 5000 }, () => ({ n: 1 })) }));
  return out;
})();

const MARK = '"@@SLOT@@"';
/** The body of an operation with one slot replaced by a raw value; the other slots plausible. */
function slotBodies(op: Operation): Array<{ slot: string; make: (raw: string) => string }> {
  const out: Array<{ slot: string; make: (raw: string) => string }> = [];
  const isRecords = op.path.startsWith('/api/collections/');
  const base = (): Record<string, unknown> => {
    if (!isRecords) return {};
    if (op.path.endsWith('/bulk-update')) return { filter: { n: { $lt: 0 } }, set: { body: 'x' } };
    if (op.path.endsWith('/bulk-delete')) return { filter: { n: { $lt: 0 } } };
    if (op.path.endsWith('/import')) return { records: [{ title: 'imp' }] };
    return { title: `t${Math.random()}` };
  };
  const props = op.body?.properties ?? {};
  for (const k of Object.keys(props)) {
    out.push({ slot: k, make: (raw) => JSON.stringify({ ...base(), [k]: '@@SLOT@@' }).replace(MARK, raw) });
  }
  if (isRecords) {
    for (const f of WRITE_FIELDS) {
      const wrap = (raw: string): string => {
        if (op.path.endsWith('/bulk-update')) return JSON.stringify({ filter: { n: { $lt: 0 } }, set: { [f]: '@@SLOT@@' } }).replace(MARK, raw);
        if (op.path.endsWith('/import')) return JSON.stringify({ records: [{ title: 'imp', [f]: '@@SLOT@@' }] }).replace(MARK, raw);
        return JSON.stringify({ ...base(), [f]: '@@SLOT@@' }).replace(MARK, raw);
      };
      if (!op.path.endsWith('/bulk-delete')) out.push({ slot: `field ${f}`, make: wrap });
    }
    if (op.path.endsWith('/bulk-update') || op.path.endsWith('/bulk-delete')) {
      out.push({ slot: 'filter (hostile filters)', make: (raw) => JSON.stringify({ ...base(), filter: '@@SLOT@@' }).replace(MARK, raw) });
    }
  }
  return out;
}

test('5xx and leaks on malformed input: a sweep of hostile values through every parameter and body field', async () => {
  let sent = 0;
  collecting = true;
  const defaults = (op: Operation) => {
    let path = op.path;
    for (const p of op.params.filter((x) => x.in === 'path')) path = path.replace(`{${p.name}}`, encodeURIComponent((known[p.name] ?? known.any!)[0]!));
    return path;
  };
  for (const op of ops) {
    const identities = /\/records(\/bulk-update)?$/.test(op.path) ? (['admin', 'member'] as const) : (['admin'] as const);
    for (const identity of identities) {
      // Each path and query parameter in turn, the others at real values.
      for (const p of op.params) {
        const values = p.name === 'filter' ? [...QUERY_VALUES, ...FILTERS] : QUERY_VALUES;
        for (const v of values) {
          const path = p.in === 'path' ? defaults({ ...op, params: op.params.filter((x) => x !== p) }).replace(`{${p.name}}`, enc(v) || '%20') : defaults(op);
          const query = p.in === 'query' ? `?${new URLSearchParams({ [p.name]: v })}` : '';
          const body = op.body
            ? { body: op.path.startsWith('/api/collections/') ? JSON.stringify({ title: `q${sent}` }) : '{}', contentType: 'application/json' }
            : {};
          await send(identity, op, { path, query, ...body });
          sent++;
        }
      }
      // Each body field in turn.
      for (const { slot, make } of op.body ? slotBodies(op) : []) {
        const values = /filter/.test(slot) ? [...RAW_VALUES, ...FILTERS] : RAW_VALUES;
        for (const raw of values) {
          await send(identity, op, { path: defaults(op), query: '', body: make(raw), contentType: 'application/json' });
          sent++;
        }
      }
    }
  }
  collecting = false;
  assert.ok(sent > 5000, `sent ${sent}`);
  if (process.env.FUZZ_VERBOSE) console.log(`sweep: ${sent} requests`);
  assert.equal(failures.size, 0, `${failures.size} failing kinds:\n${[...failures.values()].join('\n')}`);
});

test('5xx and leaks on malformed input: every operation of the OpenAPI document, as an administrator, a member and anonymously', async () => {
  assert.ok(ops.length >= 70, `the document lists the operations (${ops.length})`);
  let sent = 0;
  for (const op of ops) {
    for (const identity of ['admin', 'member', 'anonymous'] as const) {
      await fc.assert(
        fc.asyncProperty(requestOf(op), async (g) => {
          sent++;
          await send(identity, op, g);
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true },
      );
    }
  }
  assert.ok(sent >= ops.length * 3 * RUNS);
  // Legitimate use still works after the storm.
  const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer((await login(t, ROOT.username, ROOT.password)).token) });
  assert.equal(me.statusCode, 200);
});
