// Session endings (AUTH-4): each takes effect on the very next request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, events, type TestApp, useApp } from '../helpers/app.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { deriveKey } from '../../src/auth/keys.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  {},
  true,
);

const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
const PW = 'Quiet-meadow-2931';

test('each sign-in opens its own session: a new 128-bit random id and token, never a fixed secret; an id nobody was given is refused [ASVS V7.2.2, V7.2.3, V7.2.1]', async () => {
  const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string; jti: string; exp: number };
  const tokens: { token: string }[] = [];
  for (let i = 0; i < 12; i++) tokens.push(await login(t));
  const sids = new Set<string>();
  const jtis = new Set<string>();
  for (const { token } of tokens) {
    const c = claims(token);
    // 16 bytes from the CSPRNG (base64url, no padding): 128 bits, nothing derived from the user or the time.
    assert.match(c.sid, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(Buffer.from(c.sid, 'base64url').length, 16);
    sids.add(c.sid);
    jtis.add(c.jti);
    assert.equal((await me(token)).json().session.id, c.sid);
  }
  assert.equal(sids.size, tokens.length, 'every session id is new');
  assert.equal(jtis.size, tokens.length);
  assert.equal(new Set(tokens.map((x) => x.token)).size, tokens.length, 'every token is new');
  // Ended, a session's token stops: it is no standing key to the account.
  const [first] = tokens;
  await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(first!.token) });
  assert.equal((await me(first!.token)).json().error.code, 'SESSION_ENDED');
  const next = await login(t);
  assert.notEqual(claims(next.token).sid, claims(first!.token).sid);
  assert.equal((await me(next.token)).statusCode, 200);
  // A well-signed token naming a session id the server never gave out opens nothing.
  const [h, p] = next.token.split('.') as [string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const key = deriveKey(t.shared.appKey, header.kid, 'palisade/token-signing/v1');
  const made = await new SignJWT({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sid: 'AAAAAAAAAAAAAAAAAAAAAA' }).setProtectedHeader(header).sign(key);
  assert.equal((await me(made)).json().error.code, 'SESSION_ENDED');
});

test('concurrent sessions are as the README defines them: no maximum, a new sign-in ends no other, each is listed and can be ended [ASVS V7.1.2]', async () => {
  const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8').replaceAll('\n  ', ' ');
  const rule = /- \*\*Concurrent sessions\*\*: [^\n]*/.exec(readme)?.[0] ?? '';
  for (const words of [
    'any number of sessions at once',
    'no maximum',
    'ends no other session but the one its own request carried',
    'ends any or all of them',
  ]) {
    assert.ok(rule.includes(words), words);
  }
  await createUser(t, admin, 'multi', PW);
  const held: string[] = [];
  for (let i = 0; i < 6; i++) held.push((await login(t, 'multi', PW)).token);
  for (const tok of held) assert.equal((await me(tok)).statusCode, 200, 'the earlier sessions live on');
  const listed = (await t.app.inject({ method: 'GET', url: '/api/auth/sessions', headers: bearer(held[0]!) })).json().sessions;
  assert.equal(listed.length, held.length);
  const out = await t.app.inject({ method: 'POST', url: '/api/auth/logout-all', headers: bearer(held[0]!) });
  assert.equal(out.statusCode, 204);
  for (const tok of held) assert.equal((await me(tok)).statusCode, 401);
});

test('logout ends the session on the server [ASVS V16.3.1, V7.4.1]', async () => {
  const { token } = await login(t);
  const out = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(token) });
  assert.equal(out.statusCode, 204);
  const res = await me(token);
  assert.equal(res.statusCode, 401);
  assert.equal(res.json().error.code, 'SESSION_ENDED');
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(token) });
  assert.equal(r.json().error.code, 'SESSION_ENDED', 'a logged-out token cannot be renewed either');
  assert.equal((await me(admin)).statusCode, 200, 'other sessions live on');
  assert.equal((await events(t, admin, 'auth.logout')).length, 1);
});

test('logout everywhere ends every session of the user [ASVS V7.4.1, V7.5.2]', async () => {
  const a = await login(t);
  const b = await login(t);
  const out = await t.app.inject({ method: 'POST', url: '/api/auth/logout-all', headers: bearer(a.token) });
  assert.equal(out.statusCode, 204);
  for (const tok of [a.token, b.token, admin]) assert.equal((await me(tok)).statusCode, 401);
});

test('a user lists their own sessions with device, IP and times, and ends one of them [ASVS V7.5.2]', async () => {
  await createUser(t, admin, 'sam', PW);
  const first = await t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username: 'sam', password: PW },
    headers: { 'user-agent': 'Laptop/1.0' },
  });
  const second = await t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username: 'sam', password: PW },
    headers: { 'user-agent': 'Phone/2.0' },
  });
  const tok1 = first.json().token;
  const list = await t.app.inject({ method: 'GET', url: '/api/auth/sessions', headers: bearer(tok1) });
  assert.equal(list.statusCode, 200);
  const sessions = list.json().sessions;
  assert.equal(sessions.length, 2);
  const phone = sessions.find((x: { device: string }) => x.device === 'Phone/2.0');
  assert.ok(phone);
  assert.equal(phone.current, false);
  assert.equal(phone.ip, '127.0.0.1');
  assert.ok(phone.createdAt && phone.lastSeenAt && phone.expiresAt);
  const del = await t.app.inject({ method: 'DELETE', url: `/api/auth/sessions/${phone.id}`, headers: bearer(tok1) });
  assert.equal(del.statusCode, 204);
  assert.equal((await me(second.json().token)).statusCode, 401);
  assert.equal((await me(tok1)).statusCode, 200);
});

test("a user cannot see or end another user's session (404, nothing changes) [ASVS V7.5.2, V8.2.2]", async () => {
  await createUser(t, admin, 'eve', PW);
  const eve = (await login(t, 'eve', PW)).token;
  const rootSession = (await me(admin)).json().session.id;
  const del = await t.app.inject({ method: 'DELETE', url: `/api/auth/sessions/${rootSession}`, headers: bearer(eve) });
  assert.equal(del.statusCode, 404);
  assert.equal((await me(admin)).statusCode, 200);
  const list = (await t.app.inject({ method: 'GET', url: '/api/auth/sessions', headers: bearer(eve) })).json().sessions;
  assert.equal(list.length, 1);
});

test("an administrator ends a user's sessions; a non-administrator cannot [ASVS V7.4.5, V8.2.1, V8.3.1]", async () => {
  const id = await createUser(t, admin, 'ned', PW);
  const ned = (await login(t, 'ned', PW)).token;
  const denied = await t.app.inject({ method: 'DELETE', url: `/api/admin/users/${id}/sessions`, headers: bearer(ned) });
  assert.equal(denied.statusCode, 403);
  assert.equal((await me(ned)).statusCode, 200);
  const listed = await t.app.inject({ method: 'GET', url: `/api/admin/users/${id}/sessions`, headers: bearer(admin) });
  assert.equal(listed.json().sessions.length, 1);
  const r = await t.app.inject({ method: 'DELETE', url: `/api/admin/users/${id}/sessions`, headers: bearer(admin) });
  assert.equal(r.statusCode, 200);
  assert.equal(r.json().ended, 1);
  assert.equal((await me(ned)).statusCode, 401);
});

test('a password change needs the current password and ends the other sessions only [ASVS V7.4.3, V6.2.2, V6.2.3, V7.5.3]', async () => {
  await createUser(t, admin, 'pat', PW);
  const a = (await login(t, 'pat', PW)).token;
  const b = (await login(t, 'pat', PW)).token;
  const wrong = await t.app.inject({
    method: 'POST',
    url: '/api/auth/password',
    headers: bearer(a),
    payload: { currentPassword: 'Not-it-at-all-1', newPassword: 'Brand-new-secret-77' },
  });
  assert.equal(wrong.statusCode, 401);
  assert.equal((await me(b)).statusCode, 200, 'a failed change ends nothing');
  const weak = await t.app.inject({ method: 'POST', url: '/api/auth/password', headers: bearer(a), payload: { currentPassword: PW, newPassword: 'short' } });
  assert.equal(weak.statusCode, 400);
  assert.equal(weak.json().error.code, 'PASSWORD_REJECTED');
  const ok = await t.app.inject({
    method: 'POST',
    url: '/api/auth/password',
    headers: bearer(a),
    payload: { currentPassword: PW, newPassword: 'Brand-new-secret-77' },
  });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.json().otherSessionsEnded, 1);
  assert.equal((await me(a)).statusCode, 200);
  assert.equal((await me(b)).statusCode, 401);
  await assert.rejects(login(t, 'pat', PW));
  await login(t, 'pat', 'Brand-new-secret-77');
});

test("an administrator setting a password ends all of the user's sessions [ASVS V7.4.3]", async () => {
  const id = await createUser(t, admin, 'val', PW);
  const v = (await login(t, 'val', PW)).token;
  const r = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${id}/password`,
    headers: bearer(admin),
    payload: { mustChangePassword: false, password: 'Admin-chosen-pw-55' },
  });
  assert.equal(r.statusCode, 204);
  assert.equal((await me(v)).statusCode, 401);
  await login(t, 'val', 'Admin-chosen-pw-55');
});

test('disabling a user ends all of their sessions and refuses new ones [ASVS V7.4.2]', async () => {
  const id = await createUser(t, admin, 'dan', PW);
  const d = (await login(t, 'dan', PW)).token;
  const r = await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(admin), payload: { status: 'disabled' } });
  assert.equal(r.statusCode, 200);
  assert.equal((await me(d)).statusCode, 401);
  await assert.rejects(login(t, 'dan', PW));
  await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(admin), payload: { status: 'active' } });
  await login(t, 'dan', PW);
});

test('deleting a user ends their sessions [ASVS V7.4.2]', async () => {
  const id = await createUser(t, admin, 'del', PW);
  const d = (await login(t, 'del', PW)).token;
  const r = await t.app.inject({ method: 'DELETE', url: `/api/admin/users/${id}`, headers: bearer(admin) });
  assert.equal(r.statusCode, 204);
  assert.equal((await me(d)).statusCode, 401);
  assert.equal((await t.app.inject({ method: 'GET', url: `/api/admin/users/${id}`, headers: bearer(admin) })).statusCode, 404);
  assert.equal((await events(t, admin, 'user.deleted')).length, 1);
});

test('an administrator cannot disable, demote or delete their own account', async () => {
  const self = (await me(admin)).json().user.id;
  for (const req of [
    { method: 'PATCH' as const, url: `/api/admin/users/${self}`, payload: { status: 'disabled' } },
    { method: 'PATCH' as const, url: `/api/admin/users/${self}`, payload: { isAdmin: false } },
    { method: 'DELETE' as const, url: `/api/admin/users/${self}` },
  ]) {
    const r = await t.app.inject({ ...req, headers: bearer(admin) });
    assert.equal(r.statusCode, 403);
    assert.equal(r.json().error.code, 'CANNOT_MODIFY_SELF');
  }
  assert.equal((await me(admin)).statusCode, 200);
});

test('duplicate usernames and emails are refused and nothing is written', async () => {
  await createUser(t, admin, 'uniq', PW, { email: 'uniq@example.org' });
  const dupName = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'UNIQ', password: PW },
  });
  assert.equal(dupName.statusCode, 409);
  const dupMail = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'other', email: 'Uniq@Example.org', password: PW },
  });
  assert.equal(dupMail.statusCode, 409);
  const users = (await t.app.inject({ method: 'GET', url: '/api/admin/users', headers: bearer(admin) })).json().users;
  assert.equal(users.length, 2);
});
