// File fields in the admin UI (DATA-3) against the real server: an administrator adds a file field in the
// collections editor, creates a record, uploads a PNG (unscanned: no scanner here), downloads it through a
// one-use signed link, replaces it and restores the kept version, deletes it; a disguised upload (HTML named
// .png) is refused in words; a reader without the field's write grant sees the files but no upload control.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FILE_TYPES } from '../../src/collections/file-types.js';
import { changeOf, draftOf, emptyDraft, fieldOf, optionsOf } from '../../ui/src/lib/field-types.js';
import { fileNames, formatSize, KNOWN_FILE_TYPES, stateOf } from '../../ui/src/lib/file-kinds.js';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { findTool } from '../../src/files/metadata.js';
import { docx, html, jpeg, png } from '../files/samples.js';

const PW = 'Reader-lantern-6621';

describe('admin UI: file fields (client logic)', () => {
  it('offers exactly the server’s known types', () => {
    assert.deepEqual(
      KNOWN_FILE_TYPES.map((t) => t.type),
      Object.keys(FILE_TYPES),
    );
    assert.ok(
      KNOWN_FILE_TYPES.every((t) => t.label !== t.type),
      'every type has a label',
    );
  });

  it('turns a draft into a file field definition and back', () => {
    const d = {
      ...emptyDraft('file'),
      name: 'photo',
      required: true,
      unique: true,
      accept: ['image/png'],
      maxMiB: '1.5',
      versionsText: '2',
      maxFilesText: '9',
    };
    const f = fieldOf(d);
    // No column options, no maxFiles on a single-file field.
    assert.deepEqual(f, { name: 'photo', type: 'file', accept: ['image/png'], maxBytes: 1572864, versions: 2 });
    assert.deepEqual(fieldOf({ ...d, multiple: true }), { name: 'photo', type: 'file', multiple: true, accept: ['image/png'], maxBytes: 1572864, maxFiles: 9 });
    assert.deepEqual(fieldOf(draftOf(f)), f);
    assert.deepEqual(changeOf(f, { ...draftOf(f), accept: [], maxMiB: '' }), { accept: null, maxBytes: null });
    // Text that is no number goes to the server as is, to be refused in words.
    assert.equal(fieldOf({ ...d, maxMiB: 'lots' }).maxBytes, 'lots' as unknown as number);
    assert.deepEqual(optionsOf(f), ['one file', 'accepts png', 'at most 1.5 MiB', 'keeps 2 versions']);
    // Letting uploads keep their metadata is an option of its own, sent only when on and cleared with null.
    const keeping = fieldOf({ ...d, keepMetadata: true });
    assert.equal(keeping.keepMetadata, true);
    assert.deepEqual(changeOf(f, draftOf(keeping)), { keepMetadata: true });
    assert.deepEqual(changeOf(keeping, draftOf(f)), { keepMetadata: null });
    assert.ok(optionsOf(keeping).includes('uploads may keep their metadata'));
  });

  it('puts sizes, states and file lists in words', () => {
    assert.equal(formatSize(1), '1 byte');
    assert.equal(formatSize(1023), '1023 bytes');
    assert.equal(formatSize(48213), '47.1 KiB');
    assert.equal(formatSize(25 * 1024 * 1024), '25 MiB');
    assert.deepEqual(stateOf('quarantined'), { text: 'being scanned', colour: '', downloadable: false });
    assert.equal(stateOf('infected').downloadable, false);
    assert.equal(stateOf('clean').downloadable, true);
    assert.equal(stateOf('unscanned').downloadable, true);
    const f = { id: 'a', name: 'a.png', type: 'image/png', size: 3, state: 'clean', version: 1, uploadedAt: '' };
    assert.equal(fileNames([f, { ...f, id: 'b', name: 'b.png' }]), 'a.png, b.png');
    assert.equal(fileNames([]), 'no file');
    assert.equal(fileNames('x'), '—');
  });
});

describe('admin UI: file fields against the real server', () => {
  let w: UiWorld;
  let admin: string;
  const api = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, token = admin) =>
    w.t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
  const photo = png(4, 3);
  const photo2 = png(5, 5);
  let recordId = '';

  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
    const r = await api('POST', '/api/admin/collections', { name: 'albums', fields: [{ name: 'title', type: 'string', required: true }] });
    assert.equal(r.statusCode, 201, r.body);
  });
  after(async () => w?.close());

  it('an administrator adds a file field, uploads, downloads, replaces, restores and deletes', async () => {
    const page = await w.newPage();
    await page.setViewportSize({ width: 1100, height: 900 });
    await signIn(page, w.base);

    // The field, defined in the collections editor.
    await page.goto(`${w.base}/admin/collections/albums`);
    await page.getByRole('button', { name: 'Add field' }).click();
    const form = page.getByRole('form', { name: 'New field' });
    await form.getByLabel('Field name').fill('photo');
    await form.getByLabel('Type').selectOption('file');
    assert.equal(await form.getByLabel('Required').count(), 0, 'a file field cannot be required');
    await form.getByRole('checkbox', { name: /PNG image/ }).check();
    await form.getByRole('checkbox', { name: /JPEG image/ }).check();
    await form.getByLabel('Largest file (MiB)').fill('2');
    await form.getByLabel('Most pixels of an image').fill('1000000');
    await form.getByLabel('Versions kept').fill('2');
    await form.getByLabel('Uploaders may keep metadata').check();
    await page.mouse.move(0, 0);
    await shot(page, 'collection-file-field');
    await form.getByRole('button', { name: 'Save field' }).click();
    await page.getByRole('status').filter({ hasText: 'Field photo added.' }).waitFor();
    await page.getByText('keeps 2 versions').waitFor();
    const def = (await api('GET', '/api/admin/collections/albums')).json() as { collection: { fields: Array<Record<string, unknown>> } };
    assert.deepEqual(
      def.collection.fields.find((f) => f.name === 'photo'),
      { name: 'photo', type: 'file', accept: ['image/png', 'image/jpeg'], maxBytes: 2 * 1024 * 1024, maxPixels: 1_000_000, versions: 2, keepMetadata: true },
    );
    await page.getByText('uploads may keep their metadata').waitFor();

    // Its limits can be changed later; "Several files" cannot.
    await page.getByRole('button', { name: 'Edit field photo' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit field photo' });
    assert.equal(await edit.getByLabel('Several files').isDisabled(), true);
    await edit.getByLabel('Largest file (MiB)').fill('3');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Field photo saved.' }).waitFor();
    const after = (await api('GET', '/api/admin/collections/albums')).json() as { collection: { fields: Array<Record<string, unknown>> } };
    assert.equal(after.collection.fields.find((f) => f.name === 'photo')?.maxBytes, 3 * 1024 * 1024);
    assert.deepEqual(after.collection.fields.find((f) => f.name === 'photo')?.accept, ['image/png', 'image/jpeg']);

    // A new record says files come after the first save.
    await page.goto(`${w.base}/data/albums/new`);
    await page.getByText('are added once the record is created').waitFor();
    assert.equal(await page.getByLabel(/photo/).count(), 0, 'no text input for a file field');
    await page.getByLabel('title (required)').fill('Holidays');
    await page.getByRole('button', { name: 'Create record' }).click();
    await page.getByRole('heading', { name: 'Record in albums', exact: true }).waitFor();
    await page.waitForURL((u) => !u.pathname.endsWith('/new'));
    recordId = new URL(page.url()).pathname.split('/').pop()!;
    const files = page.getByRole('group', { name: 'Files of photo' });
    await files.getByText('No file.').waitFor();

    // Upload: listed, not scanned (no scanner), downloadable.
    const upload = files.getByLabel('Upload a file to photo');
    // The field's rules, from GET /api/collections, said before anything is sent.
    assert.match((await files.locator('[data-rules]').textContent()) ?? '', /^Accepts PNG/);
    await upload.setInputFiles({ name: 'beach.png', mimeType: 'image/png', buffer: photo });
    await files.getByRole('status').filter({ hasText: 'beach.png uploaded (not scanned). Its metadata was removed.' }).waitFor();
    const current = files.getByRole('list', { name: 'Current files of photo' });
    await current.getByText('beach.png').waitFor();
    await current.getByText(formatSize(photo.length)).waitFor();
    await current.getByText('not scanned').waitFor();

    // Download through the signed link: the browser saves the bytes, the page stays.
    const links: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/files/signed/')) links.push(r.url());
    });
    const [download] = await Promise.all([page.waitForEvent('download'), current.getByRole('button', { name: 'Download beach.png' }).click()]);
    assert.equal(download.suggestedFilename(), 'beach.png');
    assert.deepEqual(readFileSync((await download.path())!), photo);
    assert.equal(links.length, 1);
    // The link is spent.
    assert.equal((await w.t.app.inject({ method: 'GET', url: new URL(links[0]!).pathname })).statusCode, 403);
    assert.ok(page.url().endsWith(`/data/albums/${recordId}`));

    // Replace: the first file is kept as a version, and can be restored.
    await upload.setInputFiles({ name: 'sunset.png', mimeType: 'image/png', buffer: photo2 });
    await files.getByRole('status').filter({ hasText: 'sunset.png uploaded' }).waitFor();
    await current.getByText('sunset.png').waitFor();
    await files.getByText('Versions (1)').click();
    const kept = files.getByRole('list', { name: 'Kept versions of photo' });
    await kept.getByText('beach.png').waitFor();

    // A disguised upload (HTML named .png) is refused in words; nothing changes.
    await upload.setInputFiles({ name: 'innocent.png', mimeType: 'image/png', buffer: html() });
    await files.getByRole('alert').filter({ hasText: 'innocent.png: This kind of file is not accepted here' }).waitFor();
    // The change history names files, not their JSON.
    await page
      .getByText(`beach.png (${formatSize(photo.length)}, not scanned, version 1)`)
      .first()
      .waitFor();
    assert.equal(await current.getByText('innocent.png').count(), 0);
    await page.mouse.move(0, 0);
    await shot(page, 'data-record-files');

    await kept.getByRole('button', { name: /^Restore beach\.png/ }).click();
    await files.getByRole('status').filter({ hasText: 'beach.png restored' }).waitFor();
    await current.getByText('beach.png').waitFor();
    await kept.getByText('sunset.png').waitFor();

    // Lists show a file field as its file names.
    await page.goto(`${w.base}/data/albums`);
    await page.getByRole('cell', { name: 'beach.png' }).waitFor();
    await shot(page, 'data-records-files');

    // Delete, behind a confirmation.
    await page.goto(`${w.base}/data/albums/${recordId}`);
    await current.getByRole('button', { name: 'Delete beach.png' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete beach.png?' });
    await dialog.getByRole('button', { name: 'Delete file' }).click();
    await files.getByRole('status').filter({ hasText: 'beach.png deleted.' }).waitFor();
    await files.getByText('No file.').waitFor();
    const left = (await api('GET', `/api/collections/albums/records/${recordId}/files/photo`)).json() as { files: unknown[] };
    assert.deepEqual(left.files, []);
    assertClean(w);
  });

  it('a reader without the write grant sees and downloads the files but has no upload control', async () => {
    const up = await w.t.app.inject({
      method: 'POST',
      url: `/api/collections/albums/records/${recordId}/files/photo?name=lake.png`,
      headers: { ...bearer(admin), 'content-type': 'application/octet-stream' },
      payload: photo,
    });
    assert.equal(up.statusCode, 201, up.body);
    assert.equal((await api('POST', '/api/admin/roles', { name: 'album_reader' })).statusCode, 201);
    const g = await api('POST', '/api/admin/grants', { role: 'album_reader', collection: 'albums', actions: ['view'], fields: ['title', 'photo'] });
    assert.equal(g.statusCode, 201, g.body);
    const id = await createUser(w.t, admin, 'rita', PW);
    assert.equal((await api('PUT', `/api/admin/users/${id}/roles`, { roles: ['album_reader'] })).statusCode, 204);

    const page = await w.newPage();
    await signIn(page, w.base, 'rita', PW);
    await page.goto(`${w.base}/data/albums/${recordId}`);
    const files = page.getByRole('group', { name: 'Files of photo' });
    await files.getByText('lake.png').waitFor();
    assert.equal(await files.getByLabel('Upload a file to photo').count(), 0);
    assert.equal(await files.getByRole('button', { name: /^Delete/ }).count(), 0);
    const [download] = await Promise.all([page.waitForEvent('download'), files.getByRole('button', { name: 'Download lake.png' }).click()]);
    assert.deepEqual(readFileSync((await download.path())!), photo);
    await shot(page, 'data-record-files-reader');
    // A reader is offered no consent to keep metadata either: there is no upload.
    assert.equal(await files.getByLabel("Keep this file's metadata").count(), 0);
    assertClean(w);
  });

  it('an uploader keeps a photo’s metadata only by ticking the consent the field offers, one upload at a time [ASVS V14.2.8]', async () => {
    const exiftool = findTool('exiftool')!;
    const dir = mkdtempSync(path.join(tmpdir(), 'palisade-ui-exif-'));
    const file = path.join(dir, 'p.jpg');
    writeFileSync(file, jpeg(16, 16));
    const tag = spawnSync(exiftool, ['-config', '', '-q', '-overwrite_original', '-GPSLatitude=48.8584', '-GPSLatitudeRef=N', '-SerialNumber=UI-SN-77', file]);
    assert.equal(tag.status, 0, String(tag.stderr));
    const tagged = readFileSync(file);
    rmSync(dir, { recursive: true, force: true });
    const r = await api('POST', '/api/collections/albums/records', { title: 'Trip' });
    assert.equal(r.statusCode, 201, r.body);
    const tripId = r.json().id as string;
    const stored = async () => {
      const list = (await api('GET', `/api/collections/albums/records/${tripId}/files/photo`)).json() as { files: Array<{ id: string }> };
      const got = await api('GET', `/api/collections/albums/records/${tripId}/files/photo/${list.files[0]!.id}`);
      return got.rawPayload;
    };

    const page = await w.newPage();
    await page.setViewportSize({ width: 1100, height: 900 });
    await signIn(page, w.base);
    await page.goto(`${w.base}/data/albums/${tripId}`);
    const files = page.getByRole('group', { name: 'Files of photo' });
    const consent = files.getByLabel("Keep this file's metadata");
    const upload = files.getByLabel('Upload a file to photo');
    assert.equal(await consent.isChecked(), false, 'off unless ticked');
    await upload.setInputFiles({ name: 'gps.jpg', mimeType: 'image/jpeg', buffer: tagged });
    await files.getByRole('status').filter({ hasText: 'gps.jpg uploaded (not scanned). Its metadata was removed.' }).waitFor();
    assert.ok(!(await stored()).includes(Buffer.from('UI-SN-77')), 'the serial number is gone');

    await consent.check();
    await page.mouse.move(0, 0);
    await shot(page, 'data-record-files-keep-metadata');
    await upload.setInputFiles({ name: 'gps-kept.jpg', mimeType: 'image/jpeg', buffer: tagged });
    await files.getByRole('status').filter({ hasText: 'gps-kept.jpg uploaded (not scanned). Its metadata was kept.' }).waitFor();
    assert.deepEqual(await stored(), tagged, 'stored as it came');
    // The consent was for that file only, and the change history says it was given.
    assert.equal(await consent.isChecked(), false);
    await page.getByText(`gps-kept.jpg (${formatSize(tagged.length)}, not scanned, version 2), metadata kept by the uploader`).waitFor();
    await page.getByText(/gps\.jpg \(\d+ bytes, not scanned, version 1\), metadata removed/).waitFor();
    assertClean(w);
  });

  it('a Word file, whose metadata cannot be removed, is stored only after the uploader agrees in the prompt; a field that forbids keeping metadata refuses it in words [ASVS V14.2.8]', async () => {
    const WORD = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
    const made = await api('POST', '/api/admin/collections', {
      name: 'contracts',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'signed', type: 'file', accept: [WORD], keepMetadata: true },
        { name: 'draft', type: 'file', accept: [WORD] },
      ],
    });
    assert.equal(made.statusCode, 201, made.body);
    const r = await api('POST', '/api/collections/contracts/records', { title: 'Lease' });
    assert.equal(r.statusCode, 201, r.body);
    const leaseId = r.json().id as string;
    const count = async (field: string) =>
      ((await api('GET', `/api/collections/contracts/records/${leaseId}/files/${field}`)).json() as { files: unknown[] }).files.length;
    const word = docx('Jane Doe');

    const page = await w.newPage();
    await page.setViewportSize({ width: 1100, height: 900 });
    await signIn(page, w.base);
    await page.goto(`${w.base}/data/contracts/${leaseId}`);
    const signed = page.getByRole('group', { name: 'Files of signed' });
    await signed.getByLabel('Upload a file to signed').setInputFiles({ name: 'lease.docx', mimeType: WORD, buffer: word });
    const prompt = signed.getByRole('alertdialog');
    await prompt.getByText('lease.docx is a kind of file whose metadata (authors, edit times, comments) cannot be removed').waitFor();
    await page.mouse.move(0, 0);
    await shot(page, 'data-record-files-consent');
    // Declined: nothing is stored.
    await prompt.getByRole('button', { name: 'Do not store it' }).click();
    assert.equal(await signed.getByRole('alertdialog').count(), 0);
    assert.equal(await count('signed'), 0);
    // Agreed: stored as it came, the consent said.
    await signed.getByLabel('Upload a file to signed').setInputFiles({ name: 'lease.docx', mimeType: WORD, buffer: word });
    await signed.getByRole('alertdialog').getByRole('button', { name: 'Store it with its metadata' }).click();
    await signed.getByRole('status').filter({ hasText: 'lease.docx uploaded (not scanned). Its metadata was kept.' }).waitFor();
    assert.equal(await count('signed'), 1);

    // A field without the option cannot take it: said in words, no prompt, nothing stored.
    const draft = page.getByRole('group', { name: 'Files of draft' });
    await draft.getByLabel('Upload a file to draft').setInputFiles({ name: 'draft.docx', mimeType: WORD, buffer: word });
    await draft
      .getByRole('alert')
      .filter({ hasText: 'draft.docx: This kind of file (an Office or OpenDocument file, audio, WebM, zip, gzip or BMP) keeps its metadata' })
      .waitFor();
    assert.equal(await draft.getByRole('alertdialog').count(), 0);
    assert.equal(await count('draft'), 0);
    assertClean(w);
  });
});
