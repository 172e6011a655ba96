// AUTH-12: TOTP enrolment (URI, QR code, confirmation with a first code, the secret encrypted at rest)
// and the two-step sign-in through the one session funnel, in bearer and cookie mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, cookies, createUser, events, login, useApp, type TestApp } from '../../helpers/app.js';
import { refusingEvents } from '../../helpers/audit.js';
import { PW, challenge, code, enrolTotp, liveSessions, post, signIn, totp, userWithTotp, verify } from './world.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

test('enrolment: an otpauth URI and a QR code, a factor only once confirmed, ten recovery codes, the secret sealed [ASVS V7.5.1]', async () => {
  const id = await createUser(t, admin, 'alice', PW);
  const { token } = await login(t, 'alice', PW);
  assert.equal(code(await post(t, '/api/auth/mfa/totp', { password: 'Wrong-password-0000' }, bearer(token))), 'INVALID_CREDENTIALS');
  const started = await post(t, '/api/auth/mfa/totp', { password: PW }, bearer(token));
  assert.equal(started.statusCode, 200, started.body);
  const e = started.json();
  assert.match(e.otpauthUri, /^otpauth:\/\/totp\/Palisade:alice\?/);
  assert.match(e.otpauthUri, new RegExp(`secret=${e.secret}`));
  assert.match(e.otpauthUri, /issuer=Palisade/);
  assert.match(e.qrCode, /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
  assert.match(e.secret, /^[A-Z2-7]{32}$/);
  const status = async () => (await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(token) })).json();
  assert.equal((await status()).totp, 'pending');
  // Not a factor yet: the password alone still signs in.
  assert.equal((await signIn(t, 'alice')).statusCode, 200);
  // The secret is stored encrypted, never in the clear.
  const row = await t.s.db.selectFrom('mfa_totp').selectAll().where('user_id', '=', id).executeTakeFirstOrThrow();
  assert.ok(!JSON.stringify(row).includes(e.secret));
  assert.equal(Buffer.from(row.secret_nonce, 'base64url').length, 12);
  assert.equal(Buffer.from(row.secret_ciphertext, 'base64url').length, 20 + 16);
  // A wrong first code does not confirm it.
  const wrong = await post(t, '/api/auth/mfa/totp/confirm', { code: totp(t, e.secret, 5) }, bearer(token));
  assert.equal(code(wrong), 'MFA_CODE_INVALID');
  assert.equal((await status()).totp, 'pending');
  const ok = await post(t, '/api/auth/mfa/totp/confirm', { code: totp(t, e.secret) }, bearer(token));
  assert.equal(ok.statusCode, 200, ok.body);
  const codes: string[] = ok.json().recoveryCodes;
  assert.equal(codes.length, 10);
  assert.equal(new Set(codes).size, 10);
  for (const c of codes) assert.match(c, /^[a-z2-9]{4}(-[a-z2-9]{4}){5}$/);
  const s = await status();
  assert.deepEqual(
    { totp: s.totp, remaining: s.recoveryCodesRemaining, methods: s.methods },
    { totp: 'confirmed', remaining: 10, methods: ['totp', 'recovery'] },
  );
  // Recovery codes are kept as hashes only.
  const stored = await t.s.db.selectFrom('mfa_recovery_codes').select('code_hash').where('user_id', '=', id).execute();
  for (const c of codes) assert.ok(!JSON.stringify(stored).includes(c.replace(/-/g, '')));
  // Starting again while confirmed is refused: remove it first.
  assert.equal(code(await post(t, '/api/auth/mfa/totp', { password: PW }, bearer(token))), 'MFA_FACTOR_EXISTS');
  const evs = (await events(t, admin, 'mfa.enrolled')).filter((x) => x.subjectId === id);
  assert.deepEqual(
    evs.map((x) => [x.outcome, x.details.factor, x.details.reason ?? x.details.recoveryCodesCreated]),
    [
      ['success', 'totp', true],
      ['failure', 'totp', 'bad_code'],
    ],
  );
});

test("an enrolment starts together with its event: the event's write failing leaves no pending secret", async () => {
  const id = await createUser(t, admin, 'walt', PW);
  const { token } = await login(t, 'walt', PW);
  const pending = async () => (await t.s.db.selectFrom('mfa_totp').select('user_id').where('user_id', '=', id).execute()).length;
  await refusingEvents(t.s.db, 'mfa.enrolment_started', async () => {
    assert.notEqual((await post(t, '/api/auth/mfa/totp', { password: PW }, bearer(token))).statusCode, 200);
  });
  assert.equal(await pending(), 0);
  assert.equal((await post(t, '/api/auth/mfa/totp', { password: PW }, bearer(token))).statusCode, 200);
  assert.equal(await pending(), 1);
  assert.equal((await events(t, admin, 'mfa.enrolment_started')).filter((x) => x.subjectId === id).length, 1);
});

test('sign-in: the password step answers MFA_REQUIRED and opens no session; the second step answers like login [ASVS V16.3.1]', async () => {
  const bob = await userWithTotp(t, admin, 'bob');
  const before = await liveSessions(t, bob.id);
  const first = await signIn(t, 'bob');
  assert.equal(first.statusCode, 401);
  assert.equal(code(first), 'MFA_REQUIRED');
  const d = first.json().error.details;
  assert.deepEqual(d.methods, ['totp', 'recovery']);
  assert.match(d.challengeToken, /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
  assert.equal(d.expiresAt, new Date(t.clock.t + 300_000).toISOString());
  assert.equal(first.headers['set-cookie'], undefined);
  assert.equal(await liveSessions(t, bob.id), before);
  const second = await verify(t, d.challengeToken, 'totp', totp(t, bob.secret));
  assert.equal(second.statusCode, 200, second.body);
  const b = second.json();
  assert.equal(b.user.username, 'bob');
  assert.ok(b.token && b.tokenExpiresAt && b.sessionExpiresAt);
  assert.equal(b.passwordExpiresAt, null);
  const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(b.token) });
  assert.equal(me.statusCode, 200);
  assert.equal(me.json().session.mode, 'bearer');
  assert.equal(await liveSessions(t, bob.id), before + 1);
  const logins = (await events(t, admin, 'auth.login')).filter((x) => x.subjectId === bob.id && x.outcome === 'success');
  assert.equal(logins[0]!.details.secondFactor, 'totp');
  assert.equal((await events(t, admin, 'mfa.verified')).filter((x) => x.subjectId === bob.id && x.outcome === 'success').length, 1);
  assert.equal((await events(t, admin, 'mfa.challenged')).filter((x) => x.subjectId === bob.id).length, 1);
});

test('cookie mode: the challenge keeps the mode and remember-me of the first step; the second step sets the cookies', async () => {
  const carol = await userWithTotp(t, admin, 'carol');
  const d = await challenge(t, 'carol', { mode: 'cookie', rememberMe: true });
  const r = await verify(t, d.challengeToken, 'totp', totp(t, carol.secret));
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(r.json().token, undefined);
  assert.ok(r.json().xsrfToken);
  const jar = cookies(r);
  const name = Object.keys(jar).find((k) => k.endsWith('palisade_session'))!;
  assert.ok(name, 'a session cookie');
  assert.match(jar[name]!.attrs, /HttpOnly/i);
  const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', cookies: { [name]: jar[name]!.value } });
  assert.equal(me.statusCode, 200, me.body);
  assert.equal(me.json().session.mode, 'cookie');
  assert.equal(me.json().session.rememberMe, true);
});

test('clock drift: a code one step behind or ahead is accepted, two steps off is refused [ASVS V6.5.5, V6.5.8]', async () => {
  const dave = await userWithTotp(t, admin, 'dave');
  // Well past the step that confirmed the enrolment, which is spent.
  t.clock.advance(120);
  const a = await challenge(t, 'dave');
  assert.equal(code(await verify(t, a.challengeToken, 'totp', totp(t, dave.secret, -2))), 'MFA_CODE_INVALID');
  assert.equal(code(await verify(t, a.challengeToken, 'totp', totp(t, dave.secret, 2))), 'MFA_CODE_INVALID');
  assert.equal((await verify(t, a.challengeToken, 'totp', totp(t, dave.secret, -1))).statusCode, 200);
  const b = await challenge(t, 'dave');
  assert.equal((await verify(t, b.challengeToken, 'totp', totp(t, dave.secret, 1))).statusCode, 200);
});

test('removing TOTP needs the password; then the password alone signs in and the recovery codes are gone [ASVS V7.5.1, V6.5.6]', async () => {
  const erin = await userWithTotp(t, admin, 'erin');
  const del = (password: string) => t.app.inject({ method: 'DELETE', url: '/api/auth/mfa/totp', headers: bearer(erin.token), payload: { password } });
  assert.equal(code(await del('Wrong-password-0000')), 'INVALID_CREDENTIALS');
  assert.equal(code(await signIn(t, 'erin')), 'MFA_REQUIRED');
  assert.equal((await del(PW)).statusCode, 204);
  assert.equal((await signIn(t, 'erin')).statusCode, 200);
  const st = (await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(erin.token) })).json();
  assert.deepEqual([st.totp, st.recoveryCodesRemaining, st.methods], ['none', 0, []]);
  assert.equal(code(await del(PW)), 'NOT_FOUND');
  const removed = (await events(t, admin, 'mfa.removed')).filter((x) => x.subjectId === erin.id);
  assert.deepEqual(
    removed.map((x) => [x.outcome, x.details.reason ?? x.details.factor]),
    [
      ['success', 'totp'],
      ['failure', 'bad_password'],
    ],
  );
  // Enrolling again gives a new secret and a new set of recovery codes.
  const again = await enrolTotp(t, erin.token);
  assert.notEqual(again.secret, erin.secret);
  assert.equal(again.recoveryCodes.length, 10);
});

test('the second factor comes before a required password change: the change token needs both factors', async () => {
  const gil = await userWithTotp(t, admin, 'gil');
  const set = await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${gil.id}`, headers: bearer(admin), payload: { mustChangePassword: true } });
  assert.equal(set.statusCode, 200, set.body);
  const first = await signIn(t, 'gil');
  assert.equal(code(first), 'MFA_REQUIRED', 'no change token for the password alone');
  assert.equal(first.json().error.details.changeToken, undefined);
  const second = await verify(t, first.json().error.details.challengeToken, 'totp', totp(t, gil.secret));
  assert.equal(code(second), 'PASSWORD_CHANGE_REQUIRED');
  assert.ok(second.json().error.details.changeToken);
});
