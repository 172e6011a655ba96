// An administrator's lock (AUTH-4) through POST /api/admin/users/{id}/lock: nobody locks themselves out,
// an unknown account answers like a missing one, and a real lock ends the target's sessions with one event each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, events, type TestApp, useApp, ROOT } from '../../helpers/app.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

const lock = (token: string, id: string) =>
  t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/lock`, headers: bearer(token), payload: { reason: 'investigation' } });

test('an administrator cannot lock their own account, and keeps working', async () => {
  const me = (await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) })).json().user.id as string;
  const res = await lock(admin, me);
  assert.equal(res.statusCode, 403);
  assert.equal(res.json().error.code, 'CANNOT_MODIFY_SELF');
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) })).statusCode, 200);
  assert.equal((await events(t, admin, 'account.locked')).length, 0);
  assert.equal((await login(t, ROOT.username, ROOT.password)).res.statusCode, 200, 'root can still sign in');
});

test('locking an unknown account is NOT_FOUND and writes nothing', async () => {
  const res = await lock(admin, '00000000-0000-4000-8000-000000000000');
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().error.code, 'NOT_FOUND');
  assert.equal((await events(t, admin, 'account.locked')).length, 0);
});

test("another user's account is locked: their session ends at once and sign-in is refused [ASVS V7.4.2]", async () => {
  const id = await createUser(t, admin, 'locked-user', 'Quiet-meadow-2931');
  const { token } = await login(t, 'locked-user', 'Quiet-meadow-2931');
  assert.equal((await lock(admin, id)).statusCode, 204);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) })).statusCode, 401);
  const again = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'locked-user', password: 'Quiet-meadow-2931' } });
  assert.equal(again.json().error.code, 'INVALID_CREDENTIALS');
  assert.equal((await events(t, admin, 'account.locked')).length, 1);
});
