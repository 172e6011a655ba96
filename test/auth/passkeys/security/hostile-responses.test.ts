// Hostile WebAuthn responses (bug class: parser crash or 5xx on attacker-shaped binary input). Responses that
// answer a real, unspent challenge and name a real passkey reach the library's parsers (authenticator data, CBOR,
// COSE, signatures) with garbage in every binary field: each must be a 4xx with a stable code, never a 5xx.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { bearer, createUser, login, useApp, type TestApp } from '../../../helpers/app.js';
import type { TestBrowser } from '../../../helpers/browser.js';
import { PW, freePort, launch, openDevice, passkeyOptions, post, signInWith, userWithPasskey } from '../world.js';

let t: TestApp;
let admin: string;
let port: number;
let b: TestBrowser;
useApp(
  async (x, a) => {
    t = x;
    admin = a;
    await t.app.listen({ port, host: '127.0.0.1' });
  },
  async () => {
    port = await freePort();
    // Each refused assertion spends a lockout attempt of the passkey's owner: room for every run.
    return passkeyOptions(port, [], { env: { LOCKOUT_MAX_ATTEMPTS: '100' } });
  },
);
before(async () => {
  b = await launch();
});
after(() => b.close());

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url') || 'AA';
const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max }).map(b64u);
const clientData = (type: string, challenge: string, origin: string) => Buffer.from(JSON.stringify({ type, challenge, origin })).toString('base64url');
const ALLOWED = new Set(['PASSKEY_INVALID', 'PASSKEY_CHALLENGE_INVALID', 'PASSKEY_REGISTRATION_FAILED', 'VALIDATION_FAILED', 'CONFLICT']);

test('garbage assertions for a real passkey and a live challenge are refused with a stable code', async () => {
  const d = await openDevice(b, `http://localhost:${port}`);
  await userWithPasskey(t, admin, d, 'fuzz');
  const [cred] = (await d.cdp.send('WebAuthn.getCredentials', { authenticatorId: d.authenticatorId })).credentials;
  const credentialId = Buffer.from(cred.credentialId, 'base64').toString('base64url');
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        authenticatorData: bytes(80),
        signature: bytes(90),
        origin: fc.constantFrom(`http://localhost:${port}`, 'http://evil.test', ''),
        userHandle: fc.option(bytes(40)),
      }),
      async (g) => {
        const options = await post(t, '/api/auth/passkeys/login/options', {});
        assert.equal(options.statusCode, 200, options.body);
        const { challenge } = options.json();
        const response = {
          id: credentialId,
          rawId: credentialId,
          type: 'public-key',
          response: {
            clientDataJSON: clientData('webauthn.get', challenge, g.origin),
            authenticatorData: g.authenticatorData,
            signature: g.signature,
            ...(g.userHandle === null ? {} : { userHandle: g.userHandle }),
          },
          clientExtensionResults: {},
        };
        const r = await signInWith(t, response);
        assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${r.statusCode} ${r.body}`);
        assert.ok(ALLOWED.has(r.json().error.code), r.body);
      },
    ),
    { numRuns: RUNS },
  );
});

test('garbage registrations answering a live registration challenge are refused with a stable code', async () => {
  // An account of its own: the assertions above spend the lockout attempts of theirs (fast-check's shrinking too, one
  // attempt a run), so a failure there could lock it, and this test would then fail for that and not for what it checks.
  await createUser(t, admin, 'fuzz-registration', PW);
  const { token } = await login(t, 'fuzz-registration', PW);
  await fc.assert(
    fc.asyncProperty(fc.record({ id: bytes(40), attestationObject: bytes(300), type: fc.constantFrom('webauthn.create', 'webauthn.get', '') }), async (g) => {
      const asked = await post(t, '/api/auth/passkeys/registration/options', { password: PW }, bearer(token));
      assert.equal(asked.statusCode, 200, asked.body);
      const opts = asked.json();
      const response = {
        id: g.id,
        rawId: g.id,
        type: 'public-key',
        response: { clientDataJSON: clientData(g.type, opts.challenge, `http://localhost:${port}`), attestationObject: g.attestationObject },
        clientExtensionResults: {},
      };
      const r = await post(t, '/api/auth/passkeys/registration/verify', { response }, bearer(token));
      assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${r.statusCode} ${r.body}`);
      assert.ok(ALLOWED.has(r.json().error.code), r.body);
    }),
    { numRuns: RUNS },
  );
});
