/**
 * D462 (after D458): on SQLite, a user's deletion and a dropped collection leave their rows' values in neither
 * `palisade.db` nor `palisade.db-wal`. The deleted rows' earlier page images were readable in the write-ahead log
 * (and in the database file, had `secure_delete` been off) by whoever copied the files; what stays elsewhere by design
 * (the security log's `user.deleted` event names the username) is not what these tests look for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { sql } from 'kysely';
import { bearer, createUser, DIALECT, login, useApp, type TestApp } from '../helpers/app.js';

const skip = DIALECT !== 'sqlite' && 'SQLite files only';
let t: TestApp;
let admin: string;
useApp(async (app, token) => {
  t = app;
  admin = token;
});

const req = (method: string, url: string, payload?: unknown) =>
  t.app.inject({ method: method as 'GET', url, headers: bearer(admin), ...(payload !== undefined ? { payload: payload as object } : {}) });

/** Both files as one buffer: what a copy of the data directory holds. */
const files = (): Buffer => {
  const file = path.join(t.shared.dataDir, 'palisade.db');
  return Buffer.concat([readFileSync(file), existsSync(`${file}-wal`) ? readFileSync(`${file}-wal`) : Buffer.alloc(0)]);
};

test("SQLite: a deleted user's email addresses and password hash are gone from the database file and its log", { skip }, async () => {
  const first = 'quokka.wal-scrub-5521@example.org';
  const second = 'wombat.wal-scrub-5522@example.org';
  const id = await createUser(t, admin, 'walscrubber', 'Harbour-lantern-5521', { email: first });
  // One image of the row in the database file, a later one only in the log, as a running server has them.
  await sql`pragma wal_checkpoint(passive)`.execute(t.s.db);
  const patched = await req('PATCH', `/api/admin/users/${id}`, { email: second });
  assert.equal(patched.statusCode, 200, patched.body);
  const hash = (await t.s.db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirstOrThrow()).password_hash!;
  const secrets = [first, second, hash];
  assert.ok(
    secrets.every((v) => files().includes(v)),
    'the values are in the files before',
  );
  const r = await req('DELETE', `/api/admin/users/${id}`);
  assert.equal(r.statusCode, 204, r.body);
  const after = files();
  for (const v of secrets) assert.ok(!after.includes(v), `the files still hold ${v.slice(0, 24)}`);
  // The legitimate path is whole: another user is created, signs in, and the chain verifies.
  await createUser(t, admin, 'stillhere', 'Harbour-compass-5521');
  assert.ok((await login(t, 'stillhere', 'Harbour-compass-5521')).token);
  const v = await req('POST', '/api/admin/audit/verify', {});
  assert.equal(v.statusCode, 200, v.body);
  assert.equal(v.json().ok, true);
});

test("SQLite: a dropped collection's values are gone from the database file and its log", { skip }, async () => {
  const made = await req('POST', '/api/admin/collections', {
    name: 'scratchpad',
    fields: [
      { name: 'title', type: 'string' },
      { name: 'body', type: 'text' },
    ],
    audit: { changeLog: false },
  });
  assert.equal(made.statusCode, 201, made.body);
  // A long body spills into overflow pages, which the drop frees whole.
  const values = ['SCRATCH-TITLE-ZQ-88123', 'SCRATCH-BODY-ZQ-'.repeat(600)];
  const c = await req('POST', '/api/collections/scratchpad/records', { title: values[0], body: values[1] });
  assert.equal(c.statusCode, 201, c.body);
  await sql`pragma wal_checkpoint(passive)`.execute(t.s.db);
  const u = await req('PATCH', `/api/collections/scratchpad/records/${c.json().id}`, { title: `${values[0]}-B` });
  assert.equal(u.statusCode, 200, u.body);
  assert.ok(
    values.every((v) => files().includes(v.slice(0, 40))),
    'the values are in the files before',
  );
  const r = await req('DELETE', '/api/admin/collections/scratchpad');
  assert.equal(r.statusCode, 204, r.body);
  const after = files();
  for (const v of values) assert.ok(!after.includes(v.slice(0, 40)), `the files still hold ${v.slice(0, 24)}`);
  // Another collection is made and written as before.
  assert.equal((await req('POST', '/api/admin/collections', { name: 'notebook', fields: [{ name: 'title', type: 'string' }] })).statusCode, 201);
  const n = await req('POST', '/api/collections/notebook/records', { title: 'kept' });
  assert.equal(n.statusCode, 201, n.body);
  assert.equal((await req('GET', `/api/collections/notebook/records/${n.json().id}`)).json().title, 'kept');
});

test("SQLite: a removed field's values are gone from the database file and its log", { skip }, async () => {
  const made = await req('POST', '/api/admin/collections', {
    name: 'ledger',
    fields: [
      { name: 'title', type: 'string' },
      { name: 'note', type: 'string' },
    ],
    audit: { changeLog: false },
  });
  assert.equal(made.statusCode, 201, made.body);
  const c = await req('POST', '/api/collections/ledger/records', { title: 'kept title', note: 'LEDGER-NOTE-ZQ-77311' });
  assert.equal(c.statusCode, 201, c.body);
  await sql`pragma wal_checkpoint(passive)`.execute(t.s.db);
  const u = await req('PATCH', `/api/collections/ledger/records/${c.json().id}`, { note: 'LEDGER-NOTE-ZQ-77312' });
  assert.equal(u.statusCode, 200, u.body);
  const values = ['LEDGER-NOTE-ZQ-77311', 'LEDGER-NOTE-ZQ-77312'];
  assert.ok(
    values.every((v) => files().includes(v)),
    'the values are in the files before',
  );
  const r = await req('DELETE', '/api/admin/collections/ledger/fields/note');
  assert.equal(r.statusCode, 200, r.body);
  const after = files();
  for (const v of values) assert.ok(!after.includes(v), `the files still hold ${v}`);
  // The record keeps its other field.
  assert.equal((await req('GET', `/api/collections/ledger/records/${c.json().id}`)).json().title, 'kept title');
});

test('SQLite: a log kept busy by a reader does not fail the deletion: it answers, says so in the log, and the thread empties it later', { skip }, async () => {
  const id = await createUser(t, admin, 'busyreader', 'Harbour-lantern-5523', { email: 'busy.wal-scrub-5523@example.org' });
  // Another process's reader (a backup, a CLI command) holds a snapshot of the log, so it cannot be emptied.
  const SQLite = createRequire(import.meta.url)('@rocicorp/zero-sqlite3');
  const reader = new SQLite(path.join(t.shared.dataDir, 'palisade.db'), { readonly: true });
  try {
    reader.exec('begin');
    reader.prepare('select count(*) from users').get();
    const before = t.logs.length;
    const r = await req('DELETE', `/api/admin/users/${id}`);
    assert.equal(r.statusCode, 204, r.body);
    const warned = t.logs
      .slice(before)
      .map((l) => JSON.parse(l))
      .find((l) => l.event === 'db.scrub_incomplete');
    assert.equal(warned?.after, 'user deletion');
    assert.equal((await req('GET', `/api/admin/users/${id}`)).statusCode, 404);
  } finally {
    reader.exec('commit');
    reader.close();
  }
  // Once the reader is gone, a tick of the checkpointing thread empties the log (bounded wait).
  for (let i = 0; i < 250 && files().includes('busy.wal-scrub-5523@example.org'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(!files().includes('busy.wal-scrub-5523@example.org'));
});
