// OPS-4: two instances on one storage (PostgreSQL + Redis in the PostgreSQL run, one SQLite
// file with database-backed shared state in the SQLite run) behave as one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, login, bearer, createUser, events, DIALECT, pastOtherCommits, type TestApp } from '../helpers/app.js';

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

/**
 * What the other instance answers once a change made on the first has reached it: on SQLite at every request that
 * starts OTHER_COMMITS_MS after it, whose change mark moves with every commit to the file (D450, D454), so asked once
 * that long after; on PostgreSQL when the change's notice arrives, and never later than a second (D453), so asked
 * again until `done` or 1.5 s.
 */
async function onOther<T>(ask: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  if (DIALECT !== 'postgres') {
    await pastOtherCommits();
    return ask();
  }
  const until = Date.now() + 1_500;
  for (;;) {
    const v = await ask();
    if (done(v) || Date.now() >= until) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the instances use the expected shared state', () => {
  assert.equal(a.s.shared.kind, DIALECT === 'postgres' ? 'redis' : 'database');
  assert.equal(b.s.shared.kind, a.s.shared.kind);
});

test('50 concurrent renewals of one token across both instances yield exactly one new token [ASVS V15.4.2, V15.4.1]', async () => {
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

test('a logout on one instance is refused on the other (at the next request; on PostgreSQL within its notice)', async () => {
  const { token } = await login(a);
  const me = () => b.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
  assert.equal((await me()).statusCode, 200);
  assert.equal((await me()).statusCode, 200, 'kept by the other instance');
  assert.equal((await a.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(token) })).statusCode, 204);
  const r = await onOther(me, (x) => x.statusCode !== 200);
  assert.equal(r.statusCode, 401);
  assert.equal(r.json().error.code, 'SESSION_ENDED');
});

test('a key rotation and a policy change on one instance apply on the other', async () => {
  const admin = (await login(a)).token;
  const rot = await a.app.inject({ method: 'POST', url: '/api/admin/keys/rotate', headers: bearer(admin) });
  const fromB = await login(b);
  assert.equal(JSON.parse(Buffer.from(fromB.token.split('.')[0]!, 'base64url').toString()).kid, rot.json().kid);
  // Warm B's settings first, so that the change must reach a cache that holds the old value.
  const before = await b.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'root', password: 'Correct-horse-battery-9' } });
  assert.notEqual(Date.parse(before.json().tokenExpiresAt) - b.clock.now(), 120_000);
  await a.app.inject({ method: 'PATCH', url: '/api/admin/settings/token-policy', headers: bearer(admin), payload: { tokenValidity: 120 } });
  // At once on the instance that made the change; on the other within the second that settings are kept (D361).
  const onA = await a.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'root', password: 'Correct-horse-battery-9' } });
  assert.equal(Date.parse(onA.json().tokenExpiresAt) - a.clock.now(), 120_000);
  await new Promise((r) => setTimeout(r, 1100));
  const res = await b.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'root', password: 'Correct-horse-battery-9' } });
  assert.equal(Date.parse(res.json().tokenExpiresAt) - b.clock.now(), 120_000);
});

test('a role change on one instance applies on the other (at the next request; on PostgreSQL within its notice), whatever the other has cached', async () => {
  const admin = (await login(a)).token;
  const h = bearer(admin);
  assert.equal((await a.app.inject({ method: 'POST', url: '/api/admin/roles', headers: h, payload: { name: 'stamped' } })).statusCode, 201);
  const id = await createUser(a, admin, 'stamp-user', 'Stamped-horse-battery-1');
  const user = (await login(b, 'stamp-user', 'Stamped-horse-battery-1')).token;
  const roles = async () => (await b.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(user) })).json().access.roles as string[];
  const rolesOnB = (want: string[]) => onOther(roles, (r) => r.join() === want.join());
  assert.deepEqual(await roles(), []);
  assert.deepEqual(await roles(), []);
  assert.equal((await a.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: h, payload: { roles: ['stamped'] } })).statusCode, 204);
  assert.deepEqual(await rolesOnB(['stamped']), ['stamped']);
  assert.equal((await a.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: h, payload: { roles: [] } })).statusCode, 204);
  assert.deepEqual(await rolesOnB([]), []);
});
