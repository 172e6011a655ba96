// EDGE-4 and issue 14: the rate-limit stage costs the shared state no round trip in the common case
// (D350). Bug class: a bad-sign-in flood that slows every signed-in reader by taking a shared-storage
// round trip per refused request; a limiter that asks the shared state on every request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, login, ROOT, type TestApp, useApp } from '../helpers/app.js';
import type { SharedState } from '../../src/shared-state/index.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  { realRateLimits: true },
);

const METHODS = ['hitWindow', 'addCounts', 'incr', 'incrBy', 'count', 'setIfAbsent', 'set', 'getValue', 'del', 'claimRenewal'] as const;

/** Records every round trip to the shared state the services use (the rate limiter holds the same object). */
function spy(shared: SharedState) {
  const calls: Array<{ method: string; key: string }> = [];
  const target = shared as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const m of METHODS) {
    const orig = target[m]!;
    target[m] = function (this: unknown, ...args: unknown[]) {
      calls.push({ method: m, key: typeof args[0] === 'string' ? args[0] : '' });
      return orig.apply(this, args);
    };
  }
  return {
    calls,
    /** Round trips other than the background flush's batches. */
    onRequestPath: () => calls.filter((c) => c.method !== 'addCounts'),
    restore: () => {
      for (const m of METHODS) delete target[m];
    },
  };
}

test('a bad-sign-in flood from one address is refused at the edge with no shared-state round trip; a signed-in reader is served meanwhile [ASVS V15.2.2, V15.4.4]', async () => {
  assert.equal(
    (await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(admin), payload: { authPerIp: 5 } })).statusCode,
    200,
  );
  const bad = () =>
    t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: ROOT.username, password: 'Wrong-password-000' },
      remoteAddress: '203.0.113.50',
    });
  for (let i = 0; i < 5; i++) assert.equal((await bad()).statusCode, 401);
  const reader = (await login(t)).token;
  const read = () => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(reader), remoteAddress: '198.51.100.60' });
  assert.equal((await read()).statusCode, 200, 'warm: the reader address and user keys are read once');

  const s = spy(t.s.shared);
  try {
    for (let i = 0; i < 40; i++) {
      const r = await bad();
      assert.equal(r.statusCode, 429);
      assert.equal(r.json().error.code, 'RATE_LIMITED');
      if (i % 10 === 0) assert.equal((await read()).statusCode, 200, 'the reader is served during the flood');
    }
    assert.deepEqual(s.onRequestPath(), [], 'neither the refused sign-ins nor the reads took a round trip (only background batches)');
  } finally {
    s.restore();
  }
});

test('a signed-in read costs the rate-limit stage no round trip once its keys are known; the per-user budget still holds', async () => {
  assert.equal(
    (await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(admin), payload: { readPerUser: 30, readPerIp: 1000 } }))
      .statusCode,
    200,
  );
  await createUser(t, admin, 'steady', 'Quiet-lantern-5150');
  const token = (await login(t, 'steady', 'Quiet-lantern-5150')).token;
  const me = () => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token), remoteAddress: '198.51.100.61' });
  assert.equal((await me()).statusCode, 200);
  const s = spy(t.s.shared);
  let rateLimitTrips: number;
  try {
    for (let i = 0; i < 10; i++) assert.equal((await me()).statusCode, 200);
    rateLimitTrips = s.onRequestPath().filter((c) => c.key.startsWith('rl:')).length;
  } finally {
    s.restore();
  }
  assert.equal(rateLimitTrips, 0, 'ten reads within half the budget: no rate-limit round trip (there were 4 a request)');
  // 11 reads so far: 19 more are granted (the last ones counted exactly), the 31st is refused.
  for (let i = 0; i < 19; i++) assert.equal((await me()).statusCode, 200, `read ${12 + i}`);
  assert.equal((await me()).statusCode, 429);
});
