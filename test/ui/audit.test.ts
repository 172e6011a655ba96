// The audit trail screens of the admin UI against the real server (issue 13): the audit log with filters, paging
// and exports, the chain's verification and checkpoints, the collections editor's audit options and sensitive
// fields, a record's change history in the data browser; and who sees them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { changeCell, exportHref, filtersOf, transitionOf, verdictOf, viaOf, type AuditEntry } from '../../ui/src/lib/audit.js';
import { auditOf, changeOf, draftOf, fieldOf, emptyDraft, optionsOf } from '../../ui/src/lib/field-types.js';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, SCREENS_DIR, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { asDba as dba } from '../helpers/audit.js';

const PW = 'Ledger-lantern-orbit-52';

describe('admin UI: the audit screens (client logic)', () => {
  it('filters from the address, the export address, API keys in words', () => {
    const q = new URLSearchParams('kind=change&collection=patients&recordId=%20&beforeSeq=9&evil=1');
    assert.deepEqual(filtersOf(q), { kind: 'change', collection: 'patients' }, 'empty values, the cursor and unknown keys are left out');
    assert.equal(exportHref({ kind: 'change', collection: 'patients' }, 'csv'), '/api/admin/audit/export?kind=change&collection=patients&format=csv');
    assert.equal(exportHref({}, 'jsonl'), '/api/admin/audit/export?format=jsonl');
    assert.equal(viaOf({ method: 'apikey', keyId: 'k1' }), 'API key k1');
    assert.equal(viaOf({ method: 'basic' }), 'basic authentication');
    assert.equal(viaOf(undefined), '');
  });

  it('a change shows old -> new, a secret field "not logged", an erased entry "values erased"; a status move from -> to', () => {
    assert.deepEqual(changeCell({ field: 'name', old: 'Ann', new: null }, false), { old: 'Ann', new: 'empty' });
    assert.deepEqual(changeCell({ field: 'n', old: 1, new: { a: true } }, false), { old: '1', new: '{"a":true}' });
    assert.deepEqual(changeCell({ field: 'diagnosis', secret: true }, false), { note: 'not logged' });
    assert.deepEqual(changeCell({ field: 'diagnosis', secret: true }, true), { note: 'not logged' });
    assert.deepEqual(changeCell({ field: 'name' }, true), { note: 'values erased' });
    const status = { kind: 'status', data: { field: 'state', from: null, to: 'open' } } as unknown as AuditEntry;
    assert.deepEqual(transitionOf(status), { field: 'state', from: '(none)', to: 'open' });
    assert.equal(transitionOf({ kind: 'change' } as AuditEntry), undefined);
    const base = { entries: 9, checked: 9, pruned: 0, unchained: 0, checkpoints: 0, ms: 1 };
    assert.equal(verdictOf({ ...base, ok: true, problem: null }), 'Intact: 9 entries on the chain, 9 checked.');
    assert.equal(
      verdictOf({ ...base, ok: false, problem: { seq: 4, problem: 'altered', detail: 'content differs' } }),
      'Broken at entry 4: altered (content differs).',
    );
  });

  it('the collections editor sends the protection level and reads audit options with their defaults [ASVS V14.1.1]', () => {
    assert.deepEqual(fieldOf({ ...emptyDraft('text'), name: 'diagnosis', classification: 'confidential' }), {
      name: 'diagnosis',
      type: 'text',
      classification: 'confidential',
    });
    assert.deepEqual(fieldOf({ ...emptyDraft('text'), name: 'plain' }), { name: 'plain', type: 'text' }, 'internal is the default, not sent');
    const before = { name: 'name', type: 'string' };
    const d = draftOf(before);
    d.classification = 'secret';
    assert.deepEqual(changeOf(before, d), { classification: 'secret' });
    assert.equal(draftOf({ ...before, sensitive: true }).classification, 'confidential', 'a sensitive field reads as confidential');
    assert.deepEqual(changeOf({ ...before, sensitive: true }, draftOf(before)), { sensitive: null }, 'back to internal clears it');
    assert.ok(optionsOf({ ...before, sensitive: true }).includes('confidential (never logged)'));
    assert.ok(optionsOf({ ...before, classification: 'secret' }).includes('secret (never logged, exported or queried)'));
    assert.deepEqual(auditOf({}), { changeLog: true, accessLog: 'off', revisions: false });
    assert.deepEqual(auditOf({ audit: { revisions: true } }), { changeLog: true, accessLog: 'off', revisions: true });
  });
});

describe('admin UI: the audit screens against the real server', () => {
  let w: UiWorld;
  let admin: string;
  let annId: string;
  let bobId: string;
  let keyId: string;
  const api = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = bearer(admin)) =>
    w.t.app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const ok = async (p: ReturnType<typeof api>, code = 201) => {
    const r = await p;
    assert.equal(r.statusCode, code, r.body);
    return r;
  };

  const asDba = (fn: () => Promise<unknown>) => dba(w.t.s.db, fn);

  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
    await ok(
      api('POST', '/api/admin/collections', {
        name: 'patients',
        fields: [
          { name: 'name', type: 'string', required: true },
          { name: 'diagnosis', type: 'text', sensitive: true },
          { name: 'state', type: 'status', values: ['open', 'closed'] },
          { name: 'ward', type: 'string' },
        ],
      }),
    );
    // A clerk works on patients through an API key: the log names the key.
    await ok(api('POST', '/api/admin/roles', { name: 'clerk' }));
    await ok(
      api('POST', '/api/admin/grants', { role: 'clerk', collection: 'patients', actions: ['view', 'create', 'update'], fields: ['name', 'state', 'ward'] }),
    );
    const cleoId = await createUser(w.t, admin, 'cleo', PW);
    await ok(api('POST', '/api/admin/roles', { name: 'keymaker', permissions: ['apikeys.manage'] }));
    await ok(api('PUT', `/api/admin/users/${cleoId}/roles`, { roles: ['clerk', 'keymaker'] }), 204);
    const cleo = (await login(w.t, 'cleo', PW)).token;
    const key = (await ok(api('POST', '/api/auth/api-keys', { name: 'ward-sync', role: 'clerk' }, bearer(cleo)))).json();
    keyId = key.key.id;

    annId = (await ok(api('POST', '/api/collections/patients/records', { name: 'Ann Archer', diagnosis: 'DIAG-SECRET-1', state: 'open', ward: 'A' }))).json()
      .id;
    await ok(api('PATCH', `/api/collections/patients/records/${annId}`, { name: 'Ann Baker', diagnosis: 'DIAG-SECRET-2', ward: 'B' }), 200);
    await ok(api('PATCH', `/api/collections/patients/records/${annId}`, { state: 'closed' }, { 'x-api-key': key.secret }), 200);
    bobId = (await ok(api('POST', '/api/collections/patients/records', { name: 'Bob Erased', state: 'open' }))).json().id;
    await ok(api('PATCH', `/api/collections/patients/records/${bobId}`, { ward: 'C' }), 200);
    // Bob asked to be forgotten: his history's key is destroyed, the entries stay on the chain.
    await w.t.s.db.transaction().execute((trx) => w.t.s.audit.trail.erase(trx, 'patients', [bobId]));
  });
  after(async () => w?.close());

  it('audit log: entries newest first with old -> new, "not logged", "values erased", status moves and the API key; filters and paging', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
    const entries = page.getByRole('listitem').filter({ has: page.locator('.head') });
    await entries.first().waitFor();
    const seqs = (await page.locator('.entry .head .mono.muted').allTextContents()).map((s) => Number(s.replace('#', '')));
    assert.ok(seqs.length > 5);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => b - a),
      'newest first',
    );

    // Ann's edit: the name old -> new, the sensitive diagnosis named but never shown.
    const edit = entries.filter({ hasText: 'Ann Baker' }).filter({ hasText: 'update' }).filter({ hasText: 'Ann Archer' });
    await edit.first().waitFor();
    const nameRow = edit.first().getByRole('row').filter({ hasText: 'Ann Archer' });
    assert.deepEqual(
      (await nameRow.locator('td').allTextContents()).map((s) => s.trim()),
      ['name', 'Ann Archer', '→', 'Ann Baker'],
    );
    await edit.first().getByRole('row').filter({ hasText: 'diagnosis' }).getByText('not logged').waitFor();
    assert.ok(!(await page.content()).includes('DIAG-SECRET'), 'a sensitive value is nowhere on the page');
    // The clerk's change through the API key, and the status move it made.
    const viaKey = entries.filter({ hasText: `via API key ${keyId}` }).filter({ hasText: 'update' });
    await viaKey.first().getByText('cleo', { exact: true }).waitFor();
    await viaKey.first().getByText('127.0.0.1').waitFor();
    const move = entries.filter({ hasText: 'transition' }).filter({ hasText: 'closed' }).first();
    await move.getByText('open', { exact: true }).waitFor();
    // Bob's erased history: the entries are there, their values not.
    const erased = entries.filter({ hasText: `patients/${bobId}` }).filter({ hasText: 'update' });
    await erased.first().getByText('values erased').waitFor();
    await erased.first().getByText("This record's history was erased").waitFor();
    assert.equal(await erased.first().getByText('Bob Erased').count(), 0);
    await shot(page, 'audit-log');

    // Filters through the form land in the address; only status entries.
    await page.getByLabel('Kind').selectOption('status');
    await page.getByLabel('Record id').fill(annId);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/kind=status/);
    assert.match(page.url(), new RegExp(`recordId=${annId}`));
    await entries.first().getByText('transition').waitFor();
    const kinds = await page.locator('.entry .head .badge').allTextContents();
    assert.deepEqual(kinds, ['status', 'status'], 'open at create, then closed');
    await shot(page, 'audit-log-filtered');
    // A time range after every entry: nothing.
    await page.goto(`${w.base}/admin/audit?since=${encodeURIComponent('2031-01-01T00:00:00.000Z')}`);
    await page.getByText('No entry matches these filters.').waitFor();

    // Paging: 50 a page, the cursor in the address, and back.
    for (let i = 0; i < 55; i++) await ok(api('PATCH', `/api/collections/patients/records/${annId}`, { ward: `W${i}` }), 200);
    await page.goto(`${w.base}/admin/audit?kind=change`);
    await entries.first().waitFor();
    assert.equal(await page.locator('.entry').count(), 50);
    const first = await page.locator('.entry .head .mono.muted').allTextContents();
    await page.getByRole('button', { name: 'Older entries' }).click();
    await page.waitForURL(/beforeSeq=\d+/);
    await page.getByRole('button', { name: 'Newer entries' }).waitFor();
    const second = await page.locator('.entry .head .mono.muted').allTextContents();
    assert.ok(second.length > 0 && second.length < 50, `the rest: ${second.length}`);
    assert.ok(Number(second[0]!.slice(1)) < Number(first.at(-1)!.slice(1)), 'older than the first page');
    await page.getByRole('button', { name: 'Newer entries' }).click();
    await page.getByRole('button', { name: 'Older entries' }).waitFor();
    assert.doesNotMatch(page.url(), /beforeSeq/);
    assert.deepEqual(await page.locator('.entry .head .mono.muted').allTextContents(), first);
    assertClean(w);
  });

  it('audit log: the exports download what the filter selects, as CSV and JSON Lines, with the session cookie', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/audit?kind=status&recordId=${annId}`);
    await page.locator('.entry').first().waitFor();
    const link = page.getByRole('link', { name: 'Export CSV' });
    assert.equal(await link.getAttribute('href'), `/api/admin/audit/export?kind=status&recordId=${annId}&format=csv`);
    const [csv] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.equal(csv.suggestedFilename(), 'audit.csv');
    const lines = readFileSync((await csv.path())!, 'utf8')
      .trim()
      .split('\n');
    assert.match(lines[0]!, /^seq,at,kind,collection,recordId,operation/);
    assert.equal(lines.length, 3, 'a header and the two status entries');
    assert.ok(lines.slice(1).every((l) => l.includes(',status,patients,')));
    const [jsonl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export JSON Lines' }).click()]);
    const rows = readFileSync((await jsonl.path())!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      rows.map((r) => [r.kind, r.recordId, r.data.to]),
      [
        ['status', annId, 'closed'],
        ['status', annId, 'open'],
      ],
    );
    // Still on the log (a download is no navigation); the export itself is recorded.
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const reads = (await ok(api('GET', '/api/admin/security-events?type=audit.read'), 200)).json().events;
    assert.ok(reads.length > 0);
    assertClean(w);
  });

  it('audit chain: verify shows intact, a checkpoint is signed and listed with the public key; a DBA edit shows "broken at entry N"', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit chain' }).click();
    await page.getByText('No checkpoint yet.').waitFor();
    await page.getByLabel('Public key').getByText('BEGIN PUBLIC KEY').waitFor();
    await page.getByRole('button', { name: 'Verify now' }).click();
    const verdict = page.getByRole('status').filter({ hasText: 'Intact' });
    await verdict.waitFor();
    await verdict.getByText(/entries on the chain/).waitFor();

    await page.getByRole('button', { name: 'Sign a checkpoint' }).click();
    const signed = page.getByRole('status').filter({ hasText: /Checkpoint signed at entry \d+\./ });
    await signed.waitFor();
    const seq = Number(/entry (\d+)/.exec((await signed.textContent()) ?? '')![1]);
    await page.getByRole('cell', { name: String(seq), exact: true }).waitFor();
    const listed = (await ok(api('GET', '/api/admin/audit/checkpoints'), 200)).json();
    assert.equal(listed.checkpoints[0].seq, seq);
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.getByRole('definition').filter({ hasText: /^1$/ }).first().waitFor();
    await shot(page, 'audit-chain');

    // A DBA rewrites who made a change: the chain names the entry.
    const target = Number(
      (await w.t.s.db.selectFrom('audit_log').select('seq').where('kind', '=', 'change').orderBy('seq').limit(1).executeTakeFirstOrThrow()).seq,
    );
    await asDba(() => sql`update audit_log set actor_name = 'someone else' where seq = ${target}`.execute(w.t.s.db));
    try {
      await page.getByRole('button', { name: 'Verify now' }).click();
      const broken = page.getByRole('status').filter({ hasText: `Broken at entry ${target}: altered` });
      await broken.waitFor();
      await page
        .getByRole('definition')
        .filter({ hasText: `entry ${target}: altered` })
        .waitFor();
      await shot(page, 'audit-chain-broken');
    } finally {
      await asDba(() => sql`update audit_log set actor_name = 'root' where seq = ${target}`.execute(w.t.s.db));
    }
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.getByRole('status').filter({ hasText: 'Intact' }).waitFor();

    // The audit log's settings (retention, hidden sign-ins) come with the generated settings screen.
    await page.goto(`${w.base}/admin/settings`);
    const area = page.getByRole('region', { name: /audit/i }).first();
    await area.waitFor();
    await area.screenshot({ path: path.join(SCREENS_DIR, 'security-settings-audit-log.png') });
    assertClean(w);
  });

  it('collections editor: the audit options are saved, a field is made sensitive on create and on edit, and its values stay out of the log', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/collections/patients`);
    const form = page.getByRole('form', { name: 'Audit options' });
    await form.waitFor();
    assert.equal(await form.getByLabel(/Change log/).isChecked(), true, 'on by default');
    assert.equal(await form.getByLabel('Access log (reads)').inputValue(), 'off');
    await form.getByLabel(/Revisions/).check();
    await form.getByLabel('Access log (reads)').selectOption('ids');
    await form.getByRole('button', { name: 'Save audit options' }).click();
    await page.getByRole('status').filter({ hasText: 'Audit options saved.' }).waitFor();
    const def = (await ok(api('GET', '/api/admin/collections/patients'), 200)).json().collection;
    assert.deepEqual(def.audit, { changeLog: true, accessLog: 'ids', revisions: true });
    await form.scrollIntoViewIfNeeded();
    await shot(page, 'collection-audit');

    // A new field, sensitive from the start.
    await page.getByRole('button', { name: 'Add field' }).click();
    const add = page.getByRole('form', { name: 'New field' });
    await add.getByLabel('Field name').fill('insurance_no');
    await add.getByLabel(/Protection level/).selectOption('confidential');
    await add.getByRole('button', { name: 'Save field' }).click();
    await page.getByRole('status').filter({ hasText: 'Field insurance_no added.' }).waitFor();
    await page.getByRole('row').filter({ hasText: 'insurance_no' }).getByText('confidential (never logged)').waitFor();
    // An existing field made sensitive by editing it.
    await page.getByRole('button', { name: 'Edit field ward' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit field ward' });
    await dialog.getByLabel(/Protection level/).selectOption('confidential');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Field ward saved.' }).waitFor();
    await page.getByRole('row').filter({ hasText: 'ward' }).getByText('confidential (never logged)').waitFor();
    const fields = (await ok(api('GET', '/api/admin/collections/patients'), 200)).json().collection.fields as Array<{ name: string; classification?: string }>;
    assert.equal(fields.find((f) => f.name === 'insurance_no')?.classification, 'confidential');
    assert.equal(fields.find((f) => f.name === 'ward')?.classification, 'confidential');

    // The proof that matters: a change to them names the fields, never the values.
    await ok(api('PATCH', `/api/collections/patients/records/${annId}`, { ward: 'SECRET-WARD', insurance_no: 'INS-SECRET-9' }), 200);
    const log = await ok(api('GET', `/api/admin/audit?kind=change&recordId=${annId}&limit=1`), 200);
    assert.deepEqual(log.json().entries[0].changes, [
      { field: 'ward', secret: true },
      { field: 'insurance_no', secret: true },
    ]);
    assert.ok(!log.body.includes('SECRET-WARD') && !log.body.includes('INS-SECRET'));

    // Off again: the change log off is saved as such.
    await form.getByLabel(/Change log/).uncheck();
    await form.getByRole('button', { name: 'Save audit options' }).click();
    await page.getByRole('status').filter({ hasText: 'Audit options saved.' }).waitFor();
    assert.equal((await ok(api('GET', '/api/admin/collections/patients'), 200)).json().collection.audit.changeLog, false);
    await ok(api('PATCH', '/api/admin/collections/patients', { audit: { changeLog: true, accessLog: 'off' } }), 200);
    assertClean(w);
  });

  it("data browser: an audit.read holder sees a record's change history, refreshed after an edit; a user without it does not", async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/data/patients/${annId}`);
    const history = page.getByRole('region', { name: 'Change history' });
    await history.waitFor();
    await history.locator('.entry').first().waitFor();
    // The newest change (the previous test's): sensitive fields by name only.
    await history.locator('.entry').first().getByRole('row').filter({ hasText: 'insurance_no' }).getByText('not logged').waitFor();
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('name').fill('Ann Carter');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const newest = history.locator('.entry').first();
    const row = newest.getByRole('row').filter({ hasText: 'Ann Carter' });
    await row.waitFor();
    assert.deepEqual(
      (await row.locator('td').allTextContents()).map((s) => s.trim()),
      ['name', 'Ann Baker', '→', 'Ann Carter'],
    );
    assert.equal(await history.locator('.entry').count(), 10);
    await shot(page, 'record-history');
    await history.getByRole('button', { name: 'Older changes' }).click();
    await history.locator('.entry').nth(10).waitFor();

    // The clerk edits patients but holds no audit.read: no history, and no request for it.
    const clerk = await w.newPage();
    const asked: string[] = [];
    clerk.on('request', (r) => {
      if (r.url().includes('/api/admin/audit')) asked.push(r.url());
    });
    await signIn(clerk, w.base, 'cleo', PW);
    await clerk.goto(`${w.base}/data/patients/${annId}`);
    await clerk.getByRole('button', { name: 'Edit' }).waitFor();
    assert.equal(await clerk.getByRole('region', { name: 'Change history' }).count(), 0);
    assert.deepEqual(asked, []);
    assert.equal((await api('GET', `/api/admin/audit?recordId=${annId}`, undefined, bearer((await login(w.t, 'cleo', PW)).token))).statusCode, 403);
    assertClean(w);
  });

  it('permissions: without audit.read no menu entry, the pages refuse and the server too; an auditor reads and verifies but signs no checkpoint', async () => {
    // A schema manager without audit.read.
    await ok(api('POST', '/api/admin/roles', { name: 'modeller', permissions: ['schema.manage'] }));
    const mId = await createUser(w.t, admin, 'max', PW);
    await ok(api('PUT', `/api/admin/users/${mId}/roles`, { roles: ['modeller'] }), 204);
    const max = bearer((await login(w.t, 'max', PW)).token);
    for (const [m, url] of [
      ['GET', '/api/admin/audit'],
      ['GET', '/api/admin/audit/export?format=csv'],
      ['POST', '/api/admin/audit/verify'],
      ['GET', '/api/admin/audit/checkpoints'],
      ['POST', '/api/admin/audit/checkpoints'],
    ] as const) {
      assert.equal((await api(m, url, m === 'POST' ? {} : undefined, max)).statusCode, 403, url);
    }
    assert.equal((await api('PATCH', '/api/admin/collections/patients', { audit: { revisions: false } }, max)).statusCode, 403);
    const page = await w.newPage();
    await signIn(page, w.base, 'max', PW);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Collections' }).waitFor();
    for (const name of ['Audit log', 'Audit chain']) assert.equal(await nav.getByRole('link', { name }).count(), 0, name);
    for (const [path, heading] of [
      ['/admin/audit', 'Audit log'],
      ['/admin/audit-chain', 'Audit chain'],
    ]) {
      await page.goto(`${w.base}${path}`);
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      await page
        .getByText(/not found/i)
        .first()
        .waitFor();
      assert.equal(await page.getByRole('heading', { name: heading }).count(), 0, path);
    }
    // The collections editor shows him the audit options, read-only (administrators change them).
    await page.goto(`${w.base}/admin/collections/patients`);
    await page.getByText('only administrators change these').waitFor();
    assert.equal(await page.getByRole('form', { name: 'Audit options' }).count(), 0);

    // An auditor: the log and the chain, no signing.
    await ok(api('POST', '/api/admin/roles', { name: 'auditor', permissions: ['audit.read'] }));
    const aId = await createUser(w.t, admin, 'aude', PW);
    await ok(api('PUT', `/api/admin/users/${aId}/roles`, { roles: ['auditor'] }), 204);
    const aude = await w.newPage();
    await signIn(aude, w.base, 'aude', PW);
    const anav = aude.getByRole('navigation', { name: 'Main' });
    await anav.getByRole('link', { name: 'Audit log' }).click();
    await aude.locator('.entry').first().waitFor();
    await anav.getByRole('link', { name: 'Audit chain' }).click();
    await aude.getByRole('button', { name: 'Verify now' }).click();
    await aude.getByRole('status').filter({ hasText: 'Intact' }).waitFor();
    assert.equal(await aude.getByRole('button', { name: 'Sign a checkpoint' }).count(), 0);
    assert.equal((await api('POST', '/api/admin/audit/checkpoints', {}, bearer((await login(w.t, 'aude', PW)).token))).statusCode, 403);
    await aude.setViewportSize({ width: 390, height: 800 });
    await aude.goto(`${w.base}/admin/audit?kind=change&recordId=${annId}`);
    await aude.locator('.entry').first().waitFor();
    await aude.getByRole('button', { name: 'Older entries' }).click();
    await aude.getByRole('button', { name: 'Newer entries' }).waitFor();
    await aude.locator('.entry').first().waitFor();
    await shot(aude, 'audit-log-phone');
    assertClean(w);
  });
});
