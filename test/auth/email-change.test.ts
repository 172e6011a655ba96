import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, events, type TestApp } from '../helpers/app.js';
import { type TestSmtp, useMailApp } from '../helpers/smtp.js';

/**
 * Issue 18, ASVS V7.5.1: an email address is changed by an administrator, never by its own user's session (D368: a
 * self-set address that nobody confirmed would let single sign-on link a stranger's identity to the account), and
 * the old address is told of the change through a real SMTP server.
 */

let t: TestApp;
let smtp: TestSmtp;
let admin: string;

useMailApp(
  (app, token, server) => {
    t = app;
    admin = token;
    smtp = server;
  },
  { PUBLIC_URL: 'https://palisade.example.org/' },
);

const PW = 'Email-changer-pass-42';

async function mailsTo(address: string) {
  await t.s.tasks.drain();
  return smtp.to(address);
}

async function emailOf(id: string): Promise<string | null> {
  return (await t.s.db.selectFrom('users').select('email').where('id', '=', id).executeTakeFirstOrThrow()).email;
}

test("an administrator changes another user's address and the old one is told; never their own [ASVS V7.5.1]", async () => {
  const id = await createUser(t, admin, 'hank', PW, { email: 'hank@example.org' });
  const res = await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(admin), payload: { email: 'hank2@example.org' } });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(await emailOf(id), 'hank2@example.org');
  const told = await mailsTo('hank@example.org');
  assert.equal(told.length, 1);
  assert.match(told[0]!.decoded, /by an administrator/);
  const ev = (await events(t, admin, 'user.email_changed')).filter((e) => e.subjectId === id);
  assert.deepEqual(
    ev.map((e) => [e.outcome, e.details.by]),
    [['success', 'administrator']],
  );

  // The administrator's own address: not through the administrator's path, which asks for no password.
  const me = (await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) })).json().user;
  const self = await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${me.id}`, headers: bearer(admin), payload: { email: 'root-new@example.org' } });
  assert.equal(self.statusCode, 403);
  assert.equal(self.json().error.code, 'CANNOT_MODIFY_SELF');
  assert.equal(await emailOf(me.id), me.email);
  // Sending the unchanged address back (a form saving other fields) is no change and passes.
  const same = await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${me.id}`, headers: bearer(admin), payload: { email: me.email } });
  assert.equal(same.statusCode, 200, same.body);
});

test('no session changes its own address: there is no such route, and the administrator path refuses it [ASVS V7.5.1]', async () => {
  const id = await createUser(t, admin, 'ivy', PW, { email: 'ivy@example.org' });
  const ivy = (await login(t, 'ivy', PW)).token;
  const r = await t.app.inject({ method: 'PUT', url: '/api/auth/email', headers: bearer(ivy), payload: { currentPassword: PW, email: 'ceo@example.org' } });
  assert.equal(r.statusCode, 404, r.body);
  assert.equal(await emailOf(id), 'ivy@example.org');
  assert.equal((await mailsTo('ivy@example.org')).length, 0);
});
