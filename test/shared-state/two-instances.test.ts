// OPS-4: two instances on one storage (PostgreSQL + Redis in the PostgreSQL run, one SQLite
// file with database-backed shared state in the SQLite run) behave as one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, login, bearer, events, DIALECT, type TestApp } from '../helpers/app.js';

let a: TestApp;
let b: TestApp;
before(async () => {
  a = await makeApp({ redis: DIALECT === 'postgres' });
  b = await makeApp({ peerOf: a });
});
after(async () => {
  await b.close();
  await a.close();
});

test('the instances use the expected shared state', () => {
  assert.equal(a.s.shared.kind, DIALECT === 'postgres' ? 'redis' : 'database');
  assert.equal(b.s.shared.kind, a.s.shared.kind);
});

test('50 concurrent renewals of one token across both instances yield exactly one new token', async () => {
  const { token } = await login(a);
  a.clock.advance(16 * 60);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(token) })),
  );
  const codes = results.map((r) => r.statusCode);
  assert.ok(
    codes.every((c) => c === 200),
    `all inside the grace window: ${codes.join(',')}`,
  );
  const tokens = new Set(results.map((r) => r.json().token));
  assert.equal(tokens.size, 1);
  const admin = (await login(b)).token;
  assert.equal((await events(b, admin, 'token.renewed')).length, 1);
  const [next] = [...tokens];
  assert.equal((await b.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(next!) })).statusCode, 200);
});

test('a replay after the grace window on the other instance is detected', async () => {
  const { token } = await login(a);
  a.clock.advance(16 * 60);
  const r1 = await a.app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(token) });
  assert.equal(r1.statusCode, 200);
  a.clock.advance(30);
  const r2 = await b.app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(token) });
  assert.equal(r2.json().error.code, 'TOKEN_REUSED');
  assert.equal((await a.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(r1.json().token) })).statusCode, 401);
});

test('a logout on one instance is refused on the other at the next request', async () => {
  const { token } = await login(a);
  assert.equal((await b.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) })).statusCode, 200);
  assert.equal((await a.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(token) })).statusCode, 204);
  const r = await b.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
  assert.equal(r.statusCode, 401);
  assert.equal(r.json().error.code, 'SESSION_ENDED');
});

test('a key rotation and a policy change on one instance apply on the other', async () => {
  const admin = (await login(a)).token;
  const rot = await a.app.inject({ method: 'POST', url: '/api/admin/keys/rotate', headers: bearer(admin) });
  const fromB = await login(b);
  assert.equal(JSON.parse(Buffer.from(fromB.token.split('.')[0]!, 'base64url').toString()).kid, rot.json().kid);
  await a.app.inject({ method: 'PATCH', url: '/api/admin/settings/token-policy', headers: bearer(admin), payload: { tokenValidity: 120 } });
  const res = await b.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'root', password: 'Correct-horse-battery-9' } });
  assert.equal(Date.parse(res.json().tokenExpiresAt) - b.clock.now(), 120_000);
});
