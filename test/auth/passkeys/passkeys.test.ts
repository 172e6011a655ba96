// Passkeys as a passwordless sign-in (AUTH-12): registration by a signed-in user, sign-in through the one
// session funnel, list, rename and removal; Debian's Chromium with a CDP virtual authenticator makes the
// credentials, the app listens on the configured origin.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bearer, cookies, createUser, events, login, makeApp, useApp, type TestApp } from '../../helpers/app.js';
import type { TestBrowser } from '../../helpers/browser.js';
import {
  PW,
  assertion,
  code,
  createCredential,
  freePort,
  launch,
  openDevice,
  passkeyOptions,
  post,
  register,
  signInWith,
  userWithPasskey,
  type Device,
} from './world.js';

let t: TestApp;
let admin: string;
let origin: string;
let b: TestBrowser;
let port: number;
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
const list = (token: string) => t.app.inject({ method: 'GET', url: '/api/auth/passkeys', headers: bearer(token) });

test('a registered passkey signs its user in without a password, through the session funnel [ASVS V16.3.1]', async () => {
  const d = await device();
  const id = await createUser(t, admin, 'pia', PW);
  const { token } = await login(t, 'pia', PW);
  const reg = await register(t, d, token, 'Work laptop');
  assert.equal(reg.statusCode, 201, reg.body);
  const pk = reg.json().passkey;
  assert.equal(pk.name, 'Work laptop');
  assert.deepEqual(pk.transports, ['internal']);
  assert.equal(pk.lastUsedAt, null);
  assert.equal('publicKey' in pk || 'credentialId' in pk, false, 'the key material is never answered');
  assert.equal((await events(t, admin, 'passkey.registered')).filter((e) => e.subjectId === id && e.outcome === 'success').length, 1);

  const r = await signInWith(t, await assertion(t, d));
  assert.equal(r.statusCode, 200, r.body);
  const body = r.json();
  assert.equal(body.user.id, id);
  assert.ok(body.token && body.session.id && body.tokenExpiresAt && body.sessionExpiresAt);
  const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(body.token) });
  assert.equal(me.statusCode, 200);
  assert.equal(me.json().user.username, 'pia');
  const ok = (await events(t, admin, 'auth.login')).find((e) => e.details?.sessionId === body.session.id);
  assert.equal(ok?.outcome, 'success');
  assert.equal(ok?.details.method, 'passkey');
  // Last use is kept; a second sign-in works with a fresh challenge.
  assert.notEqual((await list(token)).json().passkeys[0].lastUsedAt, null);
  assert.equal((await signInWith(t, await assertion(t, d))).statusCode, 200);
});

test('cookie mode answers like the password sign-in: session and XSRF cookies, no token in the body', async () => {
  const d = await device();
  await userWithPasskey(t, admin, d, 'carla');
  const r = await signInWith(t, await assertion(t, d), { mode: 'cookie', rememberMe: true });
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(r.json().token, undefined);
  assert.ok(r.json().xsrfToken);
  const jar = cookies(r);
  assert.ok(
    Object.values(jar).some((c) => /HttpOnly/i.test(c.attrs)),
    'an HttpOnly session cookie is set',
  );
});

test('registration needs the current password; a wrong one gives no options and is recorded as a failed sign-in [ASVS V7.5.1]', async () => {
  const id = await createUser(t, admin, 'wes', PW);
  const { token } = await login(t, 'wes', PW);
  const r = await post(t, '/api/auth/passkeys/registration/options', { password: 'Not-the-password-1' }, bearer(token));
  assert.equal(r.statusCode, 401);
  assert.equal(code(r), 'INVALID_CREDENTIALS');
  const failed = (await events(t, admin, 'auth.login')).filter((e) => e.subjectId === id && e.outcome === 'failure');
  assert.deepEqual(
    failed.map((e) => e.details.reason),
    ['bad_password'],
  );
  const ok = await post(t, '/api/auth/passkeys/registration/options', { password: PW }, bearer(token));
  assert.equal(ok.statusCode, 200, ok.body);
  const o = ok.json();
  assert.equal(o.rp.id, 'localhost');
  assert.equal(o.authenticatorSelection.residentKey, 'required');
  assert.equal(o.authenticatorSelection.userVerification, 'required');
  assert.deepEqual(o.excludeCredentials, []);
});

test('a second registration excludes the passkeys the user already has', async () => {
  const d = await device();
  const { token } = await userWithPasskey(t, admin, d, 'eli');
  const o = (await post(t, '/api/auth/passkeys/registration/options', { password: PW }, bearer(token))).json();
  assert.equal(o.excludeCredentials.length, 1);
  // The same authenticator refuses to make a second passkey for the same account.
  await assert.rejects(createCredential(d.page, o), /InvalidStateError|excluded|already/i);
});

test('rename and remove your own passkey; removal needs the password, is recorded, and the passkey no longer signs in [ASVS V7.5.1, V6.5.6]', async () => {
  const d = await device();
  const { id, token, passkeyId } = await userWithPasskey(t, admin, d, 'remy');
  const renamed = await t.app.inject({ method: 'PATCH', url: `/api/auth/passkeys/${passkeyId}`, headers: bearer(token), payload: { name: 'Phone' } });
  assert.equal(renamed.statusCode, 200, renamed.body);
  assert.equal(renamed.json().passkey.name, 'Phone');
  const del = (password: string) => t.app.inject({ method: 'DELETE', url: `/api/auth/passkeys/${passkeyId}`, headers: bearer(token), payload: { password } });
  assert.equal(code(await del('Not-the-password-1')), 'INVALID_CREDENTIALS');
  assert.equal((await list(token)).json().passkeys.length, 1, 'a wrong password removes nothing');
  assert.equal((await del(PW)).statusCode, 204);
  assert.deepEqual((await list(token)).json().passkeys, []);
  const removed = (await events(t, admin, 'passkey.removed')).find((e) => e.subjectId === id);
  assert.equal(removed?.details.passkeyId, passkeyId);
  assert.equal(removed?.details.name, 'Phone');
  assert.equal((await del(PW)).statusCode, 404);

  const r = await signInWith(t, await assertion(t, d));
  assert.equal(r.statusCode, 401);
  assert.equal(code(r), 'PASSKEY_INVALID');
  const refused = (await events(t, admin, 'auth.login')).filter((e) => e.outcome === 'failure' && e.details?.method === 'passkey');
  assert.ok(refused.some((e) => e.details.reason === 'unknown_credential'));
});

test("another user's passkey can be neither renamed nor removed, and is not listed", async () => {
  const d = await device();
  const owner = await userWithPasskey(t, admin, d, 'olga');
  await createUser(t, admin, 'mallory', PW);
  const { token } = await login(t, 'mallory', PW);
  assert.deepEqual((await list(token)).json().passkeys, []);
  const ren = await t.app.inject({ method: 'PATCH', url: `/api/auth/passkeys/${owner.passkeyId}`, headers: bearer(token), payload: { name: 'mine' } });
  assert.equal(ren.statusCode, 404);
  const del = await t.app.inject({ method: 'DELETE', url: `/api/auth/passkeys/${owner.passkeyId}`, headers: bearer(token), payload: { password: PW } });
  assert.equal(del.statusCode, 404);
  const mine = (await list(owner.token)).json().passkeys;
  assert.equal(mine.length, 1);
  assert.equal(mine[0].name, 'Laptop');
});

test('a registration response is good once, for the user whose options it answers, before they expire', async () => {
  const d = await device();
  await createUser(t, admin, 'uma', PW);
  await createUser(t, admin, 'vic', PW);
  const uma = (await login(t, 'uma', PW)).token;
  const vic = (await login(t, 'vic', PW)).token;
  const opts = (await post(t, '/api/auth/passkeys/registration/options', { password: PW }, bearer(uma))).json();
  const response = await createCredential(d.page, opts);
  // Vic cannot store a passkey made for Uma's options.
  const stolen = await post(t, '/api/auth/passkeys/registration/verify', { response }, bearer(vic));
  assert.equal(code(stolen), 'PASSKEY_CHALLENGE_INVALID');
  assert.deepEqual((await list(vic)).json().passkeys, []);
  const first = await post(t, '/api/auth/passkeys/registration/verify', { response }, bearer(uma));
  assert.equal(first.statusCode, 201, first.body);
  assert.equal(first.json().passkey.name, 'Passkey');
  const again = await post(t, '/api/auth/passkeys/registration/verify', { response }, bearer(uma));
  assert.equal(code(again), 'PASSKEY_CHALLENGE_INVALID');
  assert.equal((await list(uma)).json().passkeys.length, 1);

  const d2 = await device();
  const late = await createCredential(d2.page, (await post(t, '/api/auth/passkeys/registration/options', { password: PW }, bearer(uma))).json());
  t.clock.advance(151);
  assert.equal(code(await post(t, '/api/auth/passkeys/registration/verify', { response: late }, bearer(uma))), 'PASSKEY_CHALLENGE_INVALID');
  assert.equal((await list(uma)).json().passkeys.length, 1);
});

test('sign-in options are for any passkey of this site, and each challenge is fresh', async () => {
  const a = (await post(t, '/api/auth/passkeys/login/options', {})).json();
  const c = (await post(t, '/api/auth/passkeys/login/options', {})).json();
  assert.equal(a.rpId, 'localhost');
  assert.deepEqual(a.allowCredentials, []);
  assert.equal(a.userVerification, 'required');
  assert.notEqual(a.challenge, c.challenge);
});

test('each ceremony challenge is 32 random bytes (256 bits), never repeated, and answers one ceremony once [ASVS V6.7.2]', async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 25; i++) {
    const { challenge } = (await post(t, '/api/auth/passkeys/login/options', {})).json();
    assert.equal(Buffer.from(challenge, 'base64url').length, 32, challenge);
    assert.equal(Buffer.from(challenge, 'base64url').toString('base64url'), challenge);
    seen.add(challenge);
  }
  assert.equal(seen.size, 25, 'no challenge repeats');
  // The registration ceremony's too.
  await createUser(t, admin, 'nonce', PW);
  const { token } = await login(t, 'nonce', PW);
  const reg = (await post(t, '/api/auth/passkeys/registration/options', { password: PW }, bearer(token))).json();
  assert.equal(Buffer.from(reg.challenge, 'base64url').length, 32);
  assert.ok(!seen.has(reg.challenge));
  // Spent by its one answer: the legitimate sign-in passes once, the same answer again does not.
  const d = await device();
  await userWithPasskey(t, admin, d, 'nonce2');
  const a = await assertion(t, d);
  assert.equal((await signInWith(t, a)).statusCode, 200);
  assert.equal(code(await signInWith(t, a)), 'PASSKEY_CHALLENGE_INVALID');
});

test('the public key that verifies a passkey cannot be changed through the API: only its name is writable, by its owner; the stored key keeps verifying [ASVS V6.7.1]', async () => {
  const d = await device();
  const { id, token, passkeyId } = await userWithPasskey(t, admin, d, 'keyholder');
  const stored = async () =>
    t.s.db.selectFrom('passkeys').select(['public_key', 'credential_id', 'user_id', 'counter']).where('id', '=', passkeyId).executeTakeFirstOrThrow();
  const before = await stored();
  const other = Buffer.alloc(77, 7).toString('base64url');
  for (const payload of [{ publicKey: other }, { public_key: other }, { name: 'x', publicKey: other }, { credentialId: other }, { userId: 'someone-else' }]) {
    const r = await t.app.inject({ method: 'PATCH', url: `/api/auth/passkeys/${passkeyId}`, headers: bearer(token), payload });
    assert.equal(r.statusCode, 400, `${JSON.stringify(payload)}: ${r.body}`);
  }
  // No administrator route writes a passkey either: the admin API has none under the user.
  const admins = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${id}/passkeys/${passkeyId}`,
    headers: bearer(admin),
    payload: { publicKey: other },
  });
  assert.equal(admins.statusCode, 404, admins.body);
  const after = await stored();
  assert.deepEqual({ ...after, counter: 0 }, { ...before, counter: 0 });
  // The legitimate owner still signs in with the key as registered.
  assert.equal((await signInWith(t, await assertion(t, d))).statusCode, 200);
});

test('bad input is a 4xx with a stable code, never a 5xx', async () => {
  const junk = {
    id: 'AAAA',
    rawId: 'AAAA',
    type: 'public-key',
    response: { clientDataJSON: 'AAAA', authenticatorData: 'AAAA', signature: 'AAAA' },
    clientExtensionResults: {},
  };
  const r = await signInWith(t, junk);
  assert.equal(r.statusCode, 401);
  assert.equal(code(r), 'PASSKEY_INVALID');
  const extra = await signInWith(t, { ...junk, surprise: 1 });
  assert.equal(code(extra), 'VALIDATION_FAILED');
  const huge = await signInWith(t, { ...junk, response: { ...junk.response, signature: 'A'.repeat(5000) } });
  assert.equal(code(huge), 'VALIDATION_FAILED');
  const notB64 = await signInWith(t, { ...junk, id: 'a b' });
  assert.equal(code(notB64), 'VALIDATION_FAILED');
  // A registration response with a readable but foreign challenge, and one that is not JSON at all.
  await createUser(t, admin, 'ivy', PW);
  const { token } = await login(t, 'ivy', PW);
  const cd = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const reg = (clientDataJSON: string) =>
    post(t, '/api/auth/passkeys/registration/verify', { response: { ...junk, response: { clientDataJSON, attestationObject: 'AAAA' } } }, bearer(token));
  assert.equal(code(await reg(cd({ type: 'webauthn.create', challenge: 'x'.repeat(43), origin }))), 'PASSKEY_CHALLENGE_INVALID');
  assert.equal(code(await reg('AAAA')), 'PASSKEY_REGISTRATION_FAILED');
});

test('without a domain name to bind passkeys to, ceremonies answer PASSKEYS_NOT_CONFIGURED', async () => {
  const bare = await makeApp();
  try {
    const r = await bare.app.inject({ method: 'POST', url: '/api/auth/passkeys/login/options' });
    assert.equal(r.statusCode, 404);
    assert.equal(r.json().error.code, 'PASSKEYS_NOT_CONFIGURED');
    const token = (await login(bare)).token;
    const reg = await bare.app.inject({
      method: 'POST',
      url: '/api/auth/passkeys/registration/options',
      headers: bearer(token),
      payload: { password: 'Correct-horse-battery-9' },
    });
    assert.equal(reg.json().error.code, 'PASSKEYS_NOT_CONFIGURED');
    assert.equal((await bare.app.inject({ method: 'GET', url: '/api/auth/passkeys', headers: bearer(token) })).statusCode, 200);
  } finally {
    await bare.close();
  }
});
