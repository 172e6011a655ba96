// Attacks on the passkey second step (AUTH-12), each beside the legitimate use: someone else's passkey for
// my challenge, a challenge of the other ceremony, the code route with method passkey, forged assertions
// against the second-factor lockout.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bearer, events, useApp, type TestApp } from '../../../helpers/app.js';
import type { TestBrowser } from '../../../helpers/browser.js';
import { PW, assertion, code, freePort, getAssertion, launch, openDevice, passkeyOptions, post, signInWith, userWithPasskey, type Device } from '../world.js';

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
const challengeOf = async (username: string): Promise<string> => {
  const r = await post(t, '/api/auth/login', { username, password: PW });
  assert.equal(code(r), 'MFA_REQUIRED', r.body);
  return r.json().error.details.challengeToken;
};
const stepOptions = async (challengeToken: string) => (await post(t, '/api/auth/mfa/passkey/options', { challengeToken })).json();
const verify = (challengeToken: string, response: unknown) => post(t, '/api/auth/mfa/passkey/verify', { challengeToken, response });
const stepFailures = async (userId: string) =>
  (await events(t, admin, 'mfa.verified'))
    .filter((e) => e.subjectId === userId && e.outcome === 'failure' && e.details.method === 'passkey')
    .map((e) => e.details.reason)
    .reverse();

test("a phished password and the attacker's own passkey do not pass the victim's second step (bug class: factor of another user)", async () => {
  const victimDevice = await device();
  const victim = await userWithPasskey(t, admin, victimDevice, 'vic');
  const mine = await device();
  await userWithPasskey(t, admin, mine, 'eve');
  const token = await challengeOf('vic');
  // Eve answers the victim's options with her own discoverable passkey.
  const r = await verify(token, await getAssertion(mine.page, { ...(await stepOptions(token)), allowCredentials: [] }));
  assert.equal(r.statusCode, 401);
  assert.equal(code(r), 'PASSKEY_INVALID');
  assert.deepEqual(await stepFailures(victim.id), ['unknown_credential']);
  assert.equal(await sessionsOf(victim.id), 1, 'only the sign-in before the passkey');
  // The victim, with the same token (a refused assertion does not spend it), gets through.
  const ok = await verify(token, await getAssertion(victimDevice.page, await stepOptions(token)));
  assert.equal(ok.statusCode, 200, ok.body);
});

test('the challenges of the passwordless sign-in and of the second step are not interchangeable (bug class: challenge purpose)', async () => {
  const d = await device();
  const { id } = await userWithPasskey(t, admin, d, 'pat');
  const token = await challengeOf('pat');
  // A passwordless sign-in assertion offered as the second step...
  assert.equal(code(await verify(token, await assertion(t, d))), 'PASSKEY_CHALLENGE_INVALID');
  // ...and a second-step assertion offered as a passwordless sign-in.
  const stepAssertion = await getAssertion(d.page, await stepOptions(token));
  assert.equal(code(await signInWith(t, stepAssertion)), 'PASSKEY_CHALLENGE_INVALID');
  assert.equal(await sessionsOf(id), 1);
  assert.equal((await verify(token, await getAssertion(d.page, await stepOptions(token)))).statusCode, 200);
});

test('the code route does not take method passkey, and a challenge token is not a session (bug class: second step skipped) [ASVS V2.3.1]', async () => {
  const d = await device();
  const { id } = await userWithPasskey(t, admin, d, 'quinn');
  const token = await challengeOf('quinn');
  const r = await post(t, '/api/auth/mfa/verify', { challengeToken: token, method: 'passkey', code: '123456' });
  assert.equal(code(r), 'VALIDATION_FAILED');
  assert.equal(code(await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) })), 'TOKEN_INVALID');
  assert.equal(await sessionsOf(id), 1);
});

test('forged second-step assertions spend the second-factor lockout and lock the account (bug class: unlimited guessing)', async () => {
  const setMax = (maxAttempts: number) =>
    t.app
      .inject({ method: 'PATCH', url: '/api/admin/settings/lockout', headers: bearer(admin), payload: { maxAttempts } })
      .then((r) => assert.equal(r.statusCode, 200, r.body));
  const d = await device();
  const { id } = await userWithPasskey(t, admin, d, 'lockme');
  const token = await challengeOf('lockme');
  await setMax(3);
  try {
    for (let i = 0; i < 3; i++) {
      const a = await getAssertion(d.page, await stepOptions(token));
      const data = Buffer.from(a.response.authenticatorData, 'base64url');
      data[36]! ^= 0x01;
      const r = await verify(token, { ...a, response: { ...a.response, authenticatorData: data.toString('base64url') } });
      assert.equal(code(r), 'PASSKEY_INVALID');
    }
    assert.equal((await events(t, admin, 'account.locked')).filter((e) => e.subjectId === id).length, 1);
    const genuine = await verify(token, await getAssertion(d.page, await stepOptions(token)));
    assert.equal(code(genuine), 'PASSKEY_INVALID', 'the real passkey is refused while the account is locked');
    assert.deepEqual(await stepFailures(id), ['bad_signature', 'bad_signature', 'bad_signature', 'locked']);
    assert.equal(await sessionsOf(id), 1);
  } finally {
    await setMax(10);
  }
});
