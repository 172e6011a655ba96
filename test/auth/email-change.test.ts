import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, events, type TestApp, useApp } from '../helpers/app.js';
import { TestSmtp } from '../helpers/smtp.js';

/**
 * Issue 18, ASVS V7.5.1: changing one's email address needs the current password, and the old address is told of
 * the change through a real SMTP server. An administrator still changes another user's address (the old one is told
 * too), but not their own through the administrator's path.
 */

let t: TestApp;
let smtp: TestSmtp;
let admin: string;

useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  async () => {
    smtp = await new TestSmtp().start();
    return { env: { SMTP_URL: smtp.url, MAIL_FROM: 'Palisade <noreply@example.org>', PUBLIC_URL: 'https://palisade.example.org/' } };
  },
);

after(async () => {
  await smtp.stop();
});

const PW = 'Email-changer-pass-42';

async function mailsTo(address: string) {
  await t.s.tasks.drain();
  return smtp.to(address);
}

async function emailOf(id: string): Promise<string | null> {
  return (await t.s.db.selectFrom('users').select('email').where('id', '=', id).executeTakeFirstOrThrow()).email;
}

const changeEmail = (token: string, payload: Record<string, unknown>) =>
  t.app.inject({ method: 'PUT', url: '/api/auth/email', headers: bearer(token), payload });

test('a wrong or missing current password changes nothing, tells no one, and is recorded as a failure [ASVS V7.5.1]', async () => {
  const id = await createUser(t, admin, 'erin', PW, { email: 'erin@example.org' });
  const token = (await login(t, 'erin', PW)).token;
  const wrong = await changeEmail(token, { currentPassword: 'Not-the-password-1', email: 'attacker@example.net' });
  assert.equal(wrong.statusCode, 401);
  assert.equal(wrong.json().error.code, 'INVALID_CREDENTIALS');
  const missing = await changeEmail(token, { email: 'attacker@example.net' });
  assert.equal(missing.statusCode, 400);
  assert.equal(missing.json().error.code, 'VALIDATION_FAILED');
  const extra = await changeEmail(token, { currentPassword: PW, email: 'attacker@example.net', username: 'mallory' });
  assert.equal(extra.statusCode, 400);
  assert.equal(await emailOf(id), 'erin@example.org');
  assert.equal((await mailsTo('erin@example.org')).length, 0);
  const failed = (await events(t, admin, 'user.email_changed')).filter((e) => e.subjectId === id);
  assert.deepEqual(
    failed.map((e) => [e.outcome, e.details.reason]),
    [['failure', 'bad_current_password']],
  );
});

test('with the current password the address changes, old links die, and the old address is told by mail [ASVS V7.5.1]', async () => {
  const id = await createUser(t, admin, 'fred', PW, { email: 'fred@example.org' });
  const token = (await login(t, 'fred', PW)).token;
  // A reset link mailed to the old address must not outlive the change.
  const link = await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/password/reset-link`, headers: bearer(admin) });
  assert.equal(link.statusCode, 202, link.body);
  const res = await changeEmail(token, { currentPassword: PW, email: 'Fred.New@Example.org' });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json().user.email, 'fred.new@example.org');
  assert.equal(await emailOf(id), 'fred.new@example.org');
  const live = await t.s.db
    .selectFrom('password_tokens')
    .select('id')
    .where('user_id', '=', id)
    .where('revoked_at', 'is', null)
    .where('used_at', 'is', null)
    .execute();
  assert.equal(live.length, 0);
  const told = (await mailsTo('fred@example.org')).filter((m) => /email address of your Palisade account changed/.test(m.subject));
  assert.equal(told.length, 1);
  assert.match(told[0]!.decoded, /was changed on .*, with its password/);
  // The notice does not hand the new address to the old mailbox.
  assert.doesNotMatch(told[0]!.decoded, /fred\.new/);
  assert.equal((await mailsTo('fred.new@example.org')).length, 0);
  const ev = (await events(t, admin, 'user.email_changed')).filter((e) => e.subjectId === id && e.outcome === 'success');
  assert.equal(ev.length, 1);
  assert.deepEqual([ev[0]!.details.by, ev[0]!.details.removed, ev[0]!.details.oldAddressTold], ['self', false, true]);
  // The session goes on; the user signs in with the new address.
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) })).json().user.email, 'fred.new@example.org');
  const again = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'fred.new@example.org', password: PW } });
  assert.equal(again.statusCode, 200);
});

test("an address taken by another user is a conflict; removing one's address is told to it too [ASVS V7.5.1]", async () => {
  const id = await createUser(t, admin, 'gwen', PW, { email: 'gwen@example.org' });
  const token = (await login(t, 'gwen', PW)).token;
  const taken = await changeEmail(token, { currentPassword: PW, email: 'fred.new@example.org' });
  assert.equal(taken.statusCode, 409);
  assert.equal(taken.json().error.code, 'CONFLICT');
  assert.equal(await emailOf(id), 'gwen@example.org');
  const removed = await changeEmail(token, { currentPassword: PW, email: null });
  assert.equal(removed.statusCode, 200, removed.body);
  assert.equal(await emailOf(id), null);
  const told = await mailsTo('gwen@example.org');
  assert.equal(told.length, 1);
  assert.match(told[0]!.decoded, /was removed from/);
});

test("an administrator changes another user's address and the old one is told; their own only with their password [ASVS V7.5.1]", async () => {
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

test('a user without a password (single sign-on only) cannot change the address the provider owns [ASVS V7.5.1]', async () => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { username: 'ivy', email: 'ivy@example.org', ssoOnly: true },
  });
  assert.equal(res.statusCode, 201, res.body);
  const id = res.json().user.id;
  // A session as a provider's sign-in would open it, through the one funnel (no provider runs in this file).
  const user = (await t.s.users.get(id))!;
  const opened = await t.s.sessions.create(
    user,
    { method: 'sso', provider: 'corp', mfa: false, subject: 'ivy', providerSession: null },
    { mode: 'bearer', rememberMe: false, request: {} },
  );
  const res2 = await changeEmail(opened.issued.token, { currentPassword: 'anything-at-all-1', email: 'ivy2@example.org' });
  assert.equal(res2.statusCode, 409);
  assert.equal(res2.json().error.code, 'SSO_ONLY_USER');
  assert.equal(await emailOf(id), 'ivy@example.org');
  assert.equal((await mailsTo('ivy@example.org')).length, 0);
});
