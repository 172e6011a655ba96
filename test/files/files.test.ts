// DATA-3 private files without a scanner (files are `unscanned`): types recognised from the bytes, limits,
// names, grants, versions and removal, through the HTTP API. Both dialects (TEST_DB).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { bmp, elf, exe, gif, gzip, html, jpeg, pdf, png, svg, text } from './samples.js';
import { safeName } from '../../src/files/sniff.js';
import { codeOf, filesWorld, ok, settle, type FilesWorld } from './world.js';

let w: FilesWorld;
before(async () => {
  w = await filesWorld();
});
after(() => w?.t.close());

test('each allowed type uploads, is recognised from its bytes and downloads byte-identical (a PDF rewritten whole, its metadata removed) with safe headers [ASVS V3.2.1, V3.4.4, V5.2.2, V5.3.1, V5.4.1]', async () => {
  const id = await w.record(w.tok.ed!, 'all types');
  const cases: Array<[string, Buffer, string]> = [
    ['a.png', png(), 'image/png'],
    ['b.jpg', jpeg(), 'image/jpeg'],
    ['c.gif', gif(), 'image/gif'],
    ['d.bmp', bmp(), 'image/bmp'],
    ['e.pdf', pdf(), 'application/pdf'],
    ['f.gz', gzip(), 'application/gzip'],
    ['g.txt', text(), 'text/plain'],
  ];
  for (const [name, bytes, type] of cases) {
    // A gzip header's name and time, a BMP's embedded profile cannot be removed: stored with the uploader's consent (D446).
    const up = await w.upload(w.tok.ed!, id, 'any', bytes, name, undefined, type === 'application/gzip' || type === 'image/bmp');
    ok(up);
    const meta = up.json();
    assert.equal(meta.type, type, name);
    assert.equal(meta.state, 'unscanned');
    assert.equal(meta.name, name);
    const down = await w.download(w.tok.ed!, id, 'any', meta.id);
    assert.equal(down.statusCode, 200, down.body);
    // qpdf writes every PDF anew (docs/files.md#metadata); the samples of the other types carry no metadata.
    if (type === 'application/pdf') assert.match(down.rawPayload.subarray(0, 8).toString('latin1'), /^%PDF-1\.\d/, name);
    else assert.ok(down.rawPayload.equals(bytes), name);
    assert.equal(meta.size, down.rawPayload.length);
    assert.match(String(down.headers['content-type']), new RegExp(`^${type.replace('/', '\\/')}`));
    assert.equal(down.headers['x-content-type-options'], 'nosniff');
    assert.equal(down.headers['content-security-policy'], "sandbox; default-src 'none'");
    assert.equal(down.headers['cache-control'], 'private, no-store');
    assert.match(String(down.headers['content-disposition']), new RegExp(`^attachment; .*filename\\*=UTF-8''${name.replace('.', '\\.')}$`));
  }
  // The record shows the field's current files' metadata.
  const rec = (await w.req('GET', `/api/collections/docs/records/${id}`, w.tok.ed!)).json();
  assert.equal(rec.any.length, cases.length);
  assert.deepEqual(Object.keys(rec.any[0]).sort(), ['id', 'name', 'size', 'state', 'type', 'uploadedAt', 'version']);
  assert.deepEqual(rec.photo, []);
});

test('a disguised upload is refused: a PNG named .pdf and sent as application/pdf is a PNG, and a pdf-only field refuses it [ASVS V5.2.2]', async () => {
  const id = await w.record(w.tok.ed!, 'disguise');
  const before = (await w.rows()).length;
  const refused = await w.upload(w.tok.ed!, id, 'scan', png(), 'report.pdf', 'application/pdf');
  assert.equal(refused.statusCode, 415, refused.body);
  assert.equal(codeOf(refused), 'FILE_TYPE_NOT_ALLOWED');
  assert.equal((await w.rows()).length, before);
  assert.ok(!w.stored().some((p) => p.includes('.staging/')), 'nothing left in staging');
  // Where PNGs are accepted it is stored as what it is, under a name that says so.
  const stored = await w.upload(w.tok.ed!, id, 'attachments', png(), 'report.pdf', 'application/pdf');
  ok(stored);
  assert.equal(stored.json().type, 'image/png');
  assert.equal(stored.json().name, 'report.png');
});

test('HTML, SVG and executables disguised as images are refused, and nothing is stored [ASVS V1.3.4, V5.2.2]', async () => {
  const id = await w.record(w.tok.ed!, 'hostile');
  const before = (await w.rows()).length;
  const files = w.stored().length;
  for (const [name, bytes] of [
    ['x.png', html()],
    ['y.png', svg()],
    ['z.jpg', elf()],
    ['setup.gif', exe()],
  ] as const) {
    const r = await w.upload(w.tok.ed!, id, 'photo', bytes, name, 'image/png');
    assert.equal(r.statusCode, 415, `${name}: ${r.body}`);
    assert.equal(codeOf(r), 'FILE_TYPE_NOT_ALLOWED');
  }
  // Even a field that takes text refuses an executable (NUL bytes are not text).
  assert.equal(codeOf(await w.upload(w.tok.ed!, id, 'notes', elf(), 'notes.txt', 'text/plain')), 'FILE_TYPE_NOT_ALLOWED');
  assert.equal(codeOf(await w.upload(w.tok.ed!, id, 'notes', Buffer.alloc(0), 'empty.txt')), 'FILE_TYPE_NOT_ALLOWED');
  // Text is checked to its end, read in pieces: a NUL or a cut-off character far into the file is not text.
  const long = (tail: Buffer) => Buffer.concat([Buffer.alloc(100_000, 'a'), tail]);
  assert.equal(codeOf(await w.upload(w.tok.ed!, id, 'notes', long(Buffer.from([0x41, 0x00, 0x42])), 'nul.txt')), 'FILE_TYPE_NOT_ALLOWED');
  assert.equal(codeOf(await w.upload(w.tok.ed!, id, 'notes', long(Buffer.from([0xe2, 0x82])), 'cut.txt')), 'FILE_TYPE_NOT_ALLOWED');
  assert.equal((await w.rows()).length, before);
  assert.equal(w.stored().length, files);
});

test('text whose characters straddle the pieces it is read in is still text', async () => {
  const id = await w.record(w.tok.ed!, 'straddle');
  // "€" (3 bytes) starts 1 byte before the 64 KiB boundary.
  const bytes = Buffer.concat([Buffer.alloc(64 * 1024 - 1, 'b'), Buffer.from('€ done\n', 'utf8')]);
  const r = await w.upload(w.tok.ed!, id, 'notes', bytes, 'euro.txt');
  ok(r);
  assert.equal(r.json().type, 'text/plain');
});

test('size, count and pixel limits are refused with stable codes and nothing is stored [ASVS V2.3.2, V5.2.1, V5.2.6]', async () => {
  const id = await w.record(w.tok.ed!, 'limits');
  const before = (await w.rows()).length;
  const files = w.stored().length;
  const big = gzip(randomBytes(3000));
  assert.ok(big.length > 2000);
  const tooBig = await w.upload(w.tok.ed!, id, 'attachments', big, 'big.gz');
  assert.equal(tooBig.statusCode, 413, tooBig.body);
  assert.equal(codeOf(tooBig), 'FILE_TOO_LARGE');
  const pixels = await w.upload(w.tok.ed!, id, 'photo', png(2000, 2000), 'huge.png');
  assert.equal(pixels.statusCode, 413, pixels.body);
  assert.equal(codeOf(pixels), 'FILE_TOO_MANY_PIXELS');
  assert.equal((await w.rows()).length, before);
  assert.equal(w.stored().length, files);
  ok(await w.upload(w.tok.ed!, id, 'attachments', png(), '1.png'));
  ok(await w.upload(w.tok.ed!, id, 'attachments', gif(), '2.gif'));
  const third = await w.upload(w.tok.ed!, id, 'attachments', jpeg(), '3.jpg');
  assert.equal(third.statusCode, 409, third.body);
  assert.equal(codeOf(third), 'FILE_LIMIT_REACHED');
  assert.equal((await w.rows()).length, before + 2);
});

test('file names are sanitised: no path, no NUL or control characters [ASVS V1.2.1, V1.3.3, V5.3.2, V5.4.1, V5.4.2]', async () => {
  const id = await w.record(w.tok.ed!, 'names');
  // A NUL in the query string is refused by the pipeline before any route; the sanitiser drops it anyway.
  assert.equal(codeOf(await w.upload(w.tok.ed!, id, 'photo', png(), '../../etc/passwd\u0000.png')), 'NUL_CHARACTER');
  assert.equal(safeName('../../etc/passwd\u0000.png', { type: 'image/png', ext: 'png' }), 'passwd.png');
  const r = await w.upload(w.tok.ed!, id, 'photo', png(), '../../etc/passwd.png');
  ok(r);
  assert.equal(r.json().name, 'passwd.png');
  assert.equal(safeName('...', { type: 'image/png', ext: 'png' }), 'file.png');
  assert.equal(safeName('photo.JPEG', { type: 'image/jpeg', ext: 'jpg' }), 'photo.jpeg');
  const r2 = await w.upload(w.tok.ed!, id, 'attachments', png(), '..\\..\\evil\u202e\r\n"name".png');
  ok(r2);
  assert.equal(r2.json().name, 'evil_name_.png');
  const down = await w.download(w.tok.ed!, id, 'attachments', r2.json().id);
  assert.equal(down.statusCode, 200);
  assert.doesNotMatch(String(down.headers['content-disposition']), /[\r\n]/);
  // Zero-width and the Arabic letter mark make look-alike names: dropped like the other bidi marks.
  const r3 = await w.upload(w.tok.ed!, id, 'attachments', png(), 'in\u200bvoice\u061c\u2060\ufeff\u00ad.png');
  ok(r3);
  assert.equal(r3.json().name, 'invoice.png');
  assert.equal(
    safeName('r\u00e9sum\u00e9 \u6587\u66f8.png', { type: 'image/png', ext: 'png' }),
    'r\u00e9sum\u00e9 \u6587\u66f8.png',
    'letters of any script stay',
  );
  assert.equal(
    safeName('\u{1f469}\u200d\u{1f4bb}.png', { type: 'image/png', ext: 'png' }),
    '\u{1f469}\u200d\u{1f4bb}.png',
    'an emoji sequence keeps its joiner',
  );
});

test('grants: the field grant and the row scope decide uploads and downloads', async () => {
  const id = await w.record(w.tok.ed!, 'grants');
  const up = await w.upload(w.tok.ed!, id, 'photo', png(), 'p.png');
  ok(up);
  const fileId = up.json().id as string;
  // The reader reads the photo, but may not write it.
  assert.equal((await w.download(w.tok.rd!, id, 'photo', fileId)).statusCode, 200);
  const rdUp = await w.upload(w.tok.rd!, id, 'photo', png(), 'p.png');
  assert.equal(rdUp.statusCode, 403, rdUp.body);
  // The viewer knows only the title: the photo is unknown to them, for reading and for writing.
  const vwDown = await w.download(w.tok.vw!, id, 'photo', fileId);
  assert.equal(codeOf(vwDown), 'FIELD_UNKNOWN', vwDown.body);
  assert.equal(codeOf(await w.req('GET', w.filesUrl(id, 'photo'), w.tok.vw!)), 'FIELD_UNKNOWN');
  assert.ok([403, 400].includes((await w.upload(w.tok.vw!, id, 'photo', png(), 'p.png')).statusCode));
  // The reader cannot read attachments (known to nobody but editors).
  assert.equal(codeOf(await w.req('GET', w.filesUrl(id, 'attachments'), w.tok.rd!)), 'FIELD_UNKNOWN');
  // Another editor's record is outside ed2's scope: 404 for every files route.
  const ed2Up = await w.upload(w.tok.ed2!, id, 'photo', png(), 'p.png');
  assert.equal(ed2Up.statusCode, 404, ed2Up.body);
  assert.equal((await w.download(w.tok.ed2!, id, 'photo', fileId)).statusCode, 404);
  assert.equal((await w.req('DELETE', `${w.filesUrl(id, 'photo')}/${fileId}`, w.tok.ed2!)).statusCode, 404);
  // A field that is not a file field, and record writes or filters that name a file field.
  assert.equal(codeOf(await w.upload(w.tok.ed!, id, 'title', png(), 'p.png')), 'NOT_A_FILE_FIELD');
  assert.equal(codeOf(await w.req('PATCH', `/api/collections/docs/records/${id}`, w.tok.ed!, { photo: [] })), 'FILE_FIELD_IN_BODY');
  assert.equal(codeOf(await w.req('POST', '/api/collections/docs/records', w.tok.ed!, { title: 'x', photo: 'y' })), 'FILE_FIELD_IN_BODY');
  const filter = encodeURIComponent(JSON.stringify({ photo: { $null: true } }));
  assert.equal(codeOf(await w.req('GET', `/api/collections/docs/records?filter=${filter}`, w.tok.ed!)), 'FILTER_INVALID');
  assert.equal(codeOf(await w.req('GET', '/api/collections/docs/records?sort=photo', w.tok.ed!)), 'FILTER_INVALID');
  // Nothing changed by the refusals.
  const list = (await w.req('GET', w.filesUrl(id, 'photo'), w.tok.ed!)).json().files;
  assert.deepEqual(
    list.map((f: { id: string }) => f.id),
    [fileId],
  );
});

test('versions: a replaced file is kept (up to the field number), listed for writers and restorable', async () => {
  const id = await w.record(w.tok.ed!, 'versions');
  const v: string[] = [];
  for (const [i, bytes] of [png(1, 1), png(2, 1), png(3, 1), png(4, 1)].entries()) {
    const r = await w.upload(w.tok.ed!, id, 'photo', bytes, `v${i + 1}.png`);
    ok(r);
    v.push(r.json().id);
  }
  await settle(w.t);
  const current = (await w.req('GET', w.filesUrl(id, 'photo'), w.tok.ed!)).json().files;
  assert.deepEqual(
    current.map((f: { id: string }) => f.id),
    [v[3]],
  );
  const all = (await w.req('GET', `${w.filesUrl(id, 'photo')}?versions=true`, w.tok.ed!)).json().files;
  // Two kept versions: the oldest went, with its bytes.
  assert.deepEqual(
    all.map((f: { id: string; current: boolean }) => [f.id, f.current]),
    [
      [v[3], true],
      [v[2], false],
      [v[1], false],
    ],
  );
  assert.ok(!w.stored().some((p) => p.endsWith(v[0]!)));
  // Readers see the current file only; versions are for those who may write the field.
  assert.equal((await w.req('GET', `${w.filesUrl(id, 'photo')}?versions=true`, w.tok.rd!)).statusCode, 403);
  assert.equal((await w.download(w.tok.rd!, id, 'photo', v[1]!)).statusCode, 403);
  const restored = await w.req('POST', `${w.filesUrl(id, 'photo')}/${v[1]}/restore`, w.tok.ed!);
  assert.equal(restored.statusCode, 200, restored.body);
  assert.equal(restored.json().current, true);
  const rec = (await w.req('GET', `/api/collections/docs/records/${id}`, w.tok.ed!)).json();
  assert.deepEqual(
    rec.photo.map((f: { id: string }) => f.id),
    [v[1]],
  );
  assert.equal((await w.req('POST', `${w.filesUrl(id, 'photo')}/${v[1]}/restore`, w.tok.rd!)).statusCode, 403);
  // The change log tells of each change of the field.
  const log = await w.req('GET', `/api/admin/audit?collection=docs&recordId=${id}&kind=change`, w.admin);
  assert.equal(log.statusCode, 200, log.body);
  assert.ok(log.json().entries.filter((e: { operation: string }) => e.operation === 'update').length >= 5, log.body);
});

test('deleting a file, and deleting the record, removes the rows and the stored bytes', async () => {
  const id = await w.record(w.tok.ed!, 'removal');
  const a = (await w.upload(w.tok.ed!, id, 'attachments', png(), 'a.png')).json().id as string;
  const b = (await w.upload(w.tok.ed!, id, 'attachments', gif(), 'b.gif')).json().id as string;
  const del = await w.req('DELETE', `${w.filesUrl(id, 'attachments')}/${a}`, w.tok.ed!);
  assert.equal(del.statusCode, 204, del.body);
  await settle(w.t);
  assert.ok(!w.stored().some((p) => p.endsWith(a)));
  assert.ok(w.stored().some((p) => p.endsWith(b)));
  assert.equal((await w.download(w.tok.ed!, id, 'attachments', a)).statusCode, 404);
  ok(await w.req('DELETE', `/api/collections/docs/records/${id}`, w.tok.ed!), 204);
  await settle(w.t);
  assert.equal((await w.rows()).filter((r) => r.record_id === id).length, 0);
  assert.ok(!w.stored().some((p) => p.endsWith(b)));
});

test('a file whose stored bytes are gone answers 404 FILE_CONTENT_MISSING, not a 500, and the operator is told (D457)', async () => {
  const { rmSync } = await import('node:fs');
  const id = await w.record(w.tok.ed!, 'bytes-gone');
  const kept = (await w.upload(w.tok.ed!, id, 'attachments', png(), 'kept.png')).json().id as string;
  const gone = (await w.upload(w.tok.ed!, id, 'attachments', gif(), 'gone.gif')).json().id as string;
  rmSync(w.stored().find((p) => p.endsWith(gone))!);
  const logged = w.t.logs.length;
  const r = await w.download(w.tok.ed!, id, 'attachments', gone);
  assert.equal(r.statusCode, 404, r.body);
  assert.equal(codeOf(r), 'FILE_CONTENT_MISSING');
  assert.ok(!r.body.includes(w.t.s.config.files.dir), 'no path in the answer');
  const lines = w.t.logs.slice(logged).join('');
  assert.match(lines, new RegExp(`"event":"system.error".*file ${gone}: its stored content is missing`));
  // The record's other file still downloads.
  const ok2 = await w.download(w.tok.ed!, id, 'attachments', kept);
  assert.equal(ok2.statusCode, 200, ok2.body);
  assert.ok(ok2.rawPayload.equals(png()));
  // The whole store missing is the store's outage, 503, not a missing file: the directory gone, or empty (a volume not
  // mounted on its mount point).
  const { mkdirSync, renameSync, rmdirSync } = await import('node:fs');
  const dir = w.t.s.config.files.dir;
  renameSync(dir, `${dir}.away`);
  try {
    for (const empty of [false, true]) {
      if (empty) mkdirSync(dir);
      const down = await w.download(w.tok.ed!, id, 'attachments', kept);
      assert.equal(down.statusCode, 503, down.body);
      assert.equal(codeOf(down), 'SERVICE_UNAVAILABLE');
    }
  } finally {
    rmdirSync(dir);
    renameSync(`${dir}.away`, dir);
  }
  assert.equal((await w.download(w.tok.ed!, id, 'attachments', kept)).statusCode, 200);
});

test('stored files are private: 0600 in 0700 directories, under opaque keys [ASVS V5.3.1, V5.3.2]', async () => {
  const { statSync } = await import('node:fs');
  const id = await w.record(w.tok.ed!, 'modes');
  const r = await w.upload(w.tok.ed!, id, 'photo', png(), 'secret-name.png');
  const fileId = r.json().id as string;
  const p = w.stored().find((x) => x.endsWith(fileId))!;
  assert.ok(p, 'stored under its id');
  assert.ok(!w.stored().some((x) => x.includes('secret-name')));
  assert.equal(statSync(p).mode & 0o777, 0o600);
  assert.equal(statSync(w.t.s.config.files.dir).mode & 0o777, 0o700);
});

test('the orphan sweep removes old bytes that no row names and old staging leftovers, and keeps every file a row names', async () => {
  const { mkdirSync, utimesSync, writeFileSync } = await import('node:fs');
  const path = await import('node:path');
  const { randomUUID } = await import('node:crypto');
  const id = await w.record(w.tok.ed!, 'orphans');
  const kept = (await w.upload(w.tok.ed!, id, 'photo', png(), 'kept.png')).json().id as string;
  const dir = w.t.s.config.files.dir;
  const orphan = randomUUID();
  mkdirSync(path.join(dir, orphan.slice(0, 2)), { recursive: true, mode: 0o700 });
  const orphanPath = path.join(dir, orphan.slice(0, 2), orphan);
  writeFileSync(orphanPath, 'left behind', { mode: 0o600 });
  const stagedPath = path.join(dir, '.staging', randomUUID());
  writeFileSync(stagedPath, 'half an upload', { mode: 0o600 });
  const young = randomUUID();
  mkdirSync(path.join(dir, young.slice(0, 2)), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, young.slice(0, 2), young), 'just committed', { mode: 0o600 });
  const old = new Date(w.t.clock.now() - 2 * 3600_000);
  for (const p of [orphanPath, stagedPath, w.stored().find((x) => x.endsWith(kept))!]) utimesSync(p, old, old);
  utimesSync(path.join(dir, young.slice(0, 2), young), new Date(w.t.clock.now()), new Date(w.t.clock.now()));
  assert.equal(await w.t.s.files.collectOrphans(), 2);
  const now = w.stored();
  assert.ok(!now.includes(orphanPath));
  assert.ok(!now.includes(stagedPath));
  assert.ok(now.some((p) => p.endsWith(kept)));
  assert.ok(now.some((p) => p.endsWith(young)));
  assert.equal((await w.download(w.tok.ed!, id, 'photo', kept)).statusCode, 200);
});

test('concurrent uploads into one multiple field never exceed maxFiles [ASVS V2.3.4]', async () => {
  const id = await w.record(w.tok.ed!, 'race');
  const results = await Promise.all(Array.from({ length: 5 }, (_, i) => w.upload(w.tok.ed!, id, 'attachments', png(i + 1, 1), `r${i}.png`)));
  assert.equal(results.filter((r) => r.statusCode === 201).length, 2, results.map((r) => r.body).join('\n'));
  assert.ok(results.filter((r) => r.statusCode !== 201).every((r) => codeOf(r) === 'FILE_LIMIT_REACHED'));
  assert.equal((await w.rows()).filter((r) => r.record_id === id).length, 2);
  await settle(w.t);
  assert.equal(w.stored().filter((p) => p.includes('.staging')).length, 0);
});

test('an update grant without the file field refuses the upload with FIELD_NOT_WRITABLE, and stores nothing', async () => {
  const { createUser, login } = await import('../helpers/app.js');
  ok(await w.req('POST', '/api/admin/roles', w.admin, { name: 'titler' }));
  // Titlers read the title and the photo, and may update the title only.
  ok(await w.req('POST', '/api/admin/grants', w.admin, { role: 'titler', collection: 'docs', actions: ['view'], fields: ['title', 'photo'] }));
  ok(await w.req('POST', '/api/admin/grants', w.admin, { role: 'titler', collection: 'docs', actions: ['update'], fields: ['title'] }));
  const uid = await createUser(w.t, w.admin, 'titler1', 'Title-writer-6618');
  ok(await w.req('PUT', `/api/admin/users/${uid}/roles`, w.admin, { roles: ['titler'] }), 204);
  const token = (await login(w.t, 'titler1', 'Title-writer-6618')).token;
  const id = await w.record(w.tok.ed!, 'field grant');
  const first = await w.upload(w.tok.ed!, id, 'photo', png(), 'p.png');
  ok(first);
  const before = (await w.rows()).length;
  const refused = await w.upload(token, id, 'photo', gif(), 'g.gif');
  assert.equal(refused.statusCode, 403, refused.body);
  assert.equal(codeOf(refused), 'FIELD_NOT_WRITABLE');
  assert.equal(codeOf(await w.req('DELETE', `${w.filesUrl(id, 'photo')}/${first.json().id}`, token)), 'FIELD_NOT_WRITABLE');
  assert.equal((await w.rows()).length, before);
  // They may still read it, and update the title.
  assert.equal((await w.download(token, id, 'photo', first.json().id)).statusCode, 200);
  ok(await w.req('PATCH', `/api/collections/docs/records/${id}`, token, { title: 'renamed' }), 200);
});

test("GET /api/collections gives each file field's upload rules to those who know the field", async () => {
  const res = await w.req('GET', '/api/collections', w.tok.ed!);
  assert.equal(res.statusCode, 200, res.body);
  const docs = res.json().collections.find((c: { name: string }) => c.name === 'docs');
  const field = (n: string) => docs.fields.find((f: { name: string }) => f.name === n);
  assert.deepEqual(field('photo').file, {
    multiple: false,
    accept: ['image/png', 'image/jpeg', 'image/gif'],
    maxBytes: null,
    maxFiles: null,
    maxPixels: 1_000_000,
    versions: 2,
    keepMetadata: false,
  });
  assert.deepEqual(field('attachments').file, { multiple: true, accept: null, maxBytes: 2000, maxFiles: 2, maxPixels: null, versions: 0, keepMetadata: true });
  assert.equal(field('title').file, undefined);
});

test('a compression bomb is stored as it came, never unpacked: the limits count the bytes as uploaded [ASVS V5.2.3]', async () => {
  const { gzipSync } = await import('node:zlib');
  const { statSync } = await import('node:fs');
  const id = await w.record(w.tok.ed!, 'bomb');
  // 64 MiB of zeros in about 64 KiB: a server that unpacked it would hold a thousand times what was sent.
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  assert.ok(bomb.length < 100_000, String(bomb.length));
  const t0 = Date.now();
  const up = await w.upload(w.tok.ed!, id, 'any', bomb, 'zeros.gz', undefined, true);
  ok(up);
  assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`);
  assert.equal(up.json().type, 'application/gzip');
  assert.equal(up.json().size, bomb.length);
  assert.equal(statSync(w.stored().find((p) => p.endsWith(up.json().id))!).size, bomb.length, 'stored packed');
  const down = await w.download(w.tok.ed!, id, 'any', up.json().id);
  assert.ok(down.rawPayload.equals(bomb));
  // The field's limit applies to those bytes: over it is refused, a small archive of a large content is taken.
  const refused = await w.upload(w.tok.ed!, id, 'attachments', bomb, 'zeros.gz');
  assert.equal(codeOf(refused), 'FILE_TOO_LARGE');
  const small = gzipSync(Buffer.alloc(1024 * 1024));
  assert.ok(small.length < 2000);
  ok(await w.upload(w.tok.ed!, id, 'attachments', small, 'mib.gz', undefined, true));
});
