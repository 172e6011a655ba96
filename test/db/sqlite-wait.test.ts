// SQLite's lock waits are asynchronous (D383). While another connection (a CLI command, a second instance) holds the
// database's write lock, a write waits without stopping the server: other requests are answered meanwhile, and the
// write goes through once the lock is released; past the wait's bound it is refused with 503 SERVICE_UNAVAILABLE.
// Before, SQLite's busy timeout slept inside the call: nothing else was answered, and a lock held by this very process
// could never be released during the sleep.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import SQLite from '@rocicorp/zero-sqlite3';
import { makeApp, login, bearer, DIALECT, type TestApp } from '../helpers/app.js';

const skip = DIALECT !== 'sqlite' ? 'SQLite only' : false;
let t: TestApp;
let admin: string;
before(async () => {
  if (skip) return;
  t = await makeApp();
  admin = (await login(t)).token;
});
after(() => t?.close());

/** A second connection to the app's database file, holding the write lock until `release`. */
function holdWriteLock(): { release(): void } {
  const other = new SQLite(path.join(t.shared.dataDir, 'palisade.db'));
  other.exec('begin immediate');
  return {
    release() {
      other.exec('commit');
      other.close();
    },
  };
}

const createCollection = (name: string) =>
  t.app.inject({ method: 'POST', url: '/api/admin/collections', headers: bearer(admin), payload: { name, fields: [{ name: 'a', type: 'string' }] } });

test('a write waits for the lock without stopping the server, then goes through [ASVS V15.4.3, V15.4.4]', { skip }, async () => {
  const lock = holdWriteLock();
  let settled = false;
  const write = createCollection('waited').finally(() => {
    settled = true;
  });
  try {
    // The server answers while the write waits (the liveness check needs no database; every API request counts its
    // rate-limit window with a write, so it waits for the lock as well).
    const health = await t.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200, health.body);
    assert.equal(settled, false, 'the write did not wait for the lock');
  } finally {
    lock.release();
  }
  const r = await write;
  assert.equal(r.statusCode, 201, r.body);
  const list = await t.app.inject({ method: 'GET', url: '/api/collections/waited/records', headers: bearer(admin) });
  assert.equal(list.statusCode, 200, list.body);
});

test('a lock held past the wait is a fast 503 with its code, and nothing is written [ASVS V15.4.3]', { skip }, async () => {
  const lock = holdWriteLock();
  let r: Awaited<ReturnType<typeof createCollection>>;
  try {
    r = await createCollection('never');
  } finally {
    lock.release();
  }
  assert.equal(r.statusCode, 503, r.body);
  assert.equal(r.json().error.code, 'SERVICE_UNAVAILABLE');
  const gone = await t.app.inject({ method: 'GET', url: '/api/collections/never/records', headers: bearer(admin) });
  assert.equal(gone.statusCode, 404, gone.body);
  // And the next write, with the lock free, goes through at once.
  const ok = await createCollection('after');
  assert.equal(ok.statusCode, 201, ok.body);
});
