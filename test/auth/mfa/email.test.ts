// AUTH-12: one-time codes by email, through the mailer to a real SMTP server: turning the factor on
// (a code entered back), signing in with a mailed code, a new code voiding the previous one, expiry.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, events, login, useApp, type TestApp } from '../../helpers/app.js';
import { TestSmtp } from '../../helpers/smtp.js';
import { refusingEvents } from '../../helpers/audit.js';
import { PW, challenge, code, post, signIn, verify } from './world.js';

let t: TestApp;
let admin: string;
let smtp: TestSmtp;
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    // Off by default (ASVS V6.3.6, test/auth/mfa/email-withdrawn.test.ts): this file is about the factor itself.
    const on = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa', headers: bearer(token), payload: { emailCodes: true } });
    assert.equal(on.statusCode, 200, on.body);
  },
  async () => {
    smtp = await new TestSmtp().start();
    return { env: { SMTP_URL: smtp.url, MAIL_FROM: 'Palisade <noreply@example.org>', SESSION_VALIDITY: '24h', TOKEN_VALIDITY: '24h' } };
  },
);
after(() => smtp.stop());

/** The code in the newest mail to an address. */
async function lastCode(address: string): Promise<{ code: string; subject: string; count: number }> {
  await t.s.tasks.drain();
  const mails = smtp.to(address);
  const m = mails.at(-1);
  assert.ok(m, `a mail to ${address}`);
  // The text part holds the code alone on an indented line.
  const found = /^ {4}(\d{6})\r?$/m.exec(m.decoded);
  assert.ok(found, 'a 6-digit code in the mail');
  return { code: found[1]!, subject: m.subject, count: mails.length };
}

async function userWithEmailFactor(name: string): Promise<{ id: string; token: string; address: string }> {
  const address = `${name}@example.org`;
  const id = await createUser(t, admin, name, PW, { email: address });
  const { token } = await login(t, name, PW);
  const sent = await post(t, '/api/auth/mfa/email/code', { password: PW }, bearer(token));
  assert.equal(sent.statusCode, 202, sent.body);
  assert.equal(sent.json().sentTo, `${name[0]}***@example.org`);
  const mail = await lastCode(address);
  assert.equal(mail.subject, 'Confirm your Palisade email codes');
  const ok = await post(t, '/api/auth/mfa/email/confirm', { code: mail.code }, bearer(token));
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json().recoveryCodes.length, 10);
  return { id, token, address };
}

test('turning the email factor on takes a code mailed to the address; then a sign-in takes a mailed code [ASVS V6.5.4]', async () => {
  const ann = await userWithEmailFactor('ann');
  const st = (await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(ann.token) })).json();
  assert.deepEqual(st.email, { enabled: true, address: 'a***@example.org' });
  assert.deepEqual(st.methods, ['email', 'recovery']);
  const d = await challenge(t, 'ann');
  assert.deepEqual(d.methods, ['email', 'recovery']);
  const sent = await post(t, '/api/auth/mfa/email-code', { challengeToken: d.challengeToken });
  assert.equal(sent.statusCode, 202, sent.body);
  assert.equal(sent.json().expiresAt, new Date(t.clock.t + 300_000).toISOString());
  const mail = await lastCode(ann.address);
  assert.equal(mail.subject, 'Your Palisade sign-in code');
  const r = await verify(t, d.challengeToken, 'email', mail.code);
  assert.equal(r.statusCode, 200, r.body);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(r.json().token) })).statusCode, 200);
  // The code is stored as a keyed hash, never in the clear; it is spent.
  const rows = await t.s.db.selectFrom('mfa_email_codes').selectAll().where('user_id', '=', ann.id).execute();
  assert.ok(!JSON.stringify(rows).includes(mail.code));
  const sentEvents = (await events(t, admin, 'mfa.code_sent')).filter((x) => x.subjectId === ann.id);
  assert.deepEqual(sentEvents.map((x) => x.details.purpose).sort(), ['enable', 'signin']);
});

test("a code is issued together with its event: the event's write failing leaves no code and sends no mail", async () => {
  const codes = async (userId: string, purpose: string) =>
    (await t.s.db.selectFrom('mfa_email_codes').select('id').where('user_id', '=', userId).where('purpose', '=', purpose).execute()).length;
  // Turning the factor on.
  const id = await createUser(t, admin, 'uma', PW, { email: 'uma@example.org' });
  const { token } = await login(t, 'uma', PW);
  await refusingEvents(t.s.db, 'mfa.code_sent', async () => {
    assert.notEqual((await post(t, '/api/auth/mfa/email/code', { password: PW }, bearer(token))).statusCode, 202);
  });
  await t.s.tasks.drain();
  assert.equal(await codes(id, 'enable'), 0);
  assert.equal(smtp.to('uma@example.org').length, 0);
  assert.equal((await post(t, '/api/auth/mfa/email/code', { password: PW }, bearer(token))).statusCode, 202);
  assert.equal(await codes(id, 'enable'), 1);
  // Signing in with it.
  const vic = await userWithEmailFactor('vic');
  await t.s.tasks.drain(); // the notice of the factor added
  const mailed = smtp.to(vic.address).length;
  const d = await challenge(t, 'vic');
  await refusingEvents(t.s.db, 'mfa.code_sent', async () => {
    assert.notEqual((await post(t, '/api/auth/mfa/email-code', { challengeToken: d.challengeToken })).statusCode, 202);
  });
  await t.s.tasks.drain();
  assert.equal(await codes(vic.id, 'signin'), 0);
  assert.equal(smtp.to(vic.address).length, mailed);
  assert.equal((await post(t, '/api/auth/mfa/email-code', { challengeToken: d.challengeToken })).statusCode, 202);
  assert.equal(await codes(vic.id, 'signin'), 1);
  assert.equal((await events(t, admin, 'mfa.code_sent')).filter((x) => x.subjectId === vic.id && x.details.purpose === 'signin').length, 1);
});

test('a new code voids the previous one; a code works once and not after its lifetime [ASVS V6.5.5]', async () => {
  const ben = await userWithEmailFactor('ben');
  const d = await challenge(t, 'ben');
  await post(t, '/api/auth/mfa/email-code', { challengeToken: d.challengeToken });
  const first = await lastCode(ben.address);
  await post(t, '/api/auth/mfa/email-code', { challengeToken: d.challengeToken });
  const second = await lastCode(ben.address);
  assert.equal(second.count, first.count + 1);
  if (first.code !== second.code) assert.equal(code(await verify(t, d.challengeToken, 'email', first.code)), 'MFA_CODE_INVALID');
  assert.equal((await verify(t, d.challengeToken, 'email', second.code)).statusCode, 200);
  // Expired: past emailCodeValidity (5 min), though the challenge is newer.
  const e = await challenge(t, 'ben');
  await post(t, '/api/auth/mfa/email-code', { challengeToken: e.challengeToken });
  const late = await lastCode(ben.address);
  t.clock.advance(301);
  const f = await challenge(t, 'ben');
  assert.equal(code(await verify(t, f.challengeToken, 'email', late.code)), 'MFA_CODE_INVALID', 'a code belongs to its challenge');
  assert.equal(code(await verify(t, e.challengeToken, 'email', late.code)), 'MFA_TOKEN_INVALID', 'the challenge expired too');
});

test('a code mailed for one challenge does not complete another [ASVS V6.6.2]', async () => {
  const cat = await userWithEmailFactor('cat');
  const a = await challenge(t, 'cat');
  const b = await challenge(t, 'cat');
  await post(t, '/api/auth/mfa/email-code', { challengeToken: a.challengeToken });
  const mail = await lastCode(cat.address);
  assert.equal(code(await verify(t, b.challengeToken, 'email', mail.code)), 'MFA_CODE_INVALID');
  assert.equal((await verify(t, a.challengeToken, 'email', mail.code)).statusCode, 200);
});

test('no address, no email factor; a user without it cannot ask for sign-in codes; mail is throttled per user', async () => {
  await createUser(t, admin, 'dan', PW);
  const { token } = await login(t, 'dan', PW);
  assert.equal(code(await post(t, '/api/auth/mfa/email/code', { password: PW }, bearer(token))), 'MFA_METHOD_UNAVAILABLE');
  const eve = await userWithEmailFactor('eve');
  assert.equal(code(await post(t, '/api/auth/mfa/email/code', { password: PW }, bearer(eve.token))), 'MFA_FACTOR_EXISTS');
  const d = await challenge(t, 'eve');
  let last = 0;
  for (let i = 0; i < 6; i++) last = (await post(t, '/api/auth/mfa/email-code', { challengeToken: d.challengeToken })).statusCode;
  assert.equal(last, 429, 'at most five codes per user in 15 minutes');
  // Turning it off needs the password; then the password alone signs in.
  const off = (password: string) => t.app.inject({ method: 'DELETE', url: '/api/auth/mfa/email', headers: bearer(eve.token), payload: { password } });
  assert.equal(code(await off('Wrong-password-0000')), 'INVALID_CREDENTIALS');
  assert.equal((await off(PW)).statusCode, 204);
  assert.equal((await signIn(t, 'eve')).statusCode, 200);
});

test('a user required to enrol may set up the email factor with the enrolment-only token, and is signed in', async () => {
  await createUser(t, admin, 'fox', PW, { email: 'fox@example.org' });
  const set = (required: string) => t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa', headers: bearer(admin), payload: { required } });
  assert.equal((await set('everyone')).statusCode, 200);
  try {
    const first = await signIn(t, 'fox');
    assert.equal(code(first), 'MFA_ENROLMENT_REQUIRED');
    const { enrolmentToken } = first.json().error.details;
    const sent = await post(t, '/api/auth/mfa/enrolment/email-code', { enrolmentToken });
    assert.equal(sent.statusCode, 202, sent.body);
    const mail = await lastCode('fox@example.org');
    assert.equal(mail.subject, 'Confirm your Palisade email codes');
    assert.equal(
      code(await post(t, '/api/auth/mfa/enrolment/email/confirm', { enrolmentToken, code: mail.code === '000000' ? '111111' : '000000' })),
      'MFA_CODE_INVALID',
    );
    const done = await post(t, '/api/auth/mfa/enrolment/email/confirm', { enrolmentToken, code: mail.code });
    assert.equal(done.statusCode, 200, done.body);
    assert.equal(done.json().recoveryCodes.length, 10);
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(done.json().token) })).statusCode, 200);
    assert.deepEqual((await challenge(t, 'fox')).methods, ['email', 'recovery']);
  } finally {
    assert.equal((await set('optional')).statusCode, 200);
  }
});
