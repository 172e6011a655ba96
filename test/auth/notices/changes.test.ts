// ASVS V6.3.7: a user is told after a change to how their account signs in: their own password change, a reset by
// link, a required change, a password an administrator sets, a second factor (TOTP, codes by email, SMS) or a passkey
// added or removed, new recovery codes. One mail each, to the account's address, sent after the change committed
// (src/auth/notices/), through a real SMTP server; SMS through Debian's Kannel, passkeys through Chromium's virtual
// authenticator. A mail that cannot go out never fails the change: it is a warning in the log.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { bearer, createUser, login, makeApp, useApp, type TestApp } from '../../helpers/app.js';
import type { TestBrowser } from '../../helpers/browser.js';
import { TestKannel } from '../../helpers/kannel.js';
import { TestSmtp, linkToken, type ReceivedMail } from '../../helpers/smtp.js';
import { enrolTotp, post } from '../mfa/world.js';
import { smsCode } from '../mfa/sms-world.js';
import { freePort, launch, openDevice, passkeyOptions, register } from '../passkeys/world.js';

const PW = 'Quarterly-report-4411';

let t: TestApp;
let admin: string;
let smtp: TestSmtp;
let port: number;
let browser: TestBrowser | undefined;
const kannel = new TestKannel();
useApp(
  async (x, a) => {
    t = x;
    admin = a;
    await t.app.listen({ port, host: '127.0.0.1' });
  },
  async () => {
    smtp = await new TestSmtp().start();
    await kannel.start();
    port = await freePort();
    return passkeyOptions(port, [], {
      env: { ...kannel.env(), SMTP_URL: smtp.url, MAIL_FROM: 'Palisade <noreply@example.org>', SESSION_VALIDITY: '24h', TOKEN_VALIDITY: '24h' },
    });
  },
);
after(async () => {
  await browser?.close();
  await kannel.stop();
  await smtp.stop();
});

/** The mails to `address` since the previous call for it. */
const seen = new Map<string, number>();
async function newMails(address: string): Promise<ReceivedMail[]> {
  await t.s.tasks.drain();
  const all = smtp.to(address);
  const from = seen.get(address) ?? 0;
  seen.set(address, all.length);
  return all.slice(from);
}
const subjects = (mails: ReceivedMail[]) => mails.map((m) => m.subject);

/** The one notice among the new mails: what changed, when, from where, what to do; no link, nothing secret. */
async function oneNotice(address: string, subject: string, others: string[] = [], byAdministrator = false): Promise<ReceivedMail> {
  const mails = await newMails(address);
  assert.deepEqual(subjects(mails), [...others, subject]);
  const m = mails.at(-1)!;
  assert.match(m.decoded, /When: \w{3}, \d{2} \w{3} \d{4}/);
  // The user's own change names where it came from; an administrator's address is not the user's to see.
  if (byAdministrator) assert.doesNotMatch(m.decoded, /From the address/);
  else assert.match(m.decoded, /From the address: 127\.0\.0\.1/);
  assert.match(m.decoded, /If this was you, there is nothing to do|If you did not expect this/);
  assert.doesNotMatch(m.decoded, /https?:\/\//, 'no link of any kind');
  assert.doesNotMatch(m.decoded, /Quarterly|Renewed|Chosen|Admin-set/, 'no password');
  return m;
}

test('a password changed by its user, reset by link, changed when required, or set by an administrator: one notice each to the account [ASVS V6.3.7]', async () => {
  const id = await createUser(t, admin, 'nora', PW, { email: 'nora@example.org' });
  const nora = (await login(t, 'nora', PW)).token;
  await newMails('nora@example.org');

  const changed = await t.app.inject({
    method: 'POST',
    url: '/api/auth/password',
    headers: bearer(nora),
    payload: { currentPassword: PW, newPassword: 'Renewed-lantern-5521' },
  });
  assert.equal(changed.statusCode, 200, changed.body);
  const m = await oneNotice('nora@example.org', 'Your Palisade password was changed');
  assert.match(m.decoded, /Hello nora,/);
  assert.match(m.decoded, /The password of your Palisade account was changed\./);

  const forgot = await t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { email: 'nora@example.org' } });
  assert.equal(forgot.statusCode, 202, forgot.body);
  const link = (await newMails('nora@example.org')).at(-1)!;
  assert.equal(link.subject, 'Reset your Palisade password');
  const reset = await post(t, '/api/auth/password/reset', { token: linkToken(link), newPassword: 'Chosen-harbour-7730' });
  assert.equal(reset.statusCode, 204, reset.body);
  await oneNotice('nora@example.org', 'Your Palisade password was reset');

  const set = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${id}/password`,
    headers: bearer(admin),
    payload: { password: 'Admin-set-meadow-3318' },
  });
  assert.equal(set.statusCode, 204, set.body);
  const byAdmin = await oneNotice('nora@example.org', 'Your Palisade password was set by an administrator', [], true);
  assert.match(byAdmin.decoded, /tell your administrator at once/);

  // The one-time password must be changed at the next sign-in: that change is told too.
  const first = await post(t, '/api/auth/login', { username: 'nora', password: 'Admin-set-meadow-3318' });
  assert.equal(first.json().error?.code, 'PASSWORD_CHANGE_REQUIRED', first.body);
  const required = await post(t, '/api/auth/password/reset', { token: first.json().error.details.changeToken, newPassword: 'Renewed-orchard-6604' });
  assert.equal(required.statusCode, 204, required.body);
  await oneNotice('nora@example.org', 'Your Palisade password was changed');
  // The address of another account hears nothing of it.
  assert.equal(smtp.to('root@example.org').length, 0);
});

test('a second factor added or removed (TOTP, codes by email, SMS) and new recovery codes: one notice each [ASVS V6.3.7]', async () => {
  await createUser(t, admin, 'otis', PW, { email: 'otis@example.org' });
  const otis = (await login(t, 'otis', PW)).token;
  await newMails('otis@example.org');
  const del = (factor: string) => t.app.inject({ method: 'DELETE', url: `/api/auth/mfa/${factor}`, headers: bearer(otis), payload: { password: PW } });

  await enrolTotp(t, otis);
  assert.match((await oneNotice('otis@example.org', 'A second factor was added to your Palisade account')).decoded, /An authenticator app \(TOTP\) was set up/);
  assert.equal((await post(t, '/api/auth/mfa/recovery-codes', { password: PW }, bearer(otis))).statusCode, 200);
  const codes = await oneNotice('otis@example.org', 'New recovery codes were made for your Palisade account');
  assert.match(codes.decoded, /The earlier ones no longer work/);
  assert.equal((await del('totp')).statusCode, 204);
  assert.match(
    (await oneNotice('otis@example.org', 'A second factor was removed from your Palisade account')).decoded,
    /An authenticator app \(TOTP\) was removed/,
  );
  // An enrolment never confirmed was no factor: taking it back tells nothing.
  assert.equal((await post(t, '/api/auth/mfa/totp', { password: PW }, bearer(otis))).statusCode, 200);
  assert.equal((await del('totp')).statusCode, 204);
  assert.deepEqual(subjects(await newMails('otis@example.org')), []);

  // Codes by email (offered for this part): the code mail, then the notice.
  const offer = (on: boolean) => t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa', headers: bearer(admin), payload: { emailCodes: on } });
  assert.equal((await offer(true)).statusCode, 200);
  try {
    assert.equal((await post(t, '/api/auth/mfa/email/code', { password: PW }, bearer(otis))).statusCode, 202);
    const mailed = (await newMails('otis@example.org')).at(-1)!;
    const confirmed = await post(t, '/api/auth/mfa/email/confirm', { code: /^ {4}(\d{6})\r?$/m.exec(mailed.decoded)![1]! }, bearer(otis));
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    assert.match((await oneNotice('otis@example.org', 'A second factor was added to your Palisade account')).decoded, /Codes by email was set up/);
    assert.equal((await del('email')).statusCode, 204);
    assert.match((await oneNotice('otis@example.org', 'A second factor was removed from your Palisade account')).decoded, /Codes by email was removed/);
  } finally {
    assert.equal((await offer(false)).statusCode, 200);
  }

  // Codes by text message: the code goes to the phone, the notice to the mailbox.
  assert.equal((await post(t, '/api/auth/mfa/sms', { password: PW, phone: '+4520304099' }, bearer(otis))).statusCode, 202);
  const { code } = await smsCode(kannel, '+4520304099', 1);
  assert.equal((await post(t, '/api/auth/mfa/sms/confirm', { code }, bearer(otis))).statusCode, 200);
  assert.match((await oneNotice('otis@example.org', 'A second factor was added to your Palisade account')).decoded, /Codes by text message was set up/);
  assert.equal((await del('sms')).statusCode, 204);
  assert.match((await oneNotice('otis@example.org', 'A second factor was removed from your Palisade account')).decoded, /Codes by text message was removed/);
});

test("an administrator's reset of the second factors: one notice to the account, after the reset [ASVS V6.3.7]", async () => {
  await createUser(t, admin, 'rita', PW, { email: 'rita@example.org' });
  const rita = await login(t, 'rita', PW);
  await enrolTotp(t, rita.token);
  await newMails('rita@example.org');
  const r = await post(t, `/api/admin/users/${rita.userId}/mfa/reset`, { identityCheck: { method: 'call_back', reference: 'INC-7' } }, bearer(admin));
  assert.equal(r.statusCode, 200, r.body);
  const m = await oneNotice('rita@example.org', 'The second factors of your Palisade account were reset', [], true);
  assert.match(m.decoded, /An administrator removed every second factor, passkey and recovery code/);
  // A refused reset (no identity check) changes nothing and tells nothing.
  assert.equal((await post(t, `/api/admin/users/${rita.userId}/mfa/reset`, {}, bearer(admin))).statusCode, 400);
  assert.deepEqual(subjects(await newMails('rita@example.org')), []);
});

test('a passkey added or removed: one notice each [ASVS V6.3.7]', async () => {
  browser = await launch();
  const device = await openDevice(browser, `http://localhost:${port}`);
  await createUser(t, admin, 'pete', PW, { email: 'pete@example.org' });
  const pete = (await login(t, 'pete', PW)).token;
  await newMails('pete@example.org');
  const added = await register(t, device, pete, 'Laptop', PW);
  assert.equal(added.statusCode, 201, added.body);
  await oneNotice('pete@example.org', 'A passkey was added to your Palisade account');
  const gone = await t.app.inject({
    method: 'DELETE',
    url: `/api/auth/passkeys/${added.json().passkey.id}`,
    headers: bearer(pete),
    payload: { password: PW },
  });
  assert.equal(gone.statusCode, 204, gone.body);
  await oneNotice('pete@example.org', 'A passkey was removed from your Palisade account');
});

test('mail not configured, or failing: the change succeeds all the same; a notice that could not go is a warning without a secret [ASVS V6.3.7]', async () => {
  // No SMTP server: the notice is a file in DATA_DIR/outbox for the operator, and the change is done.
  const plain = await makeApp();
  try {
    const root = (await login(plain)).token;
    await createUser(plain, root, 'vera', PW, { email: 'vera@example.org' });
    const vera = (await login(plain, 'vera', PW)).token;
    const r = await plain.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(vera),
      payload: { currentPassword: PW, newPassword: 'Renewed-lantern-5521' },
    });
    assert.equal(r.statusCode, 200, r.body);
    await plain.s.tasks.drain();
    assert.equal(readdirSync(path.join(plain.shared.dataDir, 'outbox')).length, 1);
  } finally {
    await plain.close();
  }

  // An SMTP server that is not there: the change is done, and the log says the notice was not sent.
  const broken = await makeApp({ env: { SMTP_URL: `smtp://127.0.0.1:${await freePort()}`, MAIL_FROM: 'Palisade <noreply@example.org>' } });
  try {
    const root = (await login(broken)).token;
    await createUser(broken, root, 'walt', PW, { email: 'walt@example.org' });
    const walt = (await login(broken, 'walt', PW)).token;
    const r = await broken.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(walt),
      payload: { currentPassword: PW, newPassword: 'Renewed-lantern-5521' },
    });
    assert.equal(r.statusCode, 200, r.body);
    await broken.s.tasks.drain();
    assert.equal((await post(broken, '/api/auth/login', { username: 'walt', password: 'Renewed-lantern-5521' })).statusCode, 200);
    const warned = broken.logs.map((l) => JSON.parse(l)).filter((l) => l.event === 'notice.failed');
    assert.equal(warned.length, 1, 'one warning');
    assert.equal(warned[0].level, 40, 'a warning, not an error');
    assert.equal(warned[0].task, 'notice password_changed');
    const text = JSON.stringify(warned);
    for (const secret of [PW, 'Renewed-lantern-5521', 'walt@example.org']) assert.equal(text.includes(secret), false, secret);
  } finally {
    await broken.close();
  }
});
