// The two small API additions the People & access screens use: a search on the user list
// (GET /api/admin/users?q=) and explain without a record (GET /api/access/explain without recordId).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearer, createUser, login, useApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
useApp(async (app, token) => {
  t = app;
  admin = token;
});

const get = (url: string, token: string) => t.app.inject({ method: 'GET', url, headers: bearer(token) });

test('GET /api/admin/users?q= keeps users whose username or email contains the text, any case; LIKE characters are literal [ASVS V1.2.9]', async () => {
  await createUser(t, admin, 'alice_smith', 'Correct-horse-battery-7', { email: 'alice@example.org' });
  await createUser(t, admin, 'bob', 'Correct-horse-battery-7', { email: 'bob.smith@example.org' });
  await createUser(t, admin, 'carol', 'Correct-horse-battery-7');
  const names = async (q: string) =>
    ((await get(`/api/admin/users?q=${encodeURIComponent(q)}`, admin)).json().users as Array<{ username: string }>).map((u) => u.username).sort();
  assert.deepEqual(await names('SMITH'), ['alice_smith', 'bob']);
  assert.deepEqual(await names('carol'), ['carol']);
  assert.deepEqual(await names('_s'), ['alice_smith'], 'an underscore is a character, not a wildcard');
  assert.deepEqual(await names('%'), []);
  assert.ok((await names('')).length >= 4, 'no q: everyone');
  // Refused without users.manage, also with a search.
  const carol = (await login(t, 'carol', 'Correct-horse-battery-7')).token;
  assert.equal((await get('/api/admin/users?q=smith', carol)).statusCode, 403);
});

test('GET /api/access/explain without recordId lists the grants per action with holds: null; administrators only', async () => {
  const ok = async (method: string, url: string, payload?: unknown) => {
    const r = await t.app.inject({ method: method as 'POST', url, headers: bearer(admin), payload: payload as object });
    assert.ok(r.statusCode < 300, `${method} ${url}: ${r.statusCode} ${r.body}`);
    return r;
  };
  await ok('POST', '/api/admin/collections', {
    name: 'notes',
    fields: [
      { name: 'title', type: 'string' },
      { name: 'secret', type: 'string' },
    ],
  });
  await ok('POST', '/api/admin/roles', { name: 'reader' });
  await ok('POST', '/api/admin/grants', { role: 'reader', collection: 'notes', actions: ['view'], fields: ['title'], scope: { createdBy: '$user.id' } });
  const dave = await createUser(t, admin, 'dave', 'Correct-horse-battery-7');
  await ok('PUT', `/api/admin/users/${dave}/roles`, { roles: ['reader'] });
  const url = `/api/access/explain?userId=${dave}&collection=notes`;
  const r = await get(url, admin);
  assert.equal(r.statusCode, 200, r.body);
  const body = r.json();
  assert.equal(body.exists, false);
  const view = body.actions.find((a: { action: string }) => a.action === 'view');
  assert.equal(view.grants.length, 1);
  assert.equal(view.grants[0].holds, null);
  assert.deepEqual(view.grants[0].fields, ['title']);
  assert.deepEqual(view.grants[0].scope, { createdBy: '$user.id' });
  assert.deepEqual(body.actions.find((a: { action: string }) => a.action === 'update').grants, []);
  const daveToken = (await login(t, 'dave', 'Correct-horse-battery-7')).token;
  assert.equal((await get(url, daveToken)).statusCode, 403);
});
