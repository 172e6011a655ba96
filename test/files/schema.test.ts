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

test('file field options are checked: no column options, known types only, limits within bounds', () => {
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

test('a file field has no column; the admin API refuses bad options', async () => {
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
