// Bug class: challenge token reuse and misuse. The token of the first step is single use, expires, is
// bound to its user and its kind (a sign-in challenge is no enrolment token and the reverse), and is
// compared in constant time from a stored hash; a concurrent double use spends it once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, useApp, type TestApp } from '../../../helpers/app.js';
import { challenge, code, liveSessions, post, totp, userWithTotp, verify } from '../world.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

test('a used challenge token is refused, with a fresh code too; the legitimate user signs in again', async () => {
  const u = await userWithTotp(t, admin, 'reuse1');
  const a = await challenge(t, 'reuse1');
  assert.equal((await verify(t, a.challengeToken, 'totp', totp(t, u.secret))).statusCode, 200);
  t.clock.advance(30);
  const again = await verify(t, a.challengeToken, 'totp', totp(t, u.secret));
  assert.equal(code(again), 'MFA_TOKEN_INVALID');
  assert.equal(code(await post(t, '/api/auth/mfa/email-code', { challengeToken: a.challengeToken })), 'MFA_TOKEN_INVALID');
  assert.equal(code(await verify(t, a.challengeToken, 'recovery', u.recoveryCodes[0]!)), 'MFA_TOKEN_INVALID');
  assert.equal(await liveSessions(t, u.id), 2, 'the enrolment session and the one sign-in');
  const b = await challenge(t, 'reuse1');
  assert.equal((await verify(t, b.challengeToken, 'totp', totp(t, u.secret))).statusCode, 200);
});

test('a challenge token expires (challengeValidity, 5 min by default) [ASVS V6.5.5]', async () => {
  const u = await userWithTotp(t, admin, 'reuse2');
  const a = await challenge(t, 'reuse2');
  t.clock.advance(301);
  assert.equal(code(await verify(t, a.challengeToken, 'totp', totp(t, u.secret))), 'MFA_TOKEN_INVALID');
  const b = await challenge(t, 'reuse2');
  t.clock.advance(290);
  assert.equal((await verify(t, b.challengeToken, 'totp', totp(t, u.secret))).statusCode, 200);
});

test('an altered token, a wrong kind and a made-up one are refused; the stored row holds only a hash', async () => {
  const u = await userWithTotp(t, admin, 'reuse3');
  const a = await challenge(t, 'reuse3');
  const [sel, ver] = a.challengeToken.split('.') as [string, string];
  const flipped = `${sel}.${ver.slice(0, -1)}${ver.endsWith('A') ? 'B' : 'A'}`;
  assert.equal(code(await verify(t, flipped, 'totp', totp(t, u.secret))), 'MFA_TOKEN_INVALID');
  assert.equal(code(await post(t, '/api/auth/mfa/enrolment/totp', { enrolmentToken: a.challengeToken })), 'MFA_TOKEN_INVALID', 'not an enrolment token');
  const row = await t.s.db.selectFrom('mfa_challenges').selectAll().where('id', '=', sel).executeTakeFirstOrThrow();
  assert.ok(!JSON.stringify(row).includes(ver));
  // The legitimate token still works after the attempts.
  assert.equal((await verify(t, a.challengeToken, 'totp', totp(t, u.secret))).statusCode, 200);
});

test("one user's challenge with another user's code is refused", async () => {
  const x = await userWithTotp(t, admin, 'reuse4');
  const y = await userWithTotp(t, admin, 'reuse5');
  const a = await challenge(t, 'reuse4');
  assert.equal(code(await verify(t, a.challengeToken, 'totp', totp(t, y.secret))), 'MFA_CODE_INVALID');
  assert.equal(code(await verify(t, a.challengeToken, 'recovery', y.recoveryCodes[0]!)), 'MFA_CODE_INVALID');
  const r = await verify(t, a.challengeToken, 'totp', totp(t, x.secret));
  assert.equal(r.statusCode, 200);
  const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(r.json().token) });
  assert.equal(me.json().user.username, 'reuse4');
});
