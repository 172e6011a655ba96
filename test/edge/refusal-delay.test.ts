// EDGE-4, issue 14 (D451): a request past its budget is answered after `rateLimits.refusalDelay`, so that a client
// flooding over a few connections waits for each refusal; held refusals are bounded per address and in all, past
// which they are answered at once and their connection closed. Bug classes: a flood that costs the server as much as
// the readers it slows; a hold that an attacker turns into unbounded open requests; a hold that delays other clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, type TestApp, useApp } from '../helpers/app.js';
import { HOLD_MAX_PER_SUBJECT } from '../../src/edge/refusal-delay.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  { realRateLimits: true, refusalDelay: 400 },
  true,
);

const limits = (body: Record<string, number>) =>
  t.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(admin), payload: body });
/** An anonymous read (401 within the budget, 429 past it): the address's read budget is taken before authentication. */
const read = (ip: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', remoteAddress: ip });

test('a read past its budget waits the refusal delay for its 429, while another address is answered meanwhile [ASVS V2.4.1]', async () => {
  assert.equal((await limits({ readPerIp: 2, refusalDelay: 400 })).statusCode, 200);
  for (let i = 0; i < 2; i++) assert.equal((await read('198.51.100.7')).statusCode, 401);
  const started = Date.now();
  let answered = false;
  const held = read('198.51.100.7').then((r) => {
    answered = true;
    return r;
  });
  // The legitimate client, within its own budget, is served while the flooder's refusal is held.
  const other = await read('203.0.113.9');
  assert.equal(other.statusCode, 401, other.body);
  assert.equal(answered, false, 'the refusal is still held');
  assert.equal(t.s.rateLimiter.delay.holding, 1);
  const r = await held;
  assert.equal(r.statusCode, 429);
  assert.equal(r.json().error.code, 'RATE_LIMITED');
  assert.ok(Date.now() - started >= 390, `held ${Date.now() - started} ms`);
  assert.ok(Number(r.headers['retry-after']) >= 1);
  assert.notEqual(r.headers.connection, 'close', 'a held refusal keeps its connection');
  assert.equal(t.s.rateLimiter.delay.holding, 0);
});

test(`past ${HOLD_MAX_PER_SUBJECT} held refusals of one address the others are answered at once and their connection closed [ASVS V2.4.1]`, async () => {
  assert.equal((await limits({ readPerIp: 1, refusalDelay: 1500 })).statusCode, 200);
  assert.equal((await read('198.51.100.8')).statusCode, 401);
  const extra = 6;
  const pending = Array.from({ length: HOLD_MAX_PER_SUBJECT + extra }, () => read('198.51.100.8'));
  // The ones past the bound come back while the others are still held.
  const first = await Promise.race(pending);
  assert.equal(first.statusCode, 429);
  assert.equal(first.headers.connection, 'close');
  assert.equal(t.s.rateLimiter.delay.holding, HOLD_MAX_PER_SUBJECT, 'the bound, no more');
  // Another address is neither held nor refused: the bound is per address.
  assert.equal((await read('203.0.113.10')).statusCode, 401);
  const all = await Promise.all(pending);
  assert.ok(all.every((r) => r.statusCode === 429));
  assert.equal(all.filter((r) => r.headers.connection === 'close').length, extra);
  assert.equal(t.s.rateLimiter.delay.holding, 0);
});

test('with a refusal delay of 0 a refusal is not held [ASVS V2.4.1]', async () => {
  assert.equal((await limits({ readPerIp: 1, refusalDelay: 0 })).statusCode, 200);
  assert.equal((await read('198.51.100.9')).statusCode, 401);
  const pending = read('198.51.100.9');
  assert.equal(t.s.rateLimiter.delay.holding, 0);
  const r = await pending;
  assert.equal(r.statusCode, 429);
  assert.notEqual(r.headers.connection, 'close');
});

test('the delay is a setting with bounds: above 10 s is refused [ASVS V2.4.1]', async () => {
  const r = await limits({ refusalDelay: 10_001 });
  assert.equal(r.statusCode, 400, r.body);
  assert.equal((await limits({ refusalDelay: 10_000 })).statusCode, 200);
});
