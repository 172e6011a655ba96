// DATA-3 file fields in collection definitions: checked options, no column, and their files removed with the
// field or the collection (rows in the change's transaction, bytes after it).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { checkCollection, hasColumn } from '../../src/collections/schema.js';
import { png } from './samples.js';
import { codeOf, filesWorld, ok, settle, type FilesWorld } from './world.js';

let w: FilesWorld;
before(async () => {
  w = await filesWorld();
});
after(() => w?.t.close());

test('file field options are checked: no column options, known types only, limits within bounds [ASVS V2.2.3]', () => {
  const problems = (f: Record<string, unknown>) => checkCollection({ name: 'c', fields: [{ name: 'f', type: 'file', ...f } as never] }, new Set());
  assert.deepEqual(problems({}), []);
  assert.deepEqual(problems({ multiple: true, maxFiles: 5, accept: ['image/png', 'text/plain'], maxBytes: 1000, maxPixels: 10 }), []);
  for (const bad of [
    { unique: true },
    { indexed: true },
    { required: true },
    { default: 'x' },
    { accept: ['text/html'] },
    { accept: ['image/svg+xml'] },
    { accept: [] },
    { maxBytes: 0 },
    { maxBytes: 2 ** 40 },
    { maxFiles: 3 },
    { multiple: true, versions: 2 },
    { versions: -1 },
  ])
    assert.notDeepEqual(problems(bad), [], JSON.stringify(bad));
  assert.notDeepEqual(checkCollection({ name: 'c', fields: [{ name: 'f', type: 'string', accept: ['image/png'] }] }, new Set()), []);
  assert.equal(hasColumn({ type: 'file' }), false);
  assert.equal(hasColumn({ type: 'members' }), false);
  assert.equal(hasColumn({ type: 'string' }), true);
});

test('a file field has no column; the admin API refuses bad options [ASVS V2.2.3]', async () => {
  const cols =
    w.t.s.dialect === 'postgres'
      ? (
          await sql<{
            name: string;
          }>`select column_name as name from information_schema.columns where table_name = 'col_docs' and table_schema = current_schema()`.execute(w.t.s.db)
        ).rows
      : (await sql<{ name: string }>`select name from pragma_table_info('col_docs')`.execute(w.t.s.db)).rows;
  const names = cols.map((c) => c.name);
  assert.ok(names.includes('title'));
  assert.ok(!names.includes('photo'));
  const r = await w.req('POST', '/api/admin/collections/docs/fields', w.admin, { name: 'bad', type: 'file', accept: ['text/html'] });
  assert.equal(codeOf(r), 'SCHEMA_INVALID', r.body);
});

test('removing a file field, then the collection, removes their files', async () => {
  ok(
    await w.req('POST', '/api/admin/collections', w.admin, {
      name: 'temp',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'a', type: 'file' },
        { name: 'b', type: 'file' },
      ],
    }),
  );
  const rec = await w.req('POST', '/api/collections/temp/records', w.admin, { title: 't' });
  ok(rec);
  const id = rec.json().id as string;
  const up = (field: string) =>
    w.t.app.inject({
      method: 'POST',
      url: `/api/collections/temp/records/${id}/files/${field}?name=x.png`,
      headers: { authorization: `Bearer ${w.admin}` },
      payload: png(),
    });
  const a = await up('a');
  ok(a);
  const b = await up('b');
  ok(b);
  const gone = (fileId: string) => !w.stored().some((p) => p.endsWith(fileId));
  ok(await w.req('DELETE', '/api/admin/collections/temp/fields/a', w.admin), 200);
  await settle(w.t);
  assert.ok(gone(a.json().id));
  assert.ok(!gone(b.json().id));
  assert.equal((await w.rows()).filter((r) => r.collection === 'temp').length, 1);
  ok(await w.req('DELETE', '/api/admin/collections/temp', w.admin), 204);
  await settle(w.t);
  assert.ok(gone(b.json().id));
  assert.equal((await w.rows()).filter((r) => r.collection === 'temp').length, 0);
});

test("a file field's accept and limits can be changed; the next upload follows them", async () => {
  const id = await w.record(w.tok.ed!, 'patched');
  const r = await w.req('PATCH', '/api/admin/collections/docs/fields/scan', w.admin, { accept: ['application/pdf', 'image/png'], maxBytes: 100_000 });
  assert.equal(r.statusCode, 200, r.body);
  ok(await w.upload(w.tok.ed!, id, 'scan', png(), 'p.png'));
  assert.equal(codeOf(await w.req('PATCH', '/api/admin/collections/docs/fields/scan', w.admin, { accept: ['text/html'] })), 'SCHEMA_INVALID');
  assert.equal(codeOf(await w.req('PATCH', '/api/admin/collections/docs/fields/title', w.admin, { maxBytes: 10 })), 'SCHEMA_INVALID');
  ok(await w.req('PATCH', '/api/admin/collections/docs/fields/scan', w.admin, { accept: null, maxBytes: null }), 200);
});

test('docs/files.md states the rules the code applies: every known type, the size and pixel defaults, the refusals and what a malicious file meets [ASVS V5.1.1]', async () => {
  const { readFileSync } = await import('node:fs');
  const path = await import('node:path');
  const { FILE_TYPES, DEFAULT_ACCEPT } = await import('../../src/collections/file-types.js');
  const { filesEnv } = await import('../../src/files/env.js');
  const doc = readFileSync(path.resolve(import.meta.dirname, '../../docs/files.md'), 'utf8');
  for (const [type, info] of Object.entries(FILE_TYPES))
    assert.ok(doc.includes(`\`${type}\``) || doc.includes(`\`.${info.ext[0]}\``), `docs/files.md does not name ${type}`);
  assert.ok(!DEFAULT_ACCEPT.includes('text/plain') && /every known type but `text\/plain`/.test(doc), 'the default accept list');
  const problems: string[] = [];
  const { files } = filesEnv.read({}, problems, [], { dataDir: '/nonexistent' } as never);
  assert.deepEqual(problems, []);
  const spaced = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  assert.match(doc, new RegExp(`\\| \`FILES_MAX_BYTES\` \\| ${files.maxBytes / 2 ** 20} MiB \\|`));
  assert.match(doc, new RegExp(`\\| \`FILES_MAX_PIXELS\` \\| ${spaced(files.maxPixels)} \\|`));
  assert.match(doc, /\| `maxFiles` \| 20 \|/);
  // The answer to each refusal, the unpacked size of archives, and what happens to an infected file.
  for (const code of ['FILE_TYPE_NOT_ALLOWED', 'FILE_TOO_LARGE', 'FILE_TOO_MANY_PIXELS', 'FILE_LIMIT_REACHED', 'FILE_INFECTED', 'FILE_QUARANTINED'])
    assert.ok(doc.includes(`\`${code}\``), code);
  assert.match(doc, /never unpacks one/);
  assert.match(doc, /\| `infected` \| the scanner found a signature/);
  // The same rules reach the API, where a client reads them before it uploads.
  const docs = (await w.req('GET', '/api/collections', w.tok.ed!)).json().collections.find((c: { name: string }) => c.name === 'docs');
  assert.deepEqual(Object.keys(docs.fields.find((f: { name: string }) => f.name === 'scan').file).sort(), [
    'accept',
    'keepMetadata',
    'maxBytes',
    'maxFiles',
    'maxPixels',
    'multiple',
    'versions',
  ]);
});

test('docs/files.md states how options must agree, and the server refuses exactly the combinations it names: maxFiles and versions against multiple, file sizes against the scanner [ASVS V2.1.2]', async () => {
  const { readFileSync } = await import('node:fs');
  const path = await import('node:path');
  const { filesEnv } = await import('../../src/files/env.js');
  const doc = readFileSync(path.resolve(import.meta.dirname, '../../docs/files.md'), 'utf8');
  assert.match(doc, /\| `maxFiles` \| 20 \| With `multiple`/);
  assert.match(doc, /\| `versions` \| 0 \| A single-file field/);
  assert.match(doc, /A file field cannot be `unique`, `indexed`, `required` or have a `default`/);
  assert.match(doc, /With a scanner, `FILES_MAX_BYTES` above it is a configuration error/);
  const problems = (f: Record<string, unknown>) => checkCollection({ name: 'c', fields: [{ name: 'f', type: 'file', ...f } as never] }, new Set());
  assert.notDeepEqual(problems({ maxFiles: 3 }), []);
  assert.deepEqual(problems({ multiple: true, maxFiles: 3 }), []);
  assert.notDeepEqual(problems({ multiple: true, versions: 2 }), []);
  assert.deepEqual(problems({ versions: 2 }), []);
  const envProblems = (env: Record<string, string>) => {
    const out: string[] = [];
    filesEnv.read(env, out, [], { dataDir: '/nonexistent' } as never);
    return out;
  };
  const scanner = { FILES_SCANNER: 'clamd://127.0.0.1:3310', FILES_SCAN_MAX_BYTES: '1000' };
  assert.match(envProblems({ ...scanner, FILES_MAX_BYTES: '1001' }).join('\n'), /FILES_MAX_BYTES \(1001\) is above what the scanner accepts/);
  assert.deepEqual(envProblems({ ...scanner, FILES_MAX_BYTES: '1000' }), []);
  assert.deepEqual(envProblems({ FILES_SCAN_MAX_BYTES: '1000', FILES_MAX_BYTES: '1001' }), [], 'no scanner, no such rule');
});
