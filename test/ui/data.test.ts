import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { buildFilter, fromInput, likeEscape, nextSort, pageCount, pagerText, toInput, type CatalogueField } from '../../ui/src/lib/records.js';

const field = (name: string, type: string): CatalogueField => ({
  name,
  type,
  required: false,
  unique: false,
  read: true,
  filter: true,
  create: true,
  update: true,
});

describe('admin UI: the data browser (client logic)', () => {
  it('builds the server filter language from the conditions', () => {
    const fields = [field('title', 'string'), field('cost', 'integer'), field('done', 'boolean')];
    assert.equal(buildFilter([], fields), undefined);
    assert.equal(buildFilter([{ field: 'title', op: 'contains', value: '  ' }], fields), undefined);
    assert.deepEqual(buildFilter([{ field: 'title', op: 'contains', value: '50%_a\\b' }], fields), { title: { $ilike: '%50\\%\\_a\\\\b%' } });
    assert.deepEqual(
      buildFilter(
        [
          { field: 'cost', op: 'equals', value: '12' },
          { field: 'done', op: 'equals', value: 'false' },
        ],
        fields,
      ),
      { $and: [{ cost: { $eq: 12 } }, { done: { $eq: false } }] },
    );
    assert.throws(() => buildFilter([{ field: 'cost', op: 'equals', value: '1.5' }], fields), /whole number/);
    // A field the caller may not filter on is not in the list: it never reaches the filter.
    assert.equal(buildFilter([{ field: 'secret', op: 'equals', value: 'x' }], fields), undefined);
    assert.equal(likeEscape('a%b'), 'a\\%b');
  });

  it('cycles the sort and converts values between inputs and the API', () => {
    assert.equal(nextSort('', 'title'), 'title');
    assert.equal(nextSort('title', 'title'), '-title');
    assert.equal(nextSort('-title', 'title'), '');
    assert.equal(nextSort('-title', 'cost'), 'cost');
    assert.equal(fromInput('integer', '42'), 42);
    assert.equal(fromInput('integer', ''), null);
    assert.equal(fromInput('string', ''), null);
    assert.deepEqual(fromInput('json', '{"a":1}'), { a: 1 });
    assert.throws(() => fromInput('json', '{'), /JSON/);
    assert.deepEqual(fromInput('members', 'u1, u2,'), ['u1', 'u2']);
    const iso = '2026-03-04T05:06:00.000Z';
    assert.equal(fromInput('datetime', toInput('datetime', iso)), iso);
  });

  it('pages from the total the list asked for, and from hasMore past a capped total', () => {
    const a = (o: { total?: number; totalCapped?: boolean; hasMore: boolean; page: number }) => ({ items: [], perPage: 25, ...o });
    assert.equal(pagerText(a({ total: 12, hasMore: false, page: 1 })), '12 records · page 1 of 1');
    assert.equal(pagerText(a({ total: 1, hasMore: false, page: 1 })), '1 record · page 1 of 1');
    assert.equal(pagerText(a({ total: 0, hasMore: false, page: 1 })), '0 records · page 1 of 1');
    assert.equal(pagerText(a({ total: 60, hasMore: true, page: 2 })), '60 records · page 2 of 3');
    assert.equal(pagerText(a({ total: 10000, totalCapped: true, hasMore: true, page: 1 })), '10000+ records · page 1 of 400+');
    // Past the pages the capped total covers, the pager still offers the next one.
    assert.equal(pageCount(a({ total: 10000, totalCapped: true, hasMore: true, page: 400 })), 401);
    // A list that did not ask for a total pages by hasMore alone.
    assert.equal(pagerText(a({ hasMore: true, page: 3 })), 'page 3 of 4');
    assert.equal(pageCount(a({ hasMore: false, page: 3 })), 3);
  });
});

describe('admin UI: the data browser against the real server', () => {
  let w: UiWorld;
  let admin: string;
  let ed: string;
  const pw = 'Quarterly-report-4411';
  const api = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown, token = admin) =>
    w.t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
  const ok = async (p: ReturnType<typeof api>, code = 201) => {
    const r = await p;
    assert.equal(r.statusCode, code, r.body);
    return r;
  };
  /** The titles in the records table, top to bottom. */
  const titles = async (page: Page) => page.locator('tbody tr td:nth-child(1)').allTextContents();

  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
    await ok(
      api('POST', '/api/admin/collections', {
        name: 'tickets',
        fields: [
          { name: 'title', type: 'string', required: true },
          { name: 'state', type: 'status', values: ['open', 'closed'] },
          { name: 'priority', type: 'enum', values: ['low', 'high'] },
          { name: 'cost', type: 'integer' },
          { name: 'secret_note', type: 'text' },
        ],
      }),
    );
    await ok(api('POST', '/api/admin/roles', { name: 'editor' }));
    // Editors: their own rows, three fields, no delete.
    await ok(
      api('POST', '/api/admin/grants', {
        role: 'editor',
        collection: 'tickets',
        actions: ['view', 'create', 'update', 'export', 'import'],
        fields: ['title', 'state', 'priority'],
        scope: { createdBy: '$user.id' },
      }),
    );
    const edId = await createUser(w.t, admin, 'ed', pw);
    await ok(api('PUT', `/api/admin/users/${edId}/roles`, { roles: ['editor'] }), 204);
    await createUser(w.t, admin, 'nobody', pw);
    ed = (await login(w.t, 'ed', pw)).token;
    for (let i = 1; i <= 12; i++) {
      const r = await ok(
        api('POST', '/api/collections/tickets/records', { title: `ed-${String(i).padStart(2, '0')}`, state: i % 2 ? 'closed' : 'open', priority: 'low' }, ed),
      );
      // The administrator fills the fields ed may not see on ed's own rows.
      await ok(api('PATCH', `/api/collections/tickets/records/${r.json().id}`, { cost: 999, secret_note: 'TOPSECRET-ED' }), 200);
    }
    await ok(api('POST', '/api/collections/tickets/records', { title: 'admin-row', state: 'open', cost: 5, secret_note: 'TOPSECRET-ADMIN' }));
  });
  after(async () => w?.close());

  /** Nothing of what ed may not see anywhere on the page. */
  async function seesNothingHidden(page: Page): Promise<void> {
    const text = (await page.locator('body').textContent()) ?? '';
    for (const s of ['cost', 'secret_note', 'TOPSECRET', 'admin-row']) assert.ok(!text.includes(s), `"${s}" is on the page`);
    const html = await page.content();
    for (const s of ['secret_note', 'TOPSECRET', 'admin-row']) assert.ok(!html.includes(s), `"${s}" is in the page's markup`);
  }

  it('a user with a scoped grant sees only their rows and only the granted fields; filter, sort and paging work', async () => {
    const page = await w.newPage();
    await signIn(page, w.base, 'ed', pw);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Data' }).click();
    await page.getByRole('link', { name: 'tickets' }).waitFor();
    await page.getByText('Fields: title, state, priority').waitFor();
    await seesNothingHidden(page);
    await shot(page, 'data-home');

    await page.getByRole('link', { name: 'tickets' }).click();
    await page.getByRole('status').filter({ hasText: '12 records · page 1 of 1' }).waitFor();
    // The columns: the granted fields, then the (unlabelled) link to each record.
    const heads = (await page.locator('thead th').allInnerTexts()).map((x) => x.trim().toLowerCase());
    assert.deepEqual(heads, ['title', 'state', 'priority', 'open']);
    assert.equal(await page.getByRole('checkbox').count(), 0, 'no selection without a delete grant');
    assert.equal(await page.getByRole('button', { name: /Delete/ }).count(), 0);
    await seesNothingHidden(page);
    await shot(page, 'data-records');

    // Sort by clicking a column: ascending, then descending.
    await page.getByRole('button', { name: 'title' }).click();
    await page.locator('th[aria-sort="ascending"]').waitFor();
    await page
      .locator('tbody tr:first-child td:first-child')
      .filter({ hasText: /^ed-01$/ })
      .waitFor();
    await page.getByRole('button', { name: 'title' }).click();
    await page.locator('th[aria-sort="descending"]').waitFor();
    await page
      .locator('tbody tr:first-child td:first-child')
      .filter({ hasText: /^ed-12$/ })
      .waitFor();

    // Paging.
    await page.getByLabel('Per page').selectOption('10');
    await page.getByRole('status').filter({ hasText: '12 records · page 1 of 2' }).waitFor();
    assert.equal((await titles(page)).length, 10);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('status').filter({ hasText: 'page 2 of 2' }).waitFor();
    assert.deepEqual(await titles(page), ['ed-02', 'ed-01']);
    assert.equal(await page.getByRole('button', { name: 'Next' }).isDisabled(), true);
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.getByRole('status').filter({ hasText: 'page 1 of 2' }).waitFor();

    // Filter: state equals closed, and title contains "1".
    await page.getByRole('button', { name: 'Add condition' }).click();
    await page.getByLabel('Field').selectOption('state');
    await page.getByLabel('Value').selectOption('closed');
    await page.getByRole('button', { name: 'Apply filter' }).click();
    await page.getByRole('status').filter({ hasText: '6 records · page 1 of 1' }).waitFor();
    assert.deepEqual(await titles(page), ['ed-11', 'ed-09', 'ed-07', 'ed-05', 'ed-03', 'ed-01']);
    await page.getByRole('button', { name: 'Add condition' }).click();
    await page.getByLabel('Field').nth(1).selectOption('title');
    await page.getByLabel('Value').nth(1).fill('1');
    await page.getByRole('button', { name: 'Apply filter' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^2 records/ })
      .waitFor();
    assert.deepEqual(await titles(page), ['ed-11', 'ed-01']);
    await shot(page, 'data-records-filtered');
    await page.getByRole('button', { name: 'Clear filter' }).click();
    await page.getByRole('status').filter({ hasText: '12 records' }).waitFor();
    assertClean(w);
  });

  it('they create and edit a record with only their fields; no delete, and the server refuses one', async () => {
    const page = await w.newPage();
    await signIn(page, w.base, 'ed', pw);
    await page.goto(`${w.base}/data/tickets`);
    await page.getByRole('link', { name: 'New record' }).click();
    await page.getByRole('heading', { name: 'New record in tickets' }).waitFor();
    assert.equal(await page.getByLabel(/cost|secret_note/).count(), 0);
    // The server's refusal next to the field: title is required.
    await page.locator('#field-state').selectOption('open');
    await page.getByRole('button', { name: 'Create record' }).click();
    await page.locator('.field-error').filter({ hasText: 'title: required' }).waitFor();
    await page.getByLabel('title (required)').fill('ed-new');
    await page.getByLabel('priority').selectOption('high');
    await shot(page, 'data-record-new');
    await page.getByRole('button', { name: 'Create record' }).click();
    await page.getByRole('heading', { name: 'Record in tickets' }).waitFor();
    await page.getByText('ed-new').waitFor();
    const id = page.url().split('/').pop()!;

    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('title (required)').fill('ed-new-2');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await page.getByText('ed-new-2').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0);
    await seesNothingHidden(page);
    await shot(page, 'data-record');
    const del = await api('DELETE', `/api/collections/tickets/records/${id}`, undefined, ed);
    assert.equal(del.statusCode, 403, del.body);
    assert.equal((await api('GET', `/api/collections/tickets/records/${id}`)).json().title, 'ed-new-2');

    // Someone else's record is not there for them.
    const adminRow = (await api('GET', `/api/collections/tickets/records?filter=${encodeURIComponent('{"title":"admin-row"}')}`)).json().items[0].id;
    await page.goto(`${w.base}/data/tickets/${adminRow}`);
    await page.getByRole('alert').filter({ hasText: 'outside what you may see' }).waitFor();
    await seesNothingHidden(page);
    assertClean(w);
  });

  it('export downloads a CSV of the visible fields only; import shows the result and the rows it refused', async () => {
    const page = await w.newPage();
    await signIn(page, w.base, 'ed', pw);
    await page.goto(`${w.base}/data/tickets`);
    await page
      .getByRole('status')
      .filter({ hasText: /\d+ records/ })
      .waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    assert.equal(download.suggestedFilename(), 'tickets.csv');
    const csv = readFileSync((await download.path())!, 'utf8');
    const [header, ...rows] = csv.trim().split('\n');
    assert.equal(header, 'id,createdAt,updatedAt,createdBy,updatedBy,title,state,priority');
    assert.equal(rows.length, 13);
    assert.doesNotMatch(csv, /cost|secret|TOPSECRET|admin-row/);
    assert.ok(
      rows.every((r) => !r.split(',').slice(5).includes('999')),
      'no cost value',
    );
    await page.getByRole('status').filter({ hasText: 'The export was downloaded.' }).waitFor();

    const file = page.getByLabel('CSV file');
    await file.setInputFiles({ name: 'new.csv', mimeType: 'text/csv', buffer: Buffer.from('title,state\nimp-1,open\nimp-2,closed\n') });
    await page.getByRole('button', { name: 'Import' }).click();
    await page.getByRole('status').filter({ hasText: '2 records imported.' }).waitFor();
    await page.getByRole('status').filter({ hasText: '15 records' }).waitFor();
    // A row with a field they may not write, and one without its required title: refused, nothing written.
    await file.setInputFiles({
      name: 'bad.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('title,state,priority\nimp-3,open,low\n,open,low\nimp-5,shut,low\n'),
    });
    await page.getByRole('button', { name: 'Import' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'The import was refused' });
    await alert.waitFor();
    await alert.getByText('Row 2: title: required').waitFor();
    await alert.getByText(/Row 3: state: one of open, closed/).waitFor();
    await shot(page, 'data-import');
    assert.equal((await api('GET', '/api/collections/tickets/records?perPage=1&total=true', undefined, ed)).json().total, 15);
    assertClean(w);
  });

  it('an administrator sees every field and bulk-deletes the selected records; a user without grants sees none', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/data/tickets`);
    await page.getByRole('button', { name: 'cost' }).waitFor();
    await page.getByRole('button', { name: 'secret_note' }).waitFor();
    await page.getByLabel('Per page').selectOption('50');
    await page.getByRole('status').filter({ hasText: '16 records' }).waitFor();
    const imp = page.locator('tbody tr').filter({ hasText: /imp-1|imp-2/ });
    assert.equal(await imp.count(), 2);
    for (const row of await imp.all()) await row.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Delete selected' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete 2 records?' });
    await shot(page, 'data-bulk-delete');
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('status').filter({ hasText: '2 records deleted.' }).waitFor();
    await page.getByRole('status').filter({ hasText: '14 records' }).waitFor();
    // One record from its own page: Delete, confirmed.
    await page
      .locator('tbody tr')
      .filter({ hasText: 'admin-row' })
      .getByRole('link', { name: /Open record/ })
      .click();
    await page.getByRole('heading', { name: 'Record in tickets' }).waitFor();
    // The record's own view (its definition list); the history table below shows the value too.
    await page.getByRole('definition').filter({ hasText: 'TOPSECRET-ADMIN' }).first().waitFor();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete this record?' }).getByRole('button', { name: 'Delete' }).click();
    await page.waitForURL(/\/data\/tickets$/);
    await page.getByRole('status').filter({ hasText: '13 records' }).waitFor();
    await page.setViewportSize({ width: 390, height: 800 });
    await shot(page, 'data-records-phone');

    const other = await w.newPage();
    await signIn(other, w.base, 'nobody', pw);
    await other.goto(`${w.base}/data`);
    await other.getByText('No collection is shared with you yet').waitFor();
    await other.goto(`${w.base}/data/tickets`);
    await other.getByText('This collection does not exist, or it is not shared with you.').waitFor();
    const nobody = (await login(w.t, 'nobody', pw)).token;
    assert.equal((await api('GET', '/api/collections/tickets/records', undefined, nobody)).statusCode, 404);
    assertClean(w);
  });

  // A secret field (D431): masked on the list and on the record page until asked for; not a sort column; its level
  // is set in the collections editor.
  it('a secret value is masked on the list and the record page until the user shows it; the editor sets the level [ASVS V14.2.6, V14.1.1]', async () => {
    await ok(
      api('POST', '/api/admin/collections', {
        name: 'vault',
        fields: [
          { name: 'label', type: 'string' },
          { name: 'pin', type: 'string', classification: 'secret' },
        ],
      }),
    );
    const id = (await ok(api('POST', '/api/collections/vault/records', { label: 'front door', pin: 'PIN-8842-XY' }))).json().id;
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/data/vault`);
    await page.locator('tbody td').filter({ hasText: 'front door' }).first().waitFor();
    assert.ok(!((await page.locator('main').textContent()) ?? '').includes('PIN-8842-XY'), 'the list never shows the secret value');
    assert.equal(await page.getByRole('button', { name: 'pin' }).count(), 0, 'no sort on a secret column');
    await page.getByRole('button', { name: 'label' }).waitFor();
    await page.goto(`${w.base}/data/vault/${id}`);
    await page.getByRole('heading', { name: 'Record in vault' }).waitFor();
    await page.getByRole('button', { name: 'Show pin' }).waitFor();
    assert.ok(!((await page.locator('main').textContent()) ?? '').includes('PIN-8842-XY'), 'masked until shown');
    await page.getByRole('button', { name: 'Show pin' }).click();
    await page.getByRole('definition').filter({ hasText: 'PIN-8842-XY' }).waitFor();
    await shot(page, 'data-secret-shown');
    await page.getByRole('button', { name: 'Hide pin' }).click();
    await page.getByRole('button', { name: 'Show pin' }).waitFor();

    await page.goto(`${w.base}/admin/collections/vault`);
    await page.getByRole('button', { name: 'Edit field label' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit field label' });
    assert.equal(await dialog.getByLabel('Protection level').inputValue(), 'internal');
    await dialog.getByLabel('Protection level').selectOption('confidential');
    await dialog.getByText('never logged: a change is logged by the field name only').waitFor();
    await shot(page, 'collection-field-classification');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Field label saved.' }).waitFor();
    const fields = (await api('GET', '/api/admin/collections/vault')).json().collection.fields;
    assert.deepEqual(fields, [
      { name: 'label', type: 'string', classification: 'confidential' },
      { name: 'pin', type: 'string', classification: 'secret' },
    ]);
    assertClean(w);
  });

  // Bug class: stored XSS. A value is data, drawn as text (Svelte's text nodes); markup in it never becomes elements,
  // and a sink that took it as HTML would also meet Trusted Types (a violation that assertClean reports).
  it('a value that looks like markup is shown as the text it is, on the list and on the record page [ASVS V3.2.2]', async () => {
    const title = `<img src=x onerror="document.title='pwned'"><b>bold</b>`;
    const note = `<script>document.title='pwned'</script><a href="javascript:alert(1)">link</a>`;
    const id = (await ok(api('POST', '/api/collections/tickets/records', { title, state: 'open', secret_note: note }))).json().id;
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/data/tickets/${id}`);
    await page.getByRole('heading', { name: 'Record in tickets' }).waitFor();
    await page.getByRole('definition').filter({ hasText: title }).first().waitFor();
    await page.getByRole('definition').filter({ hasText: note }).first().waitFor();
    await page.goto(`${w.base}/data/tickets`);
    await page.locator('tbody td').filter({ hasText: title }).first().waitFor();
    for (const sel of ['img[src="x"]', 'b:text-is("bold")', 'a[href^="javascript:"]', 'main script']) {
      assert.equal(await page.locator(sel).count(), 0, `${sel} became an element`);
    }
    assert.notEqual(await page.title(), 'pwned');
    assertClean(w);
  });
});
