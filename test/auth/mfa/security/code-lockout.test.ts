// Bug class: second-factor brute force. Every wrong code spends a lockout attempt on the account; at
// the lockout's maxAttempts the account locks and even the right code is refused. A right password
// between wrong codes does not reset the count (the codes have their own counter), and an unlock
// forgets it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, events, useApp, type TestApp } from '../../../helpers/app.js';
import { challenge, code, signIn, totp, userWithTotp, verify } from '../world.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  { env: { LOCKOUT_MAX_ATTEMPTS: '3', LOCKOUT_DURATION: '0' } },
  true,
);

/** A wrong code for a secret at this moment (none of the three accepted steps). */
function wrong(secret: string): string {
  const near = new Set([totp(t, secret, -1), totp(t, secret), totp(t, secret, 1)]);
  for (let n = 0; ; n++) {
    const c = String(n).padStart(6, '0');
    if (!near.has(c)) return c;
  }
}

test('wrong codes lock the account at maxAttempts; then the right code is refused too; an unlock lets the user in [ASVS V16.3.1, V6.6.3]', async () => {
  const u = await userWithTotp(t, admin, 'brute1');
  const d = await challenge(t, 'brute1');
  for (let i = 0; i < 3; i++) assert.equal(code(await verify(t, d.challengeToken, 'totp', wrong(u.secret))), 'MFA_CODE_INVALID');
  const locked = (await events(t, admin, 'account.locked')).filter((x) => x.subjectId === u.id);
  assert.equal(locked.length, 1);
  assert.equal(code(await verify(t, d.challengeToken, 'totp', totp(t, u.secret))), 'MFA_CODE_INVALID', 'the right code after the lock');
  assert.equal(code(await verify(t, d.challengeToken, 'recovery', u.recoveryCodes[0]!)), 'MFA_CODE_INVALID');
  assert.equal(code(await signIn(t, 'brute1')), 'INVALID_CREDENTIALS', 'a locked account cannot start again');
  assert.equal(code(await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(u.token) })), 'ACCOUNT_LOCKED');
  const failures = (await events(t, admin, 'mfa.verified')).filter((x) => x.subjectId === u.id && x.outcome === 'failure');
  assert.deepEqual(failures.map((x) => x.details.reason).sort(), ['bad_code', 'bad_code', 'bad_code', 'locked', 'locked']);
  // The administrator unlocks: the count is forgotten, the legitimate user gets through.
  const un = await t.app.inject({ method: 'POST', url: `/api/admin/users/${u.id}/unlock`, headers: bearer(admin) });
  assert.equal(un.statusCode, 204, un.body);
  const e = await challenge(t, 'brute1');
  assert.equal((await verify(t, e.challengeToken, 'totp', totp(t, u.secret))).statusCode, 200);
});

test('a right password between wrong codes does not reset their count [ASVS V6.6.3]', async () => {
  const u = await userWithTotp(t, admin, 'brute2');
  for (let i = 0; i < 3; i++) {
    const d = await challenge(t, 'brute2'); // the password is right every time
    assert.equal(code(await verify(t, d.challengeToken, 'totp', wrong(u.secret))), 'MFA_CODE_INVALID');
  }
  assert.equal((await events(t, admin, 'account.locked')).filter((x) => x.subjectId === u.id).length, 1);
  assert.equal(code(await signIn(t, 'brute2')), 'INVALID_CREDENTIALS');
});

test('wrong recovery codes and wrong enrolment codes count too; a right code forgets the failures', async () => {
  const u = await userWithTotp(t, admin, 'brute3');
  const d = await challenge(t, 'brute3');
  for (let i = 0; i < 2; i++) assert.equal(code(await verify(t, d.challengeToken, 'recovery', 'aaaa-bbbb-cccc-dddd')), 'MFA_CODE_INVALID');
  assert.equal((await verify(t, d.challengeToken, 'totp', totp(t, u.secret))).statusCode, 200);
  const e = await challenge(t, 'brute3');
  for (let i = 0; i < 2; i++) assert.equal(code(await verify(t, e.challengeToken, 'totp', wrong(u.secret))), 'MFA_CODE_INVALID');
  assert.equal((await events(t, admin, 'account.locked')).filter((x) => x.subjectId === u.id).length, 0, 'two failures since the last success');
});
