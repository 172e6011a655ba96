// Issue 14: a list without a filter or a search keeps its compiled statement per grant list, caller and query. What
// the kept statement was made of must still decide every answer: whose list it is, the grants as they are now, and
// `$now` as it is now (a grant that names it is never kept). Each case lists twice or more, so that the second answer
// comes from a kept statement. Runs on both dialects (TEST_DB).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, login, createUser, bearer, type TestApp } from '../helpers/app.js';
import { ok } from './fixtures.js';

let t: TestApp;
let admin: string;
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};
const PW = { amy: 'Harbour-lantern-5521', ben: 'Orchard-ladder-8834' };

const req = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, token: string, payload?: unknown) =>
  t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
const labels = async (token: string, query = 'perPage=50'): Promise<string[]> => {
  const r = await req('GET', `/api/collections/notes/records?${query}`, token);
  assert.equal(r.statusCode, 200, r.body);
  return r
    .json()
    .items.map((x: { label: string }) => x.label)
    .sort();
};

/** A view grant of the role `writer` on `label` under `scope`; its id. */
async function viewGrant(scope: unknown): Promise<string> {
  const r = await req('POST', '/api/admin/grants', admin, { role: 'writer', collection: 'notes', actions: ['view'], fields: ['label'], scope });
  ok(r);
  return r.json().id ?? r.json().grant.id;
}
const dropGrant = async (id: string) => ok(await req('DELETE', `/api/admin/grants/${id}`, admin), 204);

before(async () => {
  t = await makeApp();
  admin = (await login(t)).token;
  for (const [u, p] of Object.entries(PW)) ids[u] = await createUser(t, admin, u, p);
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'notes',
      fields: [
        { name: 'label', type: 'string', required: true },
        { name: 'owner', type: 'user' },
        { name: 'due', type: 'datetime' },
        { name: 'kind', type: 'enum', values: ['a', 'b'] },
      ],
    }),
  );
  ok(await req('POST', '/api/admin/roles', admin, { name: 'writer' }));
  for (const u of Object.keys(PW)) ok(await req('PUT', `/api/admin/users/${ids[u]}/roles`, admin, { roles: ['writer'] }), 204);
  const now = t.clock.now();
  for (const [label, owner, minutes, kind] of [
    ['amy-soon', 'amy', 10, 'a'],
    ['amy-later', 'amy', 120, 'b'],
    ['ben-soon', 'ben', 10, 'a'],
    ['ben-later', 'ben', 120, 'b'],
  ] as const) {
    ok(
      await req('POST', '/api/collections/notes/records', admin, {
        label,
        owner: ids[owner],
        due: new Date(now + (minutes as number) * 60_000).toISOString(),
        kind,
      }),
    );
  }
  for (const [u, p] of Object.entries(PW)) tokens[u] = (await login(t, u, p)).token;
});
after(() => t?.close());

test('two callers of one role and one grant get their own rows from the same kept statement shape', async () => {
  const grant = await viewGrant({ owner: '$user.id' });
  for (let round = 0; round < 3; round++) {
    assert.deepEqual(await labels(tokens.amy!), ['amy-later', 'amy-soon']);
    assert.deepEqual(await labels(tokens.ben!), ['ben-later', 'ben-soon']);
  }
  // The same caller with another query shape: a page of one, then the second page.
  assert.equal((await labels(tokens.amy!, 'perPage=1&page=1')).length, 1);
  assert.equal((await labels(tokens.amy!, 'perPage=1&page=2')).length, 1);
  assert.deepEqual(await labels(tokens.amy!, 'perPage=1&page=3'), []);
  await dropGrant(grant);
});

test('a grant replaced by a narrower one between two lists applies at the next list', async () => {
  const wide = await viewGrant({ owner: '$user.id' });
  assert.deepEqual(await labels(tokens.amy!), ['amy-later', 'amy-soon']);
  assert.deepEqual(await labels(tokens.amy!), ['amy-later', 'amy-soon']);
  const narrow = await viewGrant({ $and: [{ owner: '$user.id' }, { kind: 'a' }] });
  await dropGrant(wide);
  assert.deepEqual(await labels(tokens.amy!), ['amy-soon']);
  await dropGrant(narrow);
  const none = await req('GET', '/api/collections/notes/records', tokens.amy!);
  assert.equal(none.statusCode, 404, none.body);
});

test('a grant that names $now reads the time of each list, not of the first', async () => {
  const grant = await viewGrant({ $and: [{ owner: '$user.id' }, { due: { $gt: '$now' } }] });
  assert.deepEqual(await labels(tokens.ben!), ['ben-later', 'ben-soon']);
  assert.deepEqual(await labels(tokens.ben!), ['ben-later', 'ben-soon']);
  t.clock.advance(30 * 60);
  // The access token's lifetime is shorter than the half hour: a new sign-in, the same grant and statement shape.
  tokens.ben = (await login(t, 'ben', PW.ben)).token;
  admin = (await login(t)).token;
  assert.deepEqual(await labels(tokens.ben!), ['ben-later']);
  await dropGrant(grant);
});
