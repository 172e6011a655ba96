// SQLite's WAL checkpoints in a worker thread (D363): the connection that serves requests no longer copies the log
// back into the database inside a commit. A checkpoint that completes lets the next commit start the log again from
// its first frame, which SQLite marks by a new salt in the log's header: that is what these tests watch, with the
// serving connection's own automatic checkpoint switched off so that only the worker can have done it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, readSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import SQLite from '@rocicorp/zero-sqlite3';
import { checkpointInBackground } from '../../src/db/checkpointer.js';
import { DIALECT } from '../helpers/app.js';

const skip = DIALECT !== 'sqlite' ? 'SQLite only' : false;

/** The log header's salts (bytes 16 to 23): they change when a commit restarts the log after a full checkpoint. */
function salt(file: string): string {
  const fd = openSync(`${file}-wal`, 'r');
  try {
    const b = Buffer.alloc(8);
    readSync(fd, b, 0, 8, 16);
    return b.toString('hex');
  } finally {
    closeSync(fd);
  }
}

function database(): { file: string; db: SQLite.Database; write(): void; done(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-ckpt-'));
  const file = path.join(dir, 'palisade.db');
  const db = new SQLite(file);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('create table t (id integer primary key, v text)');
  const insert = db.prepare('insert into t (v) values (?)');
  return {
    file,
    db,
    write: () => insert.run('x'.repeat(2000)),
    done: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const FAST = { startBytes: 1, watchMs: 10, intervalMs: 10 };

/**
 * Code for the thread to run first: the first thread ends as soon as it is asked anything (as one whose native code
 * failed would) and leaves `flag` behind; the later ones work.
 */
const firstThreadDies = (flag: string) => `{ const fs = require('node:fs'); if (!fs.existsSync(${JSON.stringify(flag)})) {
  require('node:worker_threads').parentPort.once('message', () => { fs.writeFileSync(${JSON.stringify(flag)}, ''); process.exit(1); });
} }`;

/**
 * A checkpointer whose first thread is lost as `prelude` makes it (given the flag file it leaves and the database):
 * the scrub asked of it fails, its replacement starts after its pause and empties the log on its own, and later scrubs
 * work.
 */
async function replacedAfterLoss(prelude: (flag: string, file: string) => string): Promise<void> {
  const d = database();
  const { statSync, existsSync } = await import('node:fs');
  const flag = `${d.file}.died`;
  const c = checkpointInBackground(d.file, { startBytes: 1 << 30, watchMs: 10, intervalMs: 10, restartMs: 10, prelude: prelude(flag, d.file) });
  try {
    for (let i = 0; i < 10; i++) d.write();
    assert.equal(await c.scrub(1000), false, 'the first thread was lost while asked');
    assert.ok(existsSync(flag), 'the first thread did end');
    // Nobody asks again: the replacement starts after its pause and empties the log on its own (bounded wait, 5 s).
    for (let i = 0; i < 250 && statSync(`${d.file}-wal`).size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(statSync(`${d.file}-wal`).size, 0, 'the replacement emptied the log');
    for (let i = 0; i < 10; i++) d.write();
    assert.equal(await c.scrub(2000), true);
    assert.equal(statSync(`${d.file}-wal`).size, 0);
  } finally {
    await c.stop();
    d.done();
  }
}

test('the worker checkpoints the log: a later commit starts it again', { skip }, async () => {
  const d = database();
  try {
    for (let i = 0; i < 20; i++) d.write();
    const first = salt(d.file);
    const c = checkpointInBackground(d.file, FAST);
    let restarted = false;
    // Bounded wait: at most 10 s for the worker to start and checkpoint; one small commit after each look.
    for (let i = 0; i < 500 && !restarted; i++) {
      await new Promise((r) => setTimeout(r, 20));
      d.write();
      restarted = salt(d.file) !== first;
    }
    await c.stop();
    assert.ok(restarted, 'the log was never checkpointed and restarted');
    assert.equal((d.db.prepare('select count(*) as n from t').get() as { n: number }).n > 20, true);
  } finally {
    d.done();
  }
});

test('without the worker (and with automatic checkpoints off) the log is never restarted', { skip }, async () => {
  const d = database();
  try {
    for (let i = 0; i < 20; i++) d.write();
    const first = salt(d.file);
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 2));
      d.write();
    }
    assert.equal(salt(d.file), first);
  } finally {
    d.done();
  }
});

test('below its starting size the worker never starts, and stop() ends it either way', { skip }, async () => {
  const d = database();
  try {
    d.write();
    const first = salt(d.file);
    const c = checkpointInBackground(d.file, { ...FAST, startBytes: 1024 * 1024 * 1024 });
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 5));
      d.write();
    }
    await c.stop();
    assert.equal(salt(d.file), first);
    const started = checkpointInBackground(d.file, FAST);
    await new Promise((r) => setTimeout(r, 50));
    await started.stop();
    await started.stop();
  } finally {
    d.done();
  }
});

test('a scrub empties the log, waits for a reader in the way, and gives up past its time (D458)', { skip }, async () => {
  const d = database();
  const { statSync } = await import('node:fs');
  // A checkpointer that would not start on its own (the log stays far below its threshold): a scrub starts it.
  const c = checkpointInBackground(d.file, { startBytes: 1 << 30, watchMs: 10, intervalMs: 10 });
  const reader = new SQLite(d.file);
  try {
    for (let i = 0; i < 10; i++) d.write();
    assert.ok(statSync(`${d.file}-wal`).size > 0);
    // A reader holding a snapshot of the log keeps it from being emptied: the scrub retries, then answers false.
    reader.exec('begin');
    reader.prepare('select count(*) from t').get();
    assert.equal(await c.scrub(200), false);
    assert.ok(statSync(`${d.file}-wal`).size > 0);
    // The scrub is still owed: once the reader has ended, a tick of the thread empties the log (bounded wait, 5 s).
    reader.exec('commit');
    for (let i = 0; i < 250 && statSync(`${d.file}-wal`).size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(statSync(`${d.file}-wal`).size, 0);
    // A scrub asked while a reader is in the way waits for it, within its time, and empties the log.
    for (let i = 0; i < 10; i++) d.write();
    reader.exec('begin');
    reader.prepare('select count(*) from t').get();
    setTimeout(() => reader.exec('commit'), 100);
    assert.equal(await c.scrub(5000), true);
    assert.equal(statSync(`${d.file}-wal`).size, 0);
    assert.equal(d.db.prepare('select count(*) as n from t').get().n, 20);
  } finally {
    reader.close();
    await c.stop();
    d.done();
  }
  // A stopped checkpointer scrubs nothing.
  assert.equal(await c.scrub(100), false);
});

test('a thread that ends unasked is replaced, and its replacement empties the log it may have owed', { skip }, async () => {
  await replacedAfterLoss(firstThreadDies);
});

test('a scrub asked after the thread ended starts a new one at once', { skip }, async () => {
  const d = database();
  const { statSync } = await import('node:fs');
  const flag = `${d.file}.died`;
  const prelude = firstThreadDies(flag);
  // A pause far longer than the test: only the scrub can bring a thread back.
  const c = checkpointInBackground(d.file, { startBytes: 1 << 30, watchMs: 10, intervalMs: 10_000, restartMs: 600_000, prelude });
  try {
    for (let i = 0; i < 10; i++) d.write();
    assert.equal(await c.scrub(1000), false);
    assert.equal(await c.scrub(2000), true);
    assert.equal(statSync(`${d.file}-wal`).size, 0);
  } finally {
    await c.stop();
    d.done();
  }
});

test('a thread whose connection cannot open ends, and its replacement empties the log (D465)', { skip }, async () => {
  // The first thread is pointed at a file that is not there (its connection fails to open); later ones are not.
  await replacedAfterLoss(
    (flag, file) => `{ const fs = require('node:fs'); if (!fs.existsSync(${JSON.stringify(flag)})) {
    fs.writeFileSync(${JSON.stringify(flag)}, ''); require('node:worker_threads').workerData.file = ${JSON.stringify(`${file}.missing`)};
  } }`,
  );
});
