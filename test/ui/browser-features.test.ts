// ASVS V3.7.5: the admin UI behaves as docs/ui.md ("What a browser needs") says when the browser lacks a security
// feature: it neither blocks nor warns, because each feature is a second line behind a control the server enforces.
// Chromium is made into such a browser here: no Content-Security-Policy (Playwright's bypassCSP), no Trusted Types,
// no WebAuthn, no CSP violation events; the app must work as documented and the server's control must still hold.
// A browser without JavaScript gets the notice the page carries.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext } from 'playwright-core';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { freePort, passkeyOptions } from '../auth/passkeys/world.js';

const WITHOUT_FEATURES = `
  delete window.trustedTypes;
  delete window.TrustedTypePolicyFactory;
  delete window.PublicKeyCredential;
  delete window.SecurityPolicyViolationEvent;
`;

describe('admin UI: a browser without the expected security features', () => {
  let w: UiWorld;
  const contexts: BrowserContext[] = [];
  before(async () => {
    // Passkeys on (a domain name), so that their button is shown where WebAuthn exists and must vanish where not.
    const port = await freePort();
    w = await startUi(passkeyOptions(port), { port, hostname: 'localhost' });
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await w?.close();
  });

  it('works as documented without CSP, Trusted Types and WebAuthn: no passkey button, password sign-in, pages load; the XSRF check still refuses a forged request [ASVS V3.7.5]', async () => {
    // The same server, first in the full browser: the passkey button is there.
    const full = await w.newPage();
    await full.goto(`${w.base}/sign-in`);
    await full.getByRole('button', { name: 'Sign in with a passkey' }).waitFor();

    const ctx = await w.browser.browser.newContext({ bypassCSP: true });
    contexts.push(ctx);
    await ctx.addInitScript(WITHOUT_FEATURES);
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${w.base}/sign-in`);
    assert.deepEqual(
      await page.evaluate('[typeof window.trustedTypes, typeof window.PublicKeyCredential, typeof window.SecurityPolicyViolationEvent]'),
      ['undefined', 'undefined', 'undefined'],
      'the features are gone',
    );
    // Neither blocked nor warned: the ordinary sign-in page, without the passkey button.
    await page.getByLabel('Username or email').waitFor();
    assert.equal(await page.getByRole('alert').count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Sign in with a passkey' }).count(), 0);
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My sessions' }).click();
    await page.getByRole('heading', { name: 'My sessions' }).waitFor();
    await shot(page, 'browser-without-features');

    // The server's control behind the missing features: a request without the XSRF token is refused, the session
    // cookie notwithstanding; the app's own request (with the token) passes.
    const forged = (await page.evaluate(
      `fetch('/api/auth/logout', { method: 'POST', credentials: 'include' }).then(async (r) => [r.status, (await r.json()).error.code])`,
    )) as [number, string];
    assert.deepEqual(forged, [403, 'XSRF_TOKEN_INVALID']);
    assert.equal((await page.request.get(`${w.base}/api/auth/me`)).status(), 200, 'still signed in');
    assert.deepEqual(errors, []);
    assertClean(w);
  });

  it('without JavaScript the page says that the admin needs it, and the server still sends its policy [ASVS V3.7.5]', async () => {
    const ctx = await w.browser.browser.newContext({ javaScriptEnabled: false });
    contexts.push(ctx);
    const page = await ctx.newPage();
    const res = await page.goto(`${w.base}/sign-in`);
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    await page.getByText('The Palisade admin needs JavaScript').waitFor();
    assert.equal(await page.getByLabel('Username or email').count(), 0);
  });
});
