// Bug class: scope escape. An update (single or bulk) that would move a record out of the grant that
// allowed it (here: closing a case agents may update only while open) must be refused and rolled back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { casesWorld, type CasesWorld } from '../fixtures.js';

let w: CasesWorld;
before(async () => {
  w = await casesWorld();
});
after(() => w.t.close());

test("scope escape: an update cannot move a record out of the caller's grants, and a closed record cannot be updated", async () => {
  const { req, find, ann } = w;
  const own = await find(ann, 'ann-open');
  const r = await req('PATCH', `/api/collections/cases/records/${own.id}`, ann, { state: 'closed' });
  assert.equal(r.statusCode, 403);
  assert.equal((await req('GET', `/api/collections/cases/records/${own.id}`, ann)).json().state, 'open', 'rolled back');
  const ok = await req('PATCH', `/api/collections/cases/records/${own.id}`, ann, { title: 'ann-open-2' });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json().title, 'ann-open-2');
  await req('PATCH', `/api/collections/cases/records/${own.id}`, ann, { title: 'ann-open' });
  const closed = await find(ann, 'ann-closed');
  assert.equal((await req('PATCH', `/api/collections/cases/records/${closed.id}`, ann, { title: 'reopen?' })).statusCode, 403);
});

test('scope escape through a bulk update: closing would move records out of the update grant, so nothing changes', async () => {
  const { req, list, q, agent } = w;
  const { id: carlId, token: carl } = await agent('carl', 'Bulk-operator-6621');
  for (const title of ['bulk-1', 'bulk-2']) assert.equal((await req('POST', '/api/collections/cases/records', carl, { title })).statusCode, 201);
  const out = await req('POST', '/api/collections/cases/records/bulk-update', carl, { filter: {}, set: { state: 'closed' } });
  assert.equal(out.statusCode, 403, 'closing would move records out of the update grant');
  const mine = (await list(carl, q({ filter: JSON.stringify({ createdBy: carlId }) }))).json().items as Array<{ state: string }>;
  assert.ok(mine.length === 2 && mine.every((x) => x.state === 'open'), 'nothing changed');
});

test('scope escape through a bulk update to null: a scope that compares a null column is unknown, and unknown is outside', async () => {
  const { req, list, q, agent } = w;
  const { id: danId, token: dan } = await agent('dan', 'Nullable-operator-7731');
  for (const title of ['null-1', 'null-2']) assert.equal((await req('POST', '/api/collections/cases/records', dan, { title })).statusCode, 201);
  const out = await req('POST', '/api/collections/cases/records/bulk-update', dan, { filter: { title: 'null-1' }, set: { state: null } });
  assert.equal(out.statusCode, 403, out.body);
  const mine = (await list(dan, q({ filter: JSON.stringify({ createdBy: danId }) }))).json().items as Array<{ title: string; state: string }>;
  assert.deepEqual(mine.map((x) => x.state).sort(), ['open', 'open'], 'nothing changed');
  // Inside the grant, the same bulk update goes through.
  const ok = await req('POST', '/api/collections/cases/records/bulk-update', dan, { filter: { title: 'null-1' }, set: { title: 'null-1b' } });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json().updated, 1);
});
