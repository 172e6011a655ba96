// One journey through the admin UI, end to end: the administrator designs a collection, fills it, makes a
// role with a scoped grant, invites a user with it; the user accepts the invitation, works with her own
// records only, never sees the confidential field; the administrator locks and unlocks her. Every step is
// done in the browser; the API is only read, to check what the screens did.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { bearer, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';

const PW = 'Harbour-lantern-castle-58';
/** The confidential field, its block, and the values root puts in it: none of them may reach alice's pages. */
const SECRET_FIELD = 'internal_cost';
const SECRET_BLOCK = 'finance';
const ROOT_TITLES = ['root-outage', 'root-invoice', 'root-audit'];
const SECRET_VALUES = ['98761', '98762', '98763', '55555'];

describe('admin UI: a journey from an empty instance to a user working with her own records', () => {
  let w: UiWorld;
  let rootToken: string;
  let root: Page;
  let alice: Page;

  /** Reads the API as root (only to check what the UI did). */
  const read = async (url: string, token = rootToken) => {
    const r = await w.t.app.inject({ method: 'GET', url, headers: bearer(token) });
    assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
    return r.json();
  };
  /** The record of tickets with this title, as root sees it. */
  const recordByTitle = async (title: string) =>
    (await read(`/api/collections/tickets/records?filter=${encodeURIComponent(JSON.stringify({ title }))}`)).items[0];
  /** The titles in the records table, top to bottom. */
  const titles = async (page: Page) => {
    const col = (await page.locator('thead th').allInnerTexts()).findIndex((h) => h.trim().toLowerCase() === 'title') + 1;
    assert.ok(col > 0, 'a title column');
    return (await page.locator(`tbody tr td:nth-child(${col})`).allTextContents()).map((t) => t.trim()).sort();
  };

  /** Nothing of root's rows, the confidential field, its block or its values: in the text and in the markup. */
  async function seesNothingConfidential(page: Page): Promise<void> {
    const text = (await page.locator('body').textContent()) ?? '';
    const html = await page.content();
    for (const s of [SECRET_FIELD, SECRET_BLOCK, ...SECRET_VALUES, ...ROOT_TITLES]) {
      assert.ok(!text.includes(s), `"${s}" is in the page's text`);
      assert.ok(!html.includes(s), `"${s}" is in the page's markup`);
    }
  }

  /** Fills the new-record form of tickets (the page is on the records list) and creates the record. */
  async function addRecord(page: Page, values: { title: string; state?: string; priority?: string; cost?: string }): Promise<string> {
    await page.getByRole('link', { name: 'New record' }).click();
    await page.getByRole('heading', { name: 'New record in tickets' }).waitFor();
    await page.getByLabel('title (required)').fill(values.title);
    if (values.state) await page.locator('#field-state').selectOption(values.state);
    if (values.priority) await page.getByLabel('priority').selectOption(values.priority);
    if (values.cost) await page.getByLabel(SECRET_FIELD).fill(values.cost);
    await page.getByRole('button', { name: 'Create record' }).click();
    await page.getByRole('heading', { name: 'Record in tickets' }).waitFor();
    // The record's own view (its definition list); the history table below shows the value too.
    await page.getByRole('definition').filter({ hasText: values.title }).first().waitFor();
    const id = page.url().split('/').pop()!;
    await page.getByRole('link', { name: 'Back to tickets' }).click();
    await page.waitForURL(/\/data\/tickets$/);
    return id;
  }

  /** The newest invitation link mailed to an address (the outbox: DATA_DIR/outbox, quoted-printable undone). */
  async function invitationLink(to: string): Promise<string> {
    await w.t.s.tasks.drain();
    const dir = path.join(w.t.shared.dataDir, 'outbox');
    const files = existsSync(dir) ? readdirSync(dir).map((f) => path.join(dir, f)) : [];
    files.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs || a.localeCompare(b));
    const links = files
      .map((f) => readFileSync(f, 'utf8'))
      .filter((raw) => new RegExp(`^To: ${to.replace('.', '\\.')}$`, 'm').test(raw))
      .map((raw) => raw.replace(/=\r?\n/g, '').replace(/=3D/g, '='))
      .map((m) => /\/accept-invitation#token=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/.exec(m)?.[0])
      .filter((l) => l !== undefined);
    assert.ok(links.length > 0, `an invitation was mailed to ${to}`);
    return links.at(-1)!;
  }

  before(async () => {
    w = await startUi();
    rootToken = (await login(w.t)).token;
  });
  after(async () => w?.close());

  it('1. root signs in and creates the collection tickets in the collections editor', async () => {
    root = await w.newPage();
    await signIn(root, w.base);
    await root.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Collections' }).click();
    await root.getByRole('button', { name: 'New collection' }).click();
    await root.getByLabel('Collection name').fill('tickets');
    const fields: Array<[string, string, string?]> = [
      ['title', 'string'],
      ['state', 'status', 'open, closed'],
      ['priority', 'enum', 'low, high'],
      [SECRET_FIELD, 'integer'],
    ];
    for (let i = 0; i < fields.length; i++) {
      const [name, type, values] = fields[i]!;
      if (i > 0) await root.getByRole('button', { name: 'Add field', exact: true }).click();
      const group = root.getByRole('group', { name: new RegExp(`^Field ${i + 1}`) });
      await group.getByLabel('Field name').fill(name);
      await group.getByLabel('Type').selectOption(type);
      if (values) await group.getByLabel('Values').fill(values);
    }
    await root
      .getByRole('group', { name: /^Field 1/ })
      .getByLabel('Required')
      .check();
    await root
      .getByRole('group', { name: /^Field 4/ })
      .getByLabel('Block')
      .fill(SECRET_BLOCK);
    await shot(root, 'journey-1-collection-new');
    await root.getByRole('button', { name: 'Create collection' }).click();
    await root.waitForURL(/\/admin\/collections\/tickets$/);
    await root.getByRole('heading', { name: 'Collection tickets' }).waitFor();
    await shot(root, 'journey-1-collection');
    assert.deepEqual((await read('/api/admin/collections/tickets')).collection.fields, [
      { name: 'title', type: 'string', required: true },
      { name: 'state', type: 'status', values: ['open', 'closed'] },
      { name: 'priority', type: 'enum', values: ['low', 'high'] },
      { name: SECRET_FIELD, type: 'integer', block: SECRET_BLOCK },
    ]);
  });

  it('2. root adds records in the data browser, the confidential field filled', async () => {
    await root.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Data' }).click();
    await root.getByRole('link', { name: 'tickets' }).click();
    await root.getByText('No records yet.').waitFor();
    for (let i = 0; i < ROOT_TITLES.length; i++) {
      await addRecord(root, { title: ROOT_TITLES[i]!, state: i % 2 ? 'closed' : 'open', priority: 'high', cost: SECRET_VALUES[i] });
    }
    await root.getByRole('status').filter({ hasText: '3 records · page 1 of 1' }).waitFor();
    assert.deepEqual(await titles(root), [...ROOT_TITLES].sort());
    await root.getByRole('button', { name: SECRET_FIELD }).waitFor();
    await shot(root, 'journey-2-root-records');
    // The check alice's pages get is no empty one: on root's page it finds the confidential field.
    await assert.rejects(seesNothingConfidential(root), /is in the page's text/);
    const outage = await recordByTitle('root-outage');
    assert.equal(outage[SECRET_FIELD], 98761);
    assert.equal(outage.state, 'open');
  });

  it('3. root creates the role agent with a scoped grant on tickets on the role page', async () => {
    await root.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Roles' }).click();
    await root.getByLabel('Name', { exact: true }).fill('agent');
    await root.getByLabel('Description').fill('Support agents: their own tickets');
    await root.getByRole('button', { name: 'Create role' }).click();
    await root.waitForURL(/\/admin\/roles\/agent$/);
    await root.getByRole('heading', { name: 'Role agent' }).waitFor();
    await root.getByRole('button', { name: 'Edit access to tickets' }).click();
    const form = root.getByRole('form', { name: 'New grant on tickets' });
    await form.getByRole('checkbox', { name: 'create' }).check();
    await form.getByRole('checkbox', { name: 'update' }).check();
    await form.getByRole('checkbox', { name: 'title' }).check();
    await form.getByRole('checkbox', { name: 'state' }).check();
    await form.getByRole('radio', { name: 'Only rows the user owns' }).check();
    assert.equal(await form.getByLabel('Owner field').inputValue(), 'createdBy');
    await shot(root, 'journey-3-grant-form');
    await form.getByRole('button', { name: 'Add grant' }).click();
    await root.getByRole('status').filter({ hasText: 'A grant on tickets is added.' }).waitFor();
    await shot(root, 'journey-3-role');
    const grants = (await read('/api/admin/grants?collection=tickets')).grants;
    assert.deepEqual(
      grants.map((g: Record<string, unknown>) => ({ role: g.role, actions: g.actions, fields: g.fields, scope: g.scope })),
      [{ role: 'agent', actions: ['view', 'create', 'update'], fields: ['title', 'state'], scope: { createdBy: '$user.id' } }],
    );
  });

  it('4. root invites alice and gives her the role; alice sets her password from the mailed link', async () => {
    await root.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await root.getByRole('button', { name: 'New user' }).click();
    await root.getByLabel('Username').fill('alice');
    await root.getByRole('textbox', { name: /^Email/ }).fill('alice@example.org');
    await root.getByRole('radio', { name: /Send an invitation/ }).check();
    await root.getByRole('button', { name: 'Create user' }).click();
    await root.getByRole('status').filter({ hasText: 'alice was created and an invitation was sent' }).waitFor();
    await root.getByRole('link', { name: 'Open alice' }).click();
    await root.getByRole('heading', { name: 'alice' }).waitFor();
    await root.getByRole('checkbox', { name: /agent/ }).check();
    await root.getByRole('button', { name: 'Save roles' }).click();
    await root.getByRole('status').filter({ hasText: 'The roles are saved' }).waitFor();
    assert.match((await root.getByRole('region', { name: 'Effective access' }).textContent()) ?? '', /agent/);
    await shot(root, 'journey-4-user');

    alice = await w.newPage();
    await alice.goto(`${w.base}${await invitationLink('alice@example.org')}`);
    await alice.getByRole('heading', { name: 'Welcome to Palisade' }).waitFor();
    await alice.getByLabel('New password', { exact: true }).fill(PW);
    await alice.getByLabel('New password again').fill(PW);
    await shot(alice, 'journey-4-invitation');
    await alice.getByRole('button', { name: 'Set my password' }).click();
    await alice.getByRole('status').filter({ hasText: 'Your password is set' }).waitFor();
    // The token was read from the fragment: it is not kept in the address bar.
    assert.doesNotMatch(alice.url(), /token=/);
  });

  it('5. alice sees only Data and her account, none of root rows, creates two tickets, sees exactly those, edits one', async () => {
    await signIn(alice, w.base, 'alice', PW);
    const nav = alice.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Data' }).waitFor();
    const links = (await nav.getByRole('link').allInnerTexts()).map((l) => l.trim());
    assert.deepEqual(links, ['Data', 'My account', 'Sign-in & security', 'My sessions', 'My API keys', 'Connected applications']);
    await shot(alice, 'journey-5-alice-home');

    await nav.getByRole('link', { name: 'Data' }).click();
    await alice.getByText('Fields: title, state').waitFor();
    await seesNothingConfidential(alice);
    await alice.getByRole('link', { name: 'tickets' }).click();
    await alice.getByText('No records yet.').waitFor();
    await alice.getByRole('status').filter({ hasText: '0 records' }).waitFor();
    const heads = (await alice.locator('thead th').allInnerTexts()).map((x) => x.trim().toLowerCase());
    assert.deepEqual(heads, ['title', 'state', 'open']);
    await seesNothingConfidential(alice);

    // Her form offers only the granted fields.
    await alice.getByRole('link', { name: 'New record' }).click();
    await alice.getByLabel('title (required)').waitFor();
    assert.equal(await alice.getByLabel(new RegExp(`${SECRET_FIELD}|priority`)).count(), 0);
    await seesNothingConfidential(alice);
    await alice.getByRole('link', { name: 'Cancel' }).click();
    await alice.waitForURL(/\/data\/tickets$/);

    const printer = await addRecord(alice, { title: 'alice-printer', state: 'open' });
    await addRecord(alice, { title: 'alice-vpn', state: 'open' });
    await alice.getByRole('status').filter({ hasText: '2 records · page 1 of 1' }).waitFor();
    assert.deepEqual(await titles(alice), ['alice-printer', 'alice-vpn']);
    await seesNothingConfidential(alice);
    await shot(alice, 'journey-5-alice-records');
    assert.equal((await recordByTitle('alice-printer')).id, printer);

    // Root fills the confidential field of one of her tickets, in the data browser.
    await root.goto(`${w.base}/data/tickets`);
    await root
      .locator('tbody tr')
      .filter({ hasText: 'alice-printer' })
      .getByRole('link', { name: /Open record/ })
      .click();
    await root.getByRole('heading', { name: 'Record in tickets' }).waitFor();
    await root.getByRole('button', { name: 'Edit' }).click();
    await root.getByLabel(SECRET_FIELD).fill('55555');
    await root.getByRole('button', { name: 'Save changes' }).click();
    await root.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    assert.equal((await recordByTitle('alice-printer'))[SECRET_FIELD], 55555);

    // Alice edits that ticket: she never sees the value, and her save leaves it alone.
    await alice.reload();
    await alice.getByRole('status').filter({ hasText: '2 records' }).waitFor();
    await seesNothingConfidential(alice);
    await alice
      .locator('tbody tr')
      .filter({ hasText: 'alice-printer' })
      .getByRole('link', { name: /Open record/ })
      .click();
    await alice.getByRole('heading', { name: 'Record in tickets' }).waitFor();
    await seesNothingConfidential(alice);
    await alice.getByRole('button', { name: 'Edit' }).click();
    await alice.getByLabel('title (required)').fill('alice-printer-jammed');
    await alice.locator('#field-state').selectOption('closed');
    assert.equal(await alice.getByRole('button', { name: 'Delete' }).count(), 0);
    await alice.getByRole('button', { name: 'Save changes' }).click();
    await alice.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await alice.getByText('alice-printer-jammed', { exact: true }).waitFor();
    await seesNothingConfidential(alice);
    await shot(alice, 'journey-5-alice-record');
    const edited = await recordByTitle('alice-printer-jammed');
    assert.equal(edited.id, printer);
    assert.equal(edited.state, 'closed');
    assert.equal(edited[SECRET_FIELD], 55555);

    // Root's record by its address: not there for her.
    const rootRow = (await recordByTitle('root-outage')).id;
    await alice.goto(`${w.base}/data/tickets/${rootRow}`);
    await alice.getByRole('alert').filter({ hasText: 'outside what you may see' }).waitFor();
    await seesNothingConfidential(alice);

    // What the server gives her, read through the API: her two rows, the two granted fields.
    const aliceToken = (await login(w.t, 'alice', PW)).token;
    const hers = await read('/api/collections/tickets/records?total=true', aliceToken);
    assert.equal(hers.total, 2);
    for (const r of hers.items) {
      assert.equal(r[SECRET_FIELD], undefined);
      assert.equal(r.priority, undefined);
    }
  });

  it('6. root locks alice from her user page: her next step and her sign-in are refused; root unlocks', async () => {
    await alice.goto(`${w.base}/data/tickets`);
    await alice.getByRole('status').filter({ hasText: '2 records' }).waitFor();

    await root.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await root.getByRole('link', { name: 'alice' }).click();
    await root.getByRole('heading', { name: 'alice' }).waitFor();
    await root.getByLabel('Reason for a lock').fill('Laptop reported stolen');
    await root.getByRole('button', { name: 'Lock account' }).click();
    await root.getByRole('dialog').getByRole('button', { name: 'Lock' }).click();
    await root.getByRole('status').filter({ hasText: 'alice is locked' }).waitFor();
    await root.locator('.badge', { hasText: 'locked' }).waitFor();
    await shot(root, 'journey-6-locked');

    // Her next navigation: the session is gone.
    await alice.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Data' }).click();
    await alice.getByText('Your session has ended. Sign in again.').waitFor();
    assert.match(alice.url(), /\/sign-in/);
    // The right password is refused while the lock holds.
    await alice.getByLabel('Username or email').fill('alice');
    await alice.getByLabel('Password', { exact: true }).fill(PW);
    await alice.getByRole('button', { name: 'Sign in', exact: true }).click();
    await alice.getByRole('alert').filter({ hasText: 'the account may be locked' }).waitFor();
    assert.equal(await alice.getByRole('button', { name: 'Sign out' }).count(), 0);
    await shot(alice, 'journey-6-refused');

    await root.getByRole('button', { name: 'Unlock account' }).click();
    await root.getByRole('dialog').getByRole('button', { name: 'Unlock' }).click();
    await root.getByRole('status').filter({ hasText: 'alice is unlocked' }).waitFor();
    await signIn(alice, w.base, 'alice', PW);
    await alice.goto(`${w.base}/data/tickets`);
    await alice.getByRole('status').filter({ hasText: '2 records' }).waitFor();
    assert.deepEqual(await titles(alice), ['alice-printer-jammed', 'alice-vpn']);
    await seesNothingConfidential(alice);
    await shot(alice, 'journey-6-unlocked');
    assertClean(w);
  });
});
