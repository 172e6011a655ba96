// Issue 9: a failing PostgreSQL. Two instances share their OWN PostgreSQL (initdb into a temporary
// directory, a spare port; never the shared one on 5432), which is killed during a request loop and
// started again; then made read-only. PostgreSQL run only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { makeApp, login, bearer, DIALECT, type TestApp, type Res } from '../../helpers/app.js';
import { postgresBin, startPostgres, type OwnPostgres } from '../deps.js';
import { untilOk, writeLoop } from '../load.js';

const BOUND_MS = 2000;
const skip = DIALECT !== 'postgres' ? 'PostgreSQL run only' : !postgresBin() ? 'no PostgreSQL binaries' : false;

let db: OwnPostgres;
let a: TestApp;
let b: TestApp;
let admin: string;

before(async () => {
  if (skip) return;
  db = await startPostgres();
  const env = { DATABASE_URL: db.url };
  a = await makeApp({ env });
  b = await makeApp({ env, peerOf: a });
  admin = (await login(a)).token;
  const r = await a.app.inject({
    method: 'POST',
    url: '/api/admin/collections',
    headers: bearer(admin),
    payload: { name: 'notes', fields: [{ name: 'title', type: 'string', required: true }] },
  });
  assert.equal(r.statusCode, 201, r.body);
});
after(async () => {
  await b?.close().catch(() => {});
  await a?.close().catch(() => {});
  await db?.close();
});

const write = (t: TestApp, title: string) =>
  t.app.inject({ method: 'POST', url: '/api/collections/notes/records', headers: bearer(admin), payload: { title } }) as unknown as Promise<Res>;

test('dependency outage (PostgreSQL killed): fast 503 with Retry-After on both instances, readiness names the database, recovery without restart, no acknowledged write lost [ASVS V16.5.2, V13.2.6]', {
  skip,
}, async () => {
  const loop = writeLoop([a, b], write);
  // Both instances serve writes before the kill (a fixed sleep is too short on a loaded machine).
  await loop.untilAcked(10_000);
  await db.kill();
  loop.setPhase('outage');
  await sleep(1200);
  await loop.untilOutageAnswers(4, 10_000);
  for (const t of [a, b]) {
    const t0 = performance.now();
    const r = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().checks.database, 'down');
    assert.ok(performance.now() - t0 < BOUND_MS);
    const signIn = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'root', password: 'x' } });
    assert.equal(signIn.statusCode, 503, signIn.body);
    assert.equal(signIn.json().error.code, 'SERVICE_UNAVAILABLE');
  }
  // The outage ends when the restart begins: the pool may reconnect before start() has seen the server ready.
  loop.setPhase('recovering');
  await db.start();
  for (const t of [a, b]) await untilOk(() => write(t, 'after'), 5000);
  await loop.stop();
  loop.checkOutage('SERVICE_UNAVAILABLE', BOUND_MS);
  await loop.checkAcked(
    (t, id) => t.app.inject({ method: 'GET', url: `/api/collections/notes/records/${id}`, headers: bearer(admin) }) as unknown as Promise<Res>,
  );
});

test('storage unavailable (PostgreSQL read-only): writes answer 503 STORAGE_UNAVAILABLE, readiness says unwritable, reads go on; writable again, both come back', {
  skip,
}, async () => {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    // As after a failover to a read-only server: new sessions are read-only, the old ones are cut.
    await c.query('ALTER DATABASE postgres SET default_transaction_read_only = on');
    await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'");
    let w = await write(a, 'refused');
    for (let i = 0; i < 20 && w.json().error?.code === 'SERVICE_UNAVAILABLE'; i++) w = await write(a, 'refused'); // cut connections
    assert.equal(w.statusCode, 503, w.body);
    assert.equal(w.json().error.code, 'STORAGE_UNAVAILABLE');
    assert.ok(Number(w.headers['retry-after']) >= 1);
    let r = await b.app.inject({ method: 'GET', url: '/readyz' });
    for (let i = 0; i < 30 && r.json().checks.database !== 'unwritable'; i++) {
      await sleep(100);
      r = await b.app.inject({ method: 'GET', url: '/readyz' });
    }
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().checks.database, 'unwritable');
  } finally {
    await c.query('ALTER DATABASE postgres SET default_transaction_read_only = off');
    await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'");
    await c.end();
  }
  for (const t of [a, b]) await untilOk(() => write(t, 'writable again'), 5000);
  let r = await a.app.inject({ method: 'GET', url: '/readyz' });
  for (let i = 0; i < 80 && r.statusCode !== 200; i++) {
    await sleep(100);
    r = await a.app.inject({ method: 'GET', url: '/readyz' });
  }
  assert.equal(r.statusCode, 200, r.body);
});
