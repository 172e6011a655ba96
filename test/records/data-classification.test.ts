/**
 * Issue 18, ASVS V14.1.1 and V14.2.4: every collection field has a protection level (public, internal, confidential,
 * secret; docs/data-protection.md) and the level decides what reaches the change log, revisions, exports and queries.
 * Each case puts the same kind of value in an internal field beside a classified one: the internal value goes where
 * the documentation says (the legitimate use), the classified one does not (the leak refused).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, login, useApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

const req = (method: string, url: string, payload?: unknown) =>
  t.app.inject({ method: method as 'GET', url, headers: bearer(admin), ...(payload !== undefined ? { payload: payload as object } : {}) });
const ok = (r: { statusCode: number; body: string }, code = 200) => assert.equal(r.statusCode, code, r.body);
const code = (r: { json(): { error?: { code: string } } }) => r.json().error?.code;
const q = (o: Record<string, string>) => `?${new URLSearchParams(o)}`;

let n = 0;
/** A collection with one field of each level, revisions kept; returns its name. */
async function collection(): Promise<string> {
  const name = `patients${++n}`;
  ok(
    await req('POST', '/api/admin/collections', {
      name,
      fields: [
        { name: 'name', type: 'string', classification: 'public' },
        { name: 'ward', type: 'string' },
        { name: 'diagnosis', type: 'text', classification: 'confidential' },
        { name: 'pin', type: 'string', classification: 'secret' },
      ],
    }),
    201,
  );
  ok(await req('PATCH', `/api/admin/collections/${name}`, { audit: { revisions: true } }));
  return name;
}

test('a field takes one of four protection levels; a wrong one, or a secret field that is unique or indexed, is refused [ASVS V14.1.1]', async () => {
  const name = await collection();
  const def = (await req('GET', `/api/admin/collections/${name}`)).json().collection;
  assert.deepEqual(
    def.fields.map((f: { name: string; classification?: string }) => [f.name, f.classification ?? 'internal']),
    [
      ['name', 'public'],
      ['ward', 'internal'],
      ['diagnosis', 'confidential'],
      ['pin', 'secret'],
    ],
  );
  const bad = await req('POST', `/api/admin/collections/${name}/fields`, { name: 'x', type: 'string', classification: 'top-secret' });
  assert.equal(bad.statusCode, 400);
  assert.equal(code(bad), 'VALIDATION_FAILED');
  const unique = await req('POST', `/api/admin/collections/${name}/fields`, { name: 'y', type: 'string', classification: 'secret', unique: true });
  assert.equal(code(unique), 'SCHEMA_INVALID');
  const sensitivePublic = await req('POST', `/api/admin/collections/${name}/fields`, { name: 'z', type: 'string', sensitive: true, classification: 'public' });
  assert.equal(code(sensitivePublic), 'SCHEMA_INVALID');
  // A level is changed like any other option, and audited.
  ok(await req('PATCH', `/api/admin/collections/${name}/fields/ward`, { classification: 'confidential' }));
  const after = (await req('GET', `/api/admin/collections/${name}`)).json().collection;
  assert.equal(after.fields.find((f: { name: string }) => f.name === 'ward').classification, 'confidential');
  ok(await req('PATCH', `/api/admin/collections/${name}/fields/ward`, { classification: null }));
  const cleared = (await req('GET', `/api/admin/collections/${name}`)).json().collection;
  assert.equal(cleared.fields.find((f: { name: string }) => f.name === 'ward').classification, undefined);
});

test('the change log keeps public and internal values; of a confidential or secret field it names the field only [ASVS V14.2.4]', async () => {
  const name = await collection();
  const c = await req('POST', `/api/collections/${name}/records`, { name: 'Ada', ward: 'WARD-7', diagnosis: 'DIAG-flu', pin: 'PIN-4242' });
  ok(c, 201);
  const id = c.json().id as string;
  ok(await req('PATCH', `/api/collections/${name}/records/${id}`, { ward: 'WARD-9', diagnosis: 'DIAG-cold', pin: 'PIN-5151' }));
  const log = (await req('GET', `/api/admin/audit?collection=${name}&recordId=${id}&kind=change`)).json().entries as Array<{
    operation: string;
    changes: Array<Record<string, unknown>>;
  }>;
  const update = log.find((e) => e.operation === 'update')!;
  assert.deepEqual(
    update.changes.find((x) => x.field === 'ward'),
    { field: 'ward', old: 'WARD-7', new: 'WARD-9' },
  );
  assert.deepEqual(
    update.changes.find((x) => x.field === 'diagnosis'),
    { field: 'diagnosis', secret: true },
  );
  assert.deepEqual(
    update.changes.find((x) => x.field === 'pin'),
    { field: 'pin', secret: true },
  );
  const raw = JSON.stringify(await t.s.db.selectFrom('audit_log').selectAll().execute());
  for (const v of ['DIAG-flu', 'DIAG-cold', 'PIN-4242', 'PIN-5151']) assert.ok(!raw.includes(v), v);
});

test('a revision keeps confidential values but no secret one; a restore leaves the secret field as it is [ASVS V14.2.4]', async () => {
  const name = await collection();
  const c = await req('POST', `/api/collections/${name}/records`, { name: 'Bo', ward: 'W1', diagnosis: 'D1', pin: 'PIN-old-1' });
  ok(c, 201);
  const id = c.json().id as string;
  ok(await req('PATCH', `/api/collections/${name}/records/${id}`, { ward: 'W2', diagnosis: 'D2', pin: 'PIN-new-2' }));
  const rev = await req('GET', `/api/collections/${name}/records/${id}/revisions/1`);
  ok(rev);
  const data = rev.json().revision?.record ?? rev.json().record ?? rev.json();
  assert.ok(JSON.stringify(data).includes('D1'), 'the confidential value is in the revision');
  assert.ok(JSON.stringify(data).includes('W1'));
  const stored = JSON.stringify(await t.s.db.selectFrom('record_revisions').select('data').execute());
  assert.ok(!stored.includes('PIN-old-1'), 'the secret value is not kept');
  // Compared with the record now, the secret field is not a difference (its value now would show in clear).
  const diff = await req('GET', `/api/collections/${name}/records/${id}/revisions/1/diff?against=current`);
  ok(diff);
  assert.deepEqual(
    diff
      .json()
      .changes.map((c: { field: string }) => c.field)
      .sort(),
    ['diagnosis', 'ward'],
  );
  assert.ok(!diff.body.includes('PIN-new-2'));
  const restored = await req('POST', `/api/collections/${name}/records/${id}/revisions/1/restore`, {});
  ok(restored);
  const now = (await req('GET', `/api/collections/${name}/records/${id}`)).json();
  assert.deepEqual([now.ward, now.diagnosis, now.pin], ['W1', 'D1', 'PIN-new-2']);
});

test('an export carries public, internal and confidential fields and never a secret one; a single read returns it [ASVS V14.2.4, V14.2.6]', async () => {
  const name = await collection();
  ok(await req('POST', `/api/collections/${name}/records`, { name: 'Cy', ward: 'W3', diagnosis: 'D3', pin: 'PIN-cy-33' }), 201);
  const json = await req('GET', `/api/collections/${name}/records/export?format=json`);
  ok(json);
  const rows = json.json() as Array<Record<string, unknown>>;
  assert.deepEqual([rows[0]!.name, rows[0]!.ward, rows[0]!.diagnosis], ['Cy', 'W3', 'D3']);
  assert.ok(!('pin' in rows[0]!));
  assert.ok(!json.body.includes('PIN-cy-33'));
  const csv = await req('GET', `/api/collections/${name}/records/export?format=csv`);
  ok(csv);
  const header = csv.body.split('\n')[0]!;
  assert.match(header, /\bdiagnosis\b/);
  assert.doesNotMatch(header, /\bpin\b/);
  assert.ok(!csv.body.includes('PIN-cy-33'));
  const id = rows[0]!.id as string;
  assert.equal((await req('GET', `/api/collections/${name}/records/${id}`)).json().pin, 'PIN-cy-33');
});

test('a secret value is read one record at a time: no list page or expansion carries it, for a reader with a grant as for an administrator [ASVS V14.2.4, V14.2.6]', async () => {
  const name = await collection();
  ok(
    await req('POST', '/api/admin/collections', {
      name: `visits${n}`,
      fields: [
        { name: 'patient', type: 'relation', target: name },
        { name: 'room', type: 'string' },
      ],
    }),
    201,
  );
  const pid = (await req('POST', `/api/collections/${name}/records`, { name: 'Eve', ward: 'W5', diagnosis: 'D5', pin: 'PIN-eve-55' })).json().id as string;
  const vid = (await req('POST', `/api/collections/visits${n}/records`, { patient: pid, room: 'R1' })).json().id as string;
  ok(await req('POST', '/api/admin/roles', { name: `nurse${n}` }), 201);
  for (const c of [name, `visits${n}`])
    ok(
      await req('POST', '/api/admin/grants', {
        role: `nurse${n}`,
        collection: c,
        actions: ['view'],
        fields: c === name ? ['name', 'ward', 'diagnosis', 'pin'] : ['patient', 'room'],
      }),
      201,
    );
  const uid = await createUser(t, admin, `nurse${n}`, 'Night-shift-nurse-5511');
  ok(await req('PUT', `/api/admin/users/${uid}/roles`, { roles: [`nurse${n}`] }), 204);
  const nurse = (await login(t, `nurse${n}`, 'Night-shift-nurse-5511')).token;
  for (const token of [admin, nurse]) {
    const as = (url: string) => t.app.inject({ method: 'GET', url, headers: bearer(token) });
    const list = await as(`/api/collections/${name}/records`);
    ok(list);
    assert.equal(list.json().items[0].ward, 'W5');
    assert.ok(!list.body.includes('PIN-eve-55'), 'a list page carries no secret value');
    assert.ok(!(await as(`/api/collections/${name}/records?fields=name,pin`)).body.includes('PIN-eve-55'), 'not even when named');
    const expanded = await as(`/api/collections/visits${n}/records/${vid}?expand=patient`);
    ok(expanded);
    assert.ok(!expanded.body.includes('PIN-eve-55'), 'an expansion is a list');
    assert.equal((await as(`/api/collections/${name}/records/${pid}`)).json().pin, 'PIN-eve-55', 'the record itself carries it');
    // The catalogue says the field cannot be a query term.
    const entry = (await as('/api/collections')).json().collections.find((c: { name: string }) => c.name === name);
    const pin = entry.fields.find((f: { name: string }) => f.name === 'pin');
    assert.deepEqual([pin.classification, pin.read, pin.filter], ['secret', true, false]);
    const refused = await as(`/api/collections/visits${n}/records${q({ filter: JSON.stringify({ 'patient.pin': 'PIN-eve-55' }) })}`);
    assert.equal(code(refused), 'FIELD_NOT_FILTERABLE', 'nor through a relation');
  }
});

test('no query filters, sorts, searches or groups on a secret field; on the others it does [ASVS V14.2.4, V8.2.3]', async () => {
  const name = await collection();
  ok(await req('POST', `/api/collections/${name}/records`, { name: 'Di', ward: 'W4', diagnosis: 'D4', pin: 'PIN-di-44' }), 201);
  const list = `/api/collections/${name}/records`;
  for (const [what, url] of [
    ['filter', `${list}${q({ filter: JSON.stringify({ pin: 'PIN-di-44' }) })}`],
    ['range filter', `${list}${q({ filter: JSON.stringify({ pin: { $gt: 'PIN-d' } }) })}`],
    ['sort', `${list}${q({ sort: 'pin' })}`],
    ['group', `${list}/aggregate${q({ metrics: 'count', groupBy: 'pin' })}`],
    ['export filter', `${list}/export${q({ filter: JSON.stringify({ pin: 'PIN-di-44' }) })}`],
  ] as const) {
    const r = await req('GET', url);
    assert.equal(r.statusCode, 400, `${what}: ${r.body}`);
    assert.equal(code(r), 'FIELD_NOT_FILTERABLE', what);
  }
  // A free-text search does not look into it: the secret value finds nothing, an internal one finds the record.
  assert.equal((await req('GET', `${list}${q({ search: 'PIN-di' })}`)).json().items.length, 0);
  assert.equal((await req('GET', `${list}${q({ search: 'W4' })}`)).json().items.length, 1);
  // The other levels are query terms as before.
  for (const url of [
    `${list}${q({ filter: JSON.stringify({ diagnosis: 'D4' }) })}`,
    `${list}${q({ filter: JSON.stringify({ name: 'Di' }), sort: 'ward' })}`,
    `${list}/aggregate${q({ metrics: 'count', groupBy: 'ward' })}`,
  ])
    ok(await req('GET', url));
  assert.equal((await req('GET', `${list}${q({ filter: JSON.stringify({ diagnosis: 'D4' }) })}`)).json().items.length, 1);
});
