// OPS-4 for the rate budgets counted in process (D350): two instances on one storage (PostgreSQL +
// Redis in the PostgreSQL run, one SQLite file in the SQLite run), each flushing in the background.
// Bug classes: instances that together grant more than the documented bound, an instance that never
// learns the other's hits, a restart that lets a refused address start afresh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeApp, login, bearer, DIALECT, ROOT, type TestApp } from '../helpers/app.js';
import { LOCAL_SHARE } from '../../src/edge/rate-limit.js';

let a: TestApp;
let b: TestApp;
let admin: string;
before(async () => {
  a = await makeApp({ redis: DIALECT === 'postgres', realRateLimits: true });
  b = await makeApp({ peerOf: a });
  admin = (await login(a)).token;
});
after(async () => {
  await b.close();
  await a.close();
});

const openapi = (t: TestApp, ip: string) => t.app.inject({ method: 'GET', url: '/api/openapi.json', remoteAddress: ip });

/** Sets the budgets on one instance and waits until both enforce them (settings reach every instance within a second). */
async function budgets(values: Record<string, number>, probe: (t: TestApp, n: number) => Promise<boolean>) {
  const r = await a.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(admin), payload: values });
  assert.equal(r.statusCode, 200, r.body);
  for (const t of [a, b]) {
    for (let n = 0; !(await probe(t, n)); n++) {
      assert.ok(n < 40, 'the new budgets apply within two seconds');
      await sleep(50);
    }
  }
}
const readLimitIs = (limit: number) => async (t: TestApp, n: number) => (await openapi(t, `192.0.2.${100 + n}`)).headers['ratelimit-limit'] === String(limit);

test('two instances grant one address at most its read budget plus half of it per window, and at least the budget', async () => {
  await budgets({ readPerIp: 20, authPerIp: 4 }, readLimitIs(20));
  const bound = 20 + Math.floor(LOCAL_SHARE.read * 20);
  let granted = 0;
  for (let i = 0; i < 80; i++) {
    const r = await openapi(i % 2 ? a : b, '198.51.100.7');
    assert.ok(r.statusCode === 200 || r.statusCode === 429, r.body);
    if (r.statusCode === 200) granted++;
  }
  assert.ok(granted >= 20 && granted <= bound, `${granted} granted, budget 20, bound ${bound}`);
});

test('sign-in budgets are exact across instances', async () => {
  await budgets({ readPerIp: 20, authPerIp: 4 }, readLimitIs(20));
  const codes = [];
  for (let i = 0; i < 20; i++) {
    const r = await (i % 2 ? a : b).app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: ROOT.username, password: 'Wrong-password-000' },
      remoteAddress: '198.51.100.8',
    });
    codes.push(r.statusCode);
  }
  assert.equal(codes.filter((c) => c === 401).length, 4, codes.join(','));
  assert.equal(codes.filter((c) => c === 429).length, 16);
});

test("the background flush makes instance B count instance A's hits", async () => {
  await budgets({ readPerIp: 20, authPerIp: 4 }, readLimitIs(20));
  const ip = '198.51.100.9';
  const remaining = async (t: TestApp) => Number((await openapi(t, ip)).headers['ratelimit-remaining']);
  assert.equal(await remaining(b), 19, "B's first hit reads the shared count");
  for (let i = 0; i < 6; i++) await remaining(a);
  await a.s.rateLimiter.flush();
  await remaining(b); // counted in process on B, sent with B's next flush, which reads the shared count back
  await b.s.rateLimiter.flush();
  assert.equal(await remaining(b), 11, '20 - (3 of B + 6 of A)');
});

test('a restarted instance refuses an address the other one refused, at its first request', async () => {
  await budgets({ readPerIp: 20, authPerIp: 4 }, readLimitIs(20));
  const ip = '198.51.100.10';
  for (let i = 0; i < 25; i++) await openapi(a, ip);
  assert.equal((await openapi(a, ip)).statusCode, 429);
  await a.s.rateLimiter.flush();
  await b.close();
  b = await makeApp({ peerOf: a });
  const r = await openapi(b, ip);
  assert.equal(r.statusCode, 429);
  assert.equal(r.json().error.code, 'RATE_LIMITED');
});
