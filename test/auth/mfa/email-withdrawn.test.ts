// ASVS V6.3.6: email is no second factor unless an administrator offers it (the `mfa` setting `emailCodes`, off by
// default, D438). Off, nobody sets the email factor up, and a user who already has it is neither offered nor sent
// codes: the sign-in still needs a second step, with another factor or a recovery code, never the password alone.
// On, the factor works as before (test/auth/mfa/email.test.ts). Mail goes through a real SMTP server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, login, type TestApp } from '../../helpers/app.js';
import { type TestSmtp, useMailApp } from '../../helpers/smtp.js';
import { PW, challenge, code, enrolTotp, post, signIn, totp, verify } from './world.js';

let t: TestApp;
let admin: string;
let smtp: TestSmtp;
useMailApp(
  (app, token, server) => {
    t = app;
    admin = token;
    smtp = server;
  },
  { SESSION_VALIDITY: '24h', TOKEN_VALIDITY: '24h' },
);

const settings = (payload: object) => t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa', headers: bearer(admin), payload });

async function emailCodes(on: boolean): Promise<void> {
  const r = await settings({ emailCodes: on });
  assert.equal(r.statusCode, 200, r.body);
}

/** The code of the newest mail to `address` that carries one (notices carry none). */
async function lastCode(address: string): Promise<string> {
  await t.s.tasks.drain();
  const found = smtp
    .to(address)
    .map((m) => /^ {4}(\d{6})\r?$/m.exec(m.decoded)?.[1])
    .filter((c) => c !== undefined);
  assert.ok(found.length > 0, `a code was mailed to ${address}`);
  return found.at(-1)!;
}

async function codeMails(address: string): Promise<number> {
  await t.s.tasks.drain();
  return smtp.to(address).filter((m) => /sign-in code|email codes/.test(m.subject)).length;
}

const status = async (token: string) => (await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(token) })).json();

test('email codes are off by default: the email factor cannot be set up, nothing is mailed, an authenticator app still works [ASVS V6.3.6]', async () => {
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/settings/mfa', headers: bearer(admin) })).json().emailCodes, false);
  const id = await createUser(t, admin, 'otto', PW, { email: 'otto@example.org' });
  const { token } = await login(t, 'otto', PW);
  assert.equal((await status(token)).available.email, false);

  // The attack: a factor that is only a mailbox, set up with the password (or a mailed code confirmed) anyway.
  const sent = await post(t, '/api/auth/mfa/email/code', { password: PW }, bearer(token));
  assert.equal(sent.statusCode, 403, sent.body);
  assert.equal(code(sent), 'MFA_EMAIL_DISABLED');
  assert.equal(code(await post(t, '/api/auth/mfa/email/confirm', { code: '123456' }, bearer(token))), 'MFA_EMAIL_DISABLED');
  assert.equal(await codeMails('otto@example.org'), 0);
  assert.equal((await t.s.db.selectFrom('mfa_email_codes').select('id').where('user_id', '=', id).execute()).length, 0);
  assert.equal((await t.s.db.selectFrom('mfa_email').select('user_id').where('user_id', '=', id).execute()).length, 0);

  // The legitimate path: an authenticator app, then a sign-in with it.
  const { secret } = await enrolTotp(t, token);
  t.clock.advance(30);
  const d = await challenge(t, 'otto');
  assert.deepEqual(d.methods, ['totp', 'recovery']);
  assert.equal((await verify(t, d.challengeToken, 'totp', totp(t, secret))).statusCode, 200);
});

test('a user who must enrol cannot choose email codes with the enrolment-only token while they are off [ASVS V6.3.6]', async () => {
  await createUser(t, admin, 'pia', PW, { email: 'pia@example.org' });
  assert.equal((await settings({ required: 'everyone' })).statusCode, 200);
  try {
    const first = await signIn(t, 'pia');
    assert.equal(code(first), 'MFA_ENROLMENT_REQUIRED');
    const { enrolmentToken } = first.json().error.details;
    assert.equal(code(await post(t, '/api/auth/mfa/enrolment/email-code', { enrolmentToken })), 'MFA_EMAIL_DISABLED');
    assert.equal(code(await post(t, '/api/auth/mfa/enrolment/email/confirm', { enrolmentToken, code: '123456' })), 'MFA_EMAIL_DISABLED');
    assert.equal(await codeMails('pia@example.org'), 0);
    // The token is not spent by the refusals: an authenticator app finishes the enrolment and signs in.
    const started = await post(t, '/api/auth/mfa/enrolment/totp', { enrolmentToken });
    assert.equal(started.statusCode, 200, started.body);
    const done = await post(t, '/api/auth/mfa/enrolment/totp/confirm', { enrolmentToken, code: totp(t, started.json().secret) });
    assert.equal(done.statusCode, 200, done.body);
  } finally {
    assert.equal((await settings({ required: 'optional' })).statusCode, 200);
  }
});

test('withdrawn after a user set it up: not offered, no code sent, an earlier code refused; a recovery code or another factor signs in, the password alone never [ASVS V6.3.6]', async () => {
  await emailCodes(true);
  await createUser(t, admin, 'ella', PW, { email: 'ella@example.org' });
  const { token } = await login(t, 'ella', PW);
  assert.equal((await post(t, '/api/auth/mfa/email/code', { password: PW }, bearer(token))).statusCode, 202);
  const on = await post(t, '/api/auth/mfa/email/confirm', { code: await lastCode('ella@example.org') }, bearer(token));
  assert.equal(on.statusCode, 200, on.body);
  const recoveryCodes: string[] = on.json().recoveryCodes;
  // A sign-in code mailed while the method was on.
  const before = await challenge(t, 'ella');
  assert.deepEqual(before.methods, ['email', 'recovery']);
  assert.equal((await post(t, '/api/auth/mfa/email-code', { challengeToken: before.challengeToken })).statusCode, 202);
  const earlier = await lastCode('ella@example.org');
  const mailed = await codeMails('ella@example.org');

  await emailCodes(false);
  const st = await status(token);
  assert.deepEqual([st.email.enabled, st.available.email, st.methods], [true, false, ['recovery']]);
  // Still a second step: the user is not left with the password alone.
  const d = await challenge(t, 'ella');
  assert.deepEqual(d.methods, ['recovery']);
  const asked = await post(t, '/api/auth/mfa/email-code', { challengeToken: d.challengeToken });
  assert.equal(asked.statusCode, 403, asked.body);
  assert.equal(code(asked), 'MFA_EMAIL_DISABLED');
  assert.equal(await codeMails('ella@example.org'), mailed, 'no code was mailed');
  assert.equal(code(await verify(t, before.challengeToken, 'email', earlier)), 'MFA_METHOD_UNAVAILABLE', 'a code mailed before does not count');
  const rec = await verify(t, d.challengeToken, 'recovery', recoveryCodes[0]!);
  assert.equal(rec.statusCode, 200, rec.body);

  // Another factor replaces it; then email codes come off the account.
  const { secret } = await enrolTotp(t, rec.json().token);
  t.clock.advance(30);
  const next = await challenge(t, 'ella');
  assert.deepEqual(next.methods, ['totp', 'recovery']);
  const signed = await verify(t, next.challengeToken, 'totp', totp(t, secret));
  assert.equal(signed.statusCode, 200, signed.body);
  const off = await t.app.inject({ method: 'DELETE', url: '/api/auth/mfa/email', headers: bearer(signed.json().token), payload: { password: PW } });
  assert.equal(off.statusCode, 204, off.body);
  assert.equal((await status(signed.json().token)).email.enabled, false);
});

test('offered again, the email factor works as before: set up with a mailed code, then a sign-in with one [ASVS V6.3.6]', async () => {
  await emailCodes(true);
  try {
    await createUser(t, admin, 'ivo', PW, { email: 'ivo@example.org' });
    const { token } = await login(t, 'ivo', PW);
    assert.equal((await status(token)).available.email, true);
    assert.equal((await post(t, '/api/auth/mfa/email/code', { password: PW }, bearer(token))).statusCode, 202);
    assert.equal((await post(t, '/api/auth/mfa/email/confirm', { code: await lastCode('ivo@example.org') }, bearer(token))).statusCode, 200);
    const d = await challenge(t, 'ivo');
    assert.deepEqual(d.methods, ['email', 'recovery']);
    assert.equal((await post(t, '/api/auth/mfa/email-code', { challengeToken: d.challengeToken })).statusCode, 202);
    const r = await verify(t, d.challengeToken, 'email', await lastCode('ivo@example.org'));
    assert.equal(r.statusCode, 200, r.body);
  } finally {
    await emailCodes(false);
  }
});
