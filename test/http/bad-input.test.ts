// Bad input never crashes the server, never leaks, and writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, type TestApp, useApp } from '../helpers/app.js';
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
  const r = await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: bearer(admin), payload: { username: 'big', password: 'x'.repeat(5000) } });
  assert.equal(r.statusCode, 413);
  assert.equal(r.json().error.code, 'PAYLOAD_TOO_LARGE');
  assert.equal(await userCount(), before);
});

test('unknown fields and wrong types are refused with details, nothing is written', async () => {
  const before = await userCount();
  const unknown = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { username: 'mass', password: 'Unused-password-81', role: 'root' },
  });
  assert.equal(unknown.statusCode, 400);
  assert.equal(unknown.json().error.code, 'VALIDATION_FAILED');
  assert.ok(Array.isArray(unknown.json().error.details));
  const wrongType = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { username: 'typed', password: 'Unused-password-81', isAdmin: 'yes' },
  });
  assert.equal(wrongType.json().error.code, 'VALIDATION_FAILED');
  const badQuery = await t.app.inject({ method: 'GET', url: '/api/admin/users?limit=abc', headers: bearer(admin) });
  assert.equal(badQuery.json().error.code, 'VALIDATION_FAILED');
  const extraQuery = await t.app.inject({ method: 'GET', url: '/api/admin/users?evil=1', headers: bearer(admin) });
  assert.equal(extraQuery.json().error.code, 'VALIDATION_FAILED');
  assert.equal(await userCount(), before);
});

test('prototype poisoning is refused', async () => {
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

test('a wrong content type is a 415', async () => {
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

test('a 5xx carries no stack trace, SQL or internal message, and the server keeps serving', async () => {
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

test('every response carries a request id and security headers', async () => {
  const r = await t.app.inject({ method: 'GET', url: '/healthz' });
  assert.match(String(r.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
});
