// Bad input never crashes the server, never leaks, and writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, login, type TestApp, useApp } from '../helpers/app.js';
import { buildApp } from '../../src/http/app.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  { env: { BODY_LIMIT: '4096' } },
);

const userCount = async () => (await t.s.db.selectFrom('users').select('id').execute()).length;

test('malformed JSON is a 400 INVALID_JSON', async () => {
  const r = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: { ...bearer(admin), 'content-type': 'application/json' },
    payload: '{"username": "x",',
  });
  assert.equal(r.statusCode, 400);
  assert.equal(r.json().error.code, 'INVALID_JSON');
});

test('an oversized body is a 413 and nothing is written', async () => {
  const before = await userCount();
  const r = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'big', password: 'x'.repeat(5000) },
  });
  assert.equal(r.statusCode, 413);
  assert.equal(r.json().error.code, 'PAYLOAD_TOO_LARGE');
  assert.equal(await userCount(), before);
});

test('unknown fields and wrong types are refused with details, nothing is written [ASVS V2.2.1, V2.2.2, V15.3.3, V15.3.5]', async () => {
  const before = await userCount();
  const unknown = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'mass', password: 'Unused-password-81', role: 'root' },
  });
  assert.equal(unknown.statusCode, 400);
  assert.equal(unknown.json().error.code, 'VALIDATION_FAILED');
  assert.ok(Array.isArray(unknown.json().error.details));
  const wrongType = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'typed', password: 'Unused-password-81', isAdmin: 'yes' },
  });
  assert.equal(wrongType.json().error.code, 'VALIDATION_FAILED');
  const badQuery = await t.app.inject({ method: 'GET', url: '/api/admin/users?limit=abc', headers: bearer(admin) });
  assert.equal(badQuery.json().error.code, 'VALIDATION_FAILED');
  const extraQuery = await t.app.inject({ method: 'GET', url: '/api/admin/users?evil=1', headers: bearer(admin) });
  assert.equal(extraQuery.json().error.code, 'VALIDATION_FAILED');
  assert.equal(await userCount(), before);
});

test('prototype poisoning is refused [ASVS V1.5.2, V15.3.6]', async () => {
  const r = await t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    headers: { 'content-type': 'application/json' },
    payload: '{"username":"root","password":"x","__proto__":{"isAdmin":true}}',
  });
  assert.equal(r.statusCode, 400);
  assert.equal(r.json().error.code, 'UNSAFE_INPUT');
  const c = await t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    headers: { 'content-type': 'application/json' },
    payload: '{"username":"root","password":"x","constructor":{"prototype":{"a":1}}}',
  });
  assert.equal(c.statusCode, 400);
});

test('a wrong content type is a 415 [ASVS V3.5.2]', async () => {
  const r = await t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'username=root',
  });
  assert.equal(r.statusCode, 415);
  assert.equal(r.json().error.code, 'UNSUPPORTED_MEDIA_TYPE');
  const text = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { ...bearer(admin), 'content-type': 'text/plain' }, payload: 'hello' });
  assert.equal(text.statusCode, 415);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) })).statusCode, 200, 'the refused logout ended nothing');
});

test('unknown routes: 401 to strangers (no route map), the standard 404 body to signed-in users', async () => {
  const stranger = await t.app.inject({ method: 'GET', url: '/api/nope' });
  assert.equal(stranger.statusCode, 401);
  const r = await t.app.inject({ method: 'GET', url: '/api/nope', headers: bearer(admin) });
  assert.equal(r.statusCode, 404);
  assert.deepEqual(r.json(), { error: { code: 'NOT_FOUND', message: 'Not found.' } });
});

test('a 5xx carries no stack trace, SQL or internal message, and the server keeps serving [ASVS V16.5.1]', async () => {
  const app = await buildApp(t.s);
  app.get('/boom', { config: { auth: 'public' } }, async () => {
    throw new Error('SQLITE_ERROR: near "DROP": syntax error in SELECT * FROM users');
  });
  await app.ready();
  try {
    const r = await app.inject({ method: 'GET', url: '/boom' });
    assert.equal(r.statusCode, 500);
    assert.deepEqual(r.json(), { error: { code: 'INTERNAL_ERROR', message: 'An internal error occurred.' } });
    assert.doesNotMatch(r.body, /SQL|SELECT|at \/|\.ts:/);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  } finally {
    await app.close();
  }
});

test('every response carries a request id and security headers [ASVS V3.4.4, V3.4.6]', async () => {
  const r = await t.app.inject({ method: 'GET', url: '/healthz' });
  assert.match(String(r.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
});

test('every answer with a body names its media type with charset=utf-8, the errors too; a 204 has neither body nor type [ASVS V4.1.1]', async () => {
  const json = 'application/json; charset=utf-8';
  const answers = [
    await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) }),
    await t.app.inject({ method: 'GET', url: '/api/openapi.json' }),
    await t.app.inject({ method: 'GET', url: '/healthz' }),
    await t.app.inject({ method: 'GET', url: '/api/nope', headers: bearer(admin) }),
    await t.app.inject({ method: 'GET', url: '/api/auth/me' }),
    await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: { ...bearer(admin), 'content-type': 'application/json' }, payload: '{"a":' }),
    await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: bearer(admin), payload: { username: 'big', password: 'x'.repeat(5000) } }),
  ];
  assert.deepEqual(
    answers.map((r) => r.statusCode),
    [200, 200, 200, 404, 401, 400, 413],
  );
  for (const r of answers) {
    assert.equal(r.headers['content-type'], json, `${r.statusCode}: ${r.body.slice(0, 100)}`);
    assert.doesNotThrow(() => r.json(), `${r.statusCode} is the JSON it says`);
  }
  const { token } = await login(t);
  const out = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(token) });
  assert.equal(out.statusCode, 204, out.body);
  assert.equal(out.body, '');
  assert.equal(out.headers['content-type'], undefined);
});
