// Bug classes of SMS one-time codes, against a real Kannel: code replay (the same code twice, a code of
// another challenge), brute force hitting the lockout, a code texted to an earlier number confirming a
// later one, SMS flooding (toll fraud on the operator's bill), and a failing or hanging gateway, which
// must give a fast 503 SMS_UNAVAILABLE and never a session.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, events, login, useApp, type Res, type TestApp } from '../../../helpers/app.js';
import { TestKannel } from '../../../helpers/kannel.js';
import { PW, challenge, code, liveSessions, post, userWithTotp, verify } from '../world.js';
import { smsCode, userWithSms } from '../sms-world.js';

let t: TestApp;
let admin: string;
const kannel = new TestKannel();
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  async () => {
    await kannel.start();
    return {
      env: { ...kannel.env({ SMS_TIMEOUT_MS: '500' }), LOCKOUT_MAX_ATTEMPTS: '3', LOCKOUT_DURATION: '0', SESSION_VALIDITY: '24h', TOKEN_VALIDITY: '24h' },
    };
  },
);
after(() => kannel.stop());

/** Asks for a sign-in code and returns it with the challenge. */
async function texted(username: string, phone: string): Promise<{ challengeToken: string; code: string }> {
  const d = await challenge(t, username);
  const before = kannel.to(phone).length;
  const r = await post(t, '/api/auth/mfa/sms-code', { challengeToken: d.challengeToken });
  assert.equal(r.statusCode, 202, r.body);
  return { challengeToken: d.challengeToken, code: (await smsCode(kannel, phone, before + 1)).code };
}

const other = (c: string) => String((Number(c) + 1) % 1_000_000).padStart(6, '0');

test('a texted code works once: replayed, with another challenge, or after a newer code, it is refused [ASVS V6.5.1, V6.5.5, V6.6.2]', async () => {
  const u = await userWithSms(t, kannel, admin, 'replay', '+4511000001');
  const a = await texted('replay', '+4511000001');
  const ok = await verify(t, a.challengeToken, 'sms', a.code);
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(code(await verify(t, a.challengeToken, 'sms', a.code)), 'MFA_TOKEN_INVALID', 'the challenge went with the code');
  const b = await challenge(t, 'replay');
  assert.equal(code(await verify(t, b.challengeToken, 'sms', a.code)), 'MFA_CODE_INVALID', 'a spent code, with a fresh challenge');
  // A code texted for one challenge does not complete another.
  const c = await texted('replay', '+4511000001');
  const d = await challenge(t, 'replay');
  assert.equal(code(await verify(t, d.challengeToken, 'sms', c.code)), 'MFA_CODE_INVALID');
  // A newer code voids the older one.
  const e1 = await texted('replay', '+4511000001');
  const before = kannel.to('+4511000001').length;
  assert.equal((await post(t, '/api/auth/mfa/sms-code', { challengeToken: e1.challengeToken })).statusCode, 202);
  const e2 = (await smsCode(kannel, '+4511000001', before + 1)).code;
  if (e2 !== e1.code) assert.equal(code(await verify(t, e1.challengeToken, 'sms', e1.code)), 'MFA_CODE_INVALID');
  // The code expires with its lifetime (5 minutes).
  t.clock.advance(301);
  assert.equal(code(await verify(t, e1.challengeToken, 'sms', e2)), 'MFA_TOKEN_INVALID', 'and so does the challenge');
  assert.equal(await liveSessions(t, u.id), 2, 'the session of the enrolment and the one good sign-in');
});

test('wrong SMS codes spend lockout attempts: at the limit the right code is refused too [ASVS V6.6.3]', async () => {
  const u = await userWithSms(t, kannel, admin, 'brute', '+4511000002');
  const s = await texted('brute', '+4511000002');
  for (let i = 0; i < 3; i++) assert.equal(code(await verify(t, s.challengeToken, 'sms', other(s.code))), 'MFA_CODE_INVALID');
  assert.equal((await events(t, admin, 'account.locked')).filter((x) => x.subjectId === u.id).length, 1);
  assert.equal(code(await verify(t, s.challengeToken, 'sms', s.code)), 'MFA_CODE_INVALID', 'the right code after the lock');
  assert.equal(await liveSessions(t, u.id), 1, 'only the session of the enrolment');
  const failures = (await events(t, admin, 'mfa.verified')).filter((x) => x.subjectId === u.id && x.outcome === 'failure');
  assert.deepEqual(failures.map((x) => [x.details.method, x.details.reason]).sort(), [
    ['sms', 'bad_code'],
    ['sms', 'bad_code'],
    ['sms', 'bad_code'],
    ['sms', 'locked'],
  ]);
  // The administrator unlocks; the legitimate user gets in with a new code.
  assert.equal((await t.app.inject({ method: 'POST', url: `/api/admin/users/${u.id}/unlock`, headers: bearer(admin) })).statusCode, 204);
  const again = await texted('brute', '+4511000002');
  assert.equal((await verify(t, again.challengeToken, 'sms', again.code)).statusCode, 200);
});

test('wrong enrolment codes count too, and a code texted to an earlier number cannot confirm a later one [ASVS V6.6.1, V6.6.2]', async () => {
  const id = await createUser(t, admin, 'swap', PW);
  const { token } = await login(t, 'swap', PW);
  assert.equal((await post(t, '/api/auth/mfa/sms', { password: PW, phone: '+4511000003' }, bearer(token))).statusCode, 202);
  const first = (await smsCode(kannel, '+4511000003', 1)).code;
  // An attacker holding the session swaps in their own number: the code of the first number does not fit it.
  assert.equal((await post(t, '/api/auth/mfa/sms', { password: PW, phone: '+4511000004' }, bearer(token))).statusCode, 202);
  const second = (await smsCode(kannel, '+4511000004', 1)).code;
  if (first !== second) assert.equal(code(await post(t, '/api/auth/mfa/sms/confirm', { code: first }, bearer(token))), 'MFA_CODE_INVALID');
  assert.equal(code(await post(t, '/api/auth/mfa/sms/confirm', { code: other(second) }, bearer(token))), 'MFA_CODE_INVALID');
  const failures = (await events(t, admin, 'mfa.enrolled')).filter((x) => x.subjectId === id && x.outcome === 'failure');
  assert.ok(failures.length >= 1 && failures.every((x) => x.details.factor === 'sms' && x.details.reason === 'bad_code'));
  assert.equal((await post(t, '/api/auth/mfa/sms/confirm', { code: second }, bearer(token))).statusCode, 200);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(token) })).json().sms.phone, '+45******04');
});

test('SMS flooding: at most five codes per user in 15 minutes, then 429 and nothing texted [ASVS V6.6.3]', async () => {
  await userWithSms(t, kannel, admin, 'flood', '+4511000005'); // the enrolment code is the first of five
  const d = await challenge(t, 'flood');
  for (let i = 0; i < 4; i++) assert.equal((await post(t, '/api/auth/mfa/sms-code', { challengeToken: d.challengeToken })).statusCode, 202);
  await kannel.waitFor('+4511000005', 5);
  const r = await post(t, '/api/auth/mfa/sms-code', { challengeToken: d.challengeToken });
  assert.equal(code(r), 'RATE_LIMITED');
  assert.ok(Number(r.headers['retry-after']) > 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(kannel.to('+4511000005').length, 5);
  t.clock.advance(15 * 60 + 1);
  const e = await challenge(t, 'flood');
  assert.equal((await post(t, '/api/auth/mfa/sms-code', { challengeToken: e.challengeToken })).statusCode, 202, 'the window has passed');
});

test('the SMS method needs a confirmed number: a pending one gives no code and no way in [ASVS V6.6.1]', async () => {
  const u = await userWithTotp(t, admin, 'nophone');
  assert.equal((await post(t, '/api/auth/mfa/sms', { password: PW, phone: '+4511000006' }, bearer(u.token))).statusCode, 202);
  await smsCode(kannel, '+4511000006', 1); // the enrolment code, never entered back
  const d = await challenge(t, 'nophone');
  assert.deepEqual(d.methods, ['totp', 'recovery']);
  assert.equal(code(await post(t, '/api/auth/mfa/sms-code', { challengeToken: d.challengeToken })), 'MFA_METHOD_UNAVAILABLE');
  assert.equal(code(await verify(t, d.challengeToken, 'sms', '123456')), 'MFA_METHOD_UNAVAILABLE');
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(kannel.to('+4511000006').length, 1, 'no sign-in code texted');
  assert.equal(await liveSessions(t, u.id), 1, 'only the session of the enrolment');
});

test('a gateway that hangs or fails: 503 SMS_UNAVAILABLE fast, audited, and no session; the factor works once it is back', async () => {
  const u = await userWithSms(t, kannel, admin, 'outage', '+4511000008');
  const d = await challenge(t, 'outage');
  kannel.pause();
  let r: Res;
  const t0 = Date.now();
  try {
    r = await post(t, '/api/auth/mfa/sms-code', { challengeToken: d.challengeToken });
  } finally {
    kannel.resume();
  }
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  assert.equal(r.statusCode, 503, r.body);
  assert.equal(code(r), 'SMS_UNAVAILABLE');
  assert.equal(r.headers['retry-after'], '5');
  assert.deepEqual(Object.keys(r.json().error).sort(), ['code', 'message'], 'no detail in a 5xx');
  // Guessing without a code gets nowhere, and no session exists.
  assert.equal(code(await verify(t, d.challengeToken, 'sms', '123456')), 'MFA_CODE_INVALID');
  assert.equal(await liveSessions(t, u.id), 1, 'only the session of the enrolment');
  const failed = (await events(t, admin, 'mfa.code_sent')).filter((x) => x.subjectId === u.id && x.outcome === 'failure');
  assert.deepEqual(
    failed.map((x) => x.details),
    [{ purpose: 'signin', channel: 'sms', to: '+45******08', reason: 'SMS_UNAVAILABLE' }],
  );
  assert.ok(!t.logs.join('\n').includes('4511000008'), 'the number is not logged');
  // Enrolling a number during the outage fails the same way and leaves it pending.
  kannel.pause();
  try {
    await createUser(t, admin, 'outage2', PW);
    const { token } = await login(t, 'outage2', PW);
    assert.equal(code(await post(t, '/api/auth/mfa/sms', { password: PW, phone: '+4511000009' }, bearer(token))), 'SMS_UNAVAILABLE');
    const st = (await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(token) })).json();
    assert.equal(st.sms.state, 'pending');
  } finally {
    kannel.resume();
  }
  // Back up: the same challenge gets a code and signs in.
  const before = kannel.to('+4511000008').length;
  assert.equal((await post(t, '/api/auth/mfa/sms-code', { challengeToken: d.challengeToken })).statusCode, 202);
  const c = (await smsCode(kannel, '+4511000008', before + 1)).code;
  assert.equal((await verify(t, d.challengeToken, 'sms', c)).statusCode, 200);
});
