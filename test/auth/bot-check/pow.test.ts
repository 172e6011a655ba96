import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, events, ROOT, type TestApp, useApp } from '../../helpers/app.js';
import { CHEAP_POW, fetchChallenge, setBotCheck, solvedPayload, wallClock } from './helpers.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  () => ({ clock: wallClock() }),
  true,
);

const login = (payload: Record<string, unknown>, remoteAddress?: string) =>
  t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username: ROOT.username, password: ROOT.password, ...payload },
    ...(remoteAddress ? { remoteAddress } : {}),
  });
const status = (remoteAddress?: string) => t.app.inject({ method: 'GET', url: '/api/auth/bot-check', ...(remoteAddress ? { remoteAddress } : {}) });

test('off by default: sign-in needs no proof, the status says so, and there is no challenge to fetch', async () => {
  assert.equal((await login({})).statusCode, 200);
  assert.deepEqual((await status()).json(), { kind: 'off', required: false, siteKey: null });
  const c = await t.app.inject({ method: 'GET', url: '/api/auth/bot-check/challenge' });
  assert.equal(c.statusCode, 404);
  assert.equal(c.json().error.code, 'NOT_FOUND');
});

test('the challenge endpoint is public and answers a signed challenge with the configured cost, not cached', async () => {
  await setBotCheck(t, admin, { ...CHEAP_POW, when: 'always', powCost: 3, powExpiry: 120 });
  const res = await t.app.inject({ method: 'GET', url: '/api/auth/bot-check/challenge' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['cache-control'], 'no-store');
  const c = res.json();
  assert.equal(c.parameters.algorithm, 'PBKDF2/SHA-256');
  assert.equal(c.parameters.cost, 3);
  assert.match(c.signature, /^[0-9a-f]{64}$/);
  assert.match(c.parameters.keySignature, /^[0-9a-f]{64}$/);
  const ttl = c.parameters.expiresAt - Math.floor(t.clock.now() / 1000);
  assert.ok(ttl >= 119 && ttl <= 120, `expires in ${ttl}s`);
  // Two challenges differ (random nonce and salt).
  assert.notEqual((await fetchChallenge(t)).signature, c.signature);
});

test('always: sign-in without a proof is refused with the kind to show; a solved challenge signs in', async () => {
  await setBotCheck(t, admin, { ...CHEAP_POW, when: 'always' });
  assert.deepEqual((await status()).json(), { kind: 'pow', required: true, siteKey: null });
  const missing = await login({});
  assert.equal(missing.statusCode, 403);
  assert.deepEqual(missing.json().error, { code: 'BOT_CHECK_REQUIRED', message: 'This request needs a bot check.', details: { kind: 'pow' } });
  const ok = await login({ botCheck: await solvedPayload(t) });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(typeof ok.json().token, 'string');
  const refused = await events(t, admin, 'botcheck.refused');
  assert.equal(refused.length, 1);
  assert.equal(refused[0]!.details.reason, 'missing');
  assert.equal(refused[0]!.details.kind, 'pow');
  assert.equal(refused[0]!.details.action, 'login');
});

test('after-failures: an address needs a proof only once it has failed N sign-ins; other addresses do not', async () => {
  await setBotCheck(t, admin, { ...CHEAP_POW, when: 'after-failures', failures: 2, failureWindow: 600 });
  const attacker = '203.0.113.7';
  const other = '198.51.100.9';
  assert.equal((await login({}, attacker)).statusCode, 200, 'no failures yet: no check');
  for (let i = 0; i < 2; i++) assert.equal((await login({ password: 'Not-the-password-1' }, attacker)).statusCode, 401);
  assert.equal((await status(attacker)).json().required, true);
  assert.equal((await status(other)).json().required, false);
  // The right password alone no longer gets in from that address; with a solved challenge it does.
  const refused = await login({}, attacker);
  assert.equal(refused.statusCode, 403);
  assert.equal(refused.json().error.code, 'BOT_CHECK_REQUIRED');
  assert.equal((await login({ botCheck: await solvedPayload(t, attacker) }, attacker)).statusCode, 200);
  assert.equal((await login({}, other)).statusCode, 200, 'another address is not affected');
});

test('after-failures: one failure short of N asks for nothing, and the count ends with its window', async () => {
  await setBotCheck(t, admin, { ...CHEAP_POW, when: 'after-failures', failures: 3, failureWindow: 60 });
  for (let i = 0; i < 2; i++) assert.equal((await login({ password: 'Not-the-password-1' })).statusCode, 401);
  assert.equal((await login({})).statusCode, 200);
  assert.equal((await login({ password: 'Not-the-password-1' })).statusCode, 401);
  assert.equal((await login({})).json().error.code, 'BOT_CHECK_REQUIRED');
  t.clock.advance(121); // two windows later nothing is left of the count
  assert.equal((await login({})).statusCode, 200);
});

test('IPv6 addresses are counted by their /64, so rotating the low bits does not escape the check', async () => {
  await setBotCheck(t, admin, { ...CHEAP_POW, when: 'after-failures', failures: 2 });
  await login({ password: 'Not-the-password-1' }, '2001:db8:1:2::1');
  await login({ password: 'Not-the-password-1' }, '2001:db8:1:2::2');
  assert.equal((await login({}, '2001:db8:1:2::ffff')).json().error?.code, 'BOT_CHECK_REQUIRED');
  assert.equal((await login({}, '2001:db8:1:3::1')).statusCode, 200, 'another /64');
});

test('forgot-password honours the same check: refused without a proof, accepted with one', async () => {
  await setBotCheck(t, admin, { ...CHEAP_POW, when: 'always' });
  const forgot = (payload: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { username: ROOT.username, ...payload } });
  const missing = await forgot({});
  assert.equal(missing.statusCode, 403);
  assert.equal(missing.json().error.code, 'BOT_CHECK_REQUIRED');
  assert.equal((await events(t, admin, 'password.reset_requested')).length, 0, 'nothing was looked up');
  assert.equal((await forgot({ botCheck: await solvedPayload(t) })).statusCode, 202);
  const refused = await events(t, admin, 'botcheck.refused');
  assert.equal(refused[0]!.details.action, 'forgot_password');
});

test('forgot-password in after-failures mode follows the address failed sign-ins', async () => {
  await setBotCheck(t, admin, { ...CHEAP_POW, when: 'after-failures', failures: 1 });
  const forgot = () => t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { username: ROOT.username } });
  assert.equal((await forgot()).statusCode, 202);
  await login({ password: 'Not-the-password-1' });
  assert.equal((await forgot()).json().error.code, 'BOT_CHECK_REQUIRED');
});

test('the bot-check field is bounded and typed', async () => {
  await setBotCheck(t, admin, { ...CHEAP_POW, when: 'always' });
  for (const botCheck of ['x'.repeat(4097), 42, ['a'], '']) {
    const r = await login({ botCheck });
    assert.equal(r.statusCode, 400, JSON.stringify(botCheck).slice(0, 20));
    assert.equal(r.json().error.code, 'VALIDATION_FAILED');
  }
});

test("a signed-in caller's bearer token does not skip the check", async () => {
  await setBotCheck(t, admin, { ...CHEAP_POW, when: 'always' });
  const r = await t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    headers: bearer(admin),
    payload: { username: ROOT.username, password: ROOT.password },
  });
  assert.equal(r.json().error.code, 'BOT_CHECK_REQUIRED');
});
