import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { checklist, checklistOk, failedRules, ruleSentence, type PublicPolicy } from '../../ui/src/lib/password-rules.js';

// The signed-in user's own screens (UI-1): who I am and the active role, the own password change with the
// live policy checklist, and the own sessions (end one, end the others, sign out everywhere).

const PW = 'Quarterly-report-4411';
const NEW = 'Lantern-orchard-7731';

describe('admin UI: my account and my sessions', () => {
  let w: UiWorld;
  let admin: string;
  const inject = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token: string, payload?: object) =>
    w.t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });

  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
  });
  after(async () => w?.close());

  it('shows who I am, switches the active role, and changes my password: the checklist refuses a weak one, the other sessions end [ASVS V6.2.2, V6.2.3]', async () => {
    for (const name of ['editors', 'auditors']) assert.equal((await inject('POST', '/api/admin/roles', admin, { name })).statusCode, 201);
    assert.equal((await inject('PUT', '/api/admin/departments/finance', admin, { roles: ['auditors'] })).statusCode, 200);
    const id = await createUser(w.t, admin, 'olga', PW, { email: 'olga@example.org' });
    assert.equal((await inject('PUT', `/api/admin/users/${id}/roles`, admin, { roles: ['editors'] })).statusCode, 204);
    assert.equal((await inject('PUT', `/api/admin/users/${id}/departments`, admin, { departments: ['finance'] })).statusCode, 204);
    const elsewhere = (await login(w.t, 'olga', PW)).token;

    const page = await w.newPage();
    await signIn(page, w.base, 'olga', PW);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My account' }).click();
    await page.getByRole('heading', { name: 'My account' }).waitFor();
    const facts = page.getByRole('region', { name: 'Who I am' });
    await facts.getByText('olga@example.org').waitFor();
    const dl = facts.locator('dl');
    await dl.getByText('finance').waitFor();
    await dl.getByText('editors').waitFor();
    await dl.getByText('auditors').waitFor();

    // The active role: one of the held roles, for this session only.
    const actAs = page.getByLabel('Act as');
    await actAs.selectOption('auditors');
    await page.getByRole('status').filter({ hasText: 'acts as auditors only' }).waitFor();
    const me = await page.evaluate(`fetch('/api/auth/me').then((r) => r.json())`);
    assert.equal((me as { access: { activeRole: string } }).access.activeRole, 'auditors');
    await actAs.selectOption('');
    await page.getByRole('status').filter({ hasText: 'all your roles' }).waitFor();

    const form = page.getByRole('region', { name: 'Change my password' });
    const submit = form.getByRole('button', { name: 'Change password' });
    await form.getByLabel('Current password').fill(PW);
    await form.getByLabel('New password', { exact: true }).fill('olga-olga-olga-olga');
    await form.getByLabel('New password again').fill('olga-olga-olga-olga');
    // The live checklist: long enough, but it holds the username: refused before any request.
    assert.equal(await form.locator('li[data-rule="min"]').getAttribute('data-state'), 'ok');
    assert.equal(await form.locator('li[data-rule="username"]').getAttribute('data-state'), 'fail');
    assert.equal(await submit.isDisabled(), true);
    await form.getByLabel('New password', { exact: true }).fill(NEW);
    await form.getByLabel('New password again').fill(NEW);
    assert.equal(await submit.isDisabled(), false);
    // A wrong current password: said plainly.
    await form.getByLabel('Current password').fill('not-my-password-9');
    await submit.click();
    await form.getByRole('alert').filter({ hasText: 'current password is not right' }).waitFor();
    await form.getByLabel('Current password').fill(PW);
    await submit.click();
    await form.getByRole('status').filter({ hasText: '1 other session was ended' }).waitFor();
    await shot(page, 'account');
    // The other session is over on the server; this one goes on.
    assert.equal((await inject('GET', '/api/auth/me', elsewhere)).statusCode, 401);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My sessions' }).click();
    await page.getByRole('heading', { name: 'My sessions' }).waitFor();
    await login(w.t, 'olga', NEW);
    assertClean(w);
  });

  it("my own address is read-only on the administrator's user page, and I have no form to change it [ASVS V7.5.1]", async () => {
    const id = await createUser(w.t, admin, 'nico', PW, { email: 'nico@example.org', isAdmin: true });
    const page = await w.newPage();
    await signIn(page, w.base, 'nico', PW);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My account' }).click();
    await page.getByRole('region', { name: 'Who I am' }).getByText('nico@example.org').waitFor();
    assert.equal(await page.getByRole('region', { name: 'Change my email address' }).count(), 0);
    // On the administrators' user page, one's own address is not edited (the server refuses it there).
    await page.goto(`${w.base}/admin/users/${id}`);
    const email = page.getByRole('textbox', { name: /^Email/ });
    await email.waitFor();
    assert.equal(await email.getAttribute('readonly'), '');
    await page.getByText('Your own address is changed by another administrator.').waitFor();
    assertClean(w);
  });

  it('lists my sessions, ends another one (gone from the list and refused by the server), then all the others [ASVS V7.4.3, V7.5.2]', async () => {
    await createUser(w.t, admin, 'sam', PW);
    const api = (await login(w.t, 'sam', PW)).token;
    const laptop = await w.newPage();
    await signIn(laptop, w.base, 'sam', PW);
    const page = await w.newPage();
    await signIn(page, w.base, 'sam', PW);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My sessions' }).click();
    const rows = page.getByRole('table').getByRole('row');
    await rows.nth(3).waitFor();
    assert.equal(await rows.count(), 4, 'a header row and three sessions');
    const current = rows.filter({ hasText: 'this device' });
    assert.equal(await current.count(), 1);
    await shot(page, 'account-sessions');

    // The API session is the one with "API token".
    const apiRow = rows.filter({ hasText: 'API token' });
    await apiRow.getByRole('button', { name: /^End the session/ }).click();
    await page.getByRole('status').filter({ hasText: 'has ended' }).waitFor();
    await rows.nth(2).waitFor();
    assert.equal(await rows.count(), 3);
    assert.equal(await rows.filter({ hasText: 'API token' }).count(), 0);
    assert.equal((await inject('GET', '/api/auth/me', api)).statusCode, 401);

    await page.getByRole('button', { name: 'End all other sessions' }).click();
    await page.getByRole('status').filter({ hasText: 'The other session has ended' }).waitFor();
    assert.equal(await rows.count(), 2);
    // The laptop finds itself signed out at its next request.
    await laptop.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My sessions' }).click();
    await laptop.waitForURL(/\/sign-in/);
    await laptop.getByRole('status').filter({ hasText: 'Your session has ended' }).waitFor();

    await page.setViewportSize({ width: 390, height: 800 });
    await shot(page, 'account-sessions-phone');
    assert.ok((await page.evaluate('document.documentElement.scrollWidth')) <= 390, 'the table scrolls inside its box, not the page');
    assertClean(w);
  });

  it('a session signed in over 10 minutes ago is asked to sign in again before ending another; signed in again, it ends it [ASVS V7.5.2]', async () => {
    await createUser(w.t, admin, 'rita', PW);
    const other = (await login(w.t, 'rita', PW)).token;
    const page = await w.newPage();
    await signIn(page, w.base, 'rita', PW);
    await page.goto(`${w.base}/account/sessions`);
    const rows = page.getByRole('table').getByRole('row');
    await rows.nth(2).waitFor();
    w.t.clock.advance(10 * 60 + 1);
    await rows
      .filter({ hasText: 'API token' })
      .getByRole('button', { name: /^End the session/ })
      .click();
    const dialog = page.getByRole('dialog', { name: 'Confirm it is you' });
    await dialog.waitFor();
    await shot(page, 'reauth-dialog');
    assert.equal((await w.t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(other) })).statusCode, 200, 'nothing ended');
    await dialog.getByRole('button', { name: 'Sign in again' }).click();
    await page.waitForURL(/\/sign-in\?reauth=1&next=%2Faccount%2Fsessions$/);
    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    assert.equal(await page.getByLabel('Username or email').inputValue(), 'rita', 'the signed-in user is named');
    await page.getByLabel('Password').fill(PW);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/account\/sessions$/);
    await rows
      .filter({ hasText: 'API token' })
      .getByRole('button', { name: /^End the session/ })
      .click();
    await page.getByRole('status').filter({ hasText: 'has ended' }).waitFor();
    assert.equal((await w.t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(other) })).statusCode, 401, 'ended after the sign-in');
    assertClean(w);
  });

  it('sign out everywhere ends this session too; a signed-out visitor gets no account screen', async () => {
    await createUser(w.t, admin, 'uma', PW);
    const page = await w.newPage();
    await signIn(page, w.base, 'uma', PW);
    await page.goto(`${w.base}/account/sessions`);
    await page.getByRole('button', { name: 'Sign out everywhere…' }).click();
    await page.getByRole('button', { name: 'Sign out everywhere', exact: true }).click();
    await page.waitForURL(/\/sign-in$/);
    await page.goto(`${w.base}/account/sessions`);
    await page.waitForURL(/\/sign-in\?next=%2Faccount%2Fsessions/);
    await page.goto(`${w.base}/account`);
    await page.waitForURL(/\/sign-in\?next=%2Faccount/);
    assert.equal((await w.t.app.inject({ method: 'GET', url: '/api/auth/sessions' })).statusCode, 401);
    assertClean(w);
  });

  it("the server refuses to end another user's session (as if it did not exist), and that session lives on", async () => {
    await createUser(w.t, admin, 'vic', PW);
    await createUser(w.t, admin, 'wes', PW);
    const vic = await login(w.t, 'vic', PW);
    const wes = await login(w.t, 'wes', PW);
    const r = await inject('DELETE', `/api/auth/sessions/${wes.sessionId}`, vic.token);
    assert.equal(r.statusCode, 404);
    assert.equal((await inject('GET', '/api/auth/me', wes.token)).statusCode, 200);
    // Its owner may.
    assert.equal((await inject('DELETE', `/api/auth/sessions/${wes.sessionId}`, wes.token)).statusCode, 204);
    assert.equal((await inject('GET', '/api/auth/me', wes.token)).statusCode, 401);
  });

  it('password fields are masked (type=password), named for password managers (autocomplete), take pasted text, and the pasted password signs in [ASVS V6.2.6, V6.2.7]', async () => {
    await createUser(w.t, admin, 'pia', PW);
    const page = await w.newPage();
    /** A paste the page could refuse: dispatched as the browser does, answered whether it was cancelled. */
    const pasteRefused = (field: ReturnType<Page['getByLabel']>) =>
      field.evaluate((el) => {
        const data = new DataTransfer();
        data.setData('text/plain', 'pasted');
        const e = new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true });
        el.dispatchEvent(e);
        return e.defaultPrevented;
      });
    const fields = async (checks: Array<[ReturnType<Page['getByLabel']>, string]>) => {
      for (const [field, autocomplete] of checks) {
        assert.equal(await field.getAttribute('type'), 'password');
        assert.equal(await field.getAttribute('autocomplete'), autocomplete);
        assert.ok(Number((await field.getAttribute('maxlength')) ?? Infinity) >= 128, 'room for a long generated password');
        assert.equal(await pasteRefused(field), false, 'pasting is not blocked');
      }
    };
    await page.goto(`${w.base}/sign-in`);
    assert.equal(await page.getByLabel('Username or email').getAttribute('autocomplete'), 'username');
    const password = page.getByLabel('Password', { exact: true });
    await fields([[password, 'current-password']]);
    // What a paste or a password manager does: text inserted at once, not typed key by key.
    await page.getByLabel('Username or email').fill('pia');
    await password.focus();
    await page.keyboard.insertText(PW);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My account' }).click();
    const form = page.getByRole('region', { name: 'Change my password' });
    await fields([
      [form.getByLabel('Current password'), 'current-password'],
      [form.getByLabel('New password', { exact: true }), 'new-password'],
      [form.getByLabel('New password again'), 'new-password'],
    ]);
    assertClean(w);
  });
});

describe('admin UI: the live password checklist (ui/src/lib/password-rules.ts)', () => {
  const policy: PublicPolicy = {
    minLength: 15,
    maxLength: 64,
    requireLowercase: false,
    requireUppercase: true,
    requireDigit: true,
    requireSymbol: true,
    symbols: '!@#',
    forbidUserInfo: true,
    history: 5,
    blocklist: true,
    customRules: [{ pattern: '^[^x]*$', message: 'No letter x' }],
    validity: 0,
    reminder: 0,
  };
  const state = (items: ReturnType<typeof checklist>) => Object.fromEntries(items.map((i) => [i.key, i.state]));

  it('ticks what the browser can check and leaves the blocklist and history to the server', () => {
    const weak = checklist(policy, 'olga-x', { username: 'olga', email: 'olga.b@example.org' }, 'olga-y');
    assert.deepEqual(state(weak), {
      min: 'fail',
      upper: 'fail',
      digit: 'fail',
      symbol: 'fail',
      username: 'fail',
      email: 'ok',
      'custom-0': 'fail',
      server: 'server',
      match: 'fail',
    });
    assert.equal(checklistOk(weak), false);
    const good = checklist(policy, 'Lantern-orchard-7731!', { username: 'olga', email: 'olga.b@example.org' }, 'Lantern-orchard-7731!');
    assert.equal(checklistOk(good), true);
    assert.equal(good.find((i) => i.key === 'server')?.label, 'Not a common or leaked password, not one of your last 5 (checked when you submit)');
    // Length counts code points after NFKC, like the server; too long is shown only when it is.
    assert.equal(state(checklist({ ...policy, minLength: 15 }, `${'😀'.repeat(12)}A1!`)).min, 'ok');
    assert.equal(state(checklist(policy, `${'😀'.repeat(11)}A1!`)).min, 'fail', '25 UTF-16 units, 14 characters');
    assert.equal(state(checklist(policy, `A1!${'a'.repeat(70)}`)).max, 'fail');
    assert.equal(
      checklist(policy, 'A1!').some((i) => i.key === 'max'),
      false,
    );
  });

  it('a custom rule the browser cannot compile counts as unmet; the server refusals read as sentences', () => {
    const items = checklist({ ...policy, customRules: [{ pattern: '(?<', message: 'Broken' }] }, 'Lantern-orchard-7731!');
    assert.equal(state(items)['custom-0'], 'fail');
    assert.deepEqual(failedRules({ failed: [{ code: 'PASSWORD_BLOCKLISTED' }, { code: 'PASSWORD_TOO_SHORT', min: 15 }, { nope: 1 }] }).map(ruleSentence), [
      'It is a common or leaked password (or one with a few characters changed), easy to guess.',
      'It must have at least 15 characters.',
    ]);
    assert.deepEqual(failedRules(undefined), []);
  });
});
