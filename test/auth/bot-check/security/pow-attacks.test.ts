import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { bearer, events, makeApp, ROOT, type TestApp, useApp } from '../../../helpers/app.js';
import { CHEAP_POW, encodePayload, fetchChallenge, setBotCheck, solve, solvedPayload, wallClock } from '../helpers.js';

// Attacks on the proof of work (AUTH-15): each names the bug class it guards against.
let t: TestApp;
let admin: string;
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    await setBotCheck(t, admin, { ...CHEAP_POW, when: 'always', powExpiry: 60 });
  },
  () => ({ clock: wallClock() }),
  true,
);

const login = (botCheck?: string, password = ROOT.password) =>
  t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password, ...(botCheck === undefined ? {} : { botCheck }) } });

async function refusedAs(botCheck: string, reason: string): Promise<void> {
  const r = await login(botCheck);
  assert.equal(r.statusCode, 403, r.body);
  assert.deepEqual(r.json().error, { code: 'BOT_CHECK_FAILED', message: 'The bot check failed; try a new one.', details: { kind: 'pow' } });
  const ev = await events(t, admin, 'botcheck.refused');
  assert.ok(
    ev.some((e) => e.details.reason === reason),
    `a ${reason} refusal is logged (got ${ev.map((e) => e.details.reason)})`,
  );
}

const solvedParts = async (): Promise<{ challenge: Challenge; solution: { counter: number; derivedKey: string } }> => {
  const payload = await solvedPayload(t);
  return JSON.parse(Buffer.from(payload, 'base64').toString('utf8'));
};

test('replay: a solution is accepted once; the second use is refused, also on another instance', async () => {
  const payload = await solvedPayload(t);
  assert.equal((await login(payload)).statusCode, 200);
  await refusedAs(payload, 'replayed');
  const peer = await makeApp({ peerOf: t });
  try {
    const r = await peer.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: ROOT.username, password: ROOT.password, botCheck: payload },
    });
    assert.equal(r.json().error.code, 'BOT_CHECK_FAILED');
  } finally {
    await peer.close();
  }
});

test('replay race: the same solution sent twice at once signs in once', async () => {
  const payload = await solvedPayload(t);
  const codes = (await Promise.all([login(payload), login(payload), login(payload)])).map((r) => r.statusCode).sort();
  assert.deepEqual(codes, [200, 403, 403]);
});

test('a solution spent by a failed sign-in (wrong password) cannot be used again', async () => {
  const payload = await solvedPayload(t);
  assert.equal((await login(payload, 'Not-the-password-1')).statusCode, 401);
  await refusedAs(payload, 'replayed');
});

test('expiry: a challenge solved in time but sent after it expired is refused', async () => {
  const payload = await solvedPayload(t);
  t.clock.advance(61);
  await refusedAs(payload, 'expired');
});

test('tampering: cheaper or longer-lived parameters break the signature', async () => {
  for (const change of [{ cost: 1_000_000 }, { keyPrefix: '00' }, { expiresAt: 4_102_444_800 }, { keyLength: 16 }]) {
    const { challenge, solution } = await solvedParts();
    const forged = { ...challenge, parameters: { ...challenge.parameters, ...change } };
    await refusedAs(encodePayload(forged, solution), 'bad_signature');
  }
});

test('forgery: a challenge signed with another key (another installation, or the client itself) is refused', async () => {
  const other = await makeApp({ clock: t.clock });
  try {
    await setBotCheck(other, (await other.app.inject({ method: 'POST', url: '/api/auth/login', payload: ROOT })).json().token, {
      ...CHEAP_POW,
      when: 'always',
    });
    await refusedAs(await solve(await fetchChallenge(other)), 'bad_signature');
  } finally {
    await other.close();
  }
  const own = await createChallenge({
    algorithm: 'PBKDF2/SHA-256',
    cost: 1,
    counter: 1,
    deriveKey,
    expiresAt: Math.floor(t.clock.now() / 1000) + 60,
    hmacSignatureSecret: 'attacker-chosen',
    hmacKeySignatureSecret: 'attacker-chosen-too',
  });
  await refusedAs(await solve(own), 'bad_signature');
});

test('a wrong solution to a genuine challenge is refused', async () => {
  const { challenge, solution } = await solvedParts();
  await refusedAs(encodePayload(challenge, { ...solution, derivedKey: 'ab'.repeat(32) }), 'bad_solution');
  // A key that only matches the required prefix is not the key the server signed.
  const { challenge: c2, solution: s2 } = await solvedParts();
  const prefixOnly = c2.parameters.keyPrefix.padEnd(s2.derivedKey.length, '0');
  await refusedAs(encodePayload(c2, { ...s2, derivedKey: prefixOnly }), 'bad_solution');
});

test('malformed payloads are a 403, never a 5xx: garbage, JSON of the wrong shape, unsigned, prototype keys [ASVS V1.5.2]', async () => {
  const { challenge, solution } = await solvedParts();
  const unsigned = { parameters: challenge.parameters };
  const bad = [
    'not base64 at all!!',
    Buffer.from('{"challenge":').toString('base64'),
    Buffer.from('[]').toString('base64'),
    encodePayload(unsigned, solution),
    encodePayload(challenge, { counter: -1, derivedKey: solution.derivedKey }),
    encodePayload(challenge, { counter: 2 ** 40, derivedKey: solution.derivedKey }),
    encodePayload({ ...challenge, parameters: { ...challenge.parameters, algorithm: 'SHA-256' } }, solution),
    Buffer.from(`{"__proto__":{"x":1},"challenge":${JSON.stringify(challenge)},"solution":${JSON.stringify(solution)}}`).toString('base64'),
  ];
  for (const p of bad) {
    const r = await login(p);
    assert.equal(r.statusCode, 403, `${p.slice(0, 30)}: ${r.body}`);
    assert.equal(r.json().error.code, 'BOT_CHECK_FAILED');
  }
  // The genuine payload was never spent by those attempts.
  assert.equal((await login(encodePayload(challenge, solution))).statusCode, 200);
});

test('the check runs before the password: refused attempts are not sign-in attempts and do not spend the lockout', async () => {
  const lock = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/lockout', headers: bearer(admin), payload: { maxAttempts: 2 } });
  assert.equal(lock.statusCode, 200);
  const before = (await events(t, admin, 'auth.login')).length;
  for (let i = 0; i < 5; i++) assert.equal((await login(undefined, 'Not-the-password-1')).statusCode, 403);
  assert.equal((await events(t, admin, 'auth.login')).length, before, 'no sign-in attempt was made');
  assert.equal((await login(await solvedPayload(t))).statusCode, 200, 'the account is not locked');
});

test('a flood of refusals writes one event per address and reason a minute [ASVS V16.3.3]', async () => {
  for (let i = 0; i < 5; i++) await login();
  for (let i = 0; i < 3; i++) await login('junk');
  const ev = await events(t, admin, 'botcheck.refused');
  assert.deepEqual(ev.map((e) => e.details.reason).sort(), ['malformed', 'missing']);
  assert.equal(ev[0]!.ip, '127.0.0.1');
});

test('failure counting works with Redis holding the shared state', async () => {
  const r = await makeApp({ redis: true, clock: wallClock() });
  try {
    const token = (await r.app.inject({ method: 'POST', url: '/api/auth/login', payload: ROOT })).json().token;
    await setBotCheck(r, token, { ...CHEAP_POW, when: 'after-failures', failures: 1 });
    const post = (body: Record<string, unknown>) => r.app.inject({ method: 'POST', url: '/api/auth/login', payload: { ...ROOT, ...body } });
    assert.equal((await post({ password: 'Not-the-password-1' })).statusCode, 401);
    assert.equal((await post({})).json().error.code, 'BOT_CHECK_REQUIRED');
    const payload = await solvedPayload(r);
    assert.equal((await post({ botCheck: payload })).statusCode, 200);
    assert.equal((await post({ botCheck: payload })).json().error.code, 'BOT_CHECK_FAILED');
  } finally {
    await r.close();
  }
});

test('challenges are budgeted like sign-in: a flood of challenge requests from one address is cut off', async () => {
  const r = await makeApp({ realRateLimits: true, clock: wallClock() });
  try {
    const token = (await r.app.inject({ method: 'POST', url: '/api/auth/login', payload: ROOT })).json().token;
    await setBotCheck(r, token, { ...CHEAP_POW, when: 'always' });
    const get = () => r.app.inject({ method: 'GET', url: '/api/auth/bot-check/challenge', remoteAddress: '203.0.113.50' });
    for (let i = 0; i < 30; i++) assert.equal((await get()).statusCode, 200);
    const over = await get();
    assert.equal(over.statusCode, 429);
    assert.equal(over.json().error.code, 'RATE_LIMITED');
  } finally {
    await r.close();
  }
});
