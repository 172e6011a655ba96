// Bug class: Redis reply errors as 500s. Redis answered an error to one of our fixed commands (WRONGTYPE
// at a key, a script error such as a counter that is not an integer) and the raw error reached the client
// as a 500, and the circuit breaker counted it as "Redis is up". Every error reply is now a 503
// SERVICE_UNAVAILABLE with Retry-After, the reply kept for the log only; it concerns that one key, so
// other clients are served and the key's own client is served again once the key is sound. A counter
// that reads back as no integer is refused the same way (it counted as nothing: an open budget).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { bearer, REDIS_URL, type TestApp, useApp } from '../../helpers/app.js';

let t: TestApp;
let admin: string;
let redis: Redis;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  { redis: true },
);
before(() => {
  redis = new Redis(REDIS_URL);
});
after(() => {
  redis.disconnect();
});

const me = (ip: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin), remoteAddress: ip });
/** The Redis key of the per-address read budget's window at `offset` windows from now (makeApp sets a 60 s window). */
const readWindowKey = (ip: string, offset = 0) => `${t.shared.redisPrefix}rl:read:ip:${ip}:${Math.floor(t.clock.now() / 60_000) + offset}`;

function assertUnavailable(r: Awaited<ReturnType<typeof me>>, what: string) {
  assert.equal(r.statusCode, 503, `${what}: ${r.body}`);
  assert.equal(r.json().error.code, 'SERVICE_UNAVAILABLE', what);
  assert.ok(Number(r.headers['retry-after']) >= 1, `${what}: Retry-After`);
  assert.doesNotMatch(r.body, /WRONGTYPE|integer|script|redis/i, `${what}: the reply stays in the log`);
}

test('redis reply errors: WRONGTYPE and script errors at a budget key answer 503 SERVICE_UNAVAILABLE with Retry-After, never a 500', async () => {
  // An address's budget is counted in Redis at its first request (D350: the instance does not know it
  // yet), so its keys are broken before it comes; a refused count is not remembered, so every request
  // of the address asks Redis again until its keys are sound.
  const ip = '198.51.100.23';
  // The current window's counter is a hash: the counting script's INCRBY fails with WRONGTYPE.
  await redis.hset(readWindowKey(ip), 'a', 'b');
  for (let i = 0; i < 3; i++) assertUnavailable(await me(ip), `WRONGTYPE in the script, request ${i + 1}`);
  // Other clients are still served: one bad key neither opens the breaker nor is taken for an outage.
  assert.equal((await me('198.51.100.24')).statusCode, 200);

  // A counter that is not an integer: the script fails with ERR.
  await redis.del(readWindowKey(ip));
  await redis.set(readWindowKey(ip), 'not-a-number');
  assertUnavailable(await me(ip), 'ERR from the script');

  // The previous window is read in the same script: WRONGTYPE there too.
  await redis.del(readWindowKey(ip));
  await redis.hset(readWindowKey(ip, -1), 'a', 'b');
  assertUnavailable(await me(ip), 'WRONGTYPE on GET');
  assert.ok(
    t.logs.some((l) => l.includes('WRONGTYPE')),
    'the reply is logged as the internal reason',
  );
  // A previous window that is not an integer would count as nothing (an open budget): it fails closed too.
  await redis.del(readWindowKey(ip), readWindowKey(ip, -1));
  await redis.set(readWindowKey(ip, -1), 'lots');
  assertUnavailable(await me(ip), 'a counter that is not an integer');

  // Once the keys are sound the same address is served again, without a restart.
  await redis.del(readWindowKey(ip), readWindowKey(ip, -1));
  const back = await me(ip);
  assert.equal(back.statusCode, 200, back.body);
  assert.equal((await me('198.51.100.24')).statusCode, 200);
});

test('redis reply errors: a budget key broken once the address is known: its requests are decided in process, the background flush reports once and keeps its hits', async () => {
  const ip = '198.51.100.25';
  assert.equal((await me(ip)).statusCode, 200);
  await redis.del(readWindowKey(ip));
  await redis.hset(readWindowKey(ip), 'a', 'b');
  for (let i = 0; i < 3; i++) assert.equal((await me(ip)).statusCode, 200, 'within half the budget: no round trip');
  await t.s.rateLimiter.flush();
  await t.s.rateLimiter.flush();
  const reports = t.logs.filter((l) => l.includes('ratelimit.sync_failed'));
  assert.equal(reports.length, 1, 'reported once');
  assert.match(reports[0]!, /refused the counter/);
  assert.equal((await me('198.51.100.26')).statusCode, 200, 'other addresses are served');
  await redis.del(readWindowKey(ip));
  await t.s.rateLimiter.flush();
  assert.equal(await redis.get(readWindowKey(ip)), '3', 'the three hits were kept and sent once the key was sound');
});
