// The security screens of the admin UI against the real server: settings generated from
// GET /api/admin/settings, IP rules, locked accounts, the security event log; and who sees them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { boundsOf, fromInput, humanSeconds, kindOf, labelOf, toInput, type SettingsField } from '../../ui/src/lib/settings-form.js';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';

const PASSWORD = 'Staple-battery-horse-71';

describe('admin UI: security settings, IP rules, locked accounts, security events', () => {
  let w: UiWorld;
  let admin: string;
  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
  });
  after(async () => w?.close());

  const api = async (method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: unknown, token = admin) => {
    const res = await w.t.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as object }) });
    return { status: res.statusCode, body: res.body, json: () => res.json() };
  };

  /** Every API answer the page receives, to check a secret never comes back. */
  function recordAnswers(page: Page): { texts: string[]; done: () => Promise<void> } {
    const pending: Promise<void>[] = [];
    const texts: string[] = [];
    page.on('response', (r) => {
      if (!r.url().includes('/api/')) return;
      pending.push(
        r
          .text()
          .then((t) => void texts.push(t))
          .catch(() => undefined),
      );
    });
    return { texts, done: async () => void (await Promise.all(pending)) };
  }

  it('security settings: a generated form per area; a lockout change takes effect, an out-of-bounds value is refused at its field', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security settings' }).click();
    await page.getByRole('heading', { name: 'Security settings', level: 1 }).waitFor();
    // Every area the server has, each with its help text, default and bounds.
    for (const name of [
      'Token policy',
      'Lockout',
      'Spread-attack detection',
      'Rate limits',
      'Password policy',
      'Bot check',
      'API keys',
      'Second factor',
      'IP as a factor',
    ]) {
      await page.getByRole('region', { name, exact: true }).waitFor();
    }
    const lockout = page.getByRole('region', { name: 'Lockout', exact: true });
    await lockout.getByText('Invalid attempts within `interval` that lock the account.').waitFor();
    await lockout.getByText('Default: 10 · Allowed: 1 to 100 · Saved: 10').waitFor();
    await shot(page, 'security-settings');
    await lockout.getByLabel('Lock duration (seconds)', { exact: true }).waitFor();

    await lockout.getByLabel('Max attempts').fill('4');
    await lockout.getByRole('button', { name: 'Save lockout' }).click();
    await lockout.getByRole('status').filter({ hasText: 'Lockout saved.' }).waitFor();
    assert.equal((await api('GET', '/api/admin/settings/lockout')).json().maxAttempts, 4);

    await lockout.getByLabel('Max attempts').fill('1000');
    await lockout.getByRole('button', { name: 'Save lockout' }).click();
    await lockout.getByRole('alert').filter({ hasText: 'Must be at most 100.' }).waitFor();
    assert.equal(await lockout.getByLabel('Max attempts').getAttribute('aria-invalid'), 'true');
    await lockout.scrollIntoViewIfNeeded();
    await shot(page, 'security-settings-refused');
    assert.equal((await api('GET', '/api/admin/settings/lockout')).json().maxAttempts, 4, 'the refused value was not stored');

    // The refusal delay of the rate limits (D451): milliseconds, within its bounds.
    const rate = page.getByRole('region', { name: 'Rate limits', exact: true });
    await rate.getByText('Default: 1000 · Allowed: 0 to 10000', { exact: false }).waitFor();
    await rate.getByLabel('Refusal delay (milliseconds)', { exact: true }).fill('250');
    await rate.getByRole('button', { name: 'Save rate limits' }).click();
    await rate.getByRole('status').filter({ hasText: 'Rate limits saved.' }).waitFor();
    assert.equal((await api('GET', '/api/admin/settings/rate-limits')).json().refusalDelay, 250);
    await rate.getByLabel('Refusal delay (milliseconds)', { exact: true }).scrollIntoViewIfNeeded();
    await shot(page, 'security-settings-refusal-delay');

    // A rule across fields (token validity above the session's) is refused with the server's problem.
    const tokens = page.getByRole('region', { name: 'Token policy', exact: true });
    await tokens.getByLabel('Token validity').fill('90000');
    await tokens.getByRole('button', { name: 'Save token policy' }).click();
    await tokens.getByRole('alert').filter({ hasText: 'token validity must not exceed session validity' }).waitFor();
    // Where administrator sessions may be used from (D444): a choice among the server's values.
    await tokens.getByLabel('Token validity').fill('900');
    await tokens.getByLabel('Admin session binding').selectOption('address');
    await tokens.getByRole('button', { name: 'Save token policy' }).click();
    await tokens.getByRole('status').filter({ hasText: 'Token policy saved.' }).waitFor();
    assert.equal((await api('GET', '/api/admin/settings/token-policy')).json().adminSessionBinding, 'address');
    assertClean(w);
  });

  it('security settings: a write-only secret shows "set" after saving and never comes back in any answer or on the page', async () => {
    const secret = 'Xq7SecretRecaptcha_never_shown';
    const page = await w.newPage();
    const answers = recordAnswers(page);
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/settings`);
    const bot = page.getByRole('region', { name: 'Bot check', exact: true });
    const field = bot.getByLabel('Recaptcha secret key', { exact: true });
    await bot.getByText('not set', { exact: true }).waitFor();
    assert.equal(await field.getAttribute('type'), 'password');
    await field.fill(secret);
    await bot.getByRole('button', { name: 'Save bot check' }).click();
    await bot.getByRole('status').filter({ hasText: 'Bot check saved.' }).waitFor();
    await bot.getByText('set', { exact: true }).waitFor();
    assert.equal(await field.inputValue(), '', 'the input is emptied, never filled from the server');
    // Stored: the API says so (and the event records only that it was written).
    assert.equal((await api('GET', '/api/admin/settings/bot-check')).json().recaptchaSecretKeySet, true);
    await page.reload();
    await bot.getByText('set', { exact: true }).waitFor();
    assert.equal(await field.inputValue(), '');
    await bot.scrollIntoViewIfNeeded();
    await shot(page, 'security-settings-secret');
    await answers.done();
    assert.ok(answers.texts.length > 3);
    for (const text of answers.texts) assert.ok(!text.includes(secret), 'no API answer carries the secret');
    assert.ok(!(await page.content()).includes(secret), 'the page does not hold it');
    const index = await api('GET', '/api/admin/settings');
    const events = await api('GET', '/api/admin/security-events?type=settings.changed');
    for (const r of [index, events]) assert.ok(!r.body.includes(secret));
    assertClean(w);
  });

  it('IP rules: add and delete a rule; a rule that would lock the caller out is refused with the reason', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'IP rules' }).click();
    await page.getByText('No IP rules').waitFor();
    await page.getByLabel('Action').selectOption('block');
    await page.getByLabel('Address or CIDR range').fill('203.0.113.0/24');
    await page.getByLabel('Note (optional)').fill('documentation range');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.getByRole('status').filter({ hasText: 'Rule added: block 203.0.113.0/24.' }).waitFor();
    await page.getByRole('cell', { name: '203.0.113.0/24', exact: true }).waitFor();
    assert.deepEqual(
      (await api('GET', '/api/admin/ip-rules')).json().rules.map((r: { cidr: string; action: string; note: string }) => [r.action, r.cidr, r.note]),
      [['block', '203.0.113.0/24', 'documentation range']],
    );

    // The browser comes from 127.0.0.1: blocking it is refused by the server, and the screen says why.
    await page.getByLabel('Address or CIDR range').fill('127.0.0.0/8');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.getByRole('alert').filter({ hasText: 'would lock you out' }).waitFor();
    await page.getByText('127.0.0.1').first().waitFor();
    await shot(page, 'security-ip-rules');
    assert.equal((await api('GET', '/api/admin/ip-rules')).json().rules.length, 1);

    // A malformed range is refused at the field.
    await page.getByLabel('Address or CIDR range').fill('300.1.2.3/40');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.getByRole('alert').filter({ hasText: 'Not an IPv4 or IPv6 address' }).waitFor();

    await page.getByRole('button', { name: 'Delete rule block 203.0.113.0/24' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this rule?' });
    await dialog.getByRole('button', { name: 'Delete rule' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('status').filter({ hasText: 'Rule removed' }).waitFor();
    await page.getByText('No IP rules').waitFor();
    assert.equal((await api('GET', '/api/admin/ip-rules')).json().rules.length, 0);
    assertClean(w);
  });

  it('locked accounts and events: failed sign-ins lock a user, the screen unlocks them, they sign in; the log shows the unlock', async () => {
    await api('PATCH', '/api/admin/settings/lockout', { maxAttempts: 3, lockDuration: 0 });
    const lenaId = await createUser(w.t, admin, 'lena', PASSWORD);
    for (let i = 0; i < 3; i++) {
      const r = await w.t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'lena', password: 'wrong-password-x1' } });
      assert.equal(r.statusCode, 401);
    }
    // Locked: even the right password is refused now.
    assert.equal((await w.t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'lena', password: PASSWORD } })).statusCode, 401);

    const page = await w.newPage();
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Locked accounts' }).click();
    const row = page.getByRole('row').filter({ hasText: 'lena' });
    await row.getByText('Too many failed sign-ins').waitFor();
    await row.getByText('until unlocked').waitFor();
    await shot(page, 'security-locked-accounts');
    await row.getByRole('button', { name: 'Unlock lena' }).click();
    const dialog = page.getByRole('dialog', { name: 'Unlock lena?' });
    await dialog.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('status').filter({ hasText: 'lena is unlocked' }).waitFor();
    await page.getByText('No account is locked.').waitFor();
    const signedIn = await login(w.t, 'lena', PASSWORD);
    assert.equal(signedIn.userId, lenaId);

    // The event log: filter by type and outcome through the form; the filters land in the address.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security events' }).click();
    await page.getByRole('cell', { name: 'auth.login' }).first().waitFor();
    await page.getByLabel('Type').selectOption('account.unlocked');
    await page.getByLabel('Outcome').selectOption('info');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/type=account\.unlocked/);
    assert.match(page.url(), /outcome=info/);
    const unlocked = page.getByRole('row').filter({ hasText: 'account.unlocked' });
    await unlocked.first().waitFor();
    assert.equal(await page.getByRole('cell', { name: 'auth.login', exact: true }).count(), 0, 'only the chosen type');
    await unlocked
      .first()
      .getByRole('button', { name: /Details/ })
      .click();
    const details = page.locator('tr.details');
    await details.getByText(lenaId).first().waitFor();
    await details.getByText('Events about this subject').waitFor();
    await shot(page, 'security-events');

    // A bookmark of the filtered view opens it again; failures are their own filter.
    const bookmark = page.url();
    const again = await w.newPage();
    await signIn(again, w.base);
    await again.goto(`${w.base}/admin/events?type=auth.login&outcome=failure`);
    await again.getByRole('cell', { name: 'auth.login' }).first().waitFor();
    assert.equal(await again.getByLabel('Outcome').inputValue(), 'failure');
    const outcomes = await again.locator('tbody tr td:nth-child(3)').allTextContents();
    assert.ok(outcomes.length >= 3 && outcomes.every((o) => o.trim() === 'failure'), outcomes.join(','));
    await again.goto(bookmark);
    await again.getByRole('row').filter({ hasText: 'account.unlocked' }).first().waitFor();
    assert.equal(await again.getByLabel('Type').inputValue(), 'account.unlocked');
    // A time range after every event: nothing.
    await again.goto(`${w.base}/admin/events?since=${encodeURIComponent('2031-01-01T00:00:00.000Z')}`);
    await again.getByText('No event matches these filters.').waitFor();

    // Paging: 50 a page, older ones behind the cursor, and back.
    for (let i = 0; i < 50; i++) {
      await w.t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: `ghost${i}`, password: 'wrong-password-x1' } });
    }
    await again.goto(`${w.base}/admin/events?type=auth.login&outcome=failure`);
    await again.getByRole('cell', { name: 'auth.login' }).first().waitFor();
    assert.equal(await again.locator('tbody tr').count(), 50);
    const firstPage = await again.locator('tbody tr td:nth-child(4)').allTextContents();
    await again.getByRole('button', { name: 'Older events' }).click();
    await again.waitForURL(/beforeId=\d+/);
    await again.getByRole('button', { name: 'Newer events' }).waitFor();
    const rows = await again.locator('tbody tr').count();
    assert.ok(rows >= 3 && rows < 50, `the second page holds the rest: ${rows}`);
    assert.equal(await again.getByRole('button', { name: 'Older events' }).count(), 0);
    await again.getByRole('button', { name: 'Newer events' }).click();
    await again.getByRole('button', { name: 'Older events' }).waitFor();
    assert.doesNotMatch(again.url(), /beforeId/);
    assert.deepEqual(await again.locator('tbody tr td:nth-child(4)').allTextContents(), firstPage);
    assertClean(w);
  });

  it('permissions: without security.manage or audit.read the menu items are not shown and the server refuses the endpoints', async () => {
    const role = await api('POST', '/api/admin/roles', { name: 'unlocker', permissions: ['accounts.unlock'] });
    assert.equal(role.status, 201, role.body);
    const uId = await createUser(w.t, admin, 'una', PASSWORD);
    assert.equal((await api('PUT', `/api/admin/users/${uId}/roles`, { roles: ['unlocker'] })).status, 204);
    const una = (await login(w.t, 'una', PASSWORD)).token;
    for (const url of [
      '/api/admin/settings',
      '/api/admin/settings/lockout',
      '/api/admin/ip-rules',
      '/api/admin/security-events',
      '/api/admin/security-events/types',
    ]) {
      assert.equal((await api('GET', url, undefined, una)).status, 403, url);
    }
    assert.equal((await api('PATCH', '/api/admin/settings/lockout', { maxAttempts: 50 }, una)).status, 403);
    assert.equal((await api('POST', '/api/admin/ip-rules', { action: 'allow', cidr: '10.0.0.0/8' }, una)).status, 403);
    assert.equal((await api('GET', '/api/admin/locked-accounts', undefined, una)).status, 200);

    const page = await w.newPage();
    await signIn(page, w.base, 'una', PASSWORD);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Locked accounts' }).waitFor();
    for (const name of ['Security settings', 'IP rules', 'Security events']) assert.equal(await nav.getByRole('link', { name }).count(), 0, name);
    await page.goto(`${w.base}/admin/settings`);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Security settings' }).count(), 0);
    await page.goto(`${w.base}/admin/locks`);
    await page.getByText('No account is locked.').waitFor();

    // The permitted side: an auditor sees the event log and still no settings.
    assert.equal((await api('POST', '/api/admin/roles', { name: 'reader', permissions: ['audit.read'] })).status, 201);
    const aId = await createUser(w.t, admin, 'aude', PASSWORD);
    assert.equal((await api('PUT', `/api/admin/users/${aId}/roles`, { roles: ['reader'] })).status, 204);
    const auditor = await w.newPage();
    await signIn(auditor, w.base, 'aude', PASSWORD);
    const anav = auditor.getByRole('navigation', { name: 'Main' });
    await anav.getByRole('link', { name: 'Security events' }).click();
    await auditor.getByRole('cell', { name: 'auth.login' }).first().waitFor();
    for (const name of ['Security settings', 'IP rules', 'Locked accounts']) assert.equal(await anav.getByRole('link', { name }).count(), 0, name);
    await auditor.setViewportSize({ width: 390, height: 800 });
    await shot(auditor, 'security-events-phone');
    assertClean(w);
  });
});

describe('settings forms: how a field schema becomes an input (ui/src/lib/settings-form.ts)', () => {
  const f = (name: string, schema: SettingsField['schema'], extra: Partial<SettingsField> = {}): SettingsField => ({
    name,
    schema,
    writeOnly: false,
    ...extra,
  });

  it('picks the input from the schema; a write-only field is a secret whatever its type', () => {
    assert.equal(kindOf(f('a', { type: 'integer' })), 'integer');
    assert.equal(kindOf(f('a', { type: 'number' })), 'number');
    assert.equal(kindOf(f('a', { type: 'boolean' })), 'boolean');
    assert.equal(kindOf(f('a', { anyOf: [{ const: 'x' }, { const: 'y' }] })), 'choice');
    assert.equal(kindOf(f('a', { type: 'array', items: { type: 'string' } })), 'list');
    assert.equal(kindOf(f('a', { type: 'array', items: { type: 'object' } })), 'json');
    assert.equal(kindOf(f('a', { type: 'string' }, { writeOnly: true })), 'secret');
    assert.equal(toInput(f('a', { type: 'string' }, { writeOnly: true }), 'never'), '', 'a secret is never put in an input');
  });

  it("reads inputs back in the schema's type, refusing what cannot be read; the server checks the bounds", () => {
    assert.deepEqual(fromInput(f('a', { type: 'integer' }), ' 42 '), { value: 42 });
    assert.ok('error' in fromInput(f('a', { type: 'integer' }), '4.5'));
    assert.ok('error' in fromInput(f('a', { type: 'number' }), ''));
    assert.deepEqual(fromInput(f('a', { type: 'integer', maximum: 100 }), '1000'), { value: 1000 });
    assert.deepEqual(fromInput(f('a', { type: 'array', items: { type: 'string' } }), 'DE\n US, ,FR'), { value: ['DE', 'US', 'FR'] });
    assert.ok('error' in fromInput(f('a', { type: 'array', items: { type: 'object' } }), '[{'));
    assert.deepEqual(fromInput(f('a', { type: 'boolean' }), true), { value: true });
  });

  it('labels, bounds and durations in words', () => {
    assert.equal(labelOf('maxAttempts'), 'Max attempts');
    assert.equal(labelOf('authPerIp'), 'Auth per IP');
    assert.equal(labelOf('recaptchaVerifyUrl'), 'Recaptcha verify URL');
    assert.equal(boundsOf(f('a', { type: 'integer', minimum: 1, maximum: 86400 }, { unit: 'seconds' })), '1 to 86400 seconds');
    assert.equal(boundsOf(f('a', { type: 'string', maxLength: 200 })), 'up to 200 characters');
    assert.equal(humanSeconds(900), '15 min');
    assert.equal(humanSeconds(90061), '1 d 1 h');
    assert.equal(humanSeconds(0), '');
  });
});
