import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { changeOf, draftOf, emptyDraft, fieldOf, placeProblems } from '../../ui/src/lib/field-types.js';

describe('admin UI: the collections editor (client logic)', () => {
  it('a draft becomes the definition the server takes, with only the options its type has', () => {
    const d = { ...emptyDraft('integer'), name: ' cost ', required: true, defaultText: '5', valuesText: 'a, b', block: 'finance' };
    assert.deepEqual(fieldOf(d), { name: 'cost', type: 'integer', required: true, default: 5, block: 'finance' });
    const e = { ...emptyDraft('status'), name: 'state', valuesText: 'open, closed ,', hidden: 'except' as const, exceptRoles: 'auditor' };
    assert.deepEqual(fieldOf(e), { name: 'state', type: 'status', values: ['open', 'closed'], hidden: { exceptRoles: ['auditor'] } });
    assert.deepEqual(fieldOf({ ...emptyDraft('members'), name: 'team', unique: true, indexed: true }), { name: 'team', type: 'members' });
    // Text the type cannot take goes as is: the server's refusal is what the user sees.
    assert.equal(fieldOf({ ...emptyDraft('integer'), name: 'n', defaultText: 'abc' }).default, 'abc');
  });

  it('an edit sends only what changed, null clearing an option', () => {
    const before = { name: 'state', type: 'status', values: ['open'], hidden: true as const };
    const d = draftOf(before);
    assert.deepEqual(changeOf(before, d), {});
    d.valuesText = 'open, closed';
    d.hidden = 'no';
    d.required = true;
    assert.deepEqual(changeOf(before, d), { required: true, values: ['open', 'closed'], hidden: null });
  });

  it("places the server's refusals next to the field they name", () => {
    assert.deepEqual(
      placeProblems('SCHEMA_INVALID', { problems: ['field "state": values must be 1 to 100 short words', 'ownership "members" needs a members field'] }, [
        'title',
        'state',
      ]),
      { state: ['values must be 1 to 100 short words'], '': ['ownership "members" needs a members field'] },
    );
    assert.deepEqual(placeProblems('VALIDATION_FAILED', [{ path: '/fields/1/name', message: 'must match pattern' }], ['a', 'B']), {
      B: ['name: must match pattern'],
    });
    assert.deepEqual(placeProblems('CONFLICT', { field: 'name' }, []), { '': ['A collection of this name already exists.'] });
  });
});

describe('admin UI: the collections editor against the real server', () => {
  let w: UiWorld;
  let admin: string;
  const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, token = admin) =>
    w.t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });

  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
  });
  after(async () => w?.close());

  it('an administrator creates a collection with several field types, sees a refusal next to its field, edits, adds and removes fields', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Collections' }).click();
    await page.getByText('No collection yet').waitFor();
    await page.getByRole('button', { name: 'New collection' }).click();
    await page.getByLabel('Collection name').fill('tickets');
    const types: Array<[string, string]> = [
      ['title', 'string'],
      ['state', 'status'],
      ['cost', 'integer'],
      ['contact', 'email'],
      ['due', 'datetime'],
      ['done', 'boolean'],
      ['notes', 'text'],
    ];
    for (let i = 0; i < types.length; i++) {
      if (i > 0) await page.getByRole('button', { name: 'Add field', exact: true }).click();
      const group = page.getByRole('group', { name: new RegExp(`^Field ${i + 1}`) });
      await group.getByLabel('Field name').fill(types[i]![0]);
      await group.getByLabel('Type').selectOption(types[i]![1]);
    }
    await page
      .getByRole('group', { name: /^Field 1/ })
      .getByLabel('Required')
      .check();
    await page
      .getByRole('group', { name: /^Field 3/ })
      .getByLabel('Block')
      .fill('finance');
    // The status field without values: the server refuses, and says so under that field.
    await page.getByRole('button', { name: 'Create collection' }).click();
    const state = page.getByRole('group', { name: /^Field 2/ });
    await state.getByRole('alert').filter({ hasText: 'values must be 1 to 100 short words' }).waitFor();
    assert.equal(
      await page
        .getByRole('group', { name: /^Field 1/ })
        .getByRole('alert')
        .count(),
      0,
    );
    await shot(page, 'collections-new');
    await state.getByLabel('Values').fill('open, closed');
    await page.getByRole('button', { name: 'Create collection' }).click();
    await page.waitForURL(/\/admin\/collections\/tickets$/);
    await page.getByRole('heading', { name: 'Collection tickets' }).waitFor();
    const def = (await api('GET', '/api/admin/collections/tickets')).json().collection;
    assert.deepEqual(def.fields, [
      { name: 'title', type: 'string', required: true },
      { name: 'state', type: 'status', values: ['open', 'closed'] },
      { name: 'cost', type: 'integer', block: 'finance' },
      { name: 'contact', type: 'email' },
      { name: 'due', type: 'datetime' },
      { name: 'done', type: 'boolean' },
      { name: 'notes', type: 'text' },
    ]);

    // Edit a field: removing a value is refused (shown in the dialog); adding one and making it required works.
    await page.getByRole('button', { name: 'Edit field state' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit field state' });
    assert.equal(await dialog.getByLabel('Field name').isDisabled(), true);
    await dialog.getByLabel('Values').fill('open');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'values may be added, not removed' }).waitFor();
    await dialog.getByLabel('Values').fill('open, closed, waiting');
    await dialog.getByLabel('Required').check();
    await dialog.getByLabel('Default value').fill('open');
    await shot(page, 'collection-edit-field');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Field state saved.' }).waitFor();
    const edited = (await api('GET', '/api/admin/collections/tickets')).json().collection.fields[1];
    assert.deepEqual(edited, { name: 'state', type: 'status', required: true, default: 'open', values: ['open', 'closed', 'waiting'] });

    // Add a field, then remove one.
    await page.getByRole('button', { name: 'Add field' }).click();
    const form = page.getByRole('form', { name: 'New field' });
    await form.getByLabel('Field name').fill('priority');
    await form.getByLabel('Type').selectOption('enum');
    await form.getByLabel('Values').fill('low, high');
    await form.getByLabel('Visibility').selectOption('yes');
    await form.getByRole('button', { name: 'Save field' }).click();
    await page.getByRole('status').filter({ hasText: 'Field priority added.' }).waitFor();
    await page.getByRole('button', { name: 'Remove field notes' }).click();
    await page.getByRole('dialog', { name: 'Remove field notes?' }).getByRole('button', { name: 'Remove field' }).click();
    await page.getByRole('status').filter({ hasText: 'Field notes removed.' }).waitFor();
    const names = (await api('GET', '/api/admin/collections/tickets')).json().collection.fields.map((f: { name: string }) => f.name);
    assert.deepEqual(names, ['title', 'state', 'cost', 'contact', 'due', 'done', 'priority']);
    assert.equal((await api('GET', '/api/admin/collections/tickets')).json().collection.fields[6].hidden, true);
    await shot(page, 'collection-fields');

    await page.getByRole('link', { name: 'All collections' }).click();
    await page.getByRole('link', { name: 'tickets' }).waitFor();
    await shot(page, 'collections-list');
    assertClean(w);
  });

  it('deleting a collection needs its name typed; a collection others refer to is refused with the reason', async () => {
    assert.equal((await api('POST', '/api/admin/collections', { name: 'scratch', fields: [{ name: 'a', type: 'string' }] })).statusCode, 201);
    assert.equal(
      (await api('POST', '/api/admin/collections', { name: 'refs', fields: [{ name: 'to', type: 'relation', target: 'scratch' }] })).statusCode,
      201,
    );
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/collections/scratch`);
    await page.getByRole('button', { name: 'Delete collection…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete collection scratch?' });
    const confirm = dialog.getByRole('button', { name: 'Delete for good' });
    await dialog.getByLabel("Type the collection's name to confirm").fill('scratc');
    assert.equal(await confirm.isDisabled(), true);
    await dialog.getByLabel("Type the collection's name to confirm").fill('scratch');
    await shot(page, 'collection-delete');
    await confirm.click();
    await dialog.getByRole('alert').filter({ hasText: 'referenced by refs' }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await api('DELETE', '/api/admin/collections/refs')).statusCode, 204);
    await page.getByRole('button', { name: 'Delete collection…' }).click();
    await dialog.getByLabel("Type the collection's name to confirm").fill('scratch');
    await confirm.click();
    await page.waitForURL(/\/admin\/collections$/);
    await page.getByRole('link', { name: 'tickets' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'scratch' }).count(), 0);
    assert.equal((await api('GET', '/api/admin/collections/scratch')).statusCode, 404);
    assertClean(w);
  });

  it('a user without schema.manage does not get the editor (and the server refuses); a role with it does', async () => {
    const pw = 'Quarterly-report-4411';
    const plainId = await createUser(w.t, admin, 'plain', pw);
    const designerId = await createUser(w.t, admin, 'designer', pw);
    assert.ok(plainId);
    assert.equal((await api('POST', '/api/admin/roles', { name: 'schema_admin', permissions: ['schema.manage'] })).statusCode, 201);
    assert.equal((await api('PUT', `/api/admin/users/${designerId}/roles`, { roles: ['schema_admin'] })).statusCode, 204);

    const page = await w.newPage();
    await signIn(page, w.base, 'plain', pw);
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Collections' }).count(), 0);
    await page.goto(`${w.base}/admin/collections/tickets`);
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    assert.equal(await page.getByText('title').count(), 0);
    const plain = (await login(w.t, 'plain', pw)).token;
    assert.equal((await api('GET', '/api/admin/collections', undefined, plain)).statusCode, 403);
    assert.equal((await api('POST', '/api/admin/collections', { name: 'x', fields: [] }, plain)).statusCode, 403);

    const page2 = await w.newPage();
    await signIn(page2, w.base, 'designer', pw);
    await page2.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Collections' }).click();
    await page2.getByRole('link', { name: 'tickets' }).click();
    await page2.getByRole('button', { name: 'Edit field title' }).waitFor();
    // Ownership is an access change: administrators only.
    await page2.getByText('only administrators change ownership').waitFor();
    assertClean(w);
  });
});
