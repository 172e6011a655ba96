// Bug class: second step skipped. After the password step nothing exists that grants access: no
// session row, no cookie, no token the pipeline accepts. The second step without a challenge from a
// first step, or with a token that was never issued, is refused; so is a method the user does not have.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, useApp, type TestApp } from '../../../helpers/app.js';
import { challenge, code, liveSessions, post, signIn, totp, userWithTotp, verify } from '../world.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

test('after the password step: no session, no cookie; /api/auth/me with nothing or with the challenge token is refused [ASVS V9.2.2]', async () => {
  const u = await userWithTotp(t, admin, 'skip1');
  const before = await liveSessions(t, u.id);
  const first = await signIn(t, 'skip1', undefined, { mode: 'cookie' });
  assert.equal(code(first), 'MFA_REQUIRED');
  assert.equal(first.headers['set-cookie'], undefined);
  assert.equal(first.json().token, undefined);
  assert.equal(await liveSessions(t, u.id), before);
  const token = first.json().error.details.challengeToken;
  assert.equal(code(await t.app.inject({ method: 'GET', url: '/api/auth/me' })), 'AUTH_REQUIRED');
  assert.equal(code(await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) })), 'TOKEN_INVALID');
  assert.equal(code(await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { 'x-api-key': token } })), 'API_KEY_INVALID');
  assert.equal(code(await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(token) })), 'TOKEN_INVALID');
  // The legitimate second step.
  assert.equal((await verify(t, token, 'totp', totp(t, u.secret))).statusCode, 200);
});

test('the second step without a first: no token, a made-up token, an empty one', async () => {
  const u = await userWithTotp(t, admin, 'skip2');
  const c = totp(t, u.secret);
  assert.equal(code(await post(t, '/api/auth/mfa/verify', { method: 'totp', code: c })), 'VALIDATION_FAILED');
  assert.equal(code(await verify(t, `${'A'.repeat(22)}.${'B'.repeat(43)}`, 'totp', c)), 'MFA_TOKEN_INVALID');
  assert.equal(code(await verify(t, 'nonsense', 'totp', c)), 'MFA_TOKEN_INVALID');
  assert.equal(code(await verify(t, '', 'totp', c)), 'VALIDATION_FAILED');
  assert.equal(code(await post(t, '/api/auth/mfa/verify', { challengeToken: 'x', method: 'push', code: c })), 'VALIDATION_FAILED');
  assert.equal(code(await post(t, '/api/auth/mfa/verify', { challengeToken: 'x', method: 'totp', code: c, userId: u.id })), 'VALIDATION_FAILED');
  assert.equal(await liveSessions(t, u.id), 1, 'only the enrolment session');
  const refused = (await t.app.inject({ method: 'GET', url: '/api/admin/security-events?type=mfa.verified&outcome=failure', headers: bearer(admin) })).json()
    .events;
  assert.ok(refused.some((e: { details: { reason: string } }) => e.details.reason === 'unknown'));
  assert.ok(refused.some((e: { details: { reason: string } }) => e.details.reason === 'malformed'));
  // A method the user has not set up is refused without looking at the code.
  const d = await challenge(t, 'skip2');
  assert.equal(code(await verify(t, d.challengeToken, 'email', '123456')), 'MFA_METHOD_UNAVAILABLE');
  assert.equal(code(await post(t, '/api/auth/mfa/email-code', { challengeToken: d.challengeToken })), 'MFA_METHOD_UNAVAILABLE');
  assert.equal((await verify(t, d.challengeToken, 'totp', c)).statusCode, 200);
});
