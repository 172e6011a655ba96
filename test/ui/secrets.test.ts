// The Secrets screen of the admin UI against the real server (DATA-1): the list with set / not set and who
// changed what when, set and replace through a password field that is cleared once sent, delete and key
// rotation behind a confirmation, an unreadable secret shown as such; administrators only; strict CSP.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NAV, shown } from '../../ui/src/lib/nav.js';
import { nameProblem, stateOf, type SecretInfo } from '../../ui/src/lib/secrets.js';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';

const VALUE = 'smtp-relay-Password-9Kq2-never-shown';
const PW = 'Gantry-pebble-quartz-38';

describe('admin UI: secrets (client logic)', () => {
  it('names follow the server rule; the state in words; the menu item is for administrators only', () => {
    assert.equal(nameProblem('smtp.password'), '');
    assert.notEqual(nameProblem('9lives'), '');
    assert.notEqual(nameProblem('has space'), '');
    assert.notEqual(nameProblem(''), '');
    const base: SecretInfo = { name: 'a', set: true, readable: true, usedBy: null, createdAt: null, createdBy: null, updatedAt: null, updatedBy: null };
    assert.equal(stateOf(base), 'set');
    assert.equal(stateOf({ ...base, readable: false }), 'unreadable');
    assert.equal(stateOf({ ...base, set: false, readable: null }), 'unset');
    const item = NAV.find((n) => n.key === 'admin.secrets');
    assert.ok(item?.adminOnly);
    assert.equal(shown(item, { isAdmin: false, can: () => true, menu: () => true }), false);
    assert.equal(shown(item, { isAdmin: true, can: () => true, menu: () => true }), true);
  });
});

describe('admin UI: the Secrets screen', () => {
  let w: UiWorld;
  let admin: string;
  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
  });
  after(async () => w?.close());

  it('sets, lists, replaces, deletes and rotates; the value is cleared and never comes back', async () => {
    const page = await w.newPage();
    const answers: string[] = [];
    page.on('response', async (r) => {
      if (r.url().includes('/api/admin/secrets')) answers.push(await r.text().catch(() => ''));
    });
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Secrets' }).click();
    await page.getByRole('heading', { name: 'Secrets', level: 1 }).waitFor();
    const table = page.getByRole('table', { name: 'Stored secrets' });
    const row = (name: string) => table.locator(`tbody tr[data-secret="${name}"]`);
    // The setting that refers to the store is listed before it is set.
    await row('botCheck.recaptchaSecretKey').getByText('Not set').waitFor();
    await row('botCheck.recaptchaSecretKey').getByText('settings botCheck.recaptchaSecretKey').waitFor();

    // A name the server would refuse is caught beside the field; nothing is sent.
    await page.getByLabel('Name').fill('9bad');
    await page.getByLabel('Value').fill('x');
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.getByRole('alert').filter({ hasText: 'A letter first' }).waitFor();

    await page.getByLabel('Name').fill('smtp.password');
    const valueField = page.getByLabel('Value');
    assert.equal(await valueField.getAttribute('type'), 'password');
    await valueField.fill(VALUE);
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.getByRole('status').filter({ hasText: 'smtp.password set' }).waitFor();
    assert.equal(await valueField.inputValue(), '', 'the value is cleared once sent');
    await row('smtp.password').getByText('Set', { exact: true }).waitFor();
    await row('smtp.password').getByText('root').waitFor();
    assert.deepEqual(await w.t.s.secrets.resolve('smtp.password'), { state: 'set', value: VALUE });

    // Replace from the row: the name is filled in, the value typed again.
    await row('smtp.password').getByRole('button', { name: 'Replace smtp.password' }).click();
    assert.equal(await page.getByLabel('Name').inputValue(), 'smtp.password');
    await valueField.fill(`${VALUE}-2`);
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.getByRole('status').filter({ hasText: 'smtp.password replaced' }).waitFor();
    assert.equal(await valueField.inputValue(), '');

    // Set through the row of the setting that uses it.
    await row('botCheck.recaptchaSecretKey').getByRole('button', { name: 'Set botCheck.recaptchaSecretKey' }).click();
    await valueField.fill('6LeRecaptchaThroughTheUi_0123456789');
    await page.getByRole('button', { name: 'Save secret' }).click();
    await row('botCheck.recaptchaSecretKey').getByText('Set', { exact: true }).waitFor();

    await page.mouse.move(0, 0);
    await shot(page, 'data-secrets');

    // Rotation behind a confirmation.
    const keyFile = path.join(w.t.shared.dataDir, 'secrets.key');
    const before = readFileSync(keyFile, 'utf8');
    await page.getByRole('button', { name: 'Rotate the data key' }).click();
    const rot = page.getByRole('dialog', { name: 'Rotate the data key' });
    await rot.getByRole('button', { name: 'Rotate' }).click();
    await page.getByRole('status').filter({ hasText: '2 secrets re-encrypted' }).waitFor();
    assert.notEqual(readFileSync(keyFile, 'utf8'), before);
    assert.deepEqual(await w.t.s.secrets.resolve('smtp.password'), { state: 'set', value: `${VALUE}-2` });

    // Delete behind a confirmation; cancelling changes nothing.
    await row('smtp.password').getByRole('button', { name: 'Delete smtp.password' }).click();
    await page.getByRole('dialog', { name: 'Delete smtp.password' }).getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await w.t.s.secrets.resolve('smtp.password')).state, 'set');
    await row('smtp.password').getByRole('button', { name: 'Delete smtp.password' }).click();
    await page.getByRole('dialog', { name: 'Delete smtp.password' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('status').filter({ hasText: 'smtp.password deleted' }).waitFor();
    await row('smtp.password').waitFor({ state: 'detached' });
    assert.equal((await w.t.s.secrets.resolve('smtp.password')).state, 'unset');

    // An altered ciphertext is shown as unreadable.
    await w.t.s.db
      .updateTable('secrets')
      .set({ ciphertext: 'AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA' })
      .where('name', '=', 'botCheck.recaptchaSecretKey')
      .execute();
    await page.reload();
    await row('botCheck.recaptchaSecretKey').getByText('Unreadable').waitFor();

    const html = await page.content();
    assert.equal(html.includes(VALUE), false);
    assert.ok(answers.length >= 5);
    assert.equal(answers.join('\n').includes(VALUE), false, 'no answer carries the value');
    assert.equal(w.t.logs.join('\n').includes(VALUE), false, 'nor does the server log');
    assertClean(w);
  });

  it('someone who is not an administrator sees no menu item, the address shows "not found", the API refuses', async () => {
    const role = await w.t.app.inject({
      method: 'POST',
      url: '/api/admin/roles',
      headers: bearer(admin),
      payload: { name: 'operator', permissions: ['security.manage', 'audit.read', 'users.manage'] },
    });
    assert.equal(role.statusCode, 201, role.body);
    const id = await createUser(w.t, admin, 'otto', PW);
    await w.t.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: bearer(admin), payload: { roles: ['operator'] } });
    const otto = (await login(w.t, 'otto', PW)).token;
    assert.equal((await w.t.app.inject({ method: 'GET', url: '/api/admin/secrets', headers: bearer(otto) })).statusCode, 403);
    const page = await w.newPage();
    await signIn(page, w.base, 'otto', PW);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Security settings' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Secrets' }).count(), 0);
    await page.goto(`${w.base}/admin/secrets`);
    await page.getByRole('heading', { name: 'Page not found', level: 1 }).waitFor();
    assertClean(w);
  });
});
