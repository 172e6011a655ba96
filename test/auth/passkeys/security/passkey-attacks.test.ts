// Attacks on passkey sign-in (AUTH-12, AUTH-9), each with the legitimate use beside it: replay, phishing
// origin, foreign RP ID, cloned authenticator, forged assertions against the lockout, a swapped user
// handle, challenges of another ceremony, locked and disabled owners, API keys.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { bearer, events, useApp, type TestApp } from '../../../helpers/app.js';
import type { TestBrowser } from '../../../helpers/browser.js';
import { createKey, notesWorld } from '../../api-keys/world.js';
import {
  PW,
  assertion,
  code,
  createCredential,
  credentialsOf,
  freePort,
  getAssertion,
  launch,
  openDevice,
  passkeyOptions,
  post,
  register,
  signInWith,
  userWithPasskey,
  type Device,
} from '../world.js';

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
    // A second accepted origin under the RP ID, for the RP ID test (its origin check passes, its RP ID must not).
    return passkeyOptions(port, [`http://evil.localhost:${port}`]);
  },
);
before(async () => {
  b = await launch();
});
after(() => b.close());

const device = (at = origin): Promise<Device> => openDevice(b, at);
const sessionsOf = async (userId: string) => (await t.s.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).length;
const loginOptions = async () => (await post(t, '/api/auth/passkeys/login/options', {})).json();
const failures = async (userId: string) =>
  (await events(t, admin, 'auth.login'))
    .filter((e) => e.subjectId === userId && e.outcome === 'failure' && e.details?.method === 'passkey')
    .map((e) => e.details.reason)
    .reverse(); // oldest first

test('replay: an assertion is good once; the same response again is refused and recorded (bug class: replay) [ASVS V6.7.2]', async () => {
  const d = await device();
  const { id } = await userWithPasskey(t, admin, d, 'rita');
  const before = await sessionsOf(id);
  const a = await assertion(t, d);
  assert.equal((await signInWith(t, a)).statusCode, 200);
  const again = await signInWith(t, a);
  assert.equal(again.statusCode, 400);
  assert.equal(code(again), 'PASSKEY_CHALLENGE_INVALID');
  assert.equal(await sessionsOf(id), before + 1, 'the replay opened no session');
  assert.deepEqual(await failures(id), ['challenge_invalid']);
  // Expired options are refused too; fresh ones work.
  const late = await assertion(t, d);
  t.clock.advance(151);
  assert.equal(code(await signInWith(t, late)), 'PASSKEY_CHALLENGE_INVALID');
  assert.equal((await signInWith(t, await assertion(t, d))).statusCode, 200);
});

test('phishing: an assertion made on another origin, relaying our options, is refused (bug class: origin not checked)', async () => {
  const phish = http.createServer((_q, r) => r.end('sign in to palisade'));
  await new Promise<void>((resolve) => phish.listen(0, '127.0.0.1', resolve));
  try {
    const at = `http://localhost:${(phish.address() as { port: number }).port}`;
    const home = await device();
    const { id } = await userWithPasskey(t, admin, home, 'phil');
    // The same authenticator, on the phishing page: the RP ID (localhost) matches, the origin does not.
    await home.page.goto(`${at}/`);
    const relayed = await getAssertion(home.page, await loginOptions());
    const r = await signInWith(t, relayed);
    assert.equal(r.statusCode, 401);
    assert.equal(code(r), 'PASSKEY_INVALID');
    assert.equal(await sessionsOf(id), 1, 'only the sign-in that registered');
    assert.deepEqual(await failures(id), ['wrong_origin']);
    await home.page.goto(`${origin}/healthz`);
    assert.equal((await signInWith(t, await assertion(t, home))).statusCode, 200);
  } finally {
    phish.close();
  }
});

test("another RP ID: the same key used for another site's RP ID is refused even from an accepted origin (bug class: RP ID not checked)", async () => {
  const home = await device();
  const { id } = await userWithPasskey(t, admin, home, 'rpid');
  const [cred] = await credentialsOf(home);
  // A copy of the key registered for evil.localhost, used on evil.localhost (an origin the server accepts).
  const evil = await device(`http://evil.localhost:${port}`);
  await evil.cdp.send('WebAuthn.addCredential', { authenticatorId: evil.authenticatorId, credential: { ...cred, rpId: 'evil.localhost', signCount: 100 } });
  const foreign = await getAssertion(evil.page, { ...(await loginOptions()), rpId: 'evil.localhost' });
  assert.equal(foreign.id, (await credentialsOf(home))[0].credentialId.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'));
  const r = await signInWith(t, foreign);
  assert.equal(code(r), 'PASSKEY_INVALID');
  assert.deepEqual(await failures(id), ['wrong_rp_id']);
  assert.equal((await signInWith(t, await assertion(t, home))).statusCode, 200);
});

test('cloned authenticator: a copy of the key whose counter is behind is refused and recorded (bug class: counter ignored)', async () => {
  const home = await device();
  const { id, passkeyId } = await userWithPasskey(t, admin, home, 'clara');
  const [cred] = await credentialsOf(home);
  const clone = await device();
  await clone.cdp.send('WebAuthn.addCredential', { authenticatorId: clone.authenticatorId, credential: { ...cred, signCount: 0 } });
  assert.equal((await signInWith(t, await assertion(t, home))).statusCode, 200);
  assert.equal((await signInWith(t, await assertion(t, home))).statusCode, 200);
  const r = await signInWith(t, await assertion(t, clone));
  assert.equal(r.statusCode, 401);
  assert.equal(code(r), 'PASSKEY_INVALID');
  const flagged = (await events(t, admin, 'passkey.clone_detected')).filter((e) => e.subjectId === id);
  assert.equal(flagged.length, 1);
  assert.equal(flagged[0]!.details.passkeyId, passkeyId);
  assert.ok(flagged[0]!.details.reportedCounter <= flagged[0]!.details.storedCounter);
  assert.deepEqual(await failures(id), ['counter_not_increased']);
  assert.equal(await sessionsOf(id), 3, 'registration sign-in and the two good ones');
  // The genuine authenticator, ahead of the stored counter, still signs in.
  assert.equal((await signInWith(t, await assertion(t, home))).statusCode, 200);
});

/** A real assertion with one bit of its authenticator data flipped: parseable, but the signature no longer holds. */
function forge(a: any): any {
  const data = Buffer.from(a.response.authenticatorData, 'base64url');
  data[36]! ^= 0x01;
  return { ...a, response: { ...a.response, authenticatorData: data.toString('base64url') } };
}

test('forged assertions spend lockout attempts on the named account until it locks; the lock bars every way in (bug class: unlimited guessing) [ASVS V6.3.4]', async () => {
  const setMax = (maxAttempts: number) =>
    t.app
      .inject({ method: 'PATCH', url: '/api/admin/settings/lockout', headers: bearer(admin), payload: { maxAttempts } })
      .then((r) => assert.equal(r.statusCode, 200, r.body));
  const d = await device();
  const { id } = await userWithPasskey(t, admin, d, 'lou');
  await setMax(3);
  try {
    for (let i = 0; i < 2; i++) assert.equal(code(await signInWith(t, forge(await assertion(t, d)))), 'PASSKEY_INVALID');
    // A good assertion before the limit forgets the failures, like a right password.
    assert.equal((await signInWith(t, await assertion(t, d))).statusCode, 200);
    for (let i = 0; i < 3; i++) assert.equal(code(await signInWith(t, forge(await assertion(t, d)))), 'PASSKEY_INVALID');
    assert.equal((await events(t, admin, 'account.locked')).filter((e) => e.subjectId === id).length, 1);
    const sessions = await sessionsOf(id);
    const genuine = await signInWith(t, await assertion(t, d));
    assert.equal(code(genuine), 'PASSKEY_INVALID', 'even the real passkey is refused while locked');
    assert.equal(code(await post(t, '/api/auth/login', { username: 'lou', password: PW })), 'INVALID_CREDENTIALS');
    assert.equal(await sessionsOf(id), sessions);
    const reasons = await failures(id);
    assert.equal(reasons.filter((r) => r === 'bad_signature').length, 5);
    assert.equal(reasons.at(-1), 'locked');
  } finally {
    await setMax(10);
  }
});

test("swapped user handle: your own passkey's assertion naming another user's handle signs nobody in (bug class: user handle trusted)", async () => {
  const victim = await device();
  const v = await userWithPasskey(t, admin, victim, 'vera');
  const own = await device();
  const m = await userWithPasskey(t, admin, own, 'mal');
  const a = await assertion(t, own);
  const r = await signInWith(t, { ...a, response: { ...a.response, userHandle: Buffer.from(v.id).toString('base64url') } });
  assert.equal(code(r), 'PASSKEY_INVALID');
  assert.deepEqual(await failures(m.id), ['user_handle_mismatch']);
  assert.deepEqual([await sessionsOf(v.id), await sessionsOf(m.id)], [1, 1]);
});

test('a challenge of another ceremony does not sign in, and a sign-in challenge does not register (bug class: challenge purpose)', async () => {
  const d = await device();
  const { id, token } = await userWithPasskey(t, admin, d, 'cy');
  const reg = (await post(t, '/api/auth/passkeys/registration/options', { password: PW }, bearer(token))).json();
  const a = await getAssertion(d.page, { challenge: reg.challenge, rpId: 'localhost', allowCredentials: [], userVerification: 'required' });
  assert.equal(code(await signInWith(t, a)), 'PASSKEY_CHALLENGE_INVALID');
  assert.deepEqual(await failures(id), ['challenge_invalid']);
  assert.equal(await sessionsOf(id), 1);
  // A new authenticator answering a sign-in challenge in a registration.
  const fresh = await device();
  const made = await createCredential(fresh.page, { ...reg, challenge: (await loginOptions()).challenge });
  assert.equal(code(await post(t, '/api/auth/passkeys/registration/verify', { response: made }, bearer(token))), 'PASSKEY_CHALLENGE_INVALID');
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/passkeys', headers: bearer(token) })).json().passkeys.length, 1);
});

test('a locked or disabled owner is refused at passkey sign-in; once unlocked or enabled they get through', async () => {
  const d = await device();
  const { id } = await userWithPasskey(t, admin, d, 'lena');
  const adminReq = (method: 'POST' | 'PATCH', url: string, payload?: object) =>
    t.app.inject({ method, url, headers: bearer(admin), ...(payload ? { payload } : {}) });
  assert.equal((await adminReq('POST', `/api/admin/users/${id}/lock`, { reason: 'laptop stolen' })).statusCode, 204);
  assert.equal(code(await signInWith(t, await assertion(t, d))), 'PASSKEY_INVALID');
  assert.equal((await adminReq('POST', `/api/admin/users/${id}/unlock`)).statusCode, 204);
  assert.equal((await signInWith(t, await assertion(t, d))).statusCode, 200);

  assert.equal((await adminReq('PATCH', `/api/admin/users/${id}`, { status: 'disabled' })).statusCode, 200);
  const r = await signInWith(t, await assertion(t, d));
  assert.equal(r.statusCode, 401);
  assert.equal(code(r), 'INVALID_CREDENTIALS');
  assert.equal(await sessionsOf(id), 2, 'the registration sign-in and the one after the unlock');
  const refused = (await events(t, admin, 'auth.login'))
    .filter((e) => e.subjectId === id && e.outcome === 'failure')
    .map((e) => e.details.reason)
    .reverse();
  assert.deepEqual(refused, ['locked', 'disabled']);
  assert.equal((await adminReq('PATCH', `/api/admin/users/${id}`, { status: 'active' })).statusCode, 200);
  assert.equal((await signInWith(t, await assertion(t, d))).statusCode, 200);
});

test('an API key cannot register, list or remove passkeys (bug class: key reaches credential management)', async () => {
  const { ann } = await notesWorld(t, admin);
  const key = await createKey(t, ann, {});
  assert.equal(key.statusCode, 201, key.body);
  const secret = key.json().secret;
  for (const headers of [{ 'x-api-key': secret }, bearer(secret)]) {
    const opts = await post(t, '/api/auth/passkeys/registration/options', { password: 'Quarterly-report-4411' }, headers);
    assert.equal(opts.statusCode, 403);
    assert.equal(code(opts), 'SESSION_REQUIRED');
    const listed = await t.app.inject({ method: 'GET', url: '/api/auth/passkeys', headers });
    assert.equal(code(listed), 'SESSION_REQUIRED');
  }
  // The owner's session can.
  assert.equal((await post(t, '/api/auth/passkeys/registration/options', { password: 'Quarterly-report-4411' }, bearer(ann))).statusCode, 200);
  const d = await device();
  assert.equal((await register(t, d, ann, 'Laptop', 'Quarterly-report-4411')).statusCode, 201);
});
