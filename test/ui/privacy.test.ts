// The privacy policies screen (issue 13, AUDIT-5): define a policy on a collection, see what a dry run would touch,
// run it after confirming; defining needs schema.manage, running security.manage; and who sees the screen.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';

const PW = 'Meadow-ferry-quartz-64';

describe('admin UI: privacy policies against the real server', () => {
  let w: UiWorld;
  let admin: string;
  const api = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, token = admin) =>
    w.t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
  const ok = async (p: ReturnType<typeof api>, code = 201) => {
    const r = await p;
    assert.equal(r.statusCode, code, r.body);
    return r;
  };
  const names = async () =>
    ((await ok(api('GET', '/api/collections/leads/records?perPage=50'), 200)).json().items as Array<{ name: string; state: string }>)
      .map((r) => `${r.name}:${r.state}`)
      .sort();

  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
    await ok(
      api('POST', '/api/admin/collections', {
        name: 'leads',
        fields: [
          { name: 'name', type: 'string', required: true },
          { name: 'email', type: 'email' },
          { name: 'state', type: 'status', values: ['active', 'closed'] },
        ],
      }),
    );
    for (const [name, state] of [
      ['Ada', 'closed'],
      ['Ben', 'closed'],
      ['Cy', 'closed'],
      ['Dee', 'active'],
      ['Eve', 'active'],
    ]) {
      await ok(api('POST', '/api/collections/leads/records', { name, email: `${name.toLowerCase()}@example.org`, state }));
    }
  });
  after(async () => w?.close());

  it('an administrator defines an anonymisation policy, a dry run shows what it would touch and changes nothing, a run after confirming does', async () => {
    const before = await names();
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Privacy policies' }).click();
    await page.getByText('No privacy policy for leads.').waitFor();
    await page.getByRole('button', { name: 'New policy' }).click();
    const form = page.getByRole('form', { name: 'New policy' });
    await form.getByLabel('Name').fill('Closed leads');
    await form.getByLabel('Action').selectOption('anonymise');
    // Nothing chosen yet: the server's refusal is listed under the form, and nothing is saved.
    await form.getByRole('button', { name: 'Save policy' }).click();
    await form.getByRole('alert').filter({ hasText: 'does not fit the collection' }).waitFor();
    assert.equal((await ok(api('GET', '/api/admin/collections/leads/privacy-policies'), 200)).json().policies.length, 0);
    await form.getByLabel('Status field').selectOption('state');
    await form.getByRole('group', { name: 'Statuses' }).getByLabel('closed').check();
    await form.getByLabel('name becomes').selectOption('fake');
    await form.getByLabel('email becomes').selectOption('null');
    await shot(page, 'privacy-policy-new');
    await form.getByRole('button', { name: 'Save policy' }).click();
    await page.getByRole('status').filter({ hasText: 'Policy "Closed leads" saved.' }).waitFor();
    const policy = page.getByRole('listitem', { name: 'Policy Closed leads' });
    await policy.getByText('When state is closed.').waitFor();

    await policy.getByRole('button', { name: 'Dry run' }).click();
    await policy.getByRole('status').filter({ hasText: 'Dry run: 3 records match; nothing was changed.' }).waitFor();
    await policy.getByText('Records that would be touched').click();
    assert.equal(await policy.locator('.ids li').count(), 3);
    assert.deepEqual(await names(), before, 'a dry run changes nothing');
    await shot(page, 'privacy-policies');

    await policy.getByRole('button', { name: 'Run now…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Run "Closed leads" now?' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.deepEqual(await names(), before, 'cancelled: nothing changed');
    await policy.getByRole('button', { name: 'Run now…' }).click();
    await dialog.getByRole('button', { name: 'Run', exact: true }).click();
    await policy.getByRole('status').filter({ hasText: 'Run: 3 records anonymised.' }).waitFor();
    const after = await names();
    for (const n of ['Ada', 'Ben', 'Cy']) assert.ok(!after.some((x) => x.startsWith(`${n}:`)), `${n} is anonymised`);
    assert.ok(after.includes('Dee:active') && after.includes('Eve:active'), 'active leads untouched');
    await policy.getByText(/last run/).waitFor();
    assertClean(w);
  });

  it('a schema manager defines policies but may not run them; without schema.manage there is no menu entry and the page refuses', async () => {
    await ok(api('POST', '/api/admin/roles', { name: 'modeller', permissions: ['schema.manage'] }));
    const mId = await createUser(w.t, admin, 'max', PW);
    await ok(api('PUT', `/api/admin/users/${mId}/roles`, { roles: ['modeller'] }), 204);
    const max = (await login(w.t, 'max', PW)).token;
    const page = await w.newPage();
    await signIn(page, w.base, 'max', PW);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Privacy policies' }).click();
    const policy = page.getByRole('listitem', { name: 'Policy Closed leads' });
    await policy.waitFor();
    assert.equal(await policy.getByRole('button', { name: 'Dry run' }).count(), 0);
    assert.equal(await policy.getByRole('button', { name: 'Run now…' }).count(), 0);
    await page.getByText('Running a policy needs security.manage.').waitFor();
    // Scheduling makes a policy run by itself: not offered without security.manage (D468).
    await page.getByRole('button', { name: 'New policy' }).click();
    const scheduled = page.getByRole('checkbox', { name: /Run on a schedule/ });
    await scheduled.waitFor();
    assert.equal(await scheduled.isDisabled(), true);
    await page.getByText('(scheduling needs security.manage)').waitFor();
    await shot(page, 'privacy-schedule-needs-run');
    await page.getByRole('button', { name: 'Cancel' }).click();
    const id = (await ok(api('GET', '/api/admin/collections/leads/privacy-policies', undefined, max), 200)).json().policies[0].id;
    assert.equal((await api('POST', `/api/admin/collections/leads/privacy-policies/${id}/run`, { dryRun: true }, max)).statusCode, 403);

    await ok(api('POST', '/api/admin/roles', { name: 'viewer', permissions: ['audit.read'] }));
    const vId = await createUser(w.t, admin, 'vera', PW);
    await ok(api('PUT', `/api/admin/users/${vId}/roles`, { roles: ['viewer'] }), 204);
    const vera = (await login(w.t, 'vera', PW)).token;
    assert.equal((await api('GET', '/api/admin/collections/leads/privacy-policies', undefined, vera)).statusCode, 403);
    const other = await w.newPage();
    await signIn(other, w.base, 'vera', PW);
    const nav = other.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Audit log' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Privacy policies' }).count(), 0);
    await other.goto(`${w.base}/admin/privacy`);
    await other.getByRole('heading', { name: 'Page not found' }).waitFor();
    assert.equal(await other.getByRole('heading', { name: 'Privacy policies' }).count(), 0);
    assertClean(w);
  });

  it('an administrator edits a policy (a fixed value for a field) and deletes it only after confirming', async () => {
    const list = async () => (await ok(api('GET', '/api/admin/collections/leads/privacy-policies'), 200)).json().policies as Array<Record<string, any>>;
    const [stored] = await list();
    assert.ok(stored);
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/privacy?collection=leads`);
    const policy = page.getByRole('listitem', { name: 'Policy Closed leads' });
    await policy.getByRole('button', { name: 'Edit policy Closed leads' }).click();
    const form = page.getByRole('form', { name: 'Edit policy Closed leads' });
    assert.equal(await form.getByLabel('Name', { exact: true }).inputValue(), 'Closed leads');
    assert.equal(await form.getByLabel('Action').inputValue(), 'anonymise');
    assert.equal(await form.getByLabel('name becomes').inputValue(), 'fake');
    assert.equal(await form.getByLabel('email becomes').inputValue(), 'null');
    assert.equal(await form.getByRole('group', { name: 'Statuses' }).getByLabel('closed').isChecked(), true);
    await form.getByLabel('Name', { exact: true }).fill('Old leads');
    await form.getByLabel('name becomes').selectOption('fixed');
    // A fixed value left empty: said under the form, nothing sent.
    await form.getByRole('button', { name: 'Save policy' }).click();
    await form.getByRole('alert').filter({ hasText: 'name: enter the fixed value.' }).waitFor();
    assert.equal((await list())[0]?.name, 'Closed leads');
    await form.getByLabel('name fixed value').fill('(removed)');
    await shot(page, 'privacy-policy-edit');
    await form.getByRole('button', { name: 'Save policy' }).click();
    await page.getByRole('status').filter({ hasText: 'Policy "Old leads" saved.' }).waitFor();
    const edited = page.getByRole('listitem', { name: 'Policy Old leads' });
    await edited.getByText('Fields: name → "(removed)", email → emptied.').waitFor();
    const [after] = await list();
    assert.equal(after?.id, stored.id);
    assert.deepEqual(after?.values, { name: { kind: 'fixed', value: '(removed)' }, email: { kind: 'null' } });
    assert.deepEqual(after?.rule, stored.rule, 'the rule is kept');
    assert.deepEqual(after?.schedule, stored.schedule, 'the schedule is kept');

    await edited.getByRole('button', { name: 'Delete policy Old leads' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete the policy "Old leads"?' });
    await shot(page, 'privacy-policy-delete');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await list()).length, 1, 'cancelled: the policy stays');
    await edited.getByRole('button', { name: 'Delete policy Old leads' }).click();
    await dialog.getByRole('button', { name: 'Delete policy' }).click();
    await page.getByRole('status').filter({ hasText: 'Policy "Old leads" deleted.' }).waitFor();
    await page.getByText('No privacy policy for leads.').waitFor();
    assert.equal((await list()).length, 0);
    assertClean(w);
  });
});
