// Passkeys as a second factor (AUTH-12): a registered passkey is a factor, so a password sign-in asks for it
// (or a recovery code) as its second step; the passwordless passkey sign-in needs no second step (the device
// and its user verification are two factors); the first passkey brings the recovery codes; removal and an
// administrator's reset follow the second-factor rules.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bearer, createUser, events, login, useApp, type TestApp } from '../../helpers/app.js';
import type { TestBrowser } from '../../helpers/browser.js';
import { enrolTotp } from '../mfa/world.js';
import { PW, assertion, code, freePort, getAssertion, launch, openDevice, passkeyOptions, post, register, signInWith, type Device } from './world.js';

let t: TestApp;
let admin: string;
let origin: string;
let port: number;
let b: TestBrowser;
useApp(
  async (x, a) => {
    t = x;
    admin = a;
    await t.app.listen({ port, host: '127.0.0.1' });
    origin = `http://localhost:${port}`;
  },
  async () => {
    port = await freePort();
    return passkeyOptions(port);
  },
);
before(async () => {
  b = await launch();
});
after(() => b.close());

const device = (): Promise<Device> => openDevice(b, origin);
const sessionsOf = async (userId: string) => (await t.s.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).length;
const status = async (token: string) => (await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(token) })).json();

/** The password step of a user with a factor: the MFA_REQUIRED details. */
async function firstStep(username: string, extra: object = {}): Promise<{ challengeToken: string; methods: string[] }> {
  const r = await post(t, '/api/auth/login', { username, password: PW, ...extra });
  assert.equal(r.statusCode, 401, r.body);
  assert.equal(code(r), 'MFA_REQUIRED');
  return r.json().error.details;
}

/** The passkey second step: its options, the device's assertion, the verify answer. */
async function passkeyStep(d: Device, challengeToken: string) {
  const opts = await post(t, '/api/auth/mfa/passkey/options', { challengeToken });
  assert.equal(opts.statusCode, 200, opts.body);
  return post(t, '/api/auth/mfa/passkey/verify', { challengeToken, response: await getAssertion(d.page, opts.json()) });
}

test('the first passkey brings recovery codes; a password sign-in then needs the passkey as its second step [ASVS V2.3.1]', async () => {
  const d = await device();
  const id = await createUser(t, admin, 'sam', PW);
  const { token } = await login(t, 'sam', PW);
  const reg = await register(t, d, token);
  assert.equal(reg.statusCode, 201, reg.body);
  assert.equal(reg.json().recoveryCodes.length, 10);
  const st = await status(token);
  assert.equal(st.passkeys, 1);
  assert.deepEqual(st.methods, ['passkey', 'recovery']);

  const { challengeToken, methods } = await firstStep('sam', { mode: 'cookie' });
  assert.deepEqual(methods, ['passkey', 'recovery']);
  const opts = (await post(t, '/api/auth/mfa/passkey/options', { challengeToken })).json();
  assert.equal(opts.allowCredentials.length, 1, "only the user's own passkeys are offered");
  const r = await passkeyStep(d, challengeToken);
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(r.json().user.id, id);
  assert.ok(r.json().xsrfToken, 'the mode of the first step (cookie) is kept');
  const ok = (await events(t, admin, 'auth.login')).find((e) => e.details?.sessionId === r.json().session.id);
  assert.equal(ok?.details.secondFactor, 'passkey');
  assert.equal(ok?.details.method, 'password');
  assert.ok((await events(t, admin, 'mfa.verified')).some((e) => e.subjectId === id && e.outcome === 'success' && e.details.method === 'passkey'));
  // The challenge token went with the proof.
  const again = await post(t, '/api/auth/mfa/passkey/options', { challengeToken });
  assert.equal(code(again), 'MFA_TOKEN_INVALID');
  // A second passkey brings no new codes.
  const d2 = await device();
  const second = await register(t, d2, token, 'Phone');
  assert.equal(second.json().recoveryCodes, null);
});

test('a passwordless passkey sign-in is two factors by itself: no second step, even for a user with TOTP', async () => {
  const d = await device();
  const id = await createUser(t, admin, 'tina', PW);
  const { token } = await login(t, 'tina', PW);
  await enrolTotp(t, token);
  const reg = await register(t, d, token);
  assert.equal(reg.json().recoveryCodes, null, 'TOTP already brought the codes');
  const before = await sessionsOf(id);
  const r = await signInWith(t, await assertion(t, d));
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(await sessionsOf(id), before + 1);
  // The password still asks for a second factor, which may now be the passkey.
  assert.deepEqual((await firstStep('tina')).methods, ['passkey', 'totp', 'recovery']);
});

test('a user without a passkey cannot take the passkey step', async () => {
  await createUser(t, admin, 'ursula', PW);
  await enrolTotp(t, (await login(t, 'ursula', PW)).token);
  const { challengeToken } = await firstStep('ursula');
  const r = await post(t, '/api/auth/mfa/passkey/options', { challengeToken });
  assert.equal(r.statusCode, 400);
  assert.equal(code(r), 'MFA_METHOD_UNAVAILABLE');
});

test('removing the last passkey: refused while the policy requires a factor; otherwise the recovery codes go with it', async () => {
  const d = await device();
  await createUser(t, admin, 'rob', PW);
  const { token } = await login(t, 'rob', PW);
  const passkeyId = (await register(t, d, token)).json().passkey.id;
  const policy = (required: string) =>
    t.app
      .inject({ method: 'PATCH', url: '/api/admin/settings/mfa', headers: bearer(admin), payload: { required } })
      .then((r) => assert.equal(r.statusCode, 200, r.body));
  const del = () => t.app.inject({ method: 'DELETE', url: `/api/auth/passkeys/${passkeyId}`, headers: bearer(token), payload: { password: PW } });
  await policy('everyone');
  try {
    const refused = await del();
    assert.equal(refused.statusCode, 409);
    assert.equal(code(refused), 'MFA_FACTOR_REQUIRED');
    assert.equal((await status(token)).passkeys, 1);
  } finally {
    await policy('optional');
  }
  assert.equal((await del()).statusCode, 204);
  const st = await status(token);
  assert.deepEqual([st.passkeys, st.recoveryCodesRemaining, st.methods], [0, 0, []]);
  assert.equal((await post(t, '/api/auth/login', { username: 'rob', password: PW })).statusCode, 200, 'no factor left: the password alone');
});

test("an administrator's reset of a user's factors removes their passkeys too", async () => {
  const d = await device();
  const id = await createUser(t, admin, 'nina', PW);
  const { token } = await login(t, 'nina', PW);
  assert.equal((await register(t, d, token)).statusCode, 201);
  const reset = await post(t, `/api/admin/users/${id}/mfa/reset`, { identityCheck: { method: 'in_person', reference: 'ticket 1' } }, bearer(admin));
  assert.equal(reset.statusCode, 200, reset.body);
  const ev = (await events(t, admin, 'mfa.reset')).find((e) => e.subjectId === id);
  assert.equal(ev?.details.passkeys, 1);
  assert.equal(code(await signInWith(t, await assertion(t, d))), 'PASSKEY_INVALID');
  assert.equal((await post(t, '/api/auth/login', { username: 'nina', password: PW })).statusCode, 200);
});
