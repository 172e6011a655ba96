// Issue 14, D450: the SQLite credential cache keeps a row only under the change mark it was read at. Bug class: a row
// read before a change kept under a mark taken after it, so that the change is never seen while the mark stays.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDb, type DbHandle } from '../../src/db/index.js';
import { pastOtherCommits } from '../helpers/app.js';
import { migrate } from '../../src/db/migrations/index.js';
import { credentialLookup } from '../../src/auth/account-row.js';

let dir: string;
let h: DbHandle;
before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'palisade-lookup-'));
  h = await openDb({ databaseUrl: null, dataDir: dir, poolMax: 1 });
  await migrate(h.db, 'sqlite');
  const now = Date.now();
  await h.db
    .insertInto('users')
    .values({
      id: 'u1',
      username: 'ann',
      email: null,
      password_hash: 'x',
      status: 'active',
      is_admin: 0,
      created_at: now,
      updated_at: now,
      password_changed_at: now,
      must_change_password: 0,
      sso_only: 0,
      password_reminded_at: null,
      must_change_by: null,
    })
    .execute();
  await h.db
    .insertInto('sessions')
    .values({
      id: 's1',
      user_id: 'u1',
      mode: 'bearer',
      remember: 0,
      created_at: now,
      expires_at: now + 3_600_000,
      last_seen_at: now,
      ip: '127.0.0.1',
      user_agent: 'test',
      revoked_at: null,
      revoked_reason: null,
      active_role: null,
      sso_provider: null,
      sso_subject: null,
      sso_sid: null,
    })
    .execute();
});
after(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a row is kept only when the mark did not move while it was read; kept, it is served until the mark moves', async () => {
  const marks: string[] = [];
  let current = 'm1';
  const mark = () => {
    marks.push(current);
    return current;
  };
  const lookup = credentialLookup(h.db, 'sessions', 'id', mark);
  // The mark moves while the first read runs (a change commits meanwhile): what was read is not kept under either mark.
  const racing = lookup('s1');
  current = 'm2';
  assert.equal((await racing)?.revoked_at, null);
  await h.db.updateTable('sessions').set({ revoked_at: 1, revoked_reason: 'test' }).where('id', '=', 's1').execute();
  // The fake mark did not move with that update: only a fresh read can see it.
  assert.equal((await lookup('s1'))?.revoked_at, 1, 'the row read while the mark moved was not kept');
  // Read under a still mark: kept and served as it was, until the mark moves.
  await h.db.updateTable('sessions').set({ revoked_at: null, revoked_reason: null }).where('id', '=', 's1').execute();
  current = 'm3';
  assert.equal((await lookup('s1'))?.revoked_at, null);
  await h.db.updateTable('sessions').set({ revoked_at: 2, revoked_reason: 'test' }).where('id', '=', 's1').execute();
  assert.equal((await lookup('s1'))?.revoked_at, null, 'kept: served without a read while the mark is the same');
  current = 'm4';
  assert.equal((await lookup('s1'))?.revoked_at, 2, 'the mark moved: read afresh');
  assert.ok(marks.length >= 8);
});

test("the server's change mark moves with a change through its own connection at once, and through another one within OTHER_COMMITS_MS", async () => {
  const mark = h.changeMark!;
  const m0 = mark();
  assert.equal(mark(), m0, 'a read moves nothing');
  await h.db.updateTable('sessions').set({ last_seen_at: Date.now() }).where('id', '=', 's1').execute();
  const m1 = mark();
  assert.notEqual(m1, m0);
  const { openSqliteFile } = await import('../../src/db/index.js');
  const other = openSqliteFile(path.join(dir, 'palisade.db'), { readonly: false });
  try {
    await other
      .updateTable('sessions')
      .set({ last_seen_at: Date.now() + 1 })
      .where('id', '=', 's1')
      .execute();
  } finally {
    await other.destroy();
  }
  // Another connection's commits are looked for once OTHER_COMMITS_MS have passed since the last look (D454).
  await pastOtherCommits();
  assert.notEqual(mark(), m1, 'a commit of another connection moves it');
});
