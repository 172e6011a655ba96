// Helpers for the SMS-code tests: the code in the last message fakesmsc received for a number, and a
// user with a confirmed phone number enrolled through the API.
import assert from 'node:assert/strict';
import { bearer, createUser, login, type TestApp } from '../../helpers/app.js';
import type { TestKannel } from '../../helpers/kannel.js';
import { PW, post } from './world.js';

/** The 6-digit code in the `count`-th message to a number (waiting for it to reach the fake SMSC). */
export async function smsCode(kannel: TestKannel, to: string, count: number): Promise<{ code: string; text: string; from: string }> {
  const sms = await kannel.waitFor(to, count);
  const m = /: (\d{6})\. It expires in \d+ min\. Never share it\.$/.exec(sms.text);
  assert.ok(m, `a code in: ${sms.text}`);
  return { code: m[1]!, text: sms.text, from: sms.from };
}

/** A user with a confirmed phone number (enrolled with a fresh password, confirmed with the texted code). */
export async function userWithSms(
  t: TestApp,
  kannel: TestKannel,
  admin: string,
  username: string,
  phone: string,
): Promise<{ id: string; token: string; recoveryCodes: string[] }> {
  const id = await createUser(t, admin, username, PW);
  const { token } = await login(t, username, PW);
  const before = kannel.to(phone).length;
  const started = await post(t, '/api/auth/mfa/sms', { password: PW, phone }, bearer(token));
  assert.equal(started.statusCode, 202, started.body);
  const { code } = await smsCode(kannel, phone, before + 1);
  const ok = await post(t, '/api/auth/mfa/sms/confirm', { code }, bearer(token));
  assert.equal(ok.statusCode, 200, ok.body);
  return { id, token, recoveryCodes: ok.json().recoveryCodes };
}
