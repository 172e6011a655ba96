// The Backups screen of the admin UI against the real server (DATA-2): "not configured" with what to set, the
// status (schedule, next run, last backup and its copy, S3, retention), the archives, "Back up now" and its result;
// administrators only; strict CSP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { madeText, retentionText, sizeText } from '../../ui/src/lib/backups.js';
import { deploymentOf } from '../../src/backup/names.js';
import { NAV, shown } from '../../ui/src/lib/nav.js';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';

const PASSPHRASE = 'a long backup passphrase 7';
const PW = 'Gantry-pebble-quartz-38';
const DAY = 86_400;

describe('admin UI: backups (client logic)', () => {
  it('sizes, the retention and a result in words; the menu item is for administrators only', () => {
    assert.equal(sizeText(912), '912 B');
    assert.equal(sizeText(4300), '4.2 KB');
    assert.equal(sizeText(31 * 1024 ** 2), '31.0 MB');
    assert.equal(sizeText(1.2 * 1024 ** 3), '1.20 GB');
    assert.match(retentionText({ keepDaily: 7, keepWeekly: 4 }), /last 7 days and of each of the last 4 weeks/);
    assert.match(retentionText({ keepDaily: 1, keepWeekly: 0 }), /each of the last 1 day is kept/);
    const made = { name: 'b.age', size: 2048, createdAt: '', removed: [], verified: null };
    assert.equal(madeText({ ...made, copy: { state: 'off' } }), 'Backup b.age written (2.0 KB). Nothing removed by retention.');
    assert.match(
      madeText({ ...made, copy: { state: 'failed', where: 's3://b/p/', error: 'AccessDenied (HTTP 403)' }, removed: ['a.age'] }),
      /failed: AccessDenied.*Removed by retention: a\.age\./,
    );
    assert.match(madeText({ ...made, copy: { state: 'off' }, verified: { ok: true } }), /written \(2\.0 KB\)\. Verified: it restores/);
    assert.match(
      madeText({ ...made, copy: { state: 'off' }, verified: { ok: false, code: 'BACKUP_ARCHIVE_INVALID', reason: 'rows differ' } }),
      /did NOT verify: rows differ\./,
    );
    const item = NAV.find((n) => n.key === 'admin.backups');
    assert.ok(item?.adminOnly && item.group === 'security');
    assert.equal(shown(item, { isAdmin: false, can: () => true, menu: () => true }), false);
    assert.equal(shown(item, { isAdmin: true, can: () => true, menu: () => true }), true);
  });
});

describe('admin UI: the Backups screen without a passphrase', () => {
  let w: UiWorld;
  before(async () => {
    w = await startUi();
  });
  after(async () => w?.close());

  it('says backups are not configured and what to set; "Back up now" is off', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Backups' }).click();
    await page.getByRole('heading', { name: 'Backups', level: 1 }).waitFor();
    const warn = page.getByRole('status').filter({ hasText: 'Backups are not configured' });
    await warn.waitFor();
    assert.match((await warn.textContent()) ?? '', /BACKUP_PASSPHRASE/);
    assert.equal(await page.getByRole('button', { name: 'Back up now' }).isDisabled(), true);
    await page.getByText('No backups in the backup directory yet.').waitFor();
    await page.getByText('palisade backup restore FILE').waitFor();
    await page.mouse.move(0, 0);
    await shot(page, 'admin-backups-not-configured');
    assertClean(w);
  });
});

describe('admin UI: the Backups screen', () => {
  let w: UiWorld;
  let admin: string;
  before(async () => {
    w = await startUi({ env: { BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_SCHEDULE: '30 2 * * *' } });
    // Two earlier backups, a day apart, so that the list has history the retention keeps.
    const ctx = { actor: { id: null, name: 'test' } };
    await w.t.s.backups.create(ctx);
    w.t.clock.advance(DAY);
    await w.t.s.backups.create(ctx);
    w.t.clock.advance(DAY);
    admin = (await login(w.t)).token;
  });
  after(async () => w?.close());
  /** This deployment's mark in archive names. */
  const dep = () => deploymentOf(w.t.shared.appKey);

  it('shows the status and the archives; "Back up now" makes one, says what happened and lists it', async () => {
    const page = await w.newPage();
    const answers: string[] = [];
    page.on('response', async (r) => {
      if (r.url().includes('/api/admin/backups')) answers.push(await r.text().catch(() => ''));
    });
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Backups' }).click();
    await page.getByRole('heading', { name: 'Backups', level: 1 }).waitFor();
    const facts = page.locator('dl.facts');
    await facts.getByText('30 2 * * *').waitFor();
    await facts.locator('[data-last]').getByText(`palisade-backup-20261124T120000Z-${dep()}.tar.gz.age`).waitFor();
    await facts.getByText('No copy (S3 not set)').waitFor();
    await facts.getByText('last 7 days and of each of the last 4 weeks').waitFor();
    const table = page.getByRole('table', { name: 'Archives' });
    assert.equal(await table.locator('tbody tr').count(), 2);
    assert.equal(await page.getByText('Backups are not configured').count(), 0);

    await page.getByRole('button', { name: 'Back up now' }).click();
    const done = page.getByRole('status').filter({ hasText: `Backup palisade-backup-20261125T120000Z-${dep()}.tar.gz.age written` });
    await done.waitFor();
    assert.match((await done.textContent()) ?? '', /Nothing removed by retention\./);
    assert.match((await done.textContent()) ?? '', /Verified: it restores/);
    await facts.locator('[data-verified]').getByText('Restores').waitFor();
    await table.locator(`tbody tr[data-backup="palisade-backup-20261125T120000Z-${dep()}.tar.gz.age"]`).waitFor();
    assert.equal(await table.locator('tbody tr').count(), 3);
    assert.equal(await table.locator('tbody tr').first().getAttribute('data-backup'), `palisade-backup-20261125T120000Z-${dep()}.tar.gz.age`);
    await facts.locator('[data-last]').getByText(`palisade-backup-20261125T120000Z-${dep()}.tar.gz.age`).waitFor();

    const events = await w.t.app.inject({ method: 'GET', url: '/api/admin/security-events?type=backup.created', headers: bearer(admin) });
    assert.equal(events.json().events.length, 3);

    await page.mouse.move(0, 0);
    await shot(page, 'admin-backups');
    await page.setViewportSize({ width: 390, height: 800 });
    await shot(page, 'admin-backups-phone');
    await page.setViewportSize({ width: 1280, height: 720 });
    assert.ok(answers.length >= 3);
    assert.equal(answers.join('\n').includes(PASSPHRASE), false, 'no answer carries the passphrase');
    assert.equal((await page.content()).includes(PASSPHRASE), false);
    assertClean(w);
  });

  it('someone who is not an administrator sees no menu item, the address shows "not found", the API refuses', async () => {
    await createUser(w.t, admin, 'otto', PW);
    const otto = (await login(w.t, 'otto', PW)).token;
    assert.equal((await w.t.app.inject({ method: 'GET', url: '/api/admin/backups', headers: bearer(otto) })).statusCode, 403);
    const page = await w.newPage();
    await signIn(page, w.base, 'otto', PW);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'My account' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Backups' }).count(), 0);
    await page.goto(`${w.base}/admin/backups`);
    await page.getByRole('heading', { name: 'Page not found', level: 1 }).waitFor();
    assertClean(w);
  });
});
