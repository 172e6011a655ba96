// Issue 3: row scope, field masks per row, no grant no access, the administrator bypass and its
// audit, explain, delete. The bug-class regression cases are in ./security/, one file per class.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { login, createUser, events } from '../helpers/app.js';
import { casesWorld, type CasesWorld } from './fixtures.js';

let w: CasesWorld;
before(async () => {
  w = await casesWorld();
});
after(() => w.t.close());

test('row scope: each user sees their own records plus what other grants allow (scope compiled into SQL) [ASVS V8.2.2]', async () => {
  const { list, titles, ann, bob, aud } = w;
  assert.deepEqual(titles(await list(ann)), ['ann-closed', 'ann-open']);
  assert.deepEqual(titles(await list(bob)), ['ann-closed', 'bob-open']);
  assert.deepEqual(titles(await list(aud)), ['admin-made', 'ann-closed', 'ann-open', 'bob-open']);
  assert.equal((await list(bob, '?total=true')).json().total, 2);
});

test('field masks per row: a row shows only the fields of the grants that hold for it; hidden fields never leave [ASVS V8.2.3, V15.3.1, V14.2.6]', async () => {
  const { list, bob, aud, admin } = w;
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
  assert.ok(
    adminItems.every((x) => !('secret' in x)),
    'backend-only even for administrators',
  );
});

test('no grant, no access: a role without any grant on a collection gets the same 404 as for an unknown collection [ASVS V8.2.1, V8.3.1]', async () => {
  const { t, req, list, admin } = w;
  await createUser(t, admin, 'nobody', 'Grantless-person-31');
  const nob = (await login(t, 'nobody', 'Grantless-person-31')).token;
  assert.equal((await list(nob)).statusCode, 404);
  assert.equal((await req('POST', '/api/collections/cases/records', nob, { title: 'x' })).statusCode, 404);
  assert.equal((await req('GET', '/api/collections/missing/records', nob)).statusCode, 404);
});

test('administrators bypass grants, and every such data action is audited', async () => {
  const { t, list, admin } = w;
  assert.equal((await list(admin)).statusCode, 200);
  const ev = await events(t, admin, 'record.bypass');
  assert.ok(ev.length > 0);
  assert.equal(ev[0]!.details.collection, 'cases');
});

test('delete: own records only', async () => {
  const { req, ann, bob } = w;
  const r = await req('POST', '/api/collections/cases/records', bob, { title: 'temp' });
  assert.equal(r.statusCode, 201, r.body);
  assert.equal((await req('DELETE', `/api/collections/cases/records/${r.json().id}`, ann)).statusCode, 404);
  assert.equal((await req('DELETE', `/api/collections/cases/records/${r.json().id}`, bob)).statusCode, 204);
  assert.equal((await req('GET', `/api/collections/cases/records/${r.json().id}`, bob)).statusCode, 404);
});

test('explain: which grants hold for a record, per action, with their fields (administrators only)', async () => {
  const { req, find, bob, admin } = w;
  const bobOpen = await find(bob, 'bob-open');
  const users = (await req('GET', '/api/admin/users', admin)).json().users as Array<{ id: string; username: string }>;
  const bobId = users.find((u) => u.username === 'bob')!.id;
  const annId = users.find((u) => u.username === 'ann')!.id;
  const ex = (uid: string, token = admin) =>
    req('GET', `/api/access/explain?${new URLSearchParams({ userId: uid, collection: 'cases', recordId: bobOpen.id })}`, token);
  const forBob = (await ex(bobId)).json();
  const view = forBob.actions.find((a: { action: string }) => a.action === 'view');
  assert.ok(view.grants.some((g: { holds: boolean; fields: string[] }) => g.holds && g.fields.includes('title')));
  const forAnn = (await ex(annId)).json();
  assert.ok(
    forAnn.actions.find((a: { action: string }) => a.action === 'view').grants.every((g: { holds: boolean }) => !g.holds),
    "bob's open case: none of ann's grants hold",
  );
  assert.equal((await ex(bobId, bob)).statusCode, 403);
});

test('a broad scope listed in id order (served by the (region, id) index) keeps the scope, the masks and the order', async () => {
  const { req, q, ok, admin, aud } = w;
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'leads',
      fields: [
        { name: 'region', type: 'string', indexed: true },
        { name: 'score', type: 'integer' },
      ],
    }),
  );
  const records = Array.from({ length: 4100 }, (_, i) => ({ region: i % 2 === 0 ? 'north' : 'south', score: i }));
  ok(await req('POST', '/api/collections/leads/records/import', admin, { records }), 200);
  ok(
    await req('POST', '/api/admin/grants', admin, { role: 'auditor', collection: 'leads', actions: ['view'], fields: ['region'], scope: { region: 'north' } }),
  );
  ok(
    await req('POST', '/api/admin/grants', admin, {
      role: 'auditor',
      collection: 'leads',
      actions: ['view'],
      fields: ['score'],
      scope: { region: 'north', score: { $lt: 100 } },
    }),
  );
  const seen: Array<{ id: string; region: string; score?: number }> = [];
  for (const page of [1, 2, 41]) {
    const r = await req('GET', `/api/collections/leads/records${q({ perPage: '50', page: String(page), total: 'true' })}`, aud);
    ok(r, 200);
    assert.equal(r.json().total, 2050);
    assert.equal(r.json().hasMore, page < 41, `page ${page} of 41`);
    seen.push(...r.json().items);
  }
  assert.equal(seen.length, 50 + 50 + 50);
  assert.ok(seen.every((x) => x.region === 'north'));
  assert.ok(
    seen.every((x) => x.score === undefined || x.score < 100),
    'score shown only where its grant holds',
  );
  const ids = seen.map((x) => x.id);
  assert.deepEqual(ids, [...ids].sort(), 'id order across pages');
  assert.equal(new Set(ids).size, ids.length);
});

test('hostile text is data: input is percent-decoded exactly once, and text shaped like JSON or script comes back as the same string [ASVS V1.1.1, V1.2.3]', async () => {
  const { req, q, ok, bob } = w;
  const hostile = 'A%41 %2541 "},"isAdmin":true,"x":{"y":"</script><script>alert(1)</script>\u2028\u2029\\u0022';
  const made = await req('POST', '/api/collections/cases/records', bob, { title: hostile });
  ok(made, 201);
  const id = made.json().id as string;
  const read = await req('GET', `/api/collections/cases/records/${id}`, bob);
  ok(read, 200);
  assert.equal(read.json().title, hostile);
  assert.equal('isAdmin' in read.json(), false, 'the text did not become a member of the answer');
  assert.doesNotMatch(read.body, /[^\\]"isAdmin":true/, 'the quotes are escaped in the JSON text');
  // The query string is decoded once, into the filter's JSON: `%2541` stays the text `%41`, never an `A`.
  const find = async (title: string) =>
    (await req('GET', `/api/collections/cases/records${q({ filter: JSON.stringify({ title }) })}`, bob)).json().items.map((x: { id: string }) => x.id);
  assert.deepEqual(await find(hostile), [id]);
  assert.deepEqual(await find(hostile.replace('%2541', '%41')), []);
  assert.deepEqual(await find(hostile.replace('A%41', 'AA')), []);
  // A filter encoded twice is not decoded a second time: it is not JSON, so it is refused.
  const twice = encodeURIComponent(encodeURIComponent(JSON.stringify({ title: hostile })));
  const refused = await req('GET', `/api/collections/cases/records?filter=${twice}`, bob);
  assert.equal(refused.statusCode, 400, refused.body);
  assert.equal(refused.json().error.code, 'FILTER_INVALID');
});
