// AUTH-9 with LOCKOUT_MAIL_RESET: a lock mails a reset link (real SMTP server); spending it lifts the lock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, login, createUser, events, type TestApp } from '../helpers/app.js';
import { TestSmtp, linkToken } from '../helpers/smtp.js';

let t: TestApp;
let smtp: TestSmtp;
let admin: string;
before(async () => {
  smtp = await new TestSmtp().start();
  t = await makeApp({ env: { SMTP_URL: smtp.url, MAIL_FROM: 'noreply@example.org', PUBLIC_URL: 'https://palisade.example.org', LOCKOUT_MAX_ATTEMPTS: '3', LOCKOUT_DURATION: '0', LOCKOUT_MAIL_RESET: 'true' } });
  admin = (await login(t)).token;
});
after(async () => {
  await t.close();
  await smtp.stop();
});

const attempt = (username: string, password: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });

test('a lock mails the user a reset link; using it sets a new password and lifts the lock', async () => {
  await createUser(t, admin, 'bob', 'Original-secret-5150', { email: 'bob@example.org' });
  for (let i = 0; i < 3; i++) await attempt('bob', 'wrong-' + i);
  assert.equal((await attempt('bob', 'Original-secret-5150')).statusCode, 401, 'locked');
  await t.s.tasks.drain();
  const mails = smtp.to('bob@example.org');
  assert.equal(mails.length, 1);
  const token = linkToken(mails[0]!);
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/password/reset', payload: { token, newPassword: 'Recovered-secret-6060' } });
  assert.equal(r.statusCode, 204);
  assert.equal((await attempt('bob', 'Recovered-secret-6060')).statusCode, 200, 'unlocked by the reset');
  assert.equal((await events(t, admin, 'account.unlocked')).length, 1);
});

test('a user without an email still locks; no mail goes anywhere', async () => {
  await createUser(t, admin, 'nomail', 'Silent-secret-7070');
  for (let i = 0; i < 3; i++) await attempt('nomail', 'wrong-' + i);
  assert.equal((await attempt('nomail', 'Silent-secret-7070')).statusCode, 401);
  await t.s.tasks.drain();
  assert.equal(smtp.mails.filter((m) => m.to.some((x) => x.startsWith('nomail'))).length, 0);
});
