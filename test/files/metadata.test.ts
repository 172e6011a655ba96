// Metadata removal from uploads (ASVS V14.2.8, D441): a JPEG's EXIF (GPS position, camera serial, owner), XMP and
// IPTC, a PNG's tEXt author and a PDF's document information and XMP (old revision included) are gone from the
// stored bytes, while the file stays a valid one of its type; an uploader keeps them only by an explicit consent that
// the field allows; other types are stored as they came. The fixtures are built here: a valid JPEG, PNG and PDF
// without metadata (samples.ts), then tagged by ExifTool itself.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { filesEnv } from '../../src/files/env.js';
import { findTool, MetadataStripper } from '../../src/files/metadata.js';
import { bmp, docx, gzip, jpeg, pdf, png, text, zip } from './samples.js';
import { bearer } from '../helpers/app.js';
import { codeOf, filesWorld, ok, type FilesWorld } from './world.js';

const EXIFTOOL = findTool('exiftool');
const QPDF = findTool('qpdf');
const scratch = mkdtempSync(path.join(tmpdir(), 'palisade-metadata-'));

/** Runs ExifTool on a copy of `bytes` (a file `x.<ext>` of a fresh directory): writes `tags` and returns the new bytes. */
function tagged(bytes: Buffer, ext: string, tags: string[]): Buffer {
  const dir = mkdtempSync(path.join(scratch, 'tag-'));
  const file = path.join(dir, `x.${ext}`);
  writeFileSync(file, bytes);
  const r = spawnSync(EXIFTOOL!, ['-config', '', '-q', '-overwrite_original', ...tags, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(file);
}

/** What ExifTool reads in `bytes`: every tag, by group (`EXIF:GPSLatitude`), duplicates kept. */
function tagsOf(bytes: Buffer, ext: string): Record<string, unknown> {
  const dir = mkdtempSync(path.join(scratch, 'read-'));
  const file = path.join(dir, `x.${ext}`);
  writeFileSync(file, bytes);
  const r = spawnSync(EXIFTOOL!, ['-config', '', '-j', '-G', '-a', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const all = (JSON.parse(r.stdout) as Array<Record<string, unknown>>)[0]!;
  // The file system's own facts are not the file's metadata.
  return Object.fromEntries(Object.entries(all).filter(([k]) => !k.startsWith('File:') && !k.startsWith('ExifTool:') && k !== 'SourceFile'));
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const has = (b: Buffer, s: string) => b.includes(Buffer.from(s, 'latin1'));

const PERSONAL = ['Jane Doe', 'CAM-SN-4471', 'BODY-SN-9', 'Eiffel', 'SecretWriter'];
const photoWithEverything = () =>
  tagged(jpeg(40, 24), 'jpg', [
    '-GPSLatitude=48.8584',
    '-GPSLatitudeRef=N',
    '-GPSLongitude=2.2945',
    '-GPSLongitudeRef=E',
    '-SerialNumber=CAM-SN-4471',
    '-BodySerialNumber=BODY-SN-9',
    '-OwnerName=Jane Doe',
    '-Artist=Jane Doe',
    '-Make=Acme',
    '-Model=Snapper 9',
    '-XMP-dc:Creator=Jane Doe',
    '-XMP-dc:Description=At the Eiffel tower',
    '-IPTC:By-line=Jane Doe',
    '-Comment=Jane Doe was here',
    '-Orientation#=6',
  ]);

const WORD = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
let w: FilesWorld;
let id: string;
/** An upload of the editor's into the test record, with the uploader's consent to keep the metadata or without. */
const uploadKeeping = (bytes: Buffer, field: string, name: string, keepMetadata: boolean) =>
  w.t.app.inject({
    method: 'POST',
    url: `${w.filesUrl(id, field)}?name=${encodeURIComponent(name)}&keepMetadata=${keepMetadata}`,
    headers: { ...bearer(w.tok.ed!), 'content-type': 'application/octet-stream' },
    payload: bytes,
  });
/** Files under FILES_DIR besides the stored ones: staging leftovers and metadata work directories. */
const leftovers = () => w.stored().filter((p) => p.includes(`${path.sep}.staging${path.sep}`));

before(async () => {
  assert.ok(EXIFTOOL && QPDF, 'exiftool and qpdf are installed (.ci/run installs libimage-exiftool-perl and qpdf)');
  w = await filesWorld();
  id = await w.record(w.tok.ed!, 'metadata');
  // `any` lets an uploader keep the metadata; `photo`, `scan` and `attachments` do not (the first two by default).
  const accept = ['image/png', 'image/jpeg', 'image/gif', 'image/bmp', 'application/pdf', 'application/gzip', 'application/zip', WORD, 'text/plain'];
  ok(await w.req('PATCH', '/api/admin/collections/docs/fields/any', w.admin, { keepMetadata: true, accept }), 200);
  ok(await w.req('PATCH', '/api/admin/collections/docs/fields/attachments', w.admin, { keepMetadata: null }), 200);
});
after(async () => {
  await w?.t.close();
  rmSync(scratch, { recursive: true, force: true });
});

test('a JPEG loses its EXIF GPS position, camera serials, owner, XMP, IPTC and comment, keeps its orientation and stays a valid JPEG [ASVS V14.2.8]', async () => {
  const original = photoWithEverything();
  const before = tagsOf(original, 'jpg');
  // The fixture carries what a phone's photo carries.
  for (const k of ['EXIF:GPSLatitude', 'EXIF:SerialNumber', 'EXIF:OwnerName', 'EXIF:Make', 'XMP:Creator', 'XMP:Description', 'IPTC:By-line'])
    assert.ok(k in before, `the fixture has ${k}`);
  assert.ok(has(original, 'Jane Doe was here') && has(original, 'CAM-SN-4471'), 'and a comment');

  const up = await w.upload(w.tok.ed!, id, 'photo', original, 'holiday.jpg');
  ok(up);
  assert.equal(up.json().metadata, 'removed');
  assert.equal(up.json().type, 'image/jpeg');
  const down = await w.download(w.tok.ed!, id, 'photo', up.json().id);
  assert.equal(down.statusCode, 200);
  const got = down.rawPayload;
  const after = tagsOf(got, 'jpg');
  for (const k of Object.keys(after)) assert.doesNotMatch(k, /^(XMP|IPTC|Photoshop|MakerNotes|JFIF)|GPS|Serial|Owner|Artist|Make$|Model$/, `${k} is left`);
  for (const s of PERSONAL) assert.ok(!has(got, s), `${s} is left in the bytes`);
  assert.ok(!has(got, 'Jane'), 'the comment is gone');
  // Still a JPEG of the same size, read without error, shown the same way up.
  assert.equal(after['EXIF:Orientation'], 'Rotate 90 CW');
  assert.equal(after['Composite:ImageSize'], '40x24');
  assert.ok(!('ExifTool:Error' in after) && !('ExifTool:Warning' in tagsOf(got, 'jpg')));
  assert.deepEqual([...got.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  assert.deepEqual([...got.subarray(-2)], [0xff, 0xd9]);
  // The row describes the stored bytes: their size and SHA-256, not the upload's.
  const row = (await w.rows()).find((r) => r.id === up.json().id)!;
  assert.equal(Number(row.size), got.length);
  assert.equal(up.json().size, got.length);
  assert.equal(row.sha256, sha256(got));
  assert.ok(got.length < original.length);
  assert.deepEqual(leftovers(), [], 'no work files left');
  // The record's change log says what became of the metadata; a later read of the file does not carry it.
  const log = await w.req('GET', `/api/admin/audit?collection=docs&kind=change&operation=update&limit=1`, w.admin);
  ok(log, 200);
  const change = (log.json().entries[0].changes as Array<{ field: string; new: Array<Record<string, unknown>> }>).find((c) => c.field === 'photo')!;
  assert.equal(change.new.find((f) => f.id === up.json().id)?.metadata, 'removed');
  const listed = (await w.req('GET', w.filesUrl(id, 'photo'), w.tok.ed!)).json().files[0];
  assert.equal(listed.metadata, undefined);
});

test('a PNG loses its tEXt Author, XMP and EXIF GPS; a PDF loses its Author and XMP, old revision included [ASVS V14.2.8]', async () => {
  const image = tagged(png(6, 4), 'png', ['-PNG:Author=Jane Doe', '-XMP-dc:Creator=Jane Doe', '-EXIF:GPSLatitude=48.8584', '-EXIF:GPSLatitudeRef=N']);
  assert.ok(has(image, 'tEXtAuthor'), 'the fixture has a tEXt Author chunk');
  const up = await w.upload(w.tok.ed!, id, 'photo', image, 'plan.png');
  ok(up);
  assert.equal(up.json().metadata, 'removed');
  const got = (await w.download(w.tok.ed!, id, 'photo', up.json().id)).rawPayload;
  assert.ok(!has(got, 'Jane') && !has(got, 'tEXt') && !has(got, 'eXIf') && !has(got, 'iTXt'), 'no text, XMP or EXIF chunk');
  const t = tagsOf(got, 'png');
  assert.equal(t['PNG:ImageWidth'], 6);
  assert.ok(!Object.keys(t).some((k) => /Author|GPS|XMP/.test(k)), Object.keys(t).join(', '));

  // A document information dictionary, then XMP added by ExifTool as an incremental update (the first stays inside).
  const doc = tagged(pdf('<</Author(Jane Doe)/Creator(SecretWriter 9)/Title(Eiffel plan)>>'), 'pdf', [
    '-XMP-dc:Creator=Jane Doe',
    '-XMP-pdf:Producer=SecretWriter',
  ]);
  assert.ok(tagsOf(doc, 'pdf')['PDF:Author'] === 'Jane Doe' && 'XMP:Creator' in tagsOf(doc, 'pdf'));
  const upDoc = await w.upload(w.tok.ed!, id, 'scan', doc, 'plan.pdf');
  ok(upDoc);
  assert.equal(upDoc.json().metadata, 'removed');
  const gotDoc = (await w.download(w.tok.ed!, id, 'scan', upDoc.json().id)).rawPayload;
  for (const s of PERSONAL) assert.ok(!has(gotDoc, s), `${s} is left in the PDF's bytes`);
  const td = tagsOf(gotDoc, 'pdf');
  assert.ok(!Object.keys(td).some((k) => /Author|Creator|Producer|Title|XMP/.test(k)), Object.keys(td).join(', '));
  assert.equal(td['PDF:PageCount'], 1, 'still a PDF of one page');
  // No earlier revision to go back to: what ExifTool's own undo (PDF-update) would restore is not in the file.
  assert.equal((gotDoc.toString('latin1').match(/%%EOF/g) ?? []).length, 1, 'one revision');
  assert.deepEqual(leftovers(), []);
});

test('the uploader keeps the metadata by explicit consent where the field allows it, and is refused before a byte is stored where it does not [ASVS V14.2.8]', async () => {
  const original = photoWithEverything();
  const kept = await uploadKeeping(original, 'any', 'kept.jpg', true);
  ok(kept);
  assert.equal(kept.json().metadata, 'kept');
  const down = await w.download(w.tok.ed!, id, 'any', kept.json().id);
  assert.ok(down.rawPayload.equals(original), 'stored as it came');
  assert.equal(tagsOf(down.rawPayload, 'jpg')['EXIF:SerialNumber'], 'CAM-SN-4471');
  const log = await w.req('GET', `/api/admin/audit?collection=docs&kind=change&operation=update&limit=1`, w.admin);
  const change = (log.json().entries[0].changes as Array<{ field: string; new: Array<Record<string, unknown>> }>).find((c) => c.field === 'any')!;
  assert.equal(change.new.find((f) => f.id === kept.json().id)?.metadata, 'kept');
  // The rules say so before an upload is sent.
  const docs = (await w.req('GET', '/api/collections', w.tok.ed!)).json().collections.find((c: { name: string }) => c.name === 'docs');
  const rules = (name: string) => docs.fields.find((f: { name: string }) => f.name === name).file;
  assert.equal(rules('any').keepMetadata, true);
  assert.equal(rules('photo').keepMetadata, false);

  // Without the field's option the consent is refused, whatever the file; nothing is stored, nothing staged.
  const rowsBefore = (await w.rows()).length;
  const storedBefore = w.stored().length;
  for (const field of ['photo', 'scan']) {
    const r = await uploadKeeping(original, field, 'refused.jpg', true);
    assert.equal(r.statusCode, 400, r.body);
    assert.equal(codeOf(r), 'FILE_METADATA_KEEP_NOT_ALLOWED');
  }
  assert.equal((await w.rows()).length, rowsBefore);
  assert.equal(w.stored().length, storedBefore);
  // keepMetadata=false is the default: removed.
  const plain = await uploadKeeping(original, 'any', 'plain.jpg', false);
  ok(plain);
  assert.equal(plain.json().metadata, 'removed');
  // The field's option is set and cleared like its other options; a value that is no boolean is refused.
  assert.equal(codeOf(await w.req('PATCH', '/api/admin/collections/docs/fields/photo', w.admin, { keepMetadata: 'yes' })), 'VALIDATION_FAILED');
  assert.equal(codeOf(await w.req('PATCH', '/api/admin/collections/docs/fields/title', w.admin, { keepMetadata: true })), 'SCHEMA_INVALID');
  ok(await w.req('PATCH', '/api/admin/collections/docs/fields/scan', w.admin, { keepMetadata: true }), 200);
  ok(await w.req('PATCH', '/api/admin/collections/docs/fields/scan', w.admin, { keepMetadata: null }), 200);
  const def = (await w.req('GET', '/api/admin/collections/docs', w.admin)).json().collection;
  assert.equal(def.fields.find((f: { name: string }) => f.name === 'scan').keepMetadata, undefined);
  assert.equal(def.fields.find((f: { name: string }) => f.name === 'any').keepMetadata, true);
});

test("a type without metadata is stored byte-identical; a type whose metadata cannot be removed (Word, zip, gzip) is stored only with the uploader's consent, refused where the field forbids keeping it [ASVS V14.2.8]", async () => {
  const plain = await w.upload(w.tok.ed!, id, 'any', text(), 'notes.txt');
  ok(plain);
  assert.equal(plain.json().metadata, 'untouched');
  assert.ok((await w.download(w.tok.ed!, id, 'any', plain.json().id)).rawPayload.equals(text()));

  // Without consent: 422 naming the type, and that this field could take it with consent; nothing stored or staged.
  const word = docx('Jane Doe');
  const rowsBefore0 = (await w.rows()).length;
  const storedBefore0 = w.stored().length;
  for (const [bytes, name, type] of [
    [word, 'contract.docx', WORD],
    [zip({ 'a.txt': 'Jane Doe' }), 'bundle.zip', 'application/zip'],
    [gzip(Buffer.from('Jane Doe, CAM-SN-4471\n')), 'notes.gz', 'application/gzip'],
    [bmp(), 'picture.bmp', 'image/bmp'],
  ] as const) {
    const r = await w.upload(w.tok.ed!, id, 'any', bytes, name);
    assert.equal(r.statusCode, 422, r.body);
    assert.equal(codeOf(r), 'FILE_METADATA_CONSENT_REQUIRED');
    assert.deepEqual(r.json().error.details, { type, keepable: true });
  }
  assert.equal((await w.rows()).length, rowsBefore0);
  assert.equal(w.stored().length, storedBefore0);
  assert.deepEqual(leftovers(), []);
  // A field that forbids keeping metadata takes no such file: keepable false, and consent is refused there.
  const forbidden = await w.upload(w.tok.ed!, id, 'attachments', word, 'contract.docx');
  assert.equal(codeOf(forbidden), 'FILE_METADATA_CONSENT_REQUIRED');
  assert.deepEqual(forbidden.json().error.details, { type: WORD, keepable: false });
  assert.equal(codeOf(await uploadKeeping(word, 'attachments', 'contract.docx', true)), 'FILE_METADATA_KEEP_NOT_ALLOWED');
  // With the uploader's consent on a field that allows it: stored as it came, the consent in the answer and the log.
  const kept = await uploadKeeping(word, 'any', 'contract.docx', true);
  ok(kept);
  assert.equal(kept.json().metadata, 'kept');
  assert.ok((await w.download(w.tok.ed!, id, 'any', kept.json().id)).rawPayload.equals(word));
  const log = await w.req('GET', `/api/admin/audit?collection=docs&kind=change&operation=update&limit=1`, w.admin);
  const change = (log.json().entries[0].changes as Array<{ field: string; new: Array<Record<string, unknown>> }>).find((c) => c.field === 'any')!;
  assert.equal(change.new.find((f) => f.id === kept.json().id)?.metadata, 'kept');

  // With FILES_STRIP_METADATA=false nothing is removed or asked: the operator chose so (and is warned).
  const off = await filesWorld({ env: { FILES_STRIP_METADATA: 'false' } });
  try {
    const rec = await off.record(off.tok.ed!, 'off');
    const up = await off.upload(off.tok.ed!, rec, 'attachments', word, 'contract.docx');
    ok(up);
    assert.equal(up.json().metadata, 'untouched');
  } finally {
    await off.t.close();
  }

  // Recognised as a JPEG of 3×2 (file-type, image-size), but no image follows its header: ExifTool refuses it.
  const broken = Buffer.concat([jpeg().subarray(0, 2 + 69 + 13), Buffer.from('ffd9', 'hex')]);
  const rowsBefore = (await w.rows()).length;
  const r = await w.upload(w.tok.ed!, id, 'photo', broken, 'broken.jpg');
  assert.equal(r.statusCode, 422, r.body);
  assert.equal(codeOf(r), 'FILE_METADATA_NOT_REMOVABLE');
  assert.equal((await w.rows()).length, rowsBefore);
  assert.deepEqual(leftovers(), []);
  // With the field's consent and the uploader's, it is stored as it came.
  const keptBroken = await uploadKeeping(broken, 'any', 'broken.jpg', true);
  ok(keptBroken);
  assert.equal(keptBroken.json().metadata, 'kept');
});

test('a tool that does not answer in time is a 503 with Retry-After, within the limit, and leaves nothing; the arguments are fixed, with no shell and no environment [ASVS V14.2.8, V1.2.5]', async () => {
  const files = w.t.s.files as unknown as { stripper: MetadataStripper | null };
  const real = files.stripper;
  const bin = mkdtempSync(path.join(scratch, 'bin-'));
  const script = (name: string, body: string) => {
    writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
    return path.join(bin, name);
  };
  try {
    files.stripper = new MetadataStripper({ exiftool: script('slow', 'exec sleep 10'), qpdf: QPDF!, timeoutMs: 400 });
    const started = Date.now();
    const r = await w.upload(w.tok.ed!, id, 'photo', photoWithEverything(), 'slow.jpg');
    assert.equal(r.statusCode, 503, r.body);
    assert.equal(codeOf(r), 'SERVICE_UNAVAILABLE');
    assert.ok(Number(r.headers['retry-after']) > 0);
    assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
    assert.deepEqual(leftovers(), []);

    // What ExifTool is given, recorded by a stand-in that then runs it: a hostile name never reaches the command line
    // (the copy has a fixed name), and the tool sees no variable of the server's environment (APP_KEY and the rest).
    const log = path.join(bin, 'args');
    files.stripper = new MetadataStripper({
      exiftool: script('recording', `printf '%s\\n' "$@" > ${log}; env > ${log}.env; exec ${EXIFTOOL} "$@"`),
      qpdf: QPDF!,
      timeoutMs: 30_000,
    });
    const hostile = '--all=; rm -rf ~ $(id) `id` -o x.jpg';
    const up = await w.upload(w.tok.ed!, id, 'photo', photoWithEverything(), hostile);
    ok(up);
    assert.equal(up.json().metadata, 'removed');
    const args = readFileSync(log, 'utf8').trimEnd().split('\n');
    const work = path.dirname(args.at(-1)!);
    assert.deepEqual(args, [
      '-config',
      '',
      '-m',
      '-q',
      '-q',
      '-all=',
      '-tagsfromfile',
      '@',
      '-ColorSpaceTags',
      '-Orientation',
      '-o',
      path.join(work, 'out.jpg'),
      '--',
      path.join(work, 'in.jpg'),
    ]);
    assert.equal(path.dirname(work), path.join(w.t.s.config.files.dir, '.staging'));
    const env = readFileSync(`${log}.env`, 'utf8');
    assert.ok(!/APP_KEY|DATABASE|DATA_DIR/.test(env), env);
    assert.deepEqual(
      env
        .trim()
        .split('\n')
        .map((l) => l.split('=')[0])
        .filter((k) => k !== 'PWD' && k !== 'SHLVL' && k !== '_')
        .sort(),
      ['HOME', 'LC_ALL', 'PATH', 'TMPDIR'],
    );
  } finally {
    files.stripper = real;
  }
});

test('a metadata work directory left by a crash is removed by the orphan sweep; the switch, its warning and the doctor [ASVS V14.2.8]', async () => {
  const staging = path.join(w.t.s.config.files.dir, '.staging');
  const left = path.join(staging, 'metadata-crashed');
  mkdirSync(left, { mode: 0o700 });
  writeFileSync(path.join(left, 'in.jpg'), photoWithEverything());
  utimesSync(left, 1, 1);
  await w.t.s.files.collectOrphans();
  assert.ok(!readdirSync(staging).includes('metadata-crashed'));

  // On by default with its tools; off only when asked, and then warned.
  const read = (env: Record<string, string>) => {
    const problems: string[] = [];
    const warnings: string[] = [];
    const { files } = filesEnv.read(env, problems, warnings, { dataDir: '/nonexistent' } as never);
    return { files, problems, warnings };
  };
  const on = read({});
  assert.deepEqual(on.problems, []);
  assert.deepEqual(on.files.metadata, { exiftool: EXIFTOOL, qpdf: QPDF, timeoutMs: 30_000 });
  const off = read({ FILES_STRIP_METADATA: 'false' });
  assert.equal(off.files.metadata, null);
  assert.match(off.warnings.join('\n'), /FILES_STRIP_METADATA=false: uploaded files keep their metadata/);
  assert.match(read({ FILES_STRIP_METADATA: 'maybe' }).problems.join('\n'), /FILES_STRIP_METADATA must be true or false/);
  assert.equal(read({ FILES_STRIP_TIMEOUT: '5' }).files.metadata?.timeoutMs, 5000);
  assert.equal(findTool('palisade-no-such-tool'), null);
  assert.equal(findTool('exiftool'), EXIFTOOL);

  const report = await w.t.s.doctor.run();
  const check = report.checks.find((c) => c.id === 'file-metadata')!;
  assert.equal(check.status, 'pass', check.detail);
  assert.match(check.detail, /ExifTool \d+\.\d+ and qpdf/);
});
