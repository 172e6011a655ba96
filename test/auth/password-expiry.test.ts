import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, login, bearer, createUser, events, ROOT, type TestApp } from '../helpers/app.js';
import { TestSmtp } from '../helpers/smtp.js';
import { refusingEvents } from '../helpers/audit.js';

/**
 * AUTH-7 expiry against the test clock: a validity period with reminders in its last days (flag in
 * the sign-in answer, one mail a day), an expired password that cannot sign in and is changed only
 * through a one-time change step or an administrator, and a change required by an administrator.
 */

const DAY = 86400;
let t: TestApp;
let smtp: TestSmtp;

before(async () => {
  smtp = await new TestSmtp().start();
  t = await makeApp({ env: { SMTP_URL: smtp.url, MAIL_FROM: 'Palisade <noreply@example.org>', PASSWORD_VALIDITY: '30d' } });
});

after(async () => {
  await t.close();
  await smtp.stop();
});

const signIn = (username: string, password: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
const changeStep = (token: string, newPassword: string) => t.app.inject({ method: 'POST', url: '/api/auth/password/reset', payload: { token, newPassword } });
let rootPassword = ROOT.password;
let rootChanges = 0;
/** The administrator's token; root's own password expires as the clock moves, and is renewed through the change step. */
async function admin(): Promise<string> {
  const r = await signIn(ROOT.username, rootPassword);
  if (r.statusCode === 403 && r.json().error.code === 'PASSWORD_EXPIRED') {
    const next = `Chief-renewed-harbour-${++rootChanges}`;
    assert.equal((await changeStep(r.json().error.details.changeToken, next)).statusCode, 204);
    rootPassword = next;
    return admin();
  }
  assert.equal(r.statusCode, 200, r.body);
  return r.json().token;
}
const sessionCount = async (userId: string) =>
  Number(
    (
      await t.s.db
        .selectFrom('sessions')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('user_id', '=', userId)
        .executeTakeFirstOrThrow()
    ).n,
  );

test('validity from PASSWORD_VALIDITY; reminder flag and one mail a day in the last 10 days [ASVS V6.4.5]', async () => {
  const id = await createUser(t, await admin(), 'olga', 'Quiet-meadow-2931', { email: 'olga@example.org' });
  const start = t.clock.now();
  const fresh = (await signIn('olga', 'Quiet-meadow-2931')).json();
  assert.equal(fresh.passwordExpiresAt, new Date(start + 30 * DAY * 1000).toISOString());
  assert.equal(fresh.passwordExpiryReminder, false);

  t.clock.advance(20 * DAY - 1);
  assert.equal((await signIn('olga', 'Quiet-meadow-2931')).json().passwordExpiryReminder, false, 'one second before the reminder period');
  await t.s.tasks.drain();
  assert.equal(smtp.to('olga@example.org').length, 0);

  t.clock.advance(1);
  assert.equal((await signIn('olga', 'Quiet-meadow-2931')).json().passwordExpiryReminder, true);
  assert.equal((await signIn('olga', 'Quiet-meadow-2931')).json().passwordExpiryReminder, true);
  await t.s.tasks.drain();
  const mails = smtp.to('olga@example.org');
  assert.equal(mails.length, 1, 'one reminder mail a day');
  assert.equal(mails[0]!.subject, 'Your Palisade password expires soon');
  t.clock.advance(DAY);
  await signIn('olga', 'Quiet-meadow-2931');
  await t.s.tasks.drain();
  assert.equal(smtp.to('olga@example.org').length, 2);
  assert.equal((await events(t, await admin(), 'password.reminder_sent')).filter((e) => e.subjectId === id).length, 2);

  // Changing the password restarts the clock and ends the reminders.
  const { token } = await login(t, 'olga', 'Quiet-meadow-2931');
  assert.equal(
    (
      await t.app.inject({
        method: 'POST',
        url: '/api/auth/password',
        headers: bearer(token),
        payload: { currentPassword: 'Quiet-meadow-2931', newPassword: 'Quiet-meadow-2932' },
      })
    ).statusCode,
    200,
  );
  const after = (await signIn('olga', 'Quiet-meadow-2932')).json();
  assert.equal(after.passwordExpiryReminder, false);
  assert.equal(after.passwordExpiresAt, new Date(t.clock.now() + 30 * DAY * 1000).toISOString());
});

test("a reminder is claimed together with its event: the event's write failing leaves the next sign-in to remind", async () => {
  const id = await createUser(t, await admin(), 'petra', 'Amber-thicket-5820', { email: 'petra@example.org' });
  t.clock.advance(20 * DAY);
  const remindedAt = async () =>
    (await t.s.db.selectFrom('users').select('password_reminded_at').where('id', '=', id).executeTakeFirstOrThrow()).password_reminded_at;
  await refusingEvents(t.s.db, 'password.reminder_sent', async () => {
    const r = await signIn('petra', 'Amber-thicket-5820');
    assert.notEqual(r.statusCode, 200, r.body);
  });
  await t.s.tasks.drain();
  assert.equal(await remindedAt(), null, 'no reminder claimed without its event');
  assert.equal(smtp.to('petra@example.org').length, 0);
  assert.equal((await signIn('petra', 'Amber-thicket-5820')).json().passwordExpiryReminder, true);
  await t.s.tasks.drain();
  assert.equal(smtp.to('petra@example.org').length, 1);
  assert.notEqual(await remindedAt(), null);
  assert.equal((await events(t, await admin(), 'password.reminder_sent')).filter((e) => e.subjectId === id).length, 1);
});

test('an expired password cannot sign in; the one-time change step is the way through', async () => {
  const adm = await admin();
  const id = await createUser(t, adm, 'pablo', 'Quiet-meadow-2931', { email: 'pablo@example.org' });
  t.clock.advance(30 * DAY);
  const sessionsBefore = await sessionCount(id);

  // A wrong password gets the usual answer: expiry is revealed only to whoever knows the password.
  const wrong = await signIn('pablo', 'Not-the-password-1');
  assert.deepEqual([wrong.statusCode, wrong.json().error.code, wrong.json().error.details], [401, 'INVALID_CREDENTIALS', undefined]);

  const expired = await signIn('pablo', 'Quiet-meadow-2931');
  assert.equal(expired.statusCode, 403);
  const e = expired.json().error;
  assert.equal(e.code, 'PASSWORD_EXPIRED');
  assert.match(e.details.changeToken, /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
  assert.equal(Date.parse(e.details.changeTokenExpiresAt), t.clock.now() + 600_000);
  assert.equal(await sessionCount(id), sessionsBefore, 'no session was created');
  assert.ok((await events(t, await admin(), 'auth.login')).some((ev) => ev.subjectId === id && ev.details?.reason === 'password_expired'));
  assert.doesNotMatch(t.logs.join('\n'), new RegExp(e.details.changeToken.split('.')[1]));

  // The change step: the expired password itself is refused, the policy applies, the token works once.
  const same = await changeStep(e.details.changeToken, 'Quiet-meadow-2931');
  assert.equal(same.json().error.code, 'PASSWORD_REJECTED');
  assert.deepEqual(same.json().error.details.rules, ['PASSWORD_REUSED']);
  assert.equal((await changeStep(e.details.changeToken, 'Renewed-meadow-4411')).statusCode, 204);
  assert.equal((await changeStep(e.details.changeToken, 'Renewed-meadow-4412')).json().error.code, 'RESET_TOKEN_USED');
  const ok = await signIn('pablo', 'Renewed-meadow-4411');
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.json().passwordExpiryReminder, false);
});

test('a change token expires after 10 minutes; an administrator can reset an expired password', async () => {
  const id = await createUser(t, await admin(), 'quinn', 'Quiet-meadow-2931');
  t.clock.advance(31 * DAY);
  const token = (await signIn('quinn', 'Quiet-meadow-2931')).json().error.details.changeToken;
  t.clock.advance(600);
  assert.equal((await changeStep(token, 'Renewed-meadow-4411')).json().error.code, 'RESET_TOKEN_EXPIRED');
  assert.equal((await signIn('quinn', 'Quiet-meadow-2931')).json().error.code, 'PASSWORD_EXPIRED');
  const set = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${id}/password`,
    headers: bearer(await admin()),
    payload: { mustChangePassword: false, password: 'Admin-reset-meadow-1' },
  });
  assert.equal(set.statusCode, 204);
  assert.equal((await signIn('quinn', 'Admin-reset-meadow-1')).statusCode, 200);
});

test('administrators require a change at next sign-in; the user passes once it is made', async () => {
  const adm = await admin();
  const id = await createUser(t, adm, 'rosa', 'Quiet-meadow-2931');
  const { token: user } = await login(t, 'rosa', 'Quiet-meadow-2931');
  // Only administrators may require it.
  const self = await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(user), payload: { mustChangePassword: true } });
  assert.equal(self.json().error.code, 'FORBIDDEN');
  assert.equal((await signIn('rosa', 'Quiet-meadow-2931')).statusCode, 200);

  const patch = await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(adm), payload: { mustChangePassword: true } });
  assert.equal(patch.json().user.mustChangePassword, true);
  const refused = await signIn('rosa', 'Quiet-meadow-2931');
  assert.deepEqual([refused.statusCode, refused.json().error.code], [403, 'PASSWORD_CHANGE_REQUIRED']);
  assert.equal((await changeStep(refused.json().error.details.changeToken, 'Changed-meadow-5511')).statusCode, 204);
  assert.equal((await signIn('rosa', 'Changed-meadow-5511')).statusCode, 200);
  const u = await t.app.inject({ method: 'GET', url: `/api/admin/users/${id}`, headers: bearer(adm) });
  assert.equal(u.json().user.mustChangePassword, false);

  // A one-time password set by an administrator works the same way.
  await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${id}/password`,
    headers: bearer(adm),
    payload: { password: 'One-time-meadow-7711', mustChangePassword: true },
  });
  assert.equal((await signIn('rosa', 'One-time-meadow-7711')).json().error.code, 'PASSWORD_CHANGE_REQUIRED');
});

test('validity 0: passwords never expire [ASVS V6.2.10]', async () => {
  const adm = await admin();
  await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/password-policy', headers: bearer(adm), payload: { validity: 0 } });
  await createUser(t, adm, 'sven', 'Quiet-meadow-2931');
  t.clock.advance(3650 * DAY);
  const r = await signIn('sven', 'Quiet-meadow-2931');
  assert.equal(r.statusCode, 200);
  assert.equal(r.json().passwordExpiresAt, null);
  assert.equal(r.json().passwordExpiryReminder, false);
});

test("changing an expired password through the change step keeps the user's API keys (their own routine change, not a recovery: D473)", async () => {
  const adm = await admin();
  // (After the test of validity 0.)
  await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/password-policy', headers: bearer(adm), payload: { validity: 30 * DAY } });
  const id = await createUser(t, adm, 'keyed', 'Quiet-meadow-2931');
  await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: bearer(adm), payload: { name: 'keyholder', permissions: ['apikeys.manage'] } });
  assert.equal(
    (await t.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: bearer(adm), payload: { roles: ['keyholder'] } })).statusCode,
    204,
  );
  const session = (await signIn('keyed', 'Quiet-meadow-2931')).json().token;
  const made = await t.app.inject({
    method: 'POST',
    url: '/api/auth/api-keys',
    headers: bearer(session),
    payload: { name: 'ci', role: 'keyholder', expiresIn: 90 * DAY },
  });
  assert.equal(made.statusCode, 201, made.body);
  const byKey = () => t.app.inject({ method: 'GET', url: '/api/collections', headers: { 'x-api-key': made.json().secret } });
  t.clock.advance(31 * DAY);
  const expired = await signIn('keyed', 'Quiet-meadow-2931');
  assert.equal(expired.json().error?.code, 'PASSWORD_EXPIRED', expired.body);
  assert.equal((await changeStep(expired.json().error.details.changeToken, 'Renewed-thicket-7731')).statusCode, 204);
  assert.equal((await byKey()).statusCode, 200, 'the key lives on');
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(session) })).statusCode, 401, 'the sessions ended');
});
