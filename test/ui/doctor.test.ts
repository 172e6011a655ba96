// The deployment checks screen of the admin UI against the real server (issue 16, OPS-2): the checks of
// GET /api/admin/doctor with their statuses, "Run again", the refused states; and that only administrators see it.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Locator } from 'playwright-core';
import { codeParts, countsOf, summaryOf, worstFirst, type DoctorCheck } from '../../ui/src/lib/doctor.js';
import { NAV, shown } from '../../ui/src/lib/nav.js';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';

const PW = 'Gantry-pebble-quartz-38';
const text = async (l: Locator): Promise<string> => (await l.textContent()) ?? '';
const check = (id: string, status: DoctorCheck['status']): DoctorCheck => ({ id, title: id, status, detail: '', fix: '' });

describe('admin UI: the deployment checks (client logic)', () => {
  it('failures first, then warnings, then passes, in server order within each; counts and the summary in words', () => {
    const checks = [check('a', 'pass'), check('b', 'warn'), check('c', 'fail'), check('d', 'warn'), check('e', 'pass')];
    assert.deepEqual(
      worstFirst(checks).map((c) => c.id),
      ['c', 'b', 'd', 'a', 'e'],
    );
    assert.deepEqual(countsOf(checks), { fail: 1, warn: 2, pass: 2 });
    assert.equal(summaryOf({ worst: 'fail', checks }), 'Worst: fail. 1 failed, 2 warnings, 2 passed (5 checks).');
    assert.equal(summaryOf({ worst: 'pass', checks: [check('a', 'pass')] }), 'Worst: pass. 0 failed, 0 warnings, 1 passed (1 check).');
  });

  it('commands in backquotes become code parts (text, never HTML) [ASVS V1.3.5]', () => {
    assert.deepEqual(codeParts('Run `palisade audit verify` daily.'), [
      { text: 'Run ', code: false },
      { text: 'palisade audit verify', code: true },
      { text: ' daily.', code: false },
    ]);
    assert.deepEqual(codeParts('<b>plain</b>'), [{ text: '<b>plain</b>', code: false }]);
  });

  it('the menu shows the screen to administrators only, whatever the permissions', () => {
    const item = NAV.find((n) => n.key === 'admin.doctor');
    assert.ok(item && item.group === 'security' && item.adminOnly);
    const everything = { isAdmin: false, can: () => true, menu: () => true };
    assert.equal(shown(item, everything), false);
    assert.equal(shown(item, { ...everything, isAdmin: true }), true);
  });
});

describe('admin UI: the deployment checks screen', () => {
  let w: UiWorld;
  let admin: string;
  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
  });
  after(async () => w?.close());

  const get = async (url: string, token = admin) => {
    const res = await w.t.app.inject({ method: 'GET', url, headers: bearer(token) });
    return { status: res.statusCode, json: () => res.json() };
  };

  it('lists the checks from the server with their statuses, failures first; "Run again" asks the server again', async () => {
    const server = (await get('/api/admin/doctor')).json() as { worst: string; checks: DoctorCheck[] };
    const node = server.checks.find((c) => c.id === 'node');
    assert.ok(node, 'the server has a node check');
    assert.equal(server.checks.find((c) => c.id === 'backups')?.status, 'warn');
    assert.equal(server.checks.find((c) => c.id === 'audit-verified')?.status, 'warn', 'a new deployment has never verified its chain');

    const page = await w.newPage();
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Deployment checks' }).click();
    await page.getByRole('heading', { name: 'Deployment checks', level: 1 }).waitFor();
    const table = page.getByRole('table', { name: 'Checks' });
    await table.waitFor();

    // One row per check, its status in words, the title, what was found, and the fix when it does not pass.
    assert.equal(await table.locator('tbody tr').count(), server.checks.length);
    const row = (id: string) => table.locator(`tbody tr[data-check="${id}"]`);
    assert.equal((await text(row('node').getByRole('cell').first())).trim().split(/\s+/).pop(), node.status);
    await row('node').getByText(node.title).waitFor();
    await row('node').getByText(node.detail).waitFor();
    const backups = row('backups');
    assert.match(await text(backups.getByRole('cell').first()), /warn/);
    await backups.getByText('Backups are scheduled, copied off the machine, recent and restorable').waitFor();
    await backups.getByText('backups are not configured (no BACKUP_PASSPHRASE)').waitFor();
    await backups.locator('code').filter({ hasText: 'palisade backup verify FILE' }).waitFor();
    const passing = server.checks.find((c) => c.status === 'pass');
    assert.ok(passing, 'some check passes');
    assert.equal((await text(row(passing.id).getByRole('cell').nth(3))).trim(), '—nothing to fix', 'no fix for a passing check');
    // Commands in the fix are drawn as code.
    await row('audit-verified').locator('code').filter({ hasText: 'palisade audit verify' }).waitFor();

    // Worst first: the statuses down the table never get better.
    const statuses = (await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => tr.className.split(/\s+/)[0]))) as string[];
    const rank = { fail: 0, warn: 1, pass: 2 } as Record<string, number>;
    assert.deepEqual(
      statuses,
      [...statuses].sort((a, b) => rank[a]! - rank[b]!),
    );
    assert.deepEqual([...statuses].sort(), server.checks.map((c) => c.status).sort());

    // The summary: the worst status and the counts.
    const n = countsOf(server.checks);
    const summary = page.getByRole('status').filter({ hasText: 'Worst:' });
    await summary.getByText(`Worst: ${server.worst}. ${n.fail} failed, ${n.warn} warning`).waitFor();

    mkdirSync('/work/tmp', { recursive: true });
    await page.mouse.move(0, 0);
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: '/work/tmp/doctor-ui.png', fullPage: true });
    await shot(page, 'operations-doctor');
    await page.setViewportSize({ width: 390, height: 800 });
    await shot(page, 'operations-doctor-phone');
    await page.setViewportSize({ width: 1280, height: 720 });

    // The chain verified meanwhile: "Run again" shows the check passing without reloading the page.
    const verified = await w.t.app.inject({ method: 'POST', url: '/api/admin/audit/verify', headers: bearer(admin), payload: {} });
    assert.equal(verified.statusCode, 200, verified.body);
    let asked = 0;
    page.on('request', (r) => void (r.url().endsWith('/api/admin/doctor') && asked++));
    await page.getByRole('button', { name: 'Run again' }).click();
    await row('audit-verified').getByText('last verified').waitFor();
    assert.match(await text(row('audit-verified').getByRole('cell').first()), /pass/);
    await page.getByRole('button', { name: 'Run again' }).waitFor();
    assert.equal(asked, 1);
    await summary.getByText(`${n.warn - 1} warning`).waitFor();

    // A refused run says why and keeps the last answer on screen.
    await page.route('**/api/admin/doctor', (r) =>
      r.fulfill({
        status: 429,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'Too many requests.' } }),
      }),
    );
    await page.getByRole('button', { name: 'Run again' }).click();
    await page.getByRole('alert').filter({ hasText: 'Checked too often' }).waitFor();
    await table.waitFor();
    await page.unroute('**/api/admin/doctor');
    assertClean(w);
  });

  it('the first run failing shows the error, not an empty table', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.route('**/api/admin/doctor', (r) =>
      r.fulfill({
        status: 500,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'INTERNAL', message: 'Something failed on the server.' } }),
      }),
    );
    await page.goto(`${w.base}/admin/doctor`);
    await page.getByRole('alert').filter({ hasText: 'Something failed on the server.' }).waitFor();
    assert.equal(await page.getByRole('table').count(), 0);
    assert.equal(await page.getByText('Running the checks…').count(), 0);
    // Chromium logs the refused answer as a failed load; it is the point of this test.
    w.problems.splice(0, w.problems.length, ...w.problems.filter((p) => !/status of 500/.test(p)));
    assertClean(w);
  });

  it('a user with every permission but not an administrator sees no menu item, the address shows "not found", the API refuses', async () => {
    const role = await w.t.app.inject({
      method: 'POST',
      url: '/api/admin/roles',
      headers: bearer(admin),
      payload: { name: 'operator', permissions: ['security.manage', 'audit.read', 'users.manage', 'roles.manage', 'accounts.unlock'] },
    });
    assert.equal(role.statusCode, 201, role.body);
    const id = await createUser(w.t, admin, 'otto', PW);
    const put = await w.t.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: bearer(admin), payload: { roles: ['operator'] } });
    assert.equal(put.statusCode, 204, put.body);
    const otto = (await login(w.t, 'otto', PW)).token;
    assert.equal((await get('/api/admin/doctor', otto)).status, 403);

    const page = await w.newPage();
    await signIn(page, w.base, 'otto', PW);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Security settings' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Deployment checks' }).count(), 0);
    let asked = 0;
    page.on('request', (r) => void (r.url().includes('/api/admin/doctor') && asked++));
    await page.goto(`${w.base}/admin/doctor`);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.getByRole('heading', { name: 'Page not found', level: 1 }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Deployment checks' }).count(), 0);
    assert.equal(asked, 0, 'the screen is not drawn, so it asks nothing');
    assertClean(w);
  });
});
