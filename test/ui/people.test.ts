import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { bearer, createUser, events, login, ROOT } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { grantableFields, ownerFields, scopeForm, scopeOf, scopeText } from '../../ui/src/lib/people.js';

const PW = 'Correct-horse-battery-7';
const text = async (l: Locator) => (await l.textContent()) ?? '';

describe('admin UI: people and access (users, roles, grants, departments, explain)', () => {
  let w: UiWorld;
  let root: string;
  const api = async (method: string, url: string, payload?: unknown, token = root) => {
    const r = await w.t.app.inject({ method: method as 'GET', url, headers: bearer(token), payload: payload as object });
    assert.ok(r.statusCode < 300, `${method} ${url}: ${r.statusCode} ${r.body}`);
    return r.statusCode === 204 ? undefined : r.json();
  };
  /** The status of an API call from inside a page (its cookie session and XSRF token). */
  const fetchStatus = (page: Page, url: string) => page.evaluate(`fetch(${JSON.stringify(url)}).then((r) => r.status)`) as Promise<number>;

  /** Fills the sign-in form without waiting for success (for refused sign-ins). */
  async function trySignIn(page: Page, username: string, password: string): Promise<void> {
    await page.goto(`${w.base}/sign-in`);
    await page.getByLabel('Username or email').fill(username);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  before(async () => {
    w = await startUi();
    root = (await login(w.t)).token;
    await api('POST', '/api/admin/collections', {
      name: 'notes',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'body', type: 'text' },
        { name: 'secret', type: 'string' },
      ],
    });
  });
  after(async () => w?.close());

  it('an administrator creates a role with a scoped grant and a user with it; the user gets no admin menus; explain says why', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);

    // A role, created in the UI.
    await page.goto(`${w.base}/admin/roles`);
    await page.getByLabel('Name', { exact: true }).fill('note_taker');
    await page.getByLabel('Description').fill('Writes their own notes');
    await page.getByRole('button', { name: 'Create role' }).click();
    await page.waitForURL(/\/admin\/roles\/note_taker$/);
    await page.getByRole('heading', { name: 'Role note_taker' }).waitFor();

    // Its grant on notes: view and create, title and body, only the rows the user created.
    await page.getByRole('button', { name: 'Edit access to notes' }).click();
    const form = page.getByRole('form', { name: 'New grant on notes' });
    await form.getByRole('checkbox', { name: 'create' }).check();
    await form.getByRole('checkbox', { name: 'title' }).check();
    await form.getByRole('checkbox', { name: 'body' }).check();
    await form.getByRole('radio', { name: 'Only rows the user owns' }).check();
    assert.equal(await form.getByLabel('Owner field').inputValue(), 'createdBy');
    await form.getByRole('button', { name: 'Add grant' }).click();
    await page.getByRole('status').filter({ hasText: 'A grant on notes is added.' }).waitFor();
    const grants = (await api('GET', '/api/admin/grants?collection=notes')).grants;
    assert.deepEqual(
      grants.map((g: Record<string, unknown>) => ({ role: g.role, actions: g.actions, fields: g.fields, scope: g.scope, statuses: g.statuses })),
      [{ role: 'note_taker', actions: ['view', 'create'], fields: ['title', 'body'], scope: { createdBy: '$user.id' }, statuses: null }],
    );
    // The matrix shows it: view on some rows, no update.
    const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'notes' }) });
    assert.match(await text(row), /some rows[\s\S]*some rows[\s\S]*no/);
    await shot(page, 'people-role');

    // A user with that role, created in the UI.
    await page.goto(`${w.base}/admin/users`);
    await page.getByRole('button', { name: 'New user' }).click();
    await page.getByLabel('Username').fill('nora');
    await page.getByRole('textbox', { name: /^Email/ }).fill('nora@example.org');
    await page.getByLabel('Initial password', { exact: true }).fill(PW);
    await page.getByLabel('They must change it at the first sign-in').uncheck();
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('status').filter({ hasText: 'nora was created' }).waitFor();
    await shot(page, 'people-users');
    await page.getByRole('link', { name: 'Open nora' }).click();
    await page.getByRole('heading', { name: 'nora' }).waitFor();
    await page.getByRole('checkbox', { name: /note_taker/ }).check();
    await page.getByRole('button', { name: 'Save roles' }).click();
    await page.getByRole('status').filter({ hasText: 'The roles are saved' }).waitFor();
    await page.getByText('Roles held').waitFor();
    assert.match(await text(page.getByRole('region', { name: 'Effective access' })), /note_taker/);
    await shot(page, 'people-user');

    // Nora signs in on her own device: no admin menus, and the server refuses the admin API.
    const hers = await w.newPage();
    await signIn(hers, w.base, 'nora', PW);
    const nav = hers.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Data' }).waitFor();
    for (const name of ['Users', 'Roles', 'Departments', 'Explain access', 'Collections']) assert.equal(await nav.getByRole('link', { name }).count(), 0, name);
    assert.equal(await fetchStatus(hers, '/api/admin/users'), 403);
    assert.equal(await fetchStatus(hers, '/api/admin/roles'), 403);
    await hers.goto(`${w.base}/admin/users`);
    await hers.getByRole('heading', { name: 'Page not found' }).waitFor();
    await shot(hers, 'people-user-no-admin');

    // Records: one of hers, one of root's.
    const noraToken = (await login(w.t, 'nora', PW)).token;
    await api('POST', '/api/collections/notes/records', { title: 'mine', body: 'b' }, noraToken);
    const rootNote = await api('POST', '/api/collections/notes/records', { title: 'root', body: 'b', secret: 's' });

    // Explain: why she sees title and not secret, and not on root's record.
    await page.goto(`${w.base}/admin/explain`);
    await page.getByRole('option', { name: 'nora', exact: true }).waitFor({ state: 'attached' });
    await page.getByRole('option', { name: 'notes', exact: true }).waitFor({ state: 'attached' });
    await page.getByLabel('User', { exact: true }).selectOption({ label: 'nora' });
    await page.getByLabel('Collection').selectOption('notes');
    await page.getByLabel('Field').selectOption('title');
    await page.getByRole('button', { name: 'Explain' }).click();
    const answer = page.getByRole('region', { name: /nora on notes/ });
    await answer.waitFor();
    const item = (action: string) => answer.getByRole('listitem').filter({ has: page.getByText(action, { exact: true }) });
    assert.match(await text(item('view')), /yes, through the role note_taker on rows where createdBy is the user/);
    assert.match(await text(item('update')), /no: none of their roles has a grant to update/);
    await shot(page, 'people-explain');
    await page.getByLabel('Field').selectOption('secret');
    await page.getByRole('button', { name: 'Explain' }).click();
    await item('view').filter({ hasText: 'secret' }).waitFor();
    assert.match(await text(item('view')), /no: their grants to view \(note_taker\) do not include the field secret/);
    await page.getByLabel('Field').selectOption('title');
    await page.getByLabel('Record id').fill(rootNote.id);
    await page.getByRole('button', { name: 'Explain' }).click();
    await item('view').filter({ hasText: 'do not cover this record' }).waitFor();
    assert.match(await text(answer), /holds for this record/i);
    assertClean(w);
  });

  it('locks a user from the user page (their session ends, sign-in is refused until unlocked), disables and enables, ends sessions, resets the second factor on a named identity check [ASVS V6.4.4]', async () => {
    await createUser(w.t, root, 'lena', PW, { email: 'lena@example.org' });
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/users`);
    await page.getByLabel('Search users').fill('LEN');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=LEN/);
    await page.getByRole('link', { name: 'lena' }).click();
    await page.getByRole('heading', { name: 'lena' }).waitFor();

    // Lena is signed in on her own device when the lock comes.
    const hers = await w.newPage();
    await signIn(hers, w.base, 'lena', PW);

    await page.getByLabel('Reason for a lock').fill('Suspected compromise');
    await page.getByRole('button', { name: 'Lock account' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Lock' }).click();
    await page.getByRole('status').filter({ hasText: 'lena is locked' }).waitFor();
    await page.locator('.badge', { hasText: 'locked' }).waitFor();
    await shot(page, 'people-user-locked');

    // The lock ended her session: her next request takes her to sign-in.
    await hers.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My sessions' }).click();
    await hers.getByText('Your session has ended. Sign in again.').waitFor();
    assert.match(hers.url(), /\/sign-in/);
    // Signing in with the right password is refused, in the words that name a lock without revealing the
    // account (the server answers INVALID_CREDENTIALS for a locked account); after the unlock it works.
    await trySignIn(hers, 'lena', PW);
    await hers.getByRole('alert').filter({ hasText: 'the account may be locked' }).waitFor();
    assert.equal(await hers.getByRole('button', { name: 'Sign out' }).count(), 0);
    await shot(hers, 'people-locked-sign-in');

    await page.getByRole('button', { name: 'Unlock account' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('status').filter({ hasText: 'lena is unlocked' }).waitFor();
    await signIn(hers, w.base, 'lena', PW);

    await page.getByRole('button', { name: 'Disable user' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('status').filter({ hasText: 'lena is disabled' }).waitFor();
    await page.locator('.badge', { hasText: 'disabled' }).waitFor();
    const lena = (await api('GET', '/api/admin/users?q=lena')).users[0];
    assert.equal(lena.status, 'disabled');
    await trySignIn(hers, 'lena', PW);
    await hers.getByRole('alert').waitFor();
    assert.equal(await hers.getByRole('button', { name: 'Sign out' }).count(), 0);

    await page.getByRole('button', { name: 'Enable user' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Enable' }).click();
    await page.getByRole('status').filter({ hasText: 'lena is enabled' }).waitFor();
    await signIn(hers, w.base, 'lena', PW);

    // End all her sessions: her page returns to sign-in at the next request.
    await page.getByRole('button', { name: 'End all sessions' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'End sessions' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /session(s)? ha(s|ve) ended/ })
      .waitFor();
    assert.equal(await fetchStatus(hers, '/api/auth/me'), 401);

    // Resetting her second factor needs the identity check named; the check is kept with the event [ASVS V6.4.4].
    await page.getByRole('form', { name: 'Reset second factor' }).getByRole('button', { name: 'Reset second factor' }).click();
    await page.getByRole('alert').filter({ hasText: 'Say how you checked' }).waitFor();
    assert.equal(await page.getByRole('dialog').count(), 0, 'no confirmation without the check');
    await page.getByLabel('Identity checked').selectOption('video_call');
    await page.getByLabel('Evidence reference').fill('Ticket 4711');
    await shot(page, 'people-mfa-reset-check');
    await page.getByRole('form', { name: 'Reset second factor' }).getByRole('button', { name: 'Reset second factor' }).click();
    // The confirmation says what a recovery ends: sessions and API keys (D473).
    await page.getByRole('dialog').filter({ hasText: 'their API keys are revoked' }).waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Reset second factor' }).click();
    await page.getByRole('status').filter({ hasText: 'The second factor of lena is reset' }).filter({ hasText: 'API keys revoked' }).waitFor();
    const reset = (await events(w.t, root, 'mfa.reset')).find((e) => e.subjectId === lena.id);
    assert.deepEqual(reset?.details.identityCheck, { method: 'video_call', reference: 'Ticket 4711' });
    assertClean(w);
  });

  it('a user manager without roles.manage gets the users screen but not roles; acting on an administrator is refused in words', async () => {
    await api('POST', '/api/admin/roles', { name: 'helpdesk', permissions: ['users.manage'] });
    await api('POST', '/api/admin/roles', { name: 'auditor', permissions: ['audit.read'] });
    const hank = await createUser(w.t, root, 'hank', PW);
    await api('PUT', `/api/admin/users/${hank}/roles`, { roles: ['helpdesk'] });
    const rootId = (await api('GET', '/api/admin/users?q=root')).users.find((u: { username: string }) => u.username === ROOT.username).id;

    const page = await w.newPage();
    await signIn(page, w.base, 'hank', PW);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('link', { name: 'hank' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Roles' }).count(), 0);
    assert.equal(await fetchStatus(page, '/api/admin/roles'), 403);
    await page.goto(`${w.base}/admin/roles`);
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();

    // Root holds more than hank: the server refuses, the page says why.
    await page.goto(`${w.base}/admin/users/${rootId}`);
    await page.getByRole('alert').filter({ hasText: 'holds more than you do' }).waitFor();
    await shot(page, 'people-user-refused');
    assert.equal(await fetchStatus(page, `/api/admin/users/${rootId}/access`), 403);

    // A user he may manage: roles typed by name (he cannot list roles); handing out a role he lacks is refused.
    await page.goto(`${w.base}/admin/users`);
    await page.getByRole('link', { name: 'lena' }).click();
    await page.getByRole('heading', { name: 'lena' }).waitFor();
    await page.getByLabel('Role names').fill('auditor');
    await page.getByRole('button', { name: 'Save roles' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /Refused/ })
      .waitFor();
    // What he may do goes through: ending her sessions.
    await page.getByRole('button', { name: 'End all sessions' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'End sessions' }).click();
    await page.getByRole('status').filter({ hasText: /ended/ }).waitFor();
    assert.deepEqual((await api('GET', `/api/admin/users/${(await api('GET', '/api/admin/users?q=lena')).users[0].id}/access`)).roles, []);
    assertClean(w);
  });

  it('creates a user with an invitation instead of a password, then sends a reset link from the user page', async () => {
    /** The mails to an address in the outbox (no SMTP in the tests: DATA_DIR/outbox), links unfolded. */
    const mails = async (to: string) => {
      await w.t.s.tasks.drain();
      const dir = path.join(w.t.shared.dataDir, 'outbox');
      return (existsSync(dir) ? readdirSync(dir) : [])
        .map((f) =>
          readFileSync(path.join(dir, f), 'utf8')
            .replace(/=\r?\n/g, '')
            .replace(/=3D/g, '='),
        )
        .filter((raw) => raw.includes(`To: ${to}`));
    };
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/users`);
    await page.getByRole('button', { name: 'New user' }).click();
    await page.getByLabel('Username').fill('ivy');
    await page.getByRole('radio', { name: /Send an invitation/ }).check();
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('alert').filter({ hasText: 'enter an email address' }).waitFor();
    await page.getByRole('textbox', { name: /^Email/ }).fill('ivy@example.org');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('status').filter({ hasText: 'ivy was created and an invitation was sent' }).waitFor();
    assert.ok((await mails('ivy@example.org')).some((m) => m.includes('/accept-invitation#token=')));
    await page.getByRole('link', { name: 'Open ivy' }).click();
    await page.locator('.badge', { hasText: 'no password yet' }).waitFor();
    // No password yet: the page offers the invitation again, not a reset link.
    assert.equal(await page.getByRole('button', { name: 'Send a reset link' }).count(), 0);
    await page.getByRole('button', { name: 'Send an invitation' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Send invitation' }).click();
    await page.getByRole('status').filter({ hasText: 'The invitation was sent' }).waitFor();
    assert.equal((await mails('ivy@example.org')).filter((m) => m.includes('/accept-invitation#token=')).length, 2);

    // Lena has a password: a reset link.
    await page.goto(`${w.base}/admin/users?q=lena`);
    await page.getByRole('link', { name: 'lena' }).click();
    await page.getByRole('button', { name: 'Send a reset link' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Send link' }).click();
    await page.getByRole('status').filter({ hasText: 'The reset link was sent' }).waitFor();
    assert.ok((await mails('lena@example.org')).some((m) => m.includes('/reset-password#token=')));
    assertClean(w);
  });

  it('departments: create with a role, edit its roles, delete; the roles list deletes a role', async () => {
    await api('POST', '/api/admin/roles', { name: 'temp_role' });
    await api('POST', '/api/admin/roles', { name: 'sales_rep' });
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/departments`);
    await page.getByLabel('Name', { exact: true }).fill('sales');
    await page.getByRole('checkbox', { name: 'sales_rep' }).check();
    await page.getByRole('button', { name: 'Create department' }).click();
    await page.getByRole('status').or(page.getByRole('alert')).first().waitFor();
    assert.match(await text(page.getByRole('status').or(page.getByRole('alert')).first()), /The department sales is created\./);
    await page.getByRole('button', { name: 'Edit department sales' }).click();
    await page.getByRole('checkbox', { name: 'temp_role' }).check();
    await page.getByRole('button', { name: 'Save department' }).click();
    await page.getByRole('status').filter({ hasText: 'The department sales is saved' }).waitFor();
    assert.deepEqual((await api('GET', '/api/admin/departments')).departments.find((d: { name: string }) => d.name === 'sales').roles.sort(), [
      'sales_rep',
      'temp_role',
    ]);
    await shot(page, 'people-departments');
    await page.getByRole('button', { name: 'Delete department sales' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete department' }).click();
    await page.getByRole('status').filter({ hasText: 'The department sales is deleted' }).waitFor();
    assert.equal((await api('GET', '/api/admin/departments')).departments.length, 0);

    // A grant with a filter the server refuses: its answer is shown, nothing is added.
    await page.goto(`${w.base}/admin/roles/temp_role`);
    await page.getByRole('button', { name: 'Edit access to notes' }).click();
    const form = page.getByRole('form', { name: 'New grant on notes' });
    await form.getByRole('radio', { name: 'Rows matching a filter' }).check();
    await form.getByRole('textbox', { name: /^Filter/ }).fill('{"nope": "x"}');
    await form.getByRole('button', { name: 'Add grant' }).click();
    await form.getByRole('alert').filter({ hasText: 'nope' }).waitFor();
    await form.getByRole('textbox', { name: /^Filter/ }).fill('[1]');
    await form.getByRole('button', { name: 'Add grant' }).click();
    await form.getByRole('alert').filter({ hasText: 'JSON object' }).waitFor();
    await form.getByRole('textbox', { name: /^Filter/ }).fill('{"title": {"$ilike": "%urgent%"}}');
    await form.getByRole('button', { name: 'Add grant' }).click();
    await page.getByRole('status').filter({ hasText: 'A grant on notes is added.' }).waitFor();
    await shot(page, 'people-role-filter');
    assert.deepEqual((await api('GET', '/api/admin/grants')).grants.find((g: { role: string }) => g.role === 'temp_role').scope, {
      title: { $ilike: '%urgent%' },
    });

    await page.goto(`${w.base}/admin/roles`);
    await page.getByRole('link', { name: 'temp_role' }).waitFor();
    await shot(page, 'people-roles');
    await page.getByRole('button', { name: 'Delete role temp_role' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete role' }).click();
    await page.getByRole('status').filter({ hasText: 'The role temp_role is deleted' }).waitFor();
    assert.ok(!(await api('GET', '/api/admin/roles')).roles.some((r: { name: string }) => r.name === 'temp_role'));

    // On a phone: nothing wider than the screen but the tables, which scroll inside their frame.
    await page.setViewportSize({ width: 390, height: 800 });
    for (const [addr, name] of [
      ['/admin/roles/note_taker', 'people-role-phone'],
      ['/admin/users', 'people-users-phone'],
    ]) {
      await page.goto(`${w.base}${addr}`);
      await page.getByRole('table').first().waitFor();
      assert.ok(((await page.evaluate('document.documentElement.scrollWidth')) as number) <= 390, `${addr} fits 390 px`);
      await shot(page, name!);
    }
    assertClean(w);
  });
});

describe('admin UI: the grant scope as the role page edits it', () => {
  it('reads "owner = current user" back as such, anything else as JSON; refuses JSON that is no object', () => {
    assert.deepEqual(scopeForm(null), { kind: 'all' });
    assert.deepEqual(scopeForm({ createdBy: '$user.id' }), { kind: 'owner', field: 'createdBy' });
    assert.equal(scopeForm({ createdBy: '$user.id', region: 'north' }).kind, 'json');
    assert.equal(scopeForm({ owner: { $eq: '$user.id' } }).kind, 'json');
    assert.deepEqual(scopeOf({ kind: 'owner', field: 'owner' }), { owner: '$user.id' });
    assert.equal(scopeOf({ kind: 'all' }), null);
    assert.equal(scopeOf({ kind: 'json', text: '  ' }), null);
    assert.deepEqual(scopeOf({ kind: 'json', text: '{"region":"north"}' }), { region: 'north' });
    for (const bad of ['[1]', '"x"', 'null', '{oops']) assert.throws(() => scopeOf({ kind: 'json', text: bad }), /JSON/);
    assert.throws(() => scopeOf({ kind: 'owner', field: '' }), /owner/);
    assert.equal(scopeText({ createdBy: '$user.id' }), 'rows where createdBy is the user');
    assert.equal(scopeText(null), 'every row');
  });

  it('offers the fields, blocks and owner fields of a collection', () => {
    const c = {
      name: 'cases',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'salary', type: 'decimal', block: 'hr' },
        { name: 'bonus', type: 'decimal', block: 'hr' },
        { name: 'owner', type: 'user' },
      ],
    };
    assert.deepEqual(grantableFields(c), ['title', 'salary', 'bonus', 'owner', 'block:hr']);
    assert.deepEqual(ownerFields(c), ['createdBy', 'owner']);
  });
});
