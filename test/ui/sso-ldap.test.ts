import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { SERVICE_DN, SERVICE_PW, SUFFIX, USERS, slapdInstalled, startSlapd, type Slapd } from '../helpers/slapd.js';

// LDAP sign-in in the admin UI (AUTH-13) against a real slapd started for this file: an administrator adds
// the directory on the identity providers screen (search with a service account, groups by search), and a
// person signs in with their directory username and password on the sign-in page. Under the strict CSP.

describe('admin UI: LDAP sign-in', { skip: !slapdInstalled() && 'slapd is not installed' }, () => {
  let w: UiWorld;
  let d: Slapd;

  before(async () => {
    d = await startSlapd();
    w = await startUi();
  });
  after(async () => {
    await w?.close();
    await d?.stop();
  });

  it('an administrator adds an LDAP directory; its service password is write-only', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/sso`);
    await page.getByText('No identity providers yet.').waitFor();
    await page.getByLabel('Protocol').selectOption('ldap');
    await page.getByRole('heading', { name: 'Add an LDAP directory' }).waitFor();
    await page.getByLabel('Slug').fill('staff');
    await page.getByLabel('Display name', { exact: true }).fill('Staff directory');
    await page.getByLabel('Directory URL').fill(d.url);
    await page.getByLabel('Bind mode').selectOption('search');
    await page.getByLabel('Service account DN').fill(SERVICE_DN);
    await page.getByLabel('Service account password').fill(SERVICE_PW);
    await page.getByLabel('Base DN', { exact: true }).fill(SUFFIX);
    await page.getByLabel('Group lookup').selectOption('search');
    await page.getByLabel('Group base DN').fill(`ou=groups,${SUFFIX}`);
    await page.getByRole('button', { name: 'Add provider' }).click();
    await page.getByText('Staff directory saved. Its service account password is stored and not shown again.').waitFor();
    const row = page.locator('tr[data-provider="staff"]');
    await row.getByText('set', { exact: true }).waitFor();
    await row.getByText(d.url).waitFor();
    assert.ok(!(await page.content()).includes(SERVICE_PW));
    await row.getByRole('button', { name: 'Edit Staff directory' }).click();
    await page.getByText('People sign in with their directory username and password').waitFor();
    assert.equal(await page.getByLabel('Service account password').inputValue(), '');
    await shot(page, 'admin-identity-providers-ldap');
    assertClean(w);
  });

  it('a person signs in with their directory username and password on the sign-in page', async () => {
    const page = await w.newPage();
    await page.goto(`${w.base}/sign-in`);
    await page.getByRole('button', { name: 'Sign in with Staff directory' }).click();
    await page.getByLabel('Staff directory username').fill('bob');
    await page.getByLabel('Password').fill('not-bobs-password');
    await shot(page, 'sign-in-ldap');
    await page.getByRole('button', { name: 'Sign in with Staff directory' }).click();
    await page.locator('[role="alert"][data-code="INVALID_CREDENTIALS"]').waitFor();
    await page.getByLabel('Password').fill(USERS[1]!.password);
    await page.getByRole('button', { name: 'Sign in with Staff directory' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    assert.equal(new URL(page.url()).origin, w.base);
    // A failed attempt's error is a 401 the page expects; nothing else may be reported.
    const ours = w.problems.filter((p) => !/401 \(Unauthorized\)/.test(p));
    w.problems.splice(0, w.problems.length, ...ours);
    assertClean(w);
  });
});
