// AUTH-9 with LOCKOUT_MAIL_RESET: a lock mails a reset link (real SMTP server); spending it lifts the lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, events, type TestApp } from '../helpers/app.js';
import { type TestSmtp, linkToken, useMailApp } from '../helpers/smtp.js';

let t: TestApp;
let smtp: TestSmtp;
let admin: string;
useMailApp(
  (app, token, server) => {
    t = app;
    admin = token;
    smtp = server;
  },
  {
    MAIL_FROM: 'noreply@example.org',
    PUBLIC_URL: 'https://palisade.example.org',
    LOCKOUT_MAX_ATTEMPTS: '3',
    LOCKOUT_DURATION: '0',
    LOCKOUT_MAIL_RESET: 'true',
  },
);

const attempt = (username: string, password: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });

test('a lock mails the user a reset link; using it sets a new password and lifts the lock', async () => {
  await createUser(t, admin, 'bob', 'Original-secret-5150', { email: 'bob@example.org' });
  for (let i = 0; i < 3; i++) await attempt('bob', `wrong-${i}`);
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
  for (let i = 0; i < 3; i++) await attempt('nomail', `wrong-${i}`);
  assert.equal((await attempt('nomail', 'Silent-secret-7070')).statusCode, 401);
  await t.s.tasks.drain();
  assert.equal(smtp.mails.filter((m) => m.to.some((x) => x.startsWith('nomail'))).length, 0);
});

test("an administrator's lock is not lifted by a reset, and forgot-password mails nothing to such an account", async () => {
  const id = await createUser(t, admin, 'carol', 'Careful-secret-9090', { email: 'carol@example.org' });
  // A link sent before the lock.
  await t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { email: 'carol@example.org' } });
  await t.s.tasks.drain();
  const early = linkToken(smtp.to('carol@example.org')[0]!);
  assert.equal(
    (await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/lock`, headers: bearer(admin), payload: { reason: 'device stolen' } })).statusCode,
    204,
  );
  await t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { email: 'carol@example.org' } });
  await t.s.tasks.drain();
  assert.equal(smtp.to('carol@example.org').length, 1, 'no new mail while an administrator holds the lock');
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/password/reset', payload: { token: early, newPassword: 'Thief-chosen-pw-1212' } });
  assert.equal(r.statusCode, 204);
  assert.equal((await attempt('carol', 'Thief-chosen-pw-1212')).statusCode, 401, 'still locked');
});
