// GET /api/auth/me keeps its serialized answer while the session, the user and the principal it was made from are the
// same kept objects (D460, issue 14). The answer must still be what is true now: each change that can reach it (the
// user's row, a role given, a role's permissions, the session's active role, a revocation) shows at the next request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, login, useApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
useApp((app) => {
  t = app;
});

const PASSWORD = 'Quiet-harbour-lamp-7391';

test('/me answers what is true now: a kept answer gives way to a changed user, role, permission, active role and revocation (D460)', async () => {
  const admin = (await login(t)).token;
  const id = await createUser(t, admin, 'memo', PASSWORD, { email: 'memo@example.test' });
  const token = (await login(t, 'memo', PASSWORD)).token;
  const me = async () => {
    const r = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
    assert.equal(r.statusCode, 200, r.body);
    assert.match(String(r.headers['content-type']), /^application\/json; charset=utf-8$/);
    return r.json();
  };
  const adminCall = async (method: 'PATCH' | 'PUT' | 'POST', url: string, payload: unknown, status = 200) => {
    const r = await t.app.inject({ method, url, headers: bearer(admin), payload: payload as object });
    assert.equal(r.statusCode, status, r.body);
  };

  const first = await me();
  assert.deepEqual(await me(), first, 'the same answer twice');
  assert.deepEqual(Object.keys(first).sort(), ['access', 'session', 'user'], 'only the schema fields');
  assert.equal(first.user.email, 'memo@example.test');
  assert.equal(first.user.passwordHash, undefined);
  assert.deepEqual(first.access.roles, []);

  // The user's row.
  await adminCall('PATCH', `/api/admin/users/${id}`, { email: 'changed@example.test' });
  assert.equal((await me()).user.email, 'changed@example.test');

  // A role given, then that role's permissions changed.
  await adminCall('POST', '/api/admin/roles', { name: 'memo_reader', description: 'test' }, 201);
  await adminCall('PUT', `/api/admin/users/${id}/roles`, { roles: ['memo_reader'] }, 204);
  const withRole = await me();
  assert.deepEqual(withRole.access.roles, ['memo_reader']);
  assert.deepEqual(withRole.access.permissions, []);
  await adminCall('PATCH', '/api/admin/roles/memo_reader', { permissions: ['audit.read'] });
  assert.deepEqual((await me()).access.permissions, ['audit.read']);

  // The session's own row: its active role.
  const put = await t.app.inject({ method: 'PUT', url: '/api/auth/active-role', headers: bearer(token), payload: { role: 'memo_reader' } });
  assert.equal(put.statusCode, 200, put.body);
  assert.equal((await me()).access.activeRole, 'memo_reader');
  const back = await t.app.inject({ method: 'PUT', url: '/api/auth/active-role', headers: bearer(token), payload: { role: null } });
  assert.equal(back.statusCode, 200, back.body);
  assert.equal((await me()).access.activeRole, null);

  // Another session of the same user answers with its own session, not the kept answer of the first.
  const other = (await login(t, 'memo', PASSWORD)).token;
  const otherMe = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(other) });
  assert.equal(otherMe.statusCode, 200);
  assert.notEqual(otherMe.json().session.id, first.session.id);
  assert.equal(otherMe.json().session.current, true);

  // The user disabled: the kept answer is never given again.
  await adminCall('PATCH', `/api/admin/users/${id}`, { status: 'disabled' });
  const refused = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
  assert.equal(refused.statusCode, 401, refused.body);
});
