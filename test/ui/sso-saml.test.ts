import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bearer, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { freePort } from '../auth/passkeys/world.js';
import { SAML_USERS, simpleSamlInstalled, startSimpleSaml, type Idp } from '../helpers/simplesamlphp.js';

/** How long a step through SimpleSAMLphp (one `php -S` process) may take: a CI machine running both halves at once has seen 15 s pass. */
const IDP_WAIT = 30_000;

// SAML 2.0 single sign-on in the admin UI (AUTH-13) against a real IdP (SimpleSAMLphp under php -S): an
// administrator adds the provider on its screen, and a person signs in by clicking its button on the sign-in page,
// filling in the IdP's own login form; the IdP's page posts the signed answer back to Palisade.

const ada = SAML_USERS[0]!;

describe('admin UI: SAML single sign-on', { skip: !simpleSamlInstalled() && 'simplesamlphp is not installed' }, () => {
  let w: UiWorld;
  let idp: Idp;

  before(async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    w = await startUi({ env: { PUBLIC_URL: base } }, { port });
    idp = await startSimpleSaml([
      { entityId: `${base}/api/auth/sso/staff/saml/metadata`, acs: `${base}/api/auth/sso/staff/acs`, slo: `${base}/api/auth/sso/staff/saml/slo` },
    ]);
  });
  after(async () => {
    await w?.close();
    await idp?.close();
  });

  it('an administrator adds a SAML provider from its entity ID, sign-on URL and certificate', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/sso`);
    await page.getByText('No identity providers yet.').waitFor();
    await page.getByLabel('Protocol').selectOption('saml');
    await page.getByLabel('Slug').fill('staff');
    await page.getByLabel('Display name').fill('Staff SAML');
    await page.getByLabel('IdP entity ID').fill(idp.entityId);
    await page.getByLabel('IdP sign-on URL').fill(idp.ssoUrl);
    await page.getByLabel('IdP signing certificates').fill(idp.certificate);
    await page.getByLabel('Email domains').fill('example.org');
    await page.getByRole('button', { name: 'Add provider' }).click();
    await page.getByText('Staff SAML saved.').waitFor();
    const row = page.locator('tr[data-provider="staff"]');
    await row.getByText(idp.entityId).waitFor();
    await row.getByRole('button', { name: 'Edit Staff SAML' }).click();
    await page.getByText('Register Palisade at the IdP from its metadata').waitFor();
    await shot(page, 'admin-identity-providers-saml');
    assertClean(w);
  });

  it('a person signs in by clicking the provider on the sign-in page and filling in the IdP login form', async () => {
    const page = await w.newPage();
    await page.goto(`${w.base}/sign-in`);
    const button = page.getByRole('link', { name: 'Sign in with Staff SAML' });
    await button.waitFor();
    await button.click();
    await page.locator('input[name="username"]').fill(ada.uid);
    await page.locator('input[name="password"]').fill(ada.password);
    await page.locator('input[name="password"]').press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: IDP_WAIT });
    assert.equal(new URL(page.url()).origin, w.base);
    // The IdP's own pages are not ours: only problems on Palisade's origin count.
    const ours = w.problems.filter((p) => !p.includes(idp.base));
    w.problems.splice(0, w.problems.length, ...ours);
    await page.goto(`${w.base}/account/security`);
    await page.locator('li[data-link="staff"]').getByText('Staff SAML').waitFor();
    assertClean(w);
  });

  it('signing out after a SAML sign-in names the IdP site before going there: continuing passes through its single logout, staying keeps the IdP session [ASVS V3.7.3]', async () => {
    // The administrator gives the IdP's single logout service on the provider's screen.
    const adminPage = await w.newPage();
    await signIn(adminPage, w.base);
    await adminPage.goto(`${w.base}/admin/sso`);
    await adminPage.locator('tr[data-provider="staff"]').getByRole('button', { name: 'Edit Staff SAML' }).click();
    await adminPage.getByLabel('IdP logout URL').fill(idp.sloUrl);
    await adminPage.getByRole('button', { name: 'Save provider' }).click();
    await adminPage.getByText('Staff SAML saved.').waitFor();
    const view = await w.t.app.inject({ method: 'GET', url: '/api/admin/sso/providers/staff', headers: bearer((await login(w.t)).token) });
    assert.equal(view.json().provider.saml.sloUrl, idp.sloUrl);
    const page = await w.newPage();
    await page.goto(`${w.base}/sign-in`);
    await page.getByRole('link', { name: 'Sign in with Staff SAML' }).click();
    await page.locator('input[name="username"]').fill(ada.uid);
    await page.locator('input[name="password"]').fill(ada.password);
    await page.locator('input[name="password"]').press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: IDP_WAIT });
    const visited: string[] = [];
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) visited.push(f.url());
    });
    await page.getByRole('button', { name: 'Sign out' }).click();
    // Signed out of Palisade; the IdP is another site: the page names it and waits for the user's choice.
    const leaving = page.getByRole('region', { name: 'You are signed out of Palisade' });
    await leaving.waitFor();
    const idpHost = new URL(idp.base).host;
    await leaving.getByText(idpHost, { exact: true }).waitFor();
    assert.equal((await page.request.get(`${w.base}/api/auth/me`)).status(), 401, 'the Palisade session ended already');
    assert.ok(!visited.some((u) => u.startsWith(idp.base)), `not sent to the IdP before the choice: ${visited.join(' ')}`);
    await shot(page, 'sso-saml-leaving');
    await leaving.getByRole('button', { name: `Continue to ${idpHost}` }).click();
    await page.waitForURL(`${w.base}/sign-in`, { timeout: IDP_WAIT });
    await page.getByRole('link', { name: 'Sign in with Staff SAML' }).waitFor();
    assert.equal(await leaving.count(), 0);
    assert.ok(
      visited.some((u) => u.startsWith(idp.base) && /logout/i.test(u)),
      `through the IdP's single logout: ${visited.join(' ')}`,
    );
    assert.equal((await page.request.get(`${w.base}/api/auth/me`)).status(), 401);
    // The IdP session ended too: its login form is asked for again.
    await page.getByRole('link', { name: 'Sign in with Staff SAML' }).click();
    await page.locator('input[name="password"]').waitFor({ timeout: IDP_WAIT });
    await page.locator('input[name="username"]').fill(ada.uid);
    await page.locator('input[name="password"]').fill(ada.password);
    await page.locator('input[name="password"]').press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: IDP_WAIT });
    // This time the user stays: nothing leaves for the IdP, whose session lives on (the next SAML sign-in asks nothing).
    visited.length = 0;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await leaving.getByRole('button', { name: 'Stay here' }).click();
    assert.equal(await leaving.count(), 0);
    assert.ok(!visited.some((u) => u.startsWith(idp.base)), `stayed: ${visited.join(' ')}`);
    assert.equal((await page.request.get(`${w.base}/api/auth/me`)).status(), 401);
    await page.getByRole('link', { name: 'Sign in with Staff SAML' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: IDP_WAIT });
    const ours = w.problems.filter((p) => !p.includes(idp.base));
    w.problems.splice(0, w.problems.length, ...ours);
    assertClean(w);
  });
});
