// OPS-4 for the abuse defences: counters, locks and rules hold across instances
// (PostgreSQL + Redis in the PostgreSQL run, one SQLite file in the SQLite run).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { makeApp, login, bearer, createUser, events, DIALECT, REDIS_URL, ROOT, type TestApp } from '../helpers/app.js';

let a: TestApp;
let b: TestApp;
let admin: string;
before(async () => {
  a = await makeApp({ redis: DIALECT === 'postgres', env: { LOCKOUT_MAX_ATTEMPTS: '7', SPREAD_THRESHOLD: '40' } });
  b = await makeApp({ peerOf: a, env: { LOCKOUT_MAX_ATTEMPTS: '7', SPREAD_THRESHOLD: '40' } });
  admin = (await login(a)).token;
});
after(async () => {
  await b.close();
  await a.close();
});

test('200 concurrent bad sign-ins for one account across both instances lock it after exactly 7', async () => {
  await createUser(a, admin, 'target', 'Bullseye-secret-8080');
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      (i % 2 === 0 ? a : b).app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'target', password: `guess-${i}` } }),
    ),
  );
  assert.ok(results.every((r) => r.statusCode === 401));
  const failures = (await a.s.securityLog.list({ type: 'auth.login', outcome: 'failure', limit: 500 })).filter((e) => e.actor.name === 'target');
  assert.equal(failures.filter((e) => e.details?.reason === 'bad_password').length, 7, 'exactly 7 passwords were checked');
  assert.equal(failures.filter((e) => e.details?.reason === 'locked').length, 1, 'the other 193 refusals are logged once (sampled)');
  assert.equal((await events(a, admin, 'account.locked')).filter((e) => e.actor.name === 'target').length, 1);
  const onB = await b.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'target', password: 'Bullseye-secret-8080' } });
  assert.equal(onB.statusCode, 401, 'locked on the other instance too');
  const id = (await b.app.inject({ method: 'GET', url: '/api/admin/locked-accounts', headers: bearer(admin) })).json().accounts[0].userId;
  await b.app.inject({ method: 'POST', url: `/api/admin/users/${id}/unlock`, headers: bearer(admin) });
  assert.equal(
    (await a.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'target', password: 'Bullseye-secret-8080' } })).statusCode,
    200,
  );
});

test('credential stuffing across many accounts on both instances trips the spread detection; a signed-in user keeps working', async () => {
  const user = (await login(b)).token;
  await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      (i % 2 === 0 ? a : b).app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: `stuffed${i}`, password: 'Summer2024!' } }),
    ),
  );
  for (const inst of [a, b]) {
    const r = await inst.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password } });
    assert.equal(r.statusCode, 503);
  }
  assert.equal((await a.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(user) })).statusCode, 200);
  assert.equal((await b.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(user) })).statusCode, 200);
  assert.equal((await a.s.securityLog.list({ type: 'signin.paused', limit: 10 })).length, 1, 'one pause, logged once');
  a.clock.advance(6 * 60);
});

test('an IP rule added on one instance is enforced by the other within a second', async () => {
  admin = (await login(a)).token;
  // Warm b's rule cache first, so the change has to travel.
  assert.equal((await b.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin), remoteAddress: '192.0.2.5' })).statusCode, 200);
  const added = Date.now();
  const r = await a.app.inject({ method: 'POST', url: '/api/admin/ip-rules', headers: bearer(admin), payload: { action: 'block', cidr: '192.0.2.0/24' } });
  assert.equal(r.statusCode, 201);
  // The guarantee: once a second has passed since the change, every instance enforces it.
  const wait = added + 1000 + 20 - Date.now();
  if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  const status = (await b.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin), remoteAddress: '192.0.2.5' })).statusCode;
  assert.equal(status, 403);
});

test('a name a client sends never becomes a shared-state key as sent: an unknown name is counted under its hash on both instances [ASVS V1.3.9]', async () => {
  const name = 'ghost.visitor+tag@example.org';
  // Past the spread pause of the stuffing test above: these sign-ins must reach the lockout's counter.
  for (const c of new Set([a.clock, b.clock])) c.advance(3600);
  for (let i = 0; i < 8; i++)
    assert.equal(
      (await (i % 2 === 0 ? a : b).app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: name, password: `guess-${i}` } })).statusCode,
      401,
    );
  // Every key of the shared state: the database's (the durable counters) and, with Redis, Redis's.
  const keys = (await a.s.db.selectFrom('shared_kv').select('key').execute()).map((k) => k.key);
  if (a.shared.redis) {
    const r = new Redis(REDIS_URL);
    try {
      keys.push(...(await r.keys(`${a.shared.redisPrefix}*`)).map((k) => k.slice(a.shared.redisPrefix.length)));
    } finally {
      r.disconnect();
    }
  }
  assert.ok(
    keys.some((k) => /^(fail|lockp):i:[A-Za-z0-9_-]{22}$/.test(k)),
    keys.join('\n'),
  );
  assert.deepEqual(
    keys.filter((k) => /ghost|visitor|example/i.test(k)),
    [],
  );
});
