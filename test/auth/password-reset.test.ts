import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, events, cliEnv, type TestApp, type Res } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { type TestSmtp, linkToken, useMailApp } from '../helpers/smtp.js';
import { totp, userWithTotp } from './mfa/world.js';

/**
 * AUTH-8: forgot-password, admin-sent resets and invitations by single-use links mailed through a
 * real SMTP server. Every refused case asserts that nothing changed and that nothing tells whether
 * an account exists.
 */

let t: TestApp;
let smtp: TestSmtp;
let admin: string;
const FROM = 'Palisade <noreply@example.org>';

useMailApp(
  (app, token, server) => {
    t = app;
    admin = token;
    smtp = server;
  },
  {
    MAIL_FROM: FROM,
    PUBLIC_URL: 'https://palisade.example.org/',
    // The tests move the clock by hours; the administrator's token should outlast them.
    SESSION_VALIDITY: '24h',
    TOKEN_VALIDITY: '24h',
  },
);

let ipCounter = 10;
/** Each test sends from its own address, so that the per-IP throttle only meets the test that is about it. */
const freshIp = () => `198.51.100.${ipCounter++}`;

const forgot = (payload: Record<string, unknown>, ip: string) => t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload, remoteAddress: ip });
const reset = (token: string, newPassword: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/api/auth/password/reset', payload: { token, newPassword }, headers });

async function mailsFor(address: string) {
  await t.s.tasks.drain();
  return smtp.to(address);
}

/** The mails to `address` that carry a link: a notice without one may arrive after the link's mail. */
async function linkMailsFor(address: string) {
  return (await mailsFor(address)).filter((m) => m.decoded.includes('#token='));
}

async function passwordHash(id: string): Promise<string | null> {
  return (await t.s.db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirstOrThrow()).password_hash;
}

/** What a client can observe of a forgot answer, minus what differs on every response. */
function observable(r: Res) {
  const { date: _d, 'x-request-id': _id, ...rest } = r.headers;
  // The general rate limiter's counters depend on the address, not on the account.
  const headers = Object.fromEntries(Object.entries(rest).filter(([k]) => !k.startsWith('ratelimit-')));
  return { status: r.statusCode, body: r.body, headers };
}

/** The clock moved past the step-up window (D432): the administrator signs in again. */
const adminNow = async () => {
  admin = (await login(t)).token;
};

test('forgot: the mail arrives at the SMTP server, its link works once, ends every session and is audited [ASVS V7.4.3, V6.4.3]', async () => {
  const id = await createUser(t, admin, 'alice', 'Quiet-meadow-2931', { email: 'alice@example.org' });
  // alice may make API keys: a recovery ends them with the sessions.
  await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: bearer(admin), payload: { name: 'keyholder', permissions: ['apikeys.manage'] } });
  assert.equal(
    (await t.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: bearer(admin), payload: { roles: ['keyholder'] } })).statusCode,
    204,
  );
  const { token: session } = await login(t, 'alice', 'Quiet-meadow-2931');
  const made = await t.app.inject({
    method: 'POST',
    url: '/api/auth/api-keys',
    headers: bearer(session),
    payload: { name: 'ci', role: 'keyholder', expiresIn: 86400 },
  });
  assert.equal(made.statusCode, 201, made.body);
  const byKey = () => t.app.inject({ method: 'GET', url: '/api/collections', headers: { 'x-api-key': made.json().secret } });
  assert.equal((await byKey()).statusCode, 200);
  const r = await forgot({ email: 'ALICE@example.org' }, freshIp());
  assert.equal(r.statusCode, 202);
  const mails = await mailsFor('alice@example.org');
  assert.equal(mails.length, 1);
  const mail = mails[0]!;
  assert.equal(mail.subject, 'Reset your Palisade password');
  assert.equal(mail.from, 'noreply@example.org');
  assert.match(mail.raw, /Content-Type: text\/plain/);
  assert.match(mail.raw, /Content-Type: text\/html/);
  const token = linkToken(mail);
  assert.match(mail.decoded, new RegExp(`https://palisade\\.example\\.org/reset-password#token=${token.replace('.', '\\.')}`));
  // At least 128 bits: a 22-character selector and a 43-character (256-bit) secret.
  assert.match(token, /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);

  const used = await reset(token, 'Fresh-lantern-8841');
  assert.equal(used.statusCode, 204, used.body);
  const again = await reset(token, 'Fresh-lantern-8842');
  assert.equal(again.json().error.code, 'RESET_TOKEN_USED');
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(session) })).json().error.code, 'SESSION_ENDED');
  await login(t, 'alice', 'Fresh-lantern-8841');
  await assert.rejects(login(t, 'alice', 'Fresh-lantern-8842'));
  await assert.rejects(login(t, 'alice', 'Quiet-meadow-2931'));
  const done = (await events(t, admin, 'password.reset_completed')).filter((e) => e.subjectId === id);
  assert.equal(done.length, 1);
  assert.equal(done[0]!.details.kind, 'reset');
  const ended = (await events(t, admin, 'session.ended')).find((e) => e.subjectId === id && e.details.reason === 'password_reset');
  assert.ok(ended);
  assert.equal((await byKey()).json().error.code, 'API_KEY_INVALID');
  const revoked = (await events(t, admin, 'apikey.revoked')).find((e) => e.subjectId === id && e.details.reason === 'password_reset');
  assert.equal(revoked?.details.count, 1);
});

test('forgot: unknown, disabled, SSO-only and mail-less accounts get the very same answer and no mail [ASVS V6.3.8]', async () => {
  await createUser(t, admin, 'bruno', 'Quiet-meadow-2931', { email: 'bruno@example.org' });
  const disabledId = await createUser(t, admin, 'dora', 'Quiet-meadow-2931', { email: 'dora@example.org' });
  await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${disabledId}`, headers: bearer(admin), payload: { status: 'disabled' } });
  await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { username: 'sso-sam', email: 'sam@example.org', ssoOnly: true },
  });
  await createUser(t, admin, 'nomail', 'Quiet-meadow-2931');
  const before = smtp.mails.length;
  const tokensBefore = await t.s.db.selectFrom('password_tokens').select('id').execute();

  const ip = freshIp();
  const existing = observable(await forgot({ email: 'bruno@example.org' }, ip));
  await t.s.tasks.drain();
  assert.equal(smtp.mails.length, before + 1, 'the real account got its mail');
  for (const payload of [
    { email: 'nobody@example.org' },
    { username: 'nobody' },
    { email: 'dora@example.org' },
    { email: 'sam@example.org' },
    { username: 'nomail' },
  ]) {
    assert.deepEqual(observable(await forgot(payload, ip)), existing, JSON.stringify(payload));
  }
  await t.s.tasks.drain();
  assert.equal(smtp.mails.length, before + 1, 'no other mail');
  const tokensAfter = await t.s.db.selectFrom('password_tokens').select('id').execute();
  assert.equal(tokensAfter.length, tokensBefore.length + 1, 'one link, for bruno only');
});

test('link tokens are stored only as hashes and never reach the log or the audit trail', async () => {
  const id = await createUser(t, admin, 'carol', 'Quiet-meadow-2931', { email: 'carol@example.org' });
  await forgot({ username: 'carol' }, freshIp());
  const token = linkToken((await linkMailsFor('carol@example.org'))[0]!);
  const [selector, secret] = token.split('.') as [string, string];
  const rows = await t.s.db.selectFrom('password_tokens').selectAll().where('user_id', '=', id).execute();
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.id, selector);
  assert.doesNotMatch(JSON.stringify(rows), new RegExp(secret));
  assert.equal((await reset(token, 'Fresh-lantern-8841')).statusCode, 204);
  const everything =
    t.logs.join('\n') + JSON.stringify((await t.app.inject({ method: 'GET', url: '/api/admin/security-events?limit=500', headers: bearer(admin) })).json());
  assert.doesNotMatch(everything, new RegExp(secret));
  assert.doesNotMatch(everything, /Fresh-lantern-8841/);
});

test('a token that is expired, altered, superseded, spliced or malformed is refused and changes nothing [ASVS V6.4.3]', async () => {
  const id = await createUser(t, admin, 'dave', 'Quiet-meadow-2931', { email: 'dave@example.org' });
  const otherId = await createUser(t, admin, 'erin', 'Quiet-meadow-2931', { email: 'erin@example.org' });
  const ip = freshIp();
  await forgot({ username: 'dave' }, ip);
  const first = linkToken((await linkMailsFor('dave@example.org')).at(-1)!);
  await forgot({ username: 'dave' }, ip);
  const second = linkToken((await linkMailsFor('dave@example.org')).at(-1)!);
  await forgot({ username: 'erin' }, ip);
  const erins = linkToken((await linkMailsFor('erin@example.org')).at(-1)!);
  const hash = await passwordHash(id);
  const otherHash = await passwordHash(otherId);

  // A newer link voids the earlier one.
  assert.equal((await reset(first, 'Fresh-lantern-8841')).json().error.code, 'RESET_TOKEN_INVALID');
  // Altered secret: one character changed.
  const last = second.at(-1) === 'A' ? 'B' : 'A';
  assert.equal((await reset(second.slice(0, -1) + last, 'Fresh-lantern-8841')).json().error.code, 'RESET_TOKEN_INVALID');
  // Another user's: dave's selector with erin's secret, and the other way round.
  assert.equal((await reset(`${second.split('.')[0]}.${erins.split('.')[1]}`, 'Fresh-lantern-8841')).json().error.code, 'RESET_TOKEN_INVALID');
  assert.equal((await reset(`${erins.split('.')[0]}.${second.split('.')[1]}`, 'Fresh-lantern-8841')).json().error.code, 'RESET_TOKEN_INVALID');
  // Malformed, and overlong (schema).
  assert.equal((await reset('not-a-token', 'Fresh-lantern-8841')).json().error.code, 'RESET_TOKEN_INVALID');
  assert.equal((await reset('x'.repeat(500), 'Fresh-lantern-8841')).json().error.code, 'VALIDATION_FAILED');
  assert.equal(await passwordHash(id), hash, 'nothing changed');
  assert.equal(await passwordHash(otherId), otherHash, 'nothing changed');
  const refused = (await events(t, admin, 'password.reset_refused')).filter((e) => e.subjectId === id);
  assert.ok(refused.some((e) => e.details.reason === 'superseded') && refused.some((e) => e.details.reason === 'altered'));

  // Erin's token while signed in as dave changes erin's password, never dave's.
  const { token: daveSession } = await login(t, 'dave', 'Quiet-meadow-2931');
  assert.equal((await reset(erins, 'Her-new-harbour-light-1', bearer(daveSession))).statusCode, 204);
  assert.equal(await passwordHash(id), hash);
  await login(t, 'erin', 'Her-new-harbour-light-1');

  // Expired: one second past the user-requested lifetime (30 minutes by default).
  t.clock.advance(30 * 60 + 1);
  assert.equal((await reset(second, 'Fresh-lantern-8841')).json().error.code, 'RESET_TOKEN_EXPIRED');
  assert.equal(await passwordHash(id), hash, 'nothing changed');
});

test('the three lifetimes are settings: user-requested, admin-sent and invitation', async () => {
  await adminNow();
  const patch = await t.app.inject({
    method: 'PATCH',
    url: '/api/admin/settings/password-reset',
    headers: bearer(admin),
    payload: { resetLinkValidity: 120, adminResetLinkValidity: 300, invitationValidity: 600 },
  });
  assert.equal(patch.statusCode, 200, patch.body);
  assert.ok((await events(t, admin, 'settings.changed')).some((e) => e.details.area === 'passwordReset'));
  const bad = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/password-reset', headers: bearer(admin), payload: { resetLinkValidity: 10 } });
  assert.equal(bad.statusCode, 400);

  const id = await createUser(t, admin, 'frank', 'Quiet-meadow-2931', { email: 'frank@example.org' });
  const cases: Array<{ kind: string; ttl: number; issue: () => Promise<string> }> = [
    {
      kind: 'reset',
      ttl: 120,
      issue: async () => {
        await forgot({ username: 'frank' }, freshIp());
        return linkToken((await linkMailsFor('frank@example.org')).at(-1)!);
      },
    },
    {
      kind: 'admin_reset',
      ttl: 300,
      issue: async () => {
        await adminNow();
        const r = await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/password/reset-link`, headers: bearer(admin) });
        assert.equal(r.statusCode, 202);
        assert.equal(Date.parse(r.json().expiresAt), t.clock.now() + 300_000);
        const mail = (await mailsFor('frank@example.org')).at(-1)!;
        assert.equal(mail.subject, 'Your Palisade password was reset by an administrator');
        return linkToken(mail);
      },
    },
  ];
  for (const c of cases) {
    const early = await c.issue();
    t.clock.advance(c.ttl - 1);
    const ok = await reset(early, `Not-yet-expired-${c.kind}`);
    assert.equal(ok.statusCode, 204, ok.body);
    const late = await c.issue();
    t.clock.advance(c.ttl);
    assert.equal((await reset(late, `Already-expired-${c.kind}`)).json().error.code, 'RESET_TOKEN_EXPIRED', c.kind);
  }
  // Invitation: a new user with no password chooses one.
  await adminNow();
  const inv = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { username: 'gina', email: 'gina@example.org', invite: true },
  });
  assert.equal(inv.statusCode, 201, inv.body);
  assert.equal(inv.json().user.hasPassword, false);
  const mail = (await mailsFor('gina@example.org')).at(-1)!;
  assert.equal(mail.subject, 'You are invited to Palisade');
  assert.match(mail.decoded, /https:\/\/palisade\.example\.org\/accept-invitation#token=/);
  t.clock.advance(599);
  assert.equal((await reset(linkToken(mail), 'Her-first-harbour-light-1')).statusCode, 204);
  await login(t, 'gina', 'Her-first-harbour-light-1');
  const giId = (await t.s.users.findByName('gina'))!.id;
  await adminNow();
  const again = await t.app.inject({ method: 'POST', url: `/api/admin/users/${giId}/invitation`, headers: bearer(admin) });
  assert.deepEqual([again.statusCode, again.json().error.code, again.json().error.details.reason], [409, 'LINK_NOT_SENDABLE', 'has_password']);
  const inv2 = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { username: 'hank', email: 'hank@example.org', invite: true },
  });
  const hankId = inv2.json().user.id;
  const hankToken = linkToken((await linkMailsFor('hank@example.org')).at(-1)!);
  t.clock.advance(600);
  assert.equal((await reset(hankToken, 'His-first-harbour-light-1')).json().error.code, 'RESET_TOKEN_EXPIRED');
  assert.equal(await passwordHash(hankId), null);
  await adminNow();
  await t.app.inject({
    method: 'PATCH',
    url: '/api/admin/settings/password-reset',
    headers: bearer(admin),
    payload: { resetLinkValidity: 1800, adminResetLinkValidity: 86400, invitationValidity: 259200 },
  });
});

test('administrators can be denied setting passwords; links still work and the CLI is unaffected [ASVS V6.4.6]', async () => {
  await adminNow();
  const id = await createUser(t, admin, 'ivan', 'Quiet-meadow-2931', { email: 'ivan@example.org' });
  const patch = await t.app.inject({
    method: 'PATCH',
    url: '/api/admin/settings/password-reset',
    headers: bearer(admin),
    payload: { adminMaySetPasswords: false },
  });
  assert.equal(patch.statusCode, 200);
  try {
    const hash = await passwordHash(id);
    const set = await t.app.inject({
      method: 'PUT',
      url: `/api/admin/users/${id}/password`,
      headers: bearer(admin),
      payload: { mustChangePassword: false, password: 'Admin-knows-this-01' },
    });
    assert.deepEqual([set.statusCode, set.json().error.code], [403, 'PASSWORD_SET_FORBIDDEN']);
    assert.equal(await passwordHash(id), hash);
    for (const extra of [{ password: 'Admin-knows-this-01' }, { passwordHash: hash }]) {
      const c = await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: bearer(admin), payload: { username: 'jill', ...extra } });
      assert.equal(c.json().error.code, 'PASSWORD_SET_FORBIDDEN');
    }
    assert.equal(await t.s.users.findByName('jill'), undefined);
    // The legitimate ways: a reset link the admin cannot read, an invitation, the user's own change.
    const link = await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/password/reset-link`, headers: bearer(admin) });
    assert.equal(link.statusCode, 202);
    assert.doesNotMatch(link.body, /token/);
    assert.equal((await reset(linkToken((await linkMailsFor('ivan@example.org')).at(-1)!), 'Only-he-knows-this-01')).statusCode, 204);
    const inv = await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(admin),
      payload: { username: 'jill', email: 'jill@example.org', invite: true },
    });
    assert.equal(inv.statusCode, 201);
    // The operator's CLI is the recovery path and is not an administrator session.
    const byCli = await cli(['user', 'set-password', '--username', 'ivan', '--password-stdin'], cliEnv(t), 'Set-from-the-console-01\n');
    assert.equal(byCli.code, 0, byCli.stderr);
    await login(t, 'ivan', 'Set-from-the-console-01');
  } finally {
    await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/password-reset', headers: bearer(admin), payload: { adminMaySetPasswords: true } });
  }
});

test('forgot-password flood: per-IP limit answers 429 for everyone alike; per-account limit sends no more mail', async () => {
  await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/password-reset', headers: bearer(admin), payload: { forgotPerIp: 3, forgotPerAccount: 2 } });
  try {
    await createUser(t, admin, 'kate', 'Quiet-meadow-2931', { email: 'kate@example.org' });
    const flood = freshIp();
    for (let i = 0; i < 3; i++) assert.equal((await forgot({ email: i === 1 ? 'nobody@example.org' : 'kate@example.org' }, flood)).statusCode, 202);
    const known = await forgot({ email: 'kate@example.org' }, flood);
    const unknown = await forgot({ email: 'nobody@example.org' }, flood);
    assert.equal(known.statusCode, 429);
    assert.equal(known.json().error.code, 'RATE_LIMITED');
    assert.equal(known.headers['retry-after'], '3600');
    assert.deepEqual(observable(unknown), observable(known), 'the limit tells nothing about the account');
    assert.equal((await mailsFor('kate@example.org')).length, 2);

    // From other addresses: the account allows 2 mails an hour; a third request still answers 202, without mail.
    const third = await forgot({ email: 'kate@example.org' }, freshIp());
    assert.equal(third.statusCode, 202);
    assert.equal((await mailsFor('kate@example.org')).length, 2);
    assert.ok((await events(t, admin, 'password.reset_requested')).some((e) => e.details.result === 'account_throttled'));

    // An hour later both limits have passed.
    t.clock.advance(3601);
    assert.equal((await forgot({ email: 'kate@example.org' }, flood)).statusCode, 202);
    assert.equal((await mailsFor('kate@example.org')).length, 3);
  } finally {
    await t.app.inject({
      method: 'PATCH',
      url: '/api/admin/settings/password-reset',
      headers: bearer(admin),
      payload: { forgotPerIp: 20, forgotPerAccount: 3 },
    });
  }
});

test('forgot and reset refuse malformed input', async () => {
  const ip = freshIp();
  for (const payload of [{}, { username: 'a', email: 'a@example.org' }, { email: 'not-an-email' }, { username: 'a', admin: true }]) {
    assert.equal((await forgot(payload, ip)).json().error.code, 'VALIDATION_FAILED', JSON.stringify(payload));
  }
  const noPw = await t.app.inject({ method: 'POST', url: '/api/auth/password/reset', payload: { token: 'abc' } });
  assert.equal(noPw.json().error.code, 'VALIDATION_FAILED');
});

test('a reset link sets the password but opens no session: a user with a second factor still needs it to sign in afterwards [ASVS V6.4.3]', async () => {
  const email = 'mfa-reset@example.org';
  const u = await userWithTotp(t, admin, 'mfa-reset', { email });
  assert.equal((await forgot({ email }, freshIp())).statusCode, 202);
  const used = await reset(linkToken((await linkMailsFor(email)).at(-1)!), 'Fresh-lantern-mfa-8841');
  assert.equal(used.statusCode, 204, used.body);
  assert.equal(used.body, '');
  assert.equal(used.headers['set-cookie'], undefined, 'no session cookie');
  // The new password is only the first factor: the sign-in stops at the second step.
  const first = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'mfa-reset', password: 'Fresh-lantern-mfa-8841' } });
  assert.equal(first.statusCode, 401, first.body);
  assert.equal(first.json().error.code, 'MFA_REQUIRED');
  assert.equal(first.json().token, undefined);
  // The legitimate user completes it with the authenticator.
  const done = await t.app.inject({
    method: 'POST',
    url: '/api/auth/mfa/verify',
    payload: { challengeToken: first.json().error.details.challengeToken, method: 'totp', code: totp(t, u.secret) },
  });
  assert.equal(done.statusCode, 200, done.body);
  assert.equal(typeof done.json().token, 'string');
});
