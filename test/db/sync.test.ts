// Statements run at once on SQLite inside a transaction (D463, the audit chain's append): only inside a live transaction
// of a handle `openDb` opened, rolled back with it, in the SQL log like every other statement, and a storage failure
// among them reaches the readiness flag as one through Kysely does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { openDb, openSqliteFile, type DbHandle } from '../../src/db/index.js';
import { atOnce } from '../../src/db/sync.js';
import { DIALECT } from '../helpers/app.js';

const skip = DIALECT !== 'sqlite' ? 'SQLite only: on PostgreSQL every statement goes through Kysely' : false;

async function withDb(fn: (h: DbHandle, lines: Array<{ sql: string; params: number; error?: unknown }>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-sync-'));
  const lines: Array<{ sql: string; params: number; error?: unknown }> = [];
  const sink = { info: (o: object) => lines.push(o as (typeof lines)[number]), warn: (o: object) => lines.push(o as (typeof lines)[number]) };
  const h = await openDb({ databaseUrl: null, dataDir: dir, poolMax: 1, sqlLog: sink });
  try {
    await sql`create table notes (id integer primary key, body text not null)`.execute(h.db);
    await fn(h, lines);
  } finally {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const insert = 'insert into notes (id, body) values (?, ?)';

test('a runner exists only inside a transaction of a handle openDb opened', { skip }, async () => {
  await withDb(async (h) => {
    assert.equal(
      atOnce(h.db, () => 1),
      null,
      'outside a transaction',
    );
    await h.db.transaction().execute(async (trx) => {
      assert.equal(await atOnce(trx, () => 1), 1);
    });
    // A file opened on its own (a backup's scratch copy, here a snapshot of this one) has no runner: its statements go
    // through Kysely.
    const dir = mkdtempSync(path.join(tmpdir(), 'palisade-sync-file-'));
    const copy = path.join(dir, 'copy.db');
    await h.snapshot!(copy);
    const other = openSqliteFile(copy, { readonly: false });
    try {
      await other.transaction().execute(async (trx) => {
        assert.equal(
          atOnce(trx, () => 1),
          null,
        );
      });
    } finally {
      await other.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('its statements belong to the transaction: a rollback takes them with it, a commit keeps them; each is in the SQL log', { skip }, async () => {
  await withDb(async (h, lines) => {
    await assert.rejects(
      h.db.transaction().execute(async (trx) => {
        await atOnce(trx, (run) => {
          run(insert, [1, 'rolled back']);
          assert.deepEqual(run('select body from notes where id = ?', [1]), [{ body: 'rolled back' }], 'seen inside its transaction');
        });
        throw new Error('abort');
      }),
      /abort/,
    );
    assert.deepEqual((await sql`select count(*) as n from notes`.execute(h.db)).rows, [{ n: 0 }]);
    await h.db.transaction().execute(async (trx) => {
      await atOnce(trx, (run) => run(insert, [2, 'kept']));
    });
    assert.deepEqual((await sql`select id, body from notes`.execute(h.db)).rows, [{ id: 2, body: 'kept' }]);
    const logged = lines.filter((l) => l.sql === insert);
    assert.equal(logged.length, 2, 'both runs were logged');
    assert.ok(
      logged.every((l) => l.params === 2 && !JSON.stringify(l).includes('kept')),
      'parameter counts, never values',
    );
  });
});

test('a storage failure among them is noted for readiness and fails the transaction; with room again the same write passes', { skip }, async () => {
  await withDb(async (h, lines) => {
    const size = Number((await sql<{ page_count: number }>`pragma page_count`.execute(h.db)).rows[0]!.page_count);
    await sql.raw(`pragma max_page_count = ${size}`).execute(h.db);
    assert.equal(h.storage.recentFailure(), null);
    const big = 'x'.repeat(256 * 1024);
    await assert.rejects(
      h.db.transaction().execute(async (trx) => {
        await atOnce(trx, (run) => run(insert, [3, big]));
      }),
      (e: { code?: string }) => e.code === 'SQLITE_FULL',
    );
    assert.equal(h.storage.recentFailure(), 'SQLITE_FULL', 'the failure reached the readiness flag');
    assert.ok(
      lines.some((l) => l.sql === insert && l.error !== undefined),
      'the failed statement is in the SQL log',
    );
    await sql.raw('pragma max_page_count = 1073741823').execute(h.db);
    await h.db.transaction().execute(async (trx) => {
      await atOnce(trx, (run) => run(insert, [3, big]));
    });
    assert.deepEqual((await sql`select id from notes order by id`.execute(h.db)).rows, [{ id: 3 }]);
  });
});

test('a transaction that has ended cannot run statements through it, not even while another one holds the connection', { skip }, async () => {
  await withDb(async (h) => {
    let ended: typeof h.db | undefined;
    await h.db.transaction().execute(async (trx) => {
      ended = trx;
      await atOnce(trx, (run) => run(insert, [1, 'first']));
    });
    await h.db.transaction().execute(async (trx) => {
      await atOnce(trx, (run) => run(insert, [2, 'second']));
      // The first transaction's object, kept past its end: refused, and nothing lands in this one.
      await assert.rejects(async () => atOnce(ended!, (run) => run(insert, [3, 'stray'])), /already committed/);
    });
    assert.deepEqual((await sql`select id from notes order by id`.execute(h.db)).rows, [{ id: 1 }, { id: 2 }]);
  });
});
