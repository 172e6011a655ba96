import { test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { scryptSync, randomBytes } from 'node:crypto';
import { login, bearer, createUser, events, cookies, ROOT, type TestApp, useApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

const post = (payload: unknown) => t.app.inject({ method: 'POST', url: '/api/auth/login', payload: payload as object });

test('root signs in with a bearer token and reaches /me', async () => {
  const { token } = await login(t);
  const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
  assert.equal(me.statusCode, 200);
  assert.equal(me.json().user.username, ROOT.username);
  assert.equal(me.json().user.isAdmin, true);
  assert.equal(me.json().session.mode, 'bearer');
  assert.equal('password_hash' in me.json().user, false);
});

test('sign-in by email works, case-insensitively', async () => {
  await createUser(t, admin, 'mailer', 'Letter-carrier-42', { email: 'Mailer@Example.org' });
  const res = await post({ email: 'MAILER@example.org', password: 'Letter-carrier-42' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().user.username, 'mailer');
});

test('unknown user, wrong password and disabled user get the same answer; the reason stays server-side', async () => {
  const id = await createUser(t, admin, 'dora', 'Explorer-map-4711');
  await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(admin), payload: { status: 'disabled' } });
  const unknown = await post({ username: 'nobody-here', password: 'Whatever-password-1' });
  const wrong = await post({ username: ROOT.username, password: 'Not-the-password-1' });
  const disabled = await post({ username: 'dora', password: 'Explorer-map-4711' });
  for (const r of [unknown, wrong, disabled]) {
    assert.equal(r.statusCode, 401);
    assert.deepEqual(r.json(), { error: { code: 'INVALID_CREDENTIALS', message: 'Invalid username or password.' } });
  }
  const failures = (await events(t, admin, 'auth.login')).filter((e) => e.outcome === 'failure');
  const reasons = failures.map((e) => e.details.reason);
  assert.ok(reasons.includes('unknown_user'));
  assert.ok(reasons.includes('bad_password'));
  assert.ok(reasons.includes('disabled'));
});

test('cookie mode sets __Host- HttpOnly Secure SameSite=Lax cookies and returns no token in the body', async () => {
  const res = await post({ username: ROOT.username, password: ROOT.password, mode: 'cookie' });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.token, undefined);
  assert.equal(typeof body.xsrfToken, 'string');
  const c = cookies(res);
  const session = c['__Host-palisade_session'];
  assert.ok(session, 'session cookie set');
  assert.match(session.attrs, /HttpOnly/);
  assert.match(session.attrs, /Secure/);
  assert.match(session.attrs, /SameSite=Lax/);
  assert.match(session.attrs, /Path=\//);
  assert.doesNotMatch(session.attrs, /Domain=/);
  assert.doesNotMatch(session.attrs, /Max-Age/, 'without remember me the cookie lives for the browser session');
  assert.equal(c['__Host-palisade_xsrf']?.value, body.xsrfToken);
  assert.doesNotMatch(c['__Host-palisade_xsrf']!.attrs, /HttpOnly/);
});

test('remember me makes the cookie persistent until the longer absolute end', async () => {
  const res = await post({ username: ROOT.username, password: ROOT.password, mode: 'cookie', rememberMe: true });
  const c = cookies(res)['__Host-palisade_session']!;
  assert.match(c.attrs, /Max-Age=604800/);
  const end = Date.parse(res.json().sessionExpiresAt) - t.clock.now();
  assert.equal(end, 7 * 86400 * 1000);
});

test('a bad request to login is refused before any lookup', async () => {
  assert.equal((await post({ username: 'a', email: 'a@b.c', password: 'x' })).json().error.code, 'VALIDATION_FAILED');
  assert.equal((await post({ password: 'x' })).json().error.code, 'VALIDATION_FAILED');
  assert.equal((await post({ username: ROOT.username, password: 'x'.repeat(1025) })).json().error.code, 'VALIDATION_FAILED');
  assert.equal((await post({ username: ROOT.username, password: ROOT.password, isAdmin: true })).json().error.code, 'VALIDATION_FAILED');
  assert.equal((await post({ username: ROOT.username, password: ROOT.password, rememberMe: 'true' })).json().error.code, 'VALIDATION_FAILED');
});

test('an imported bcrypt hash verifies and is re-hashed as argon2id at the first sign-in', async () => {
  const hash = bcrypt.hashSync('Bcrypt-imported-pw-1', 10);
  const res = await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: bearer(admin), payload: { username: 'legacy-b', passwordHash: hash } });
  assert.equal(res.statusCode, 201);
  assert.equal((await post({ username: 'legacy-b', password: 'wrong-password-123' })).statusCode, 401);
  assert.equal((await post({ username: 'legacy-b', password: 'Bcrypt-imported-pw-1' })).statusCode, 200);
  const row = await t.s.db.selectFrom('users').select('password_hash').where('username', '=', 'legacy-b').executeTakeFirstOrThrow();
  assert.match(row.password_hash!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.equal((await post({ username: 'legacy-b', password: 'Bcrypt-imported-pw-1' })).statusCode, 200);
  const rehashed = await events(t, admin, 'auth.password_rehashed');
  assert.ok(rehashed.some((e) => e.details.from === '2a' || e.details.from === '2b'));
});

test('an imported scrypt hash verifies and is re-hashed as argon2id', async () => {
  const salt = randomBytes(16);
  const h = scryptSync('Scrypt-imported-pw-1', salt, 32, { N: 2 ** 14, r: 8, p: 1 });
  const stored = `$scrypt$ln=14,r=8,p=1$${salt.toString('base64')}$${h.toString('base64')}`;
  const res = await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: bearer(admin), payload: { username: 'legacy-s', passwordHash: stored } });
  assert.equal(res.statusCode, 201);
  assert.equal((await post({ username: 'legacy-s', password: 'Scrypt-imported-pw-2' })).statusCode, 401);
  assert.equal((await post({ username: 'legacy-s', password: 'Scrypt-imported-pw-1' })).statusCode, 200);
  const row = await t.s.db.selectFrom('users').select('password_hash').where('username', '=', 'legacy-s').executeTakeFirstOrThrow();
  assert.match(row.password_hash!, /^\$argon2id\$/);
});

test('a malformed imported hash is refused and nothing is written', async () => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { username: 'legacy-x', passwordHash: '$md5$abc' },
  });
  assert.equal(res.statusCode, 400);
  const row = await t.s.db.selectFrom('users').select('id').where('username', '=', 'legacy-x').executeTakeFirst();
  assert.equal(row, undefined);
});

test('new passwords are stored as argon2id with at least 19 MiB, t=2, p=1', async () => {
  await createUser(t, admin, 'hashy', 'Salted-stored-99');
  const row = await t.s.db.selectFrom('users').select('password_hash').where('username', '=', 'hashy').executeTakeFirstOrThrow();
  assert.match(row.password_hash!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
});
