// The erasure requests screen (issue 13, AUDIT-5): a data subject's records, by user or by a field's value,
// deleted or anonymised; always a dry run first, then a confirmation, then the result. security.manage only:
// the menu, the page and the server agree. Also the pure helpers behind the privacy forms (ui/src/lib/privacy.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixedOf, kindsFor, picksOf, subjectOf, valuesOf, valuesText } from '../../ui/src/lib/privacy.js';
import { labelWithUnit } from '../../ui/src/lib/settings-form.js';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';

const PW = 'Lantern-orchid-basalt-38';

describe('admin UI: erasure requests against the real server', () => {
  let w: UiWorld;
  let admin: string;
  let aliceId: string;
  const api = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, token = admin) =>
    w.t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
  const ok = async (p: ReturnType<typeof api>, code = 201) => {
    const r = await p;
    assert.equal(r.statusCode, code, r.body);
    return r;
  };
  type Row = { id: string; name: string; email: string | null; owner: string | null };
  const rows = async (): Promise<Row[]> =>
    ((await ok(api('GET', '/api/collections/clients/records?perPage=50'), 200)).json().items as Row[]).sort((a, b) =>
      a.email && b.email ? a.email.localeCompare(b.email) : 0,
    );

  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
    aliceId = await createUser(w.t, admin, 'alice', PW, { email: 'alice@example.org' });
    await createUser(w.t, admin, 'albert', PW);
    await ok(
      api('POST', '/api/admin/collections', {
        name: 'clients',
        fields: [
          { name: 'name', type: 'string', required: true },
          { name: 'email', type: 'email' },
          { name: 'note', type: 'text' },
          { name: 'owner', type: 'user' },
        ],
      }),
    );
    for (const [name, owner] of [
      ['Ann', aliceId],
      ['Bob', aliceId],
      ['Cat', null],
      ['Dan', null],
    ] as const) {
      await ok(api('POST', '/api/collections/clients/records', { name, email: `${name.toLowerCase()}@example.org`, note: `about ${name}`, owner }));
    }
  });
  after(async () => w?.close());

  it('an administrator erases by user: the dry run names what would be touched and changes nothing, cancel changes nothing, confirming anonymises', async () => {
    const start = await rows();
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Erasure requests' }).click();
    const form = page.getByRole('form', { name: 'Erasure request' });
    await form.getByLabel('Collection').waitFor();
    assert.equal(await form.getByLabel('Collection').inputValue(), 'clients');
    // Nothing chosen: the page says so and asks nothing of the server.
    await form.getByRole('button', { name: 'Dry run' }).click();
    await page.getByRole('alert').filter({ hasText: 'Choose the user whose records are erased.' }).waitFor();
    await form.getByLabel('Find a user').fill('ali');
    await form.getByRole('button', { name: 'Find' }).click();
    const found = form.getByRole('radiogroup', { name: 'Users found' });
    await found.getByLabel('alice (alice@example.org)').waitFor();
    assert.equal(await found.getByLabel(/albert/).count(), 0, 'the search keeps only matching users');
    await found.getByLabel('alice (alice@example.org)').check();
    await form.getByLabel('name becomes').selectOption('fake');
    await form.getByLabel('note becomes').selectOption('fixed');
    await form.getByLabel('note fixed value').fill('(erased)');
    await shot(page, 'erasure-request');
    await form.getByRole('button', { name: 'Dry run' }).click();
    const preview = page.getByRole('region', { name: 'Dry run' });
    await preview.getByRole('status').filter({ hasText: '2 records of clients would be anonymised for the user alice; nothing was changed.' }).waitFor();
    const ids = await preview.locator('.ids li').allTextContents();
    assert.deepEqual(
      ids.sort(),
      start
        .filter((r) => r.owner === aliceId)
        .map((r) => r.id)
        .sort(),
    );
    assert.ok(await form.getByLabel('Find a user').isDisabled(), 'the request is locked between the dry run and the confirmation');
    assert.deepEqual(await rows(), start, 'a dry run changes nothing');
    await shot(page, 'erasure-dry-run');

    await preview.getByRole('button', { name: 'Erase…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Erase the records of the user alice?' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.deepEqual(await rows(), start, 'cancelled: nothing changed');
    await preview.getByRole('button', { name: 'Erase…' }).click();
    await dialog.getByRole('button', { name: 'Erase', exact: true }).click();
    await page.getByRole('status').filter({ hasText: '2 records of clients anonymised, with their history erased.' }).waitFor();
    await shot(page, 'erasure-done');
    const now = await rows();
    for (const r of now.filter((x) => ids.includes(x.id))) {
      assert.match(r.name, /^anon-/);
      assert.equal(r.owner, null, 'the user is unlinked');
      assert.equal((r as Row & { note: string }).note, '(erased)');
    }
    assert.deepEqual(
      now.filter((x) => !ids.includes(x.id)),
      start.filter((x) => !ids.includes(x.id)),
      'other records untouched',
    );

    // A new request: by field value, delete.
    await page.getByRole('button', { name: 'New request' }).click();
    await form.getByLabel('By field value').check();
    await form.getByLabel('Field', { exact: true }).selectOption('email');
    await form.getByLabel('Value', { exact: true }).fill('cat@example.org');
    await form.getByLabel('Delete the records').check();
    await form.getByRole('button', { name: 'Dry run' }).click();
    await preview.getByRole('status').filter({ hasText: '1 record of clients would be deleted for email = "cat@example.org"' }).waitFor();
    await preview.getByRole('button', { name: 'Erase…' }).click();
    await page.getByRole('dialog', { name: 'Erase the records of email = "cat@example.org"?' }).getByRole('button', { name: 'Erase', exact: true }).click();
    await page.getByRole('status').filter({ hasText: '1 record of clients deleted, with its history erased.' }).waitFor();
    assert.ok(!(await rows()).some((r) => r.name === 'Cat'), 'Cat is deleted');
    assert.equal((await rows()).length, 3);

    // The privacy policies page leads here for security.manage holders.
    await page.goto(`${w.base}/admin/privacy?collection=clients`);
    await page.getByRole('link', { name: 'Erase a data subject…' }).click();
    await page.getByRole('heading', { name: 'Erasure requests' }).waitFor();

    // The settings form names a unit once (audit log retention: "Security days", not "Security days (days)").
    await page.goto(`${w.base}/admin/settings`);
    await page.getByLabel('Security days', { exact: true }).waitFor();
    assert.equal(await page.getByText('Security days (days)').count(), 0);
    await page.getByLabel('Window (seconds)', { exact: true }).first().waitFor();
    assertClean(w);
  });

  it('security.manage alone may erase (collection and field typed, user by id); without it there is no menu entry, the page and the server refuse', async () => {
    await ok(api('POST', '/api/admin/roles', { name: 'guard', permissions: ['security.manage'] }));
    const sId = await createUser(w.t, admin, 'sam', PW);
    await ok(api('PUT', `/api/admin/users/${sId}/roles`, { roles: ['guard'] }), 204);
    const page = await w.newPage();
    await signIn(page, w.base, 'sam', PW);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Erasure requests' }).click();
    assert.equal(await nav.getByRole('link', { name: 'Privacy policies' }).count(), 0);
    const form = page.getByRole('form', { name: 'Erasure request' });
    await page.getByText('Listing collections and their fields needs schema.manage').waitFor();
    await form.getByLabel('Collection').fill('clients');
    await page.getByText('Finding users by name needs users.manage.').waitFor();
    await form.getByLabel('By field value').check();
    await form.getByLabel('Field', { exact: true }).fill('email');
    await form.getByLabel('Value', { exact: true }).fill('dan@example.org');
    await form.getByRole('button', { name: 'Dry run' }).click();
    await page.getByRole('status').filter({ hasText: '1 record of clients would be anonymised' }).waitFor();
    await shot(page, 'erasure-typed');

    await ok(api('POST', '/api/admin/roles', { name: 'modeller', permissions: ['schema.manage', 'users.manage'] }));
    const mId = await createUser(w.t, admin, 'max', PW);
    await ok(api('PUT', `/api/admin/users/${mId}/roles`, { roles: ['modeller'] }), 204);
    const max = (await login(w.t, 'max', PW)).token;
    const before = await rows();
    for (const dryRun of [true, false]) {
      const r = await api(
        'POST',
        '/api/admin/privacy/erasure',
        { collection: 'clients', by: { field: 'email', value: 'dan@example.org' }, action: 'delete', dryRun },
        max,
      );
      assert.equal(r.statusCode, 403, r.body);
    }
    assert.deepEqual(await rows(), before, 'refused: nothing changed');
    const other = await w.newPage();
    await signIn(other, w.base, 'max', PW);
    const nav2 = other.getByRole('navigation', { name: 'Main' });
    await nav2.getByRole('link', { name: 'Privacy policies' }).click();
    await other.getByRole('heading', { name: 'Privacy policies' }).waitFor();
    assert.equal(await nav2.getByRole('link', { name: 'Erasure requests' }).count(), 0);
    assert.equal(await other.getByRole('link', { name: 'Erase a data subject…' }).count(), 0);
    await other.goto(`${w.base}/admin/erasure`);
    await other.getByRole('heading', { name: 'Page not found' }).waitFor();
    assert.equal(await other.getByRole('heading', { name: 'Erasure requests' }).count(), 0);
    assertClean(w);
  });
});

describe('privacy forms: what a field may become, fixed values, erasure subjects (ui/src/lib/privacy.ts)', () => {
  it('offers only the kinds the server accepts for a field', () => {
    assert.deepEqual(kindsFor({ name: 'name', type: 'string', required: true }), ['fixed', 'hash', 'fake']);
    assert.deepEqual(kindsFor({ name: 'email', type: 'email', unique: true }), ['null', 'hash', 'fake']);
    assert.deepEqual(kindsFor({ name: 'stage', type: 'status', unique: true }), ['null']);
    assert.deepEqual(kindsFor({ name: 'owner', type: 'user' }), ['null']);
    assert.deepEqual(kindsFor({ name: 'owner', type: 'user', required: true }), []);
    assert.deepEqual(kindsFor({ name: 'team', type: 'members', required: true }), ['null']);
  });
  it('reads a fixed value in the field type and refuses one that does not parse', () => {
    assert.deepEqual(fixedOf({ name: 'n', type: 'integer' }, ' 7 '), { value: 7 });
    assert.deepEqual(fixedOf({ name: 'b', type: 'boolean' }, 'false'), { value: false });
    assert.deepEqual(fixedOf({ name: 'j', type: 'json' }, '{"a":1}'), { value: { a: 1 } });
    assert.deepEqual(fixedOf({ name: 'note', type: 'text' }, '(removed)'), { value: '(removed)' });
    assert.ok('error' in fixedOf({ name: 'n', type: 'decimal' }, 'many'));
    assert.ok('error' in fixedOf({ name: 'note', type: 'text' }, '  '));
  });
  it('turns picks into values and back', () => {
    const fields = [
      { name: 'name', type: 'string' },
      { name: 'age', type: 'integer' },
      { name: 'note', type: 'text' },
    ];
    const v = valuesOf(fields, { name: { kind: 'fake', text: '' }, age: { kind: 'fixed', text: '0' }, note: { kind: '', text: 'x' } });
    assert.deepEqual(v, { values: { name: { kind: 'fake' }, age: { kind: 'fixed', value: 0 } }, problems: [] });
    assert.deepEqual(picksOf(v.values), { name: { kind: 'fake', text: '' }, age: { kind: 'fixed', text: '0' } });
    assert.equal(valuesText(v.values), 'name → a made-up value, age → 0');
    assert.deepEqual(valuesOf(fields, { age: { kind: 'fixed', text: 'old' } }).problems, ['age: enter a number.']);
  });
  it('builds the subject of an erasure by user or by value in the field type', () => {
    assert.deepEqual(subjectOf('user', ' u1 ', undefined, ''), { by: { userId: 'u1' } });
    assert.ok('error' in subjectOf('user', '', undefined, ''));
    assert.deepEqual(subjectOf('field', '', { name: 'age', type: 'integer' }, '42'), { by: { field: 'age', value: 42 } });
    assert.deepEqual(subjectOf('field', '', { name: 'email', type: 'email' }, ' a@b.org '), { by: { field: 'email', value: 'a@b.org' } });
    assert.ok('error' in subjectOf('field', '', undefined, 'x'));
    assert.ok('error' in subjectOf('field', '', { name: 'ok', type: 'boolean' }, 'yes'));
  });
  it("names a settings field's unit once: not when the label already ends with it", () => {
    assert.equal(labelWithUnit({ name: 'securityDays', unit: 'days' }), 'Security days');
    assert.equal(labelWithUnit({ name: 'window', unit: 'seconds' }), 'Window (seconds)');
    assert.equal(labelWithUnit({ name: 'lockSeconds', unit: 'seconds' }), 'Lock seconds');
    assert.equal(labelWithUnit({ name: 'timeoutMs', unit: 'milliseconds' }), 'Timeout ms');
    assert.equal(labelWithUnit({ name: 'lockDuration', unit: 'seconds' }), 'Lock duration (seconds)');
    assert.equal(labelWithUnit({ name: 'maxAttempts' }), 'Max attempts');
  });
});
