import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { freePort } from '../auth/passkeys/world.js';
import { startOidcPeer, type OidcPeer } from '../auth/sso/peers.js';

// Single sign-on in the admin UI (AUTH-13) against a real OpenID Provider (oidc-provider in this process):
// an administrator adds the provider on its screen, a person signs in by clicking its button on the
// sign-in page, and sees the linked sign-in on their security page. Under the strict CSP, as every page.

describe('admin UI: single sign-on', () => {
  let w: UiWorld;
  let peer: OidcPeer;

  before(async () => {
    const port = await freePort();
    w = await startUi({ env: { PUBLIC_URL: `http://127.0.0.1:${port}` } }, { port });
    peer = await startOidcPeer([`${w.base}/api/auth/sso/corp/callback`]);
    peer.accounts.set('grace', { email: 'grace@corp.test', email_verified: true, preferred_username: 'grace', groups: ['staff'] });
  });
  after(async () => {
    await w?.close();
    await peer?.close();
  });

  it('an administrator adds an OIDC provider; its secret is write-only', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/sso`);
    await page.getByText('No identity providers yet.').waitFor();
    await page.getByLabel('Slug').fill('corp');
    await page.getByLabel('Display name').fill('Corp account');
    await page.getByLabel('Issuer').fill(peer.issuer);
    await page.getByLabel('Client ID').fill(peer.clientId);
    await page.getByLabel('Client secret').fill(peer.clientSecret);
    await page.getByLabel('Scopes').fill('email, profile, groups');
    await page.getByLabel('Email domains').fill('corp.test');
    await page.getByRole('button', { name: 'Add provider' }).click();
    await page.getByText('Corp account saved. Its client secret is stored and not shown again.').waitFor();
    const row = page.locator('tr[data-provider="corp"]');
    await row.getByText('enabled').waitFor();
    await row.getByText('set', { exact: true }).waitFor();
    assert.ok(!(await page.content()).includes(peer.clientSecret));
    await row.getByRole('button', { name: 'Edit Corp account' }).click();
    await page.getByText('Register this redirect URI at the provider').waitFor();
    await page.getByText(`${w.base}/api/auth/sso/corp/backchannel-logout`).waitFor();
    await shot(page, 'admin-identity-providers');
    assertClean(w);
  });

  it('a person signs in by clicking the provider on the sign-in page, and sees the linked sign-in', async () => {
    const page = await w.newPage();
    await page.goto(`${w.base}/sign-in`);
    const button = page.getByRole('link', { name: 'Sign in with Corp account' });
    await button.waitFor();
    await shot(page, 'sign-in-sso');
    await button.click();
    // At the provider: its dev login form, then its consent.
    await page.locator('input[name="login"]').fill('grace');
    await page.locator('input[name="password"]').fill('anything');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    // oidc-provider's own login page asks for a web font from the internet, which the test machine cannot
    // reach: that is the provider's page, not ours; every other problem still counts.
    const ours = w.problems.filter((p) => !/Failed to load resource: net::ERR_NAME_NOT_RESOLVED/.test(p));
    w.problems.splice(0, w.problems.length, ...ours);
    assert.equal(new URL(page.url()).origin, w.base);
    await page.goto(`${w.base}/account/security`);
    const link = page.locator('li[data-link="corp"]');
    await link.getByText('Corp account').waitFor();
    await link.getByText(/grace@corp\.test · linked at first sign-in/).waitFor();
    await shot(page, 'account-linked-sign-ins');
    assertClean(w);
  });

  it('a signed-in person links the provider from their security page after giving their current password', async () => {
    peer.accounts.set('root-at-corp', { email: 'it@corp.test', email_verified: true, preferred_username: 'root-at-corp' });
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/account/security`);
    await page.getByRole('button', { name: 'Link Corp account' }).click();
    const dialog = page.getByRole('dialog', { name: 'Link Corp account' });
    // A wrong password is refused in the dialog and nothing leaves the page.
    await dialog.getByLabel('Current password').fill('not-the-password');
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await dialog.getByText('That is not your current password.').waitFor();
    await dialog.getByLabel('Current password').fill(ROOT.password);
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await page.locator('input[name="login"]').fill('root-at-corp');
    await page.locator('input[name="password"]').fill('anything');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    const link = page.locator('li[data-link="corp"]');
    await link.getByText(/it@corp\.test · linked by you/).waitFor();
    assert.equal(new URL(page.url()).pathname, '/account/security');
    const ours = w.problems.filter((p) => !/Failed to load resource: net::ERR_NAME_NOT_RESOLVED|status of 401/.test(p));
    w.problems.splice(0, w.problems.length, ...ours);
    assertClean(w);
  });

  it('a refused sign-in comes back to the sign-in page in clear words', async () => {
    const page = await w.newPage();
    await page.goto(`${w.base}/api/auth/sso/corp/callback?state=forged&code=x`);
    const alert = page.locator('[role="alert"][data-code="SSO_FAILED"]');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /Single sign-on did not complete/);
    assert.equal(new URL(page.url()).hash, '', 'the fragment is read once and cleared');
    assertClean(w);
  });
});
