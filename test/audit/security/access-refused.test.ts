// Bug class: unrecorded authorisation refusals. Every refused authorisation of a signed-in caller (a 403 of the
// access plan or the pipeline, the 404 that hides a record outside the caller's scope, a filter on a field they may
// not read, an escalation attempt) is an `access.refused` security event naming the actor, never a value, and a
// flood of them is sampled like the edge's `ip.rejected` (D371-D373).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createUser, events, login } from '../../helpers/app.js';
import { casesWorld, type CasesWorld } from '../../records/fixtures.js';

let w: CasesWorld;
before(async () => {
  w = await casesWorld();
});
after(() => w.t.close());
// Each test starts in a new minute of the test clock, so that the sampling of an earlier test does not hide its events.
beforeEach(() => w.t.clock.advance(61));

const refused = async (actorId: string) => (await events(w.t, w.admin, 'access.refused')).filter((e) => e.actor.id === actorId);
const GET_ONE = 'GET /api/collections/:collection/records/:id';

test("a guessed id outside the caller's scope is recorded with actor, collection and id, a missing one is not [ASVS V16.3.2]", async () => {
  const { req, find, ann, bob, ids } = w;
  const annOpen = await find(ann, 'ann-open');
  const before = (await refused(ids.bob!)).length;
  // A record that does not exist is no refusal of authorisation.
  assert.equal((await req('GET', '/api/collections/cases/records/00000000-0000-0000-0000-000000000000', bob)).statusCode, 404);
  assert.equal((await refused(ids.bob!)).length, before);
  // One that exists outside bob's scope answers the same 404, and is recorded.
  const r = await req('GET', `/api/collections/cases/records/${annOpen.id}`, bob);
  assert.equal(r.statusCode, 404);
  assert.equal(r.json().error.code, 'NOT_FOUND');
  const [ev, ...rest] = await refused(ids.bob!);
  assert.equal(rest.length, before);
  assert.equal(ev!.outcome, 'failure');
  assert.equal(ev!.actor.name, 'bob');
  assert.deepEqual(
    { ...ev!.details, sampled: undefined },
    { reason: 'NOT_FOUND', hidden: 'record', collection: 'cases', action: GET_ONE, recordId: annOpen.id, sampled: undefined },
  );
  assert.doesNotMatch(JSON.stringify(ev), /ann-open|note of/);
  // The legitimate owner reads it, and nothing is recorded for her.
  assert.equal((await req('GET', `/api/collections/cases/records/${annOpen.id}`, ann)).statusCode, 200);
  assert.deepEqual(await refused(ids.ann!), []);
});

test('403s of the access plan and writes outside the grants are recorded, without the values sent [ASVS V16.3.2]', async () => {
  const { req, find, ann, bob, aud, ids } = w;
  const annOpen = await find(ann, 'ann-open');
  const annClosed = await find(ann, 'ann-closed');
  // A write on a record outside bob's grants: 404, recorded as a hidden write.
  assert.equal((await req('PATCH', `/api/collections/cases/records/${annOpen.id}`, bob, { title: 'pwned-title' })).statusCode, 404);
  // A record ann can see but may not update (closed): 403 FORBIDDEN.
  assert.equal((await req('PATCH', `/api/collections/cases/records/${annClosed.id}`, ann, { title: 'closed-change' })).statusCode, 403);
  // A field outside ann's grant on her own record: FIELD_NOT_WRITABLE.
  const smuggle = await req('PATCH', `/api/collections/cases/records/${annOpen.id}`, ann, { createdBy: 'smuggled-owner' });
  assert.equal(smuggle.json().error.code, 'FIELD_NOT_WRITABLE');
  // The auditor may only view: no create grant.
  const create = await req('POST', '/api/collections/cases/records', aud, { title: 'auditor-made' });
  assert.equal(create.statusCode, 403);
  const bobs = await refused(ids.bob!);
  assert.deepEqual(
    { ...bobs[0]!.details, sampled: undefined },
    {
      reason: 'NOT_FOUND',
      hidden: 'write',
      collection: 'cases',
      action: 'PATCH /api/collections/:collection/records/:id',
      recordId: annOpen.id,
      sampled: undefined,
    },
  );
  const anns = (await refused(ids.ann!)).map((e) => [e.details.reason, e.details.recordId]);
  assert.deepEqual(anns.sort(), [
    ['FIELD_NOT_WRITABLE', annOpen.id],
    ['FORBIDDEN', annClosed.id],
  ]);
  const auds = await refused(ids.aud!);
  assert.deepEqual(
    { ...auds[0]!.details, sampled: undefined },
    { reason: 'FORBIDDEN', collection: 'cases', action: 'POST /api/collections/:collection/records', sampled: undefined },
  );
  assert.doesNotMatch(JSON.stringify(await events(w.t, w.admin, 'access.refused')), /pwned-title|closed-change|smuggled-owner|auditor-made/);
  // The legitimate change of ann's own open case goes through and records no refusal.
  const before = (await refused(ids.ann!)).length;
  assert.equal((await req('PATCH', `/api/collections/cases/records/${annOpen.id}`, ann, { owner_note: 'fine' })).statusCode, 200);
  assert.equal((await refused(ids.ann!)).length, before);
});

test('a filter on a field the caller may not read (oracle) is recorded without the filter [ASVS V16.3.2, V16.3.3]', async () => {
  const { list, q, bob, aud, ids } = w;
  const before = (await refused(ids.bob!)).length;
  const r = await list(bob, q({ filter: JSON.stringify({ owner_note: { $like: 'secret-guess%' } }) }));
  assert.equal(r.json().error.code, 'FIELD_NOT_FILTERABLE');
  const evs = await refused(ids.bob!);
  assert.equal(evs.length, before + 1);
  assert.equal(evs[0]!.details.reason, 'FIELD_NOT_FILTERABLE');
  assert.equal(evs[0]!.details.collection, 'cases');
  assert.doesNotMatch(JSON.stringify(evs[0]), /secret-guess|owner_note/);
  // The legitimate filter on a field the auditor reads everywhere passes, unrecorded.
  assert.equal((await list(aud, q({ filter: JSON.stringify({ amount: { $gt: 1 } }) }))).statusCode, 200);
  assert.deepEqual(
    (await refused(ids.aud!)).filter((e) => e.details.reason === 'FIELD_NOT_FILTERABLE'),
    [],
  );
});

test('privilege escalation and a missing permission are recorded with the target user as subject [ASVS V16.3.2]', async () => {
  const { req, admin, ok } = w;
  ok(await req('POST', '/api/admin/roles', admin, { name: 'people-admin', permissions: ['users.manage'] }));
  const mgrId = await createUser(w.t, admin, 'mgr', 'Overseer-desk-4409');
  ok(await req('PUT', `/api/admin/users/${mgrId}/roles`, admin, { roles: ['people-admin'] }), 204);
  const mgr = (await login(w.t, 'mgr', 'Overseer-desk-4409')).token;
  // Granting oneself a role one does not hold.
  const self = await req('PUT', `/api/admin/users/${mgrId}/roles`, mgr, { roles: ['people-admin', 'auditor'] });
  assert.equal(self.statusCode, 403, self.body);
  assert.equal(self.json().error.code, 'CANNOT_MODIFY_SELF');
  // Handing another user a role one does not hold.
  const other = await req('PUT', `/api/admin/users/${w.ids.bob}/roles`, mgr, { roles: ['auditor'] });
  assert.equal(other.json().error.code, 'PRIVILEGE_ESCALATION');
  // A route that needs a permission mgr lacks.
  assert.equal((await req('GET', '/api/admin/security-events', mgr)).statusCode, 403);
  const evs = await refused(mgrId);
  const selfGrant = evs.find((e) => e.details.reason === 'CANNOT_MODIFY_SELF');
  assert.ok(selfGrant, JSON.stringify(evs));
  assert.equal(selfGrant.subjectId, mgrId);
  assert.equal(selfGrant.details.action, 'PUT /api/admin/users/:id/roles');
  assert.equal(selfGrant.details.collection, undefined);
  const handOut = evs.find((e) => e.details.reason === 'PRIVILEGE_ESCALATION');
  assert.equal(handOut?.subjectId, w.ids.bob);
  assert.doesNotMatch(JSON.stringify(evs), /auditor/);
  assert.ok(evs.some((e) => e.details.reason === 'FORBIDDEN' && e.details.action === 'GET /api/admin/security-events'));
  // The legitimate administrator's change goes through, unrecorded.
  ok(await req('PUT', `/api/admin/users/${mgrId}/roles`, admin, { roles: ['people-admin', 'auditor'] }), 204);
  assert.deepEqual(
    (await events(w.t, admin, 'access.refused')).filter((e) => e.actor.name === 'root'),
    [],
  );
});

test('a flood of refusals is sampled: one event a minute per actor, reason and collection; others still recorded [ASVS V16.3.2]', async () => {
  const { req, find, ann, bob, aud, ids } = w;
  const annOpen = await find(ann, 'ann-open');
  const bobBefore = (await refused(ids.bob!)).length;
  for (let i = 0; i < 30; i++) assert.equal((await req('GET', `/api/collections/cases/records/${annOpen.id}`, bob)).statusCode, 404);
  assert.equal((await refused(ids.bob!)).length, bobBefore + 1, 'thirty refusals, one event');
  // Another actor's refusal in the same minute is not hidden by bob's flood.
  const audBefore = (await refused(ids.aud!)).length;
  assert.equal((await req('DELETE', `/api/collections/cases/records/${annOpen.id}`, aud)).statusCode, 403);
  assert.equal((await refused(ids.aud!)).length, audBefore + 1);
  // The next minute, bob's next refusal is recorded again.
  w.t.clock.advance(61);
  assert.equal((await req('GET', `/api/collections/cases/records/${annOpen.id}`, bob)).statusCode, 404);
  assert.equal((await refused(ids.bob!)).length, bobBefore + 2);
  // The refusals never stopped the legitimate reader.
  assert.equal((await req('GET', `/api/collections/cases/records/${annOpen.id}`, ann)).statusCode, 200);
});
