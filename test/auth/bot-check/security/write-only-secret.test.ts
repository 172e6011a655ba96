// The reCAPTCHA secret is write-only (D67). Found in review: a holder of security.manage who cannot read it
// could move the verify URL to their own server and receive it with the next sign-in; and a secret that can
// no longer be opened (APP_KEY changed; since DATA-1, the secret store's data key) made the area fall back to its
// defaults, switching the check off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { bearer, createUser, login, makeApp, useApp, type TestApp } from '../../../helpers/app.js';
import { SiteVerifyServer } from '../helpers.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

const SECRET = 'the-real-recaptcha-secret';
const patch = (token: string, body: Record<string, unknown>) =>
  t.app.inject({ method: 'PATCH', url: '/api/admin/settings/bot-check', headers: bearer(token), payload: body });

test('moving the verify URL needs the secret written again: the secret never follows a new destination unseen', async () => {
  const google = await new SiteVerifyServer(SECRET).start();
  const thief = await new SiteVerifyServer('unknown').start();
  try {
    await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: bearer(admin), payload: { name: 'secops', permissions: ['security.manage'] } });
    const id = await createUser(t, admin, 'mallory', 'Quarterly-report-4411');
    await t.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: bearer(admin), payload: { roles: ['secops'] } });
    const mallory = (await login(t, 'mallory', 'Quarterly-report-4411')).token;
    const set = await patch(admin, { mode: 'recaptcha', when: 'always', recaptchaSiteKey: 'site', recaptchaSecretKey: SECRET, recaptchaVerifyUrl: google.url });
    assert.equal(set.statusCode, 200, set.body);

    const moved = await patch(mallory, { recaptchaVerifyUrl: thief.url });
    assert.equal(moved.statusCode, 400);
    assert.equal(moved.json().error.code, 'VALIDATION_FAILED');
    await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'root', password: 'x', botCheck: 'any-token' } });
    assert.equal(thief.requests.length, 0, 'nothing reached the new URL');
    assert.equal(google.requests.at(-1)?.secret, SECRET, 'the configured verifier still gets it');

    // Whoever moves it must give the secret too, so they can only send one they know.
    const withSecret = await patch(mallory, { recaptchaVerifyUrl: thief.url, recaptchaSecretKey: 'unknown' });
    assert.equal(withSecret.statusCode, 200, withSecret.body);
    await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'root', password: 'x', botCheck: 'any-token' } });
    assert.equal(thief.requests.at(-1)?.secret, 'unknown');
    assert.ok(!JSON.stringify(thief.requests).includes(SECRET));
  } finally {
    await google.stop();
    await thief.stop();
  }
});

test('a secret that can no longer be opened keeps the check on and fails closed (503), never off [ASVS V16.5.3]', async () => {
  const google = await new SiteVerifyServer(SECRET).start();
  try {
    const set = await patch(admin, { mode: 'recaptcha', when: 'always', recaptchaSiteKey: 'site', recaptchaSecretKey: SECRET, recaptchaVerifyUrl: google.url });
    assert.equal(set.statusCode, 200, set.body);
    // Another data key than the one the secret was sealed under (APP_KEY no longer matters: D190).
    const peer = await makeApp({ peerOf: t, env: { SECRETS_KEY: randomBytes(32).toString('base64url') } });
    try {
      const status = await peer.app.inject({ method: 'GET', url: '/api/auth/bot-check' });
      assert.equal(status.json().required, true, status.body);
      const bare = await peer.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'root', password: 'Correct-horse-battery-9' } });
      assert.equal(bare.json().error.code, 'BOT_CHECK_REQUIRED', 'no proof: refused, the check is still on');
      const proof = await peer.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: 'root', password: 'Correct-horse-battery-9', botCheck: google.token('good', 0.9) },
      });
      assert.equal(proof.statusCode, 503);
      assert.equal(proof.json().error.code, 'BOT_CHECK_UNAVAILABLE');
      assert.equal(google.requests.length, 0, 'the unreadable secret is never sent');
    } finally {
      await peer.close();
    }
  } finally {
    await google.stop();
  }
});
