// The Configuration screen of the admin UI against the real server (DATA-5): download the export (no secret
// value in it), upload a file, see the dry run's diff with nothing changed, apply it behind a confirmation;
// a bad file's problems listed; administrators only; strict CSP.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { NAV, shown } from '../../ui/src/lib/nav.js';
import { changeText, formatOf, sectionSummary } from '../../ui/src/lib/config-transfer.js';
import { bearer, createUser, events, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { populate, RECAPTCHA_SECRET } from '../config-transfer/fixtures.js';
import { tokenPolicyArea } from '../../src/auth/token-policy.js';

const PW = 'Gantry-pebble-quartz-38';

describe('admin UI: configuration (client logic)', () => {
  it('the format follows the file name; changes and sections in words; the menu item is for administrators only', () => {
    assert.equal(formatOf('prod.yaml'), 'yaml');
    assert.equal(formatOf('prod.YML'), 'yaml');
    assert.equal(formatOf('prod.json'), 'json');
    assert.equal(changeText({ field: 'sessionValidity', from: 28800, to: 14400 }), 'sessionValidity: 28800 → 14400');
    assert.equal(changeText({ field: 'fields.priority', to: { name: 'priority' } }), 'fields.priority added');
    assert.equal(changeText({ field: 'fields.notes', from: { name: 'notes' } }), 'fields.notes removed');
    const none = { inFile: true, added: [], changed: [], removed: [], kept: [] };
    assert.equal(sectionSummary(none), 'No change.');
    assert.equal(sectionSummary({ ...none, inFile: false }), 'Not in the file: left as it is.');
    assert.equal(sectionSummary({ ...none, added: ['a', 'b'], removed: ['c'] }), '2 added, 1 removed.');
    const item = NAV.find((n) => n.key === 'admin.config');
    assert.ok(item?.adminOnly);
    assert.equal(shown(item, { isAdmin: false, can: () => true, menu: () => true }), false);
    assert.equal(shown(item, { isAdmin: true, can: () => true, menu: () => true }), true);
  });
});

describe('admin UI: the Configuration screen', () => {
  let w: UiWorld;
  let admin: string;
  let dir: string;
  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
    await populate(w.t, admin);
    dir = mkdtempSync(path.join(tmpdir(), 'palisade-ui-config-'));
  });
  after(async () => {
    await w?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('downloads the export, checks an uploaded file (nothing changed), applies it after a confirmation', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Configuration' }).click();
    await page.getByRole('heading', { name: 'Configuration', level: 1 }).waitFor();

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download YAML' }).click()]);
    assert.equal(download.suggestedFilename(), 'palisade-config.yaml');
    const yaml = readFileSync((await download.path())!, 'utf8');
    assert.equal(yaml.includes(RECAPTCHA_SECRET), false);
    const doc = YAML.parse(yaml);
    assert.equal(doc.version, 1);
    await page.getByRole('status').filter({ hasText: 'palisade-config.yaml was downloaded' }).waitFor();
    const [json] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download JSON' }).click()]);
    assert.deepEqual(JSON.parse(readFileSync((await json.path())!, 'utf8')), doc);

    // The file changes a setting, adds a collection and an IP rule.
    doc.settings.tokenPolicy.sessionValidity = 7200;
    doc.collections.push({ name: 'invoices', fields: [{ name: 'total', type: 'decimal' }] });
    doc.ipRules.push({ action: 'block', cidr: '198.51.100.0/24', scope: 'all', note: 'from the UI' });
    const file = path.join(dir, 'staging.yaml');
    writeFileSync(file, YAML.stringify(doc));
    await page.getByLabel('Configuration file').setInputFiles(file);
    await page.getByRole('button', { name: 'Check file' }).click();
    const diff = page.getByRole('region', { name: 'Changes in staging.yaml' });
    await diff.getByRole('status').filter({ hasText: '3 changes. Nothing has been changed yet.' }).waitFor();
    await diff.locator('[data-section="settings"]').getByText('sessionValidity: 14400 → 7200').waitFor();
    await diff.locator('[data-section="collections"]').getByText('invoices').waitFor();
    await diff.locator('[data-section="ipRules"]').getByText('block 198.51.100.0/24 (all)').waitFor();
    await diff.locator('[data-section="roles"]').getByText('No change.').waitFor();
    assert.equal(await w.t.s.collections.get('invoices'), null, 'a check writes nothing');
    assert.equal((await w.t.s.settings.get(tokenPolicyArea)).sessionValidity, 14400);
    await page.mouse.move(0, 0);
    await shot(page, 'admin-config-diff');

    await diff.getByRole('button', { name: 'Apply these changes' }).click();
    const dlg = page.getByRole('dialog', { name: 'Apply the configuration' });
    await dlg.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('status').filter({ hasText: 'staging.yaml was imported: 3 changes' }).waitFor();
    assert.ok(await w.t.s.collections.get('invoices'));
    assert.equal((await w.t.s.settings.get(tokenPolicyArea)).sessionValidity, 7200);
    const ev = await events(w.t, admin, 'config.imported');
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.actor.name, 'root');

    // A bad file: its problems are listed, nothing changes, nothing can be applied.
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 1, settings: { tokenPolicy: { sessionValidty: 60 } } }));
    await page.getByLabel('Configuration file').setInputFiles(bad);
    await page.getByRole('button', { name: 'Check file' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'not a valid configuration document' });
    await alert.getByText('settings.tokenPolicy: unknown field "sessionValidty"').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Apply these changes' }).count(), 0);
    await shot(page, 'admin-config-refused');
    assert.equal((await page.content()).includes(RECAPTCHA_SECRET), false);
    assertClean(w);
  });

  it('someone who is not an administrator sees no menu item, the address shows "not found", the API refuses', async () => {
    const role = await w.t.app.inject({
      method: 'POST',
      url: '/api/admin/roles',
      headers: bearer(admin),
      payload: { name: 'operator', permissions: ['security.manage', 'schema.manage', 'audit.read'] },
    });
    assert.equal(role.statusCode, 201, role.body);
    const id = await createUser(w.t, admin, 'otto', PW);
    await w.t.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: bearer(admin), payload: { roles: ['operator'] } });
    const otto = (await login(w.t, 'otto', PW)).token;
    assert.equal((await w.t.app.inject({ method: 'GET', url: '/api/admin/config/export', headers: bearer(otto) })).statusCode, 403);
    const page = await w.newPage();
    await signIn(page, w.base, 'otto', PW);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Security settings' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Configuration' }).count(), 0);
    await page.goto(`${w.base}/admin/config`);
    await page.getByRole('heading', { name: 'Page not found', level: 1 }).waitFor();
    assertClean(w);
  });
});
