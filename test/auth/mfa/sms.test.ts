// AUTH-12: one-time codes by SMS through Debian's real Kannel (bearerbox, smsbox and the fakesmsc test
// SMSC): enrolling a number with a texted code, signing in with a texted code, the enrolment-only path,
// removal, what is stored and shown (a sealed number, a masked one), and a server with no gateway.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, events, login, makeApp, useApp, type TestApp } from '../../helpers/app.js';
import { TestKannel } from '../../helpers/kannel.js';
import { PW, challenge, code, post, signIn, verify } from './world.js';
import { smsCode, userWithSms } from './sms-world.js';

let t: TestApp;
let admin: string;
const kannel = new TestKannel();
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  async () => {
    await kannel.start();
    return { env: { ...kannel.env(), SESSION_VALIDITY: '24h', TOKEN_VALIDITY: '24h' } };
  },
);
after(() => kannel.stop());

const status = async (token: string) => (await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(token) })).json();

test('a phone becomes a factor with a code texted to it; then a sign-in takes a texted code [ASVS V6.6.1]', async () => {
  const id = await createUser(t, admin, 'sam', PW);
  const { token } = await login(t, 'sam', PW);
  // Typed with spaces: stored and texted as E.164, shown masked.
  const started = await post(t, '/api/auth/mfa/sms', { password: PW, phone: '+45 20 30 40 50' }, bearer(token));
  assert.equal(started.statusCode, 202, started.body);
  assert.deepEqual(started.json(), { sentTo: '+45******50', expiresAt: new Date(t.clock.t + 300_000).toISOString() });
  const enrol = await smsCode(kannel, '+4520304050', 1);
  assert.equal(enrol.from, 'Palisade');
  assert.match(enrol.text, /^Palisade code to confirm this phone: \d{6}\. It expires in 5 min\. Never share it\.$/);
  let st = await status(token);
  assert.deepEqual(st.sms, { state: 'pending', phone: '+45******50' });
  assert.deepEqual(st.methods, [], 'not a factor before the code comes back');
  const confirmed = await post(t, '/api/auth/mfa/sms/confirm', { code: enrol.code }, bearer(token));
  assert.equal(confirmed.statusCode, 200, confirmed.body);
  assert.equal(confirmed.json().recoveryCodes.length, 10);
  st = await status(token);
  assert.deepEqual(st.sms, { state: 'confirmed', phone: '+45******50' });
  assert.deepEqual(st.methods, ['sms', 'recovery']);

  const d = await challenge(t, 'sam');
  assert.deepEqual(d.methods, ['sms', 'recovery']);
  const sent = await post(t, '/api/auth/mfa/sms-code', { challengeToken: d.challengeToken });
  assert.equal(sent.statusCode, 202, sent.body);
  assert.equal(sent.json().sentTo, '+45******50');
  const signin = await smsCode(kannel, '+4520304050', 2);
  assert.match(signin.text, /^Palisade sign-in code: \d{6}\./);
  const r = await verify(t, d.challengeToken, 'sms', signin.code);
  assert.equal(r.statusCode, 200, r.body);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(r.json().token) })).statusCode, 200);

  // At rest: the number sealed (only the masked hint in the clear), the codes as keyed hashes.
  const row = await t.s.db.selectFrom('mfa_sms').selectAll().where('user_id', '=', id).executeTakeFirstOrThrow();
  assert.ok(!JSON.stringify(row).includes('20304050'));
  assert.equal(row.phone_hint, '+45******50');
  const codes = JSON.stringify(await t.s.db.selectFrom('mfa_email_codes').selectAll().where('user_id', '=', id).execute());
  assert.ok(!codes.includes(enrol.code) && !codes.includes(signin.code));
  // Audited, with the masked number; never the code, the number or the gateway password in the log.
  const sentEvents = (await events(t, admin, 'mfa.code_sent')).filter((x) => x.subjectId === id);
  assert.deepEqual(sentEvents.map((x) => [x.details.purpose, x.details.channel, x.details.to]).sort(), [
    ['enable', 'sms', '+45******50'],
    ['signin', 'sms', '+45******50'],
  ]);
  assert.ok((await events(t, admin, 'mfa.enrolled')).some((x) => x.subjectId === id && x.details.factor === 'sms'));
  assert.ok((await events(t, admin, 'mfa.verified')).some((x) => x.subjectId === id && x.outcome === 'success' && x.details.method === 'sms'));
  const logs = t.logs.join('\n');
  for (const secret of [enrol.code, signin.code, '4520304050', kannel.password]) assert.ok(!logs.includes(secret), `the log holds ${secret}`);
});

test('numbers are E.164 once typed forms are read; a national number or a smuggled second one is refused', async () => {
  await createUser(t, admin, 'nina', PW);
  const { token } = await login(t, 'nina', PW);
  const before = kannel.messages.length;
  for (const phone of ['20304050', '+45 2030 4050 +4599999999', '+0451234567', '++4520304050']) {
    const r = await post(t, '/api/auth/mfa/sms', { password: PW, phone }, bearer(token));
    assert.equal(code(r), 'PHONE_NUMBER_INVALID', phone);
  }
  for (const phone of ['+4520304050&to=+4599999999', 'tel:+4520304050', '']) {
    assert.equal(code(await post(t, '/api/auth/mfa/sms', { password: PW, phone }, bearer(token))), 'VALIDATION_FAILED', phone);
  }
  assert.equal(kannel.messages.length, before, 'nothing was texted');
  const ok = await post(t, '/api/auth/mfa/sms', { password: PW, phone: '0045 (30) 40-50.60' }, bearer(token));
  assert.equal(ok.statusCode, 202, ok.body);
  await smsCode(kannel, '+4530405060', 1);
});

test('changing the number needs the current password; a confirmed number must be removed first; removal takes the recovery codes with the last factor [ASVS V7.5.1, V6.5.6]', async () => {
  const u = await userWithSms(t, kannel, admin, 'rita', '+4540506070');
  assert.equal(code(await post(t, '/api/auth/mfa/sms', { password: 'Wrong-password-123456', phone: '+4540506071' }, bearer(u.token))), 'INVALID_CREDENTIALS');
  assert.equal(code(await post(t, '/api/auth/mfa/sms', { password: PW, phone: '+4540506071' }, bearer(u.token))), 'MFA_FACTOR_EXISTS');
  assert.equal(kannel.to('+4540506071').length, 0);
  const del = (password: string) => t.app.inject({ method: 'DELETE', url: '/api/auth/mfa/sms', headers: bearer(u.token), payload: { password } });
  assert.equal(code(await del('Wrong-password-123456')), 'INVALID_CREDENTIALS');
  assert.equal((await del(PW)).statusCode, 204);
  const st = await status(u.token);
  assert.deepEqual(st.sms, { state: 'none', phone: null });
  assert.equal(st.recoveryCodesRemaining, 0);
  assert.equal((await signIn(t, 'rita')).statusCode, 200, 'no factor left: the password alone signs in');
  assert.equal(code(await del(PW)), 'NOT_FOUND');
  const removed = (await events(t, admin, 'mfa.removed')).filter((x) => x.subjectId === u.id);
  assert.deepEqual(
    removed.filter((x) => x.outcome === 'success').map((x) => x.details),
    [{ factor: 'sms', wasPending: false, recoveryCodesRemoved: true }],
  );
});

test('a user who must enrol can set up SMS with the enrolment-only token, and is signed in by the confirmation', async () => {
  const set = (required: string) => t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa', headers: bearer(admin), payload: { required } });
  assert.equal((await set('everyone')).statusCode, 200);
  try {
    await createUser(t, admin, 'eve', PW);
    const r = await signIn(t, 'eve');
    assert.equal(code(r), 'MFA_ENROLMENT_REQUIRED');
    const enrolmentToken = r.json().error.details.enrolmentToken;
    const started = await post(t, '/api/auth/mfa/enrolment/sms', { enrolmentToken, phone: '+4550607080' });
    assert.equal(started.statusCode, 202, started.body);
    const { code: c } = await smsCode(kannel, '+4550607080', 1);
    assert.equal(
      code(await post(t, '/api/auth/mfa/enrolment/sms/confirm', { enrolmentToken, code: c === '000000' ? '111111' : '000000' })),
      'MFA_CODE_INVALID',
    );
    const done = await post(t, '/api/auth/mfa/enrolment/sms/confirm', { enrolmentToken, code: c });
    assert.equal(done.statusCode, 200, done.body);
    assert.equal(done.json().recoveryCodes.length, 10);
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(done.json().token) })).statusCode, 200);
    assert.equal(code(await post(t, '/api/auth/mfa/enrolment/sms/confirm', { enrolmentToken, code: c })), 'MFA_TOKEN_INVALID', 'spent');
    assert.deepEqual((await challenge(t, 'eve')).methods, ['sms', 'recovery']);
  } finally {
    assert.equal((await set('optional')).statusCode, 200);
  }
});

test("an administrator's reset removes the phone number with the other factors", async () => {
  const u = await userWithSms(t, kannel, admin, 'reg', '+4560708090');
  const r = await t.app.inject({
    method: 'POST',
    url: `/api/admin/users/${u.id}/mfa/reset`,
    headers: bearer(admin),
    payload: { identityCheck: { method: 'in_person', reference: 'ticket 1' } },
  });
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(await t.s.db.selectFrom('mfa_sms').select('user_id').where('user_id', '=', u.id).executeTakeFirst(), undefined);
  const ev = (await events(t, admin, 'mfa.reset')).find((x) => x.subjectId === u.id);
  assert.equal(ev?.details.sms, 'confirmed');
  assert.equal((await signIn(t, 'reg')).statusCode, 200);
});

test('without a gateway SMS codes are off: SMS_NOT_CONFIGURED, and a number already confirmed still asks for its factor', async () => {
  const u = await userWithSms(t, kannel, admin, 'otto', '+4570809010');
  // A second instance on the same storage, started without SMS_KANNEL_URL.
  const bare = await makeApp({ peerOf: t, env: {} });
  try {
    const { token } = await login(bare, 'root');
    await createUser(bare, token, 'lena', PW);
    const lena = await login(bare, 'lena', PW);
    assert.equal(code(await post(bare, '/api/auth/mfa/sms', { password: PW, phone: '+4570809011' }, bearer(lena.token))), 'SMS_NOT_CONFIGURED');
    const first = await post(bare, '/api/auth/login', { username: 'otto', password: PW });
    assert.equal(code(first), 'MFA_REQUIRED', 'no gateway is no way around the factor');
    const d = first.json().error.details;
    assert.equal(code(await post(bare, '/api/auth/mfa/sms-code', { challengeToken: d.challengeToken })), 'SMS_NOT_CONFIGURED');
    // The recovery codes still get the user in.
    assert.equal(
      (await post(bare, '/api/auth/mfa/verify', { challengeToken: d.challengeToken, method: 'recovery', code: u.recoveryCodes[0] })).statusCode,
      200,
    );
  } finally {
    await bare.close();
  }
});
