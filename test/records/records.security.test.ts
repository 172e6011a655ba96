// Issue 3 regression suite (first part). Each test names the bug class it guards against.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, login, bearer, createUser, events, type TestApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
let ann: string;
let bob: string;
let aud: string;
const PW = { ann: 'Quarterly-report-4411', bob: 'Builder-hammer-7723', aud: 'Ledger-checker-9901' };

const req = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, token: string, payload?: unknown) =>
  t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
const list = (token: string, qs = '') => req('GET', `/api/collections/cases/records${qs}`, token);
const q = (o: Record<string, string>) => '?' + new URLSearchParams(o).toString();

before(async () => {
  t = await makeApp();
  admin = (await login(t)).token;
  const ids: Record<string, string> = {};
  for (const [u, p] of Object.entries(PW)) ids[u] = await createUser(t, admin, u, p);
  const ok = (r: { statusCode: number; body: string }, code = 201) => assert.equal(r.statusCode, code, r.body);
  ok(await req('POST', '/api/admin/collections', admin, {
    name: 'cases',
    fields: [
      { name: 'title', type: 'string', required: true },
      { name: 'state', type: 'status', values: ['open', 'closed'], default: 'open' },
      { name: 'owner_note', type: 'text' },
      { name: 'amount', type: 'integer', block: 'finance' },
      { name: 'secret', type: 'text', hidden: true },
    ],
  }));
  ok(await req('POST', '/api/admin/roles', admin, { name: 'agent' }));
  ok(await req('POST', '/api/admin/roles', admin, { name: 'auditor' }));
  ok(await req('PUT', `/api/admin/users/${ids.ann}/roles`, admin, { roles: ['agent'] }), 204);
  ok(await req('PUT', `/api/admin/users/${ids.bob}/roles`, admin, { roles: ['agent'] }), 204);
  ok(await req('PUT', `/api/admin/users/${ids.aud}/roles`, admin, { roles: ['auditor'] }), 204);
  // Agents: their own cases, three fields; open cases only for updates.
  ok(await req('POST', '/api/admin/grants', admin, { role: 'agent', collection: 'cases', actions: ['view', 'create', 'delete'], fields: ['title', 'state', 'owner_note'], scope: { createdBy: '$user.id' } }));
  ok(await req('POST', '/api/admin/grants', admin, { role: 'agent', collection: 'cases', actions: ['update'], fields: ['title', 'state', 'owner_note'], statuses: ['open'], scope: { createdBy: '$user.id' } }));
  // Agents also see everyone's closed cases, title and state only.
  ok(await req('POST', '/api/admin/grants', admin, { role: 'agent', collection: 'cases', actions: ['view'], fields: ['title', 'state'], statuses: ['closed'] }));
  // Auditors read every case with the finance block.
  ok(await req('POST', '/api/admin/grants', admin, { role: 'auditor', collection: 'cases', actions: ['view'], fields: ['title', 'state', 'block:finance'] }));
  ann = (await login(t, 'ann', PW.ann)).token;
  bob = (await login(t, 'bob', PW.bob)).token;
  aud = (await login(t, 'aud', PW.aud)).token;
  for (const [token, title, state] of [[ann, 'ann-open', 'open'], [ann, 'ann-closed', 'closed'], [bob, 'bob-open', 'open']] as const) {
    ok(await req('POST', '/api/collections/cases/records', token, { title, state, owner_note: `note of ${title}` }));
  }
  ok(await req('POST', '/api/collections/cases/records', admin, { title: 'admin-made', amount: 42, secret: 's3cr3t' }));
});
after(() => t.close());

const titles = (r: { json(): { items: Array<{ title: string }> } }) => r.json().items.map((x) => x.title).sort();

test('row scope: each user sees their own records plus what other grants allow (scope compiled into SQL)', async () => {
  assert.deepEqual(titles(await list(ann)), ['ann-closed', 'ann-open']);
  assert.deepEqual(titles(await list(bob)), ['ann-closed', 'bob-open']);
  assert.deepEqual(titles(await list(aud)), ['admin-made', 'ann-closed', 'ann-open', 'bob-open']);
  assert.equal((await list(bob)).json().total, 2);
});

test('field masks per row: a row shows only the fields of the grants that hold for it; hidden fields never leave', async () => {
  const items = (await list(bob)).json().items as Array<Record<string, unknown>>;
  const own = items.find((x) => x.title === 'bob-open')!;
  const other = items.find((x) => x.title === 'ann-closed')!;
  assert.equal(own.owner_note, 'note of bob-open');
  assert.equal('owner_note' in other, false, "another agent's note stays hidden");
  assert.equal('amount' in own, false);
  const audItems = (await list(aud)).json().items as Array<Record<string, unknown>>;
  assert.equal(audItems.find((x) => x.title === 'admin-made')!.amount, 42);
  assert.ok(audItems.every((x) => !('owner_note' in x) && !('secret' in x)));
  const adminItems = (await list(admin)).json().items as Array<Record<string, unknown>>;
  assert.ok(adminItems.every((x) => !('secret' in x)), 'backend-only even for administrators');
});

test('filter oracle: no filter or sort on a field the caller cannot read on every row', async () => {
  for (const qs of [q({ filter: JSON.stringify({ owner_note: { $like: 'note%' } }) }), q({ filter: JSON.stringify({ amount: { $gt: 1 } }) }), q({ sort: '-amount' }), q({ filter: JSON.stringify({ secret: 's3cr3t' }) }), q({ filter: JSON.stringify({ $or: [{ title: 'x' }, { owner_note: 'y' }] }) })]) {
    const r = await list(bob, qs);
    assert.equal(r.statusCode, 400, qs);
    assert.equal(r.json().error.code, 'FIELD_NOT_FILTERABLE', qs);
  }
  const okr = await list(bob, q({ filter: JSON.stringify({ title: { $like: 'ann%' } }), sort: '-title' }));
  assert.equal(okr.statusCode, 200);
  assert.deepEqual(titles(okr), ['ann-closed']);
  assert.equal((await list(aud, q({ filter: JSON.stringify({ amount: { $gt: 1 } }) }))).statusCode, 200, 'the auditor reads amount everywhere');
});

test('reading by guessed id: records outside the scope answer 404, like records that do not exist', async () => {
  const annOpen = ((await list(ann)).json().items as Array<{ id: string; title: string }>).find((x) => x.title === 'ann-open')!;
  assert.equal((await req('GET', `/api/collections/cases/records/${annOpen.id}`, bob)).statusCode, 404);
  assert.equal((await req('GET', '/api/collections/cases/records/00000000-0000-0000-0000-000000000000', bob)).statusCode, 404);
  assert.equal((await req('GET', `/api/collections/cases/records/${annOpen.id}`, ann)).statusCode, 200);
  assert.equal((await req('PATCH', `/api/collections/cases/records/${annOpen.id}`, bob, { title: 'pwned' })).statusCode, 404);
  assert.equal((await req('DELETE', `/api/collections/cases/records/${annOpen.id}`, bob)).statusCode, 404);
  assert.equal((await req('GET', `/api/collections/cases/records/${annOpen.id}`, ann)).json().title, 'ann-open');
});

test('mass assignment: system and ungranted fields are refused, not dropped, and nothing is written', async () => {
  const before = (await list(aud)).json().total;
  for (const body of [{ title: 'x', createdBy: 'someone' }, { title: 'x', id: 'chosen' }, { title: 'x', amount: 5 }, { title: 'x', created_by: 'y' }, { title: 'x', nope: 1 }]) {
    const r = await req('POST', '/api/collections/cases/records', ann, body);
    assert.ok([400, 403].includes(r.statusCode), JSON.stringify(body));
    assert.ok(['FIELD_NOT_WRITABLE', 'FIELD_UNKNOWN'].includes(r.json().error.code), JSON.stringify(body));
  }
  assert.equal((await list(aud)).json().total, before);
  const own = ((await list(ann)).json().items as Array<{ id: string; title: string }>).find((x) => x.title === 'ann-open')!;
  const r = await req('PATCH', `/api/collections/cases/records/${own.id}`, ann, { createdBy: 'bob' });
  assert.equal(r.json().error.code, 'FIELD_NOT_WRITABLE');
});

test('an update cannot move a record out of the caller\'s grants, and a closed record cannot be updated', async () => {
  const own = ((await list(ann)).json().items as Array<{ id: string; title: string }>).find((x) => x.title === 'ann-open')!;
  const r = await req('PATCH', `/api/collections/cases/records/${own.id}`, ann, { state: 'closed' });
  assert.equal(r.statusCode, 403);
  assert.equal((await req('GET', `/api/collections/cases/records/${own.id}`, ann)).json().state, 'open', 'rolled back');
  const ok = await req('PATCH', `/api/collections/cases/records/${own.id}`, ann, { title: 'ann-open-2' });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json().title, 'ann-open-2');
  await req('PATCH', `/api/collections/cases/records/${own.id}`, ann, { title: 'ann-open' });
  const closed = ((await list(ann)).json().items as Array<{ id: string; title: string }>).find((x) => x.title === 'ann-closed')!;
  assert.equal((await req('PATCH', `/api/collections/cases/records/${closed.id}`, ann, { title: 'reopen?' })).statusCode, 403);
});

test('SQL injection through sort, fields, filter operators and collection names is refused', async () => {
  const attempts = [
    q({ sort: 'title; drop table users' }),
    q({ sort: '-(select 1)' }),
    q({ fields: 'title,(select password_hash from users)' }),
    q({ filter: JSON.stringify({ title: { '$eq) or 1=1 --': 'x' } }) }),
    q({ filter: JSON.stringify({ 'title" or 1=1 --': 'x' }) }),
    q({ filter: JSON.stringify({ title: { $in: [{ $gt: '' }] } }) }),
    q({ filter: '{"title":' }),
  ];
  for (const qs of attempts) assert.equal((await list(aud, qs)).statusCode, 400, qs);
  assert.equal((await req('GET', '/api/collections/users/records', aud)).statusCode, 404);
  assert.equal((await req('GET', '/api/collections/cases;drop/records', aud)).statusCode, 400);
  assert.equal((await login(t, 'aud', PW.aud)).res.statusCode, 200, 'users table intact');
});

test('$in and $nin with an empty list (or an empty variable) never match everything', async () => {
  assert.deepEqual(titles(await list(aud, q({ filter: JSON.stringify({ title: { $in: [] } }) }))), []);
  assert.equal((await list(aud, q({ filter: JSON.stringify({ title: { $nin: [] } }) }))).json().total, 4);
});

test('no grant, no access: a role without grants gets 403 on the collection; unknown collections are 404', async () => {
  await createUser(t, admin, 'nobody', 'Grantless-person-31');
  const nob = (await login(t, 'nobody', 'Grantless-person-31')).token;
  assert.equal((await list(nob)).statusCode, 403);
  assert.equal((await req('POST', '/api/collections/cases/records', nob, { title: 'x' })).statusCode, 403);
  assert.equal((await req('GET', '/api/collections/missing/records', nob)).statusCode, 404);
});

test('a new field inherits nothing from a deleted field of the same name', async () => {
  const del = await req('DELETE', '/api/admin/collections/cases/fields/owner_note', admin);
  assert.equal(del.statusCode, 200, del.body);
  assert.equal((await req('POST', '/api/admin/collections/cases/fields', admin, { name: 'owner_note', type: 'text' })).statusCode, 201);
  const items = (await list(ann)).json().items as Array<Record<string, unknown>>;
  assert.ok(items.every((x) => !('owner_note' in x)));
  const grants = (await req('GET', '/api/admin/grants?collection=cases', admin)).json().grants as Array<{ fields: string[] }>;
  assert.ok(grants.every((g) => !g.fields.includes('owner_note')));
});

test('administrators bypass grants, and every such data action is audited', async () => {
  assert.equal((await list(admin)).statusCode, 200);
  const ev = await events(t, admin, 'record.bypass');
  assert.ok(ev.length > 0);
  assert.equal(ev[0]!.details.collection, 'cases');
});

test('delete: own records only', async () => {
  const r = await req('POST', '/api/collections/cases/records', bob, { title: 'temp' });
  assert.equal(r.statusCode, 201, r.body);
  assert.equal((await req('DELETE', `/api/collections/cases/records/${r.json().id}`, ann)).statusCode, 404);
  assert.equal((await req('DELETE', `/api/collections/cases/records/${r.json().id}`, bob)).statusCode, 204);
  assert.equal((await req('GET', `/api/collections/cases/records/${r.json().id}`, bob)).statusCode, 404);
});

test('explain: which grants hold for a record, per action, with their fields (administrators only)', async () => {
  const bobOpen = ((await list(bob)).json().items as Array<{ id: string; title: string }>).find((x) => x.title === 'bob-open')!;
  const users = (await req('GET', '/api/admin/users', admin)).json().users as Array<{ id: string; username: string }>;
  const bobId = users.find((u) => u.username === 'bob')!.id;
  const annId = users.find((u) => u.username === 'ann')!.id;
  const ex = (uid: string, token = admin) => req('GET', `/api/access/explain?${new URLSearchParams({ userId: uid, collection: 'cases', recordId: bobOpen.id })}`, token);
  const forBob = (await ex(bobId)).json();
  const view = forBob.actions.find((a: { action: string }) => a.action === 'view');
  assert.ok(view.grants.some((g: { holds: boolean; fields: string[] }) => g.holds && g.fields.includes('title')));
  const forAnn = (await ex(annId)).json();
  assert.ok(forAnn.actions.find((a: { action: string }) => a.action === 'view').grants.every((g: { holds: boolean }) => !g.holds), "bob's open case: none of ann's grants hold");
  assert.equal((await ex(bobId, bob)).statusCode, 403);
});

test('export: needs an export grant; applies the same scope and fields; CSV formula cells are neutralised', async () => {
  assert.equal((await req('GET', '/api/collections/cases/records/export', bob)).statusCode, 403, 'agents have no export grant');
  assert.equal((await req('POST', '/api/admin/grants', admin, { role: 'auditor', collection: 'cases', actions: ['export'], fields: ['title', 'state'], statuses: ['open'] })).statusCode, 201);
  await req('POST', '/api/collections/cases/records', bob, { title: '=HYPERLINK("http://evil")' });
  const json = await req('GET', '/api/collections/cases/records/export?format=json', aud);
  assert.equal(json.statusCode, 200, json.body);
  const rows = json.json() as Array<Record<string, unknown>>;
  assert.ok(rows.length >= 3);
  assert.ok(rows.every((r) => r.state === 'open' && !('amount' in r) && !('owner_note' in r)), 'export grant scope and fields, not the view grant');
  const csv = await req('GET', '/api/collections/cases/records/export?format=csv&sort=title', aud);
  assert.equal(csv.statusCode, 200);
  assert.match(String(csv.headers['content-type']), /text\/csv/);
  assert.match(csv.body.split('\n')[0]!, /^id,createdAt,updatedAt,createdBy,updatedBy,title,state/);
  assert.match(csv.body, /"'=HYPERLINK\(""http:\/\/evil""\)"/);
  const filtered = await req('GET', `/api/collections/cases/records/export?${new URLSearchParams({ filter: JSON.stringify({ amount: { $gt: 0 } }) })}`, aud);
  assert.equal(filtered.json().error.code, 'FIELD_NOT_FILTERABLE', 'no oracle through export either');
});

test('bulk paths apply the same checks: scope, writable fields, no move out of scope, all or nothing', async () => {
  const carlId = await createUser(t, admin, 'carl', 'Bulk-operator-6621');
  assert.equal((await req('PUT', `/api/admin/users/${carlId}/roles`, admin, { roles: ['agent'] })).statusCode, 204);
  const carl = (await login(t, 'carl', 'Bulk-operator-6621')).token;
  for (const title of ['bulk-1', 'bulk-2']) assert.equal((await req('POST', '/api/collections/cases/records', carl, { title })).statusCode, 201);
  const upd = await req('POST', '/api/collections/cases/records/bulk-update', carl, { filter: { title: { $like: 'bulk-%' } }, set: { title: 'renamed' } });
  assert.equal(upd.statusCode, 200, upd.body);
  assert.equal(upd.json().updated, 2);
  // Other users' records are outside carl's update scope: untouched whatever the filter says.
  assert.equal((await req('POST', '/api/collections/cases/records/bulk-update', carl, { filter: {}, set: { title: 'x' } })).json().updated, 2);
  assert.deepEqual(titles(await list(ann)).filter((x) => x.startsWith('ann')), ['ann-closed', 'ann-open']);
  const out = await req('POST', '/api/collections/cases/records/bulk-update', carl, { filter: {}, set: { state: 'closed' } });
  assert.equal(out.statusCode, 403, 'closing would move records out of the update grant');
  const mine = (await list(carl, q({ filter: JSON.stringify({ createdBy: carlId }) }))).json().items as Array<{ state: string }>;
  assert.ok(mine.length === 2 && mine.every((x) => x.state === 'open'), 'nothing changed');
  assert.equal((await req('POST', '/api/collections/cases/records/bulk-update', carl, { filter: {}, set: { createdBy: 'ann' } })).json().error.code, 'FIELD_NOT_WRITABLE');
  assert.equal((await req('POST', '/api/collections/cases/records/bulk-update', carl, { filter: { amount: 1 }, set: { title: 'y' } })).json().error.code, 'FIELD_NOT_FILTERABLE');
  assert.equal((await req('POST', '/api/collections/cases/records/bulk-delete', carl, {})).statusCode, 400, 'the filter is required');
  const del = await req('POST', '/api/collections/cases/records/bulk-delete', carl, { filter: {} });
  assert.equal(del.statusCode, 200);
  assert.equal(del.json().deleted, 2, "only carl's own records");
  assert.deepEqual(titles(await list(ann)).filter((x) => x.startsWith('ann')), ['ann-closed', 'ann-open']);
});

test('import: needs an import grant; every row is checked like a create; one bad row rolls back all and every error is listed', async () => {
  const daveId = await createUser(t, admin, 'dave', 'Importer-person-7741');
  await req('PUT', `/api/admin/users/${daveId}/roles`, admin, { roles: ['agent'] });
  const dave = (await login(t, 'dave', 'Importer-person-7741')).token;
  const imp = (body: unknown) => req('POST', '/api/collections/cases/records/import', dave, body);
  assert.equal((await imp({ records: [{ title: 'a' }] })).statusCode, 403, 'agents have no import grant');
  assert.equal((await req('POST', '/api/admin/grants', admin, { role: 'agent', collection: 'cases', actions: ['import'], fields: ['title', 'state'], statuses: ['open'], scope: { createdBy: '$user.id' } })).statusCode, 201);
  const bad = await imp({ records: [{ title: 'ok-1' }, { title: 'x', createdBy: 'ann' }, { title: 'x', amount: 1 }, { title: 'x', state: 'closed' }, { state: 'open' }, { title: 'ok-2' }] });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'IMPORT_REJECTED');
  assert.deepEqual(bad.json().error.details.errors.map((e: { row: number; code: string }) => `${e.row}:${e.code}`), ['2:FIELD_NOT_WRITABLE', '3:FIELD_NOT_WRITABLE', '4:FORBIDDEN', '5:VALIDATION_FAILED']);
  assert.equal((await list(dave, q({ filter: JSON.stringify({ createdBy: daveId }) }))).json().total, 0, 'nothing was written');
  const ok = await imp({ records: [{ title: 'ok-1' }, { title: 'ok-2' }] });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json().imported, 2);
  const csv = await imp({ csv: 'title,state\n=cmd,open\nplain,\n' });
  assert.equal(csv.statusCode, 200, csv.body);
  assert.equal((await list(dave, q({ filter: JSON.stringify({ createdBy: daveId }) }))).json().total, 4);
  assert.equal((await imp({ csv: 'title,nope\nx,y\n' })).json().error.details.errors[0].code, 'FIELD_UNKNOWN');
  assert.equal((await imp({ csv: 'x', records: [] })).statusCode, 400);
});

test('search on hidden or unreadable fields: only fields readable on every visible row are searched', async () => {
  const search = async (token: string, s: string) => titles(await list(token, q({ search: s })));
  assert.deepEqual(await search(ann, 'ANN-OP'), ['ann-open']);
  // owner_note is readable on ann's own cases but masked on the closed cases of others: not searched.
  assert.deepEqual(await search(ann, 'note of ann'), []);
  // Backend-only fields are never searched, not even for administrators.
  assert.deepEqual(await search(admin, 's3cr3t'), []);
  assert.deepEqual(await search(aud, 'note of'), []);
  // LIKE wildcards in the term are literal.
  assert.deepEqual(await search(ann, '%'), []);
  assert.deepEqual(await search(ann, '_'), []);
});

test('a broad scope listed in id order (SQLite walks the id index past 2,000 matches) keeps the scope, the masks and the order', async () => {
  const ok = (r: { statusCode: number; body: string }, code = 201) => assert.equal(r.statusCode, code, r.body);
  ok(await req('POST', '/api/admin/collections', admin, { name: 'leads', fields: [{ name: 'region', type: 'string', indexed: true }, { name: 'score', type: 'integer' }] }));
  const records = Array.from({ length: 4100 }, (_, i) => ({ region: i % 2 === 0 ? 'north' : 'south', score: i }));
  ok(await req('POST', '/api/collections/leads/records/import', admin, { records }), 200);
  ok(await req('POST', '/api/admin/grants', admin, { role: 'auditor', collection: 'leads', actions: ['view'], fields: ['region'], scope: { region: 'north' } }));
  ok(await req('POST', '/api/admin/grants', admin, { role: 'auditor', collection: 'leads', actions: ['view'], fields: ['score'], scope: { region: 'north', score: { $lt: 100 } } }));
  const seen: Array<{ id: string; region: string; score?: number }> = [];
  for (const page of [1, 2, 41]) {
    const r = await req('GET', `/api/collections/leads/records${q({ perPage: '50', page: String(page) })}`, aud);
    ok(r, 200);
    assert.equal(r.json().total, 2050);
    seen.push(...r.json().items);
  }
  assert.equal(seen.length, 50 + 50 + 50);
  assert.ok(seen.every((x) => x.region === 'north'));
  assert.ok(seen.every((x) => x.score === undefined || x.score < 100), 'score shown only where its grant holds');
  const ids = seen.map((x) => x.id);
  assert.deepEqual(ids, [...ids].sort(), 'id order across pages');
  assert.equal(new Set(ids).size, ids.length);
});
