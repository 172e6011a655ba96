import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { freePort } from '../auth/passkeys/world.js';
import { lemonldapInstalled, startLemonldap, type CasServer } from '../helpers/lemonldap.js';

// CAS 3.0 single sign-on in the admin UI (AUTH-13) against a real CAS server (LemonLDAP::NG under plackup): an
// administrator adds it on the identity providers screen, and a person signs in by clicking its button and filling
// in the server's login form.

describe('admin UI: CAS single sign-on', { skip: !lemonldapInstalled() && 'lemonldap-ng is not installed' }, () => {
  let w: UiWorld;
  let cas: CasServer;

  before(async () => {
    const port = await freePort();
    w = await startUi({ env: { PUBLIC_URL: `http://127.0.0.1:${port}` } }, { port });
    cas = await startLemonldap();
  });
  after(async () => {
    await w?.close();
    await cas?.close();
  });

  it('an administrator adds a CAS server, and a person signs in through it by clicking', async () => {
    const admin = await w.newPage();
    await signIn(admin, w.base);
    await admin.goto(`${w.base}/admin/sso`);
    await admin.getByText('No identity providers yet.').waitFor();
    await admin.getByLabel('Protocol').selectOption('cas');
    await admin.getByLabel('Slug').fill('campus');
    await admin.getByLabel('Display name').fill('Campus CAS');
    await admin.getByLabel('CAS server URL').fill(cas.casUrl);
    await shot(admin, 'admin-identity-providers-cas');
    // CAS never stands in for the second factor (D311): the screen does not offer to trust it.
    assert.equal(await admin.getByLabel(/multi-factor sign-in/).count(), 0);
    await admin.getByRole('button', { name: 'Add provider' }).click();
    await admin.getByText('Campus CAS saved.').waitFor();
    await admin.locator('tr[data-provider="campus"]').getByText(cas.casUrl).waitFor();
    assertClean(w);

    const page = await w.newPage();
    await page.goto(`${w.base}/sign-in`);
    await page.getByRole('link', { name: 'Sign in with Campus CAS' }).click();
    await page.locator('input[name="user"]').fill('rtyler');
    await page.locator('input[name="password"]').fill('rtyler');
    await page.locator('input[name="password"]').press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: 15_000 });
    assert.equal(new URL(page.url()).origin, w.base);
    // The CAS server's own pages are not ours: only problems on Palisade's origin count.
    const ours = w.problems.filter((p) => !p.includes(cas.base));
    w.problems.splice(0, w.problems.length, ...ours);
    await page.goto(`${w.base}/account/security`);
    await page.locator('li[data-link="campus"]').getByText('Campus CAS').waitFor();
    assertClean(w);
  });
});
