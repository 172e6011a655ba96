#!/usr/bin/env node
// Palisade records benchmark: what the security of the records API costs on a list, and how the
// list scales with the size of the collection.
//
//   npm run bench:records        (= tsc -p tsconfig.json && node bench/records.mjs)
//
// For each size N (default 10 000, 100 000 and 1 000 000 records), in one run:
//   1. starts the real server (`node dist/cli/main.js start`) on 127.0.0.1 with a fresh data
//      directory, a random APP_KEY and a random root password; signs in as root (bearer mode) and
//      lifts the rate limits as bench/run.mjs does (every budget 1e9);
//   2. through the admin API: creates the collection `orders` (region: enum, indexed; status:
//      status draft/open/closed, indexed; customer: string; amount: decimal; margin: decimal in
//      block "finance"; notes: text, hidden; owner: user), the role `sales`, the user `seller` with
//      that role, and two view grants for `sales`:
//        A  fields region, status, customer, amount        scope {"region":"north"}
//        B  fields block:finance (margin), statuses closed  scope {"region":"north"}
//      so `seller` has a row scope (north only), a field mask (notes never, margin only on closed
//      rows) and per-status grants; and the role `editors` with the user `editor` and one view
//      grant, fields region, status, owner, customer, scope {"owner":"$user.id"} (the editor owns
//      1/10 of the rows: the narrow scope of issue 14);
//   3. seeds N records straight into the table col_orders with better-sqlite3 (one transaction, one
//      prepared statement, in a worker thread with a time limit) while the server runs (SQLite is in
//      WAL mode); region and status are spread evenly (each region 1/4, each status 1/3), and every
//      10th row is the editor's;
//   4. signs in as `seller`, records the SQL the server runs for the secured list (bench/sql-trace.mjs,
//      preloaded into the server and switched off before measuring), prints EXPLAIN QUERY PLAN and
//      times those statements alone on a read-only connection;
//   5. measures with autocannon (BENCH_CONNS connections, BENCH_WARMUP s warm-up, then BENCH_DURATION s)
//      GET /api/collections/orders/records?perPage=50 as `seller`, the same as `editor`, then the
//      seller's over one connection (its latency without queueing); at N = BENCH_BARE_SIZE also the
//      same query served by bench/bare-server.mjs (no security at all), the seller's list with
//      `total=true` (what asking for the count costs) and GET /api/auth/me as `seller`
//      (authentication alone), in the same run. Before each measurement it waits until the serving process is idle;
//      a measurement too short for three rounds of answers is stretched (BENCH_MAX_DURATION);
//   6. stops the server and removes the data directory.
// Then it prints a markdown table, the ratios against the aims (secured / bare req/s >= 0.70 at
// BENCH_BARE_SIZE; p50 latency at the largest size / smallest size <= 1.5) and a JSON summary.
//
// It exits 0 when every response was a 2xx and every secured page had the expected shape (north
// rows only, no notes, margin only on closed rows), 1 otherwise, 2 when something failed to start,
// 3 when the watchdog stopped the run. Missing an aim does not fail the run: it is reported.
// Only 127.0.0.1 is ever targeted; every step has a time limit.
//
// Environment (all optional):
//   BENCH_SIZES        comma-separated record counts (default 10000,100000,1000000; 100..5000000 each)
//   BENCH_BARE_SIZE    the size at which the bare route and /api/auth/me are measured too (default 100000)
//   BENCH_DURATION     seconds per measurement (default 5, 1..60)
//   BENCH_WARMUP       seconds of unmeasured warm-up before each measurement (default 2, 0..10)
//   BENCH_MAX_DURATION longest a measurement is stretched to when one request is slow (default 30 s):
//                      a measurement lasts max(BENCH_DURATION, 3 x connections x the one-at-a-time
//                      latency), so that a slow list still gets about three rounds of answers
//   BENCH_CONNS        connections (default 10)
//   BENCH_JSON         file to also write the JSON summary to
//   BENCH_CPU_PROF     a directory: the server runs with --cpu-prof and writes server-<N>.cpuprofile there
//   BENCH_ROUNDS       rounds of the bare route and the secured list, alternated, at BENCH_BARE_SIZE (default 3,
//                      1..9), and of the secured list at the smallest and the largest size, alternated between their
//                      two servers (both stay up until the last size is measured): each ratio is the median of the
//                      rounds' ratios, so that the machine's load moving between two measurements does not decide it.
//                      The p50 ratio is taken from the answers' own times (autocannon's histogram keeps whole ms)
//   BENCH_ONLY         comma-separated routes to measure (bare, secured, editor, total, auth, one; default all): with
//                      BENCH_CPU_PROF, a profile of one route alone
//   BENCH_COMPARE_MAIN another build's dist/cli/main.js (a checkout of an earlier commit, built): a second server of
//                      that build on the same data and key, whose secured list is measured in each round right after
//                      this build's, so that a change is judged by two ratios taken minutes, not runs, apart

import { existsSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { randomBytes, randomUUID } from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MAIN, HOST, STARTUP_TIMEOUT_MS, sleep, intEnv, freePort, cannon, summarise, benchPassword, api, login, liftRateLimits, createRun } from './lib.mjs';

const require = createRequire(import.meta.url);
const Database = require('@rocicorp/zero-sqlite3');

const HERE = path.dirname(fileURLToPath(import.meta.url));
const COLLECTION = 'orders';
const TABLE = `col_${COLLECTION}`;
const REGIONS = ['north', 'south', 'east', 'west'];
const STATUSES = ['draft', 'open', 'closed'];
const PER_PAGE = 50;

// ---- seeding (worker thread) --------------------------------------------------------------
/** mulberry32: a small deterministic generator, so every run seeds the same values. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seed({ file, n, createdBy, editor }) {
  const db = new Database(file, { timeout: 10_000 });
  try {
    const journal = db.pragma('journal_mode', { simple: true });
    if (journal !== 'wal') throw new Error(`the database is in ${journal} mode, not WAL: seeding would block the server`);
    db.pragma('cache_size = -262144'); // 256 MiB for this connection: the random-id index inserts
    const ins = db.prepare(
      `insert into ${TABLE} (id, created_at, updated_at, created_by, updated_by, region, status, customer, amount, margin, notes, owner) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const rnd = prng(20261123);
    const start = Date.UTC(2025, 10, 23);
    const span = 365 * 24 * 3600 * 1000;
    const t0 = performance.now();
    db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const created = start + Math.floor((i / n) * span);
        const amount = Math.round(rnd() * 1_000_000) / 100;
        ins.run(
          randomUUID(),
          created,
          created,
          createdBy,
          createdBy,
          REGIONS[i % 4],
          STATUSES[Math.floor(i / 4) % 3],
          `customer-${(i * 7919) % 5000}`,
          amount,
          Math.round(amount * rnd() * 40) / 100,
          `Internal note ${i}: call back before shipping; credit checked.`,
          i % 10 === 0 ? editor : `someone-${i % 10}`,
        );
      }
    })();
    const insertMs = performance.now() - t0;
    // A running server refreshes its planner statistics at start and hourly (PRAGMA optimize);
    // seeding behind its back, we do what that hourly run would do, so the plans are those of a
    // server that has lived with this data.
    db.pragma('optimize = 0x10002');
    const t1 = performance.now();
    const ckpt = db.pragma('wal_checkpoint(TRUNCATE)')[0];
    return { insertMs: Math.round(insertMs), checkpointMs: Math.round(performance.now() - t1), checkpoint: ckpt, journal };
  } finally {
    db.close();
  }
}

if (!isMainThread) {
  try {
    parentPort.postMessage({ ok: true, res: seed(workerData) });
  } catch (e) {
    parentPort.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
  }
} else {
  await mainThread();
}

async function mainThread() {
  const SIZES = (process.env.BENCH_SIZES || '10000,100000,1000000')
    .split(',')
    .map((s) => s.trim().replace(/_/g, ''))
    .filter(Boolean)
    .map(Number);
  if (SIZES.length === 0 || !SIZES.every((n) => Number.isInteger(n) && n >= 100 && n <= 5_000_000))
    throw new Error('BENCH_SIZES must list integers from 100 to 5000000');
  const BARE_SIZE = intEnv('BENCH_BARE_SIZE', 100_000, 100, 5_000_000);
  const DURATION = intEnv('BENCH_DURATION', 5, 1, 60);
  const WARMUP = intEnv('BENCH_WARMUP', 2, 0, 10);
  const CONNS = intEnv('BENCH_CONNS', 10, 1, 256);
  const ROUNDS = intEnv('BENCH_ROUNDS', 3, 1, 9);
  // The sizes whose servers stay up for scaleRounds: the smallest and the largest, when they differ.
  // (Not when one of them is BENCH_BARE_SIZE, whose secured list is measured in rounds against the bare route.)
  const [SMALLEST, LARGEST] = [Math.min(...SIZES), Math.max(...SIZES)];
  const KEEP = new Set(SMALLEST !== LARGEST && SMALLEST !== BARE_SIZE && LARGEST !== BARE_SIZE ? [SMALLEST, LARGEST] : []);
  const COMPARE_MAIN = process.env.BENCH_COMPARE_MAIN ? path.resolve(process.env.BENCH_COMPARE_MAIN) : null;
  if (COMPARE_MAIN && !existsSync(COMPARE_MAIN)) throw new Error(`BENCH_COMPARE_MAIN ${COMPARE_MAIN} not found`);
  if (process.env.DATABASE_URL) throw new Error('bench/records.mjs measures SQLite only (it seeds the SQLite file directly); unset DATABASE_URL');

  const MAX_DURATION = Math.max(DURATION, intEnv('BENCH_MAX_DURATION', 30, 1, 120));
  const DRAIN_LIMIT_MS = 60_000;
  const seedTimeoutMs = (n) => 60_000 + Math.ceil(n * 0.3); // 1M rows: 6 min
  // Per measurement: warm-up, duration, and two waits for what autocannon left in flight.
  const measureMs = (n) => (n === BARE_SIZE ? 6 : 3) * ((WARMUP + MAX_DURATION + 20) * 1000 + 2 * DRAIN_LIMIT_MS);
  const WATCHDOG_MS = SIZES.reduce((t, n) => t + STARTUP_TIMEOUT_MS + 60_000 + seedTimeoutMs(n) + measureMs(n) + 60_000, 60_000);
  const run = createRun('records', WATCHDOG_MS);
  const log = run.log;

  /** CPU seconds used so far by a process (Linux /proc; 100 ticks a second), or null. */
  function cpuSeconds(pid) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return null;
    }
  }

  /**
   * Waits until the process `pid` is idle (under 5 % of a core for 300 ms): the requests that an
   * autocannon run left in flight are done, and the next measurement starts with an empty queue.
   * (One more request is no barrier: the server works on all open requests at once.)
   */
  async function waitIdle(pid) {
    const deadline = Date.now() + DRAIN_LIMIT_MS;
    let last = cpuSeconds(pid);
    if (last === null) return sleep(2000);
    while (Date.now() < deadline) {
      await sleep(300);
      const now = cpuSeconds(pid);
      if (now === null) return;
      if (now - last < 0.015) return;
      last = now;
    }
    throw new Error(`pid ${pid} still busy ${DRAIN_LIMIT_MS / 1000} s after a measurement`);
  }

  /**
   * Warm-up, then one measurement; with the cores the serving process used meanwhile. When one
   * request takes so long (`seqMs`, one at a time) that the connections would not see three rounds
   * of answers within BENCH_DURATION, the measurement is stretched to that, at most BENCH_MAX_DURATION.
   */
  async function measure(name, url, headers, pid, { connections = CONNS, warmup = WARMUP, seqMs = 0 } = {}) {
    // A slow list must show up as latency, not as autocannon's 10 s timeout.
    const opts = { url, headers, timeout: 120 };
    const duration = Math.max(DURATION, Math.min(MAX_DURATION, Math.ceil((3 * connections * seqMs) / 1000)));
    await waitIdle(pid);
    if (warmup > 0) {
      await cannon({ ...opts, connections, duration: warmup });
      await waitIdle(pid);
    }
    log(`${name}: ${connections} connection${connections === 1 ? '' : 's'}, ${duration} s`);
    const c0 = cpuSeconds(pid);
    const t0 = performance.now();
    const load0 = loadavg()[0];
    const r = await cannon({ ...opts, connections, duration });
    const wall = (performance.now() - t0) / 1000;
    const c1 = cpuSeconds(pid);
    const cores = c0 === null || c1 === null ? null : Math.round(((c1 - c0) / wall) * 100) / 100;
    return summarise(name, r, { serverCores: cores, loadAverage1m: [Math.round(load0 * 100) / 100, Math.round(loadavg()[0] * 100) / 100] });
  }

  /**
   * The secured list at the smallest and the largest size, ROUNDS rounds alternating between their two servers (the
   * order reversed every other round): each round gives a p50 ratio (largest / smallest, from the answers' own times),
   * and the aim is judged on their median, as the bare route's. Both servers stay up until then; the seller signs in
   * again first (the token of the set-up may have expired while the larger size was seeded).
   */
  async function scaleRounds(kept) {
    if (kept.length !== 2) return;
    const [small, large] = [...kept].sort((a, b) => a.records - b.records);
    const headersOf = new Map();
    for (const s of [small, large]) {
      const token = await login(s.kept.server.base, s.kept.sellerPassword, 'seller');
      headersOf.set(s, { authorization: `Bearer ${token}` });
    }
    try {
      for (let round = 1; round <= ROUNDS; round++) {
        const order = round % 2 ? [small, large] : [large, small];
        for (const s of order) {
          const k = s.kept;
          const of = ROUNDS > 1 ? `, round ${round} of ${ROUNDS}` : '';
          s.results.push({
            route: 'secured',
            round,
            ...(await measure(`${k.securedName}${of}`, k.securedUrl, headersOf.get(s), k.server.pid, { seqMs: k.seqMs })),
          });
          const r = s.results.at(-1);
          if (r.ok2xx === 0 || r.non2xx || r.errors || r.timeouts)
            s.problems.push(`${r.name}: ${r.ok2xx} 2xx, ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}, ${r.errors} errors, ${r.timeouts} timeouts`);
        }
      }
    } finally {
      for (const s of [small, large]) await s.kept.stop();
    }
  }

  function runSeed(file, n, createdBy, editor) {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { file, n, createdBy, editor } });
    const terminate = run.onCleanup(() => w.terminate().catch(() => {}));
    const limit = seedTimeoutMs(n);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`seeding ${n} records took longer than ${limit / 1000} s`)), limit);
      w.once('message', (m) => {
        clearTimeout(t);
        if (m.ok) resolve(m.res);
        else reject(new Error(`seeding: ${m.error}`));
      });
      w.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      w.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`seed worker exited (code ${code}) without a result`));
      });
    }).finally(() => terminate());
  }

  async function waitTrace(file, state) {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      try {
        const t = JSON.parse(readFileSync(file, 'utf8'));
        if (t.state === state) return t;
      } catch {
        /* being written */
      }
      await sleep(20);
    }
    throw new Error(`the SQL trace did not reach state ${state}`);
  }

  /** The list statements as service.ts builds them (at commit 97e60f3): used only if the trace finds none. */
  function reconstructed() {
    const c = (x) => `"${TABLE}"."${x}"`;
    const g0 = `(${c('region')} = ?)`;
    const g1 = `(${c('region')} = ? and ${c('status')} in (?))`;
    const where = `(${g0} or ${g1})`;
    const cols = ['id', 'created_at', 'updated_at', 'created_by', 'updated_by', 'region', 'status', 'customer', 'amount', 'margin'].map(c).join(', ');
    return {
      list: {
        sql: `select ${cols}, case when ${g0} then 1 else 0 end as "__g0", case when ${g1} then 1 else 0 end as "__g1" from "${TABLE}" where ${where} order by ${c('id')} asc limit ? offset ?`,
        params: ['north', 'north', 'closed', 'north', 'north', 'closed', PER_PAGE, 0],
      },
      count: { sql: `select count(*) as n from "${TABLE}" where ${where}`, params: ['north', 'north', 'closed'] },
    };
  }

  /** EXPLAIN QUERY PLAN as indented lines. */
  function plan(db, sql, params) {
    const rows = db.prepare(`explain query plan ${sql}`).all(...params);
    const depth = new Map([[0, -1]]);
    return rows.map((r) => {
      const d = (depth.get(r.parent) ?? -1) + 1;
      depth.set(r.id, d);
      return `${'  '.repeat(d)}${r.detail}`;
    });
  }

  /** Median ms of `reps` runs of a statement (after 2 unmeasured ones). */
  function timeSql(db, sql, params, reps = 15) {
    const st = db.prepare(sql);
    for (let i = 0; i < 2; i++) st.all(...params);
    const ms = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      st.all(...params);
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    return Math.round(ms[Math.floor(ms.length / 2)] * 1000) / 1000;
  }

  /** The secured page must show only what the grants allow. */
  function checkSecuredPage(body, n) {
    const out = [];
    if (!body || !Array.isArray(body.items)) return ['no items'];
    if (body.items.length !== Math.min(PER_PAGE, Math.ceil(n / 4))) out.push(`${body.items.length} items, expected ${Math.min(PER_PAGE, Math.ceil(n / 4))}`);
    for (const it of body.items) {
      if (it.region !== 'north') out.push(`row ${it.id}: region ${it.region}`);
      if ('notes' in it) out.push(`row ${it.id}: hidden field notes shown`);
      if ((it.status === 'closed') !== 'margin' in it) out.push(`row ${it.id}: margin ${'margin' in it ? 'shown' : 'missing'} on a ${it.status} row`);
      if (!('customer' in it) || !('amount' in it)) out.push(`row ${it.id}: granted field missing`);
    }
    return out.slice(0, 5);
  }

  /** The editor's page: their rows only, the four granted fields. */
  function checkEditorPage(body, n, editorId) {
    const out = [];
    if (!body || !Array.isArray(body.items)) return ['no items'];
    if (body.items.length !== Math.min(PER_PAGE, Math.ceil(n / 10))) out.push(`${body.items.length} items, expected ${Math.min(PER_PAGE, Math.ceil(n / 10))}`);
    for (const it of body.items) {
      if (it.owner !== editorId) out.push(`row ${it.id}: owner ${it.owner}`);
      if ('amount' in it || 'margin' in it || 'notes' in it) out.push(`row ${it.id}: a field outside the grant shown`);
    }
    return out.slice(0, 5);
  }

  async function oneSize(n) {
    log(`---- ${n.toLocaleString('en')} records ----`);
    const port = await freePort();
    const rootPassword = benchPassword();
    const traceDir = run.tempDir('palisade-records-trace-');
    const traceFile = path.join(traceDir.dir, 'sql-trace.json');
    // One key and one public URL (the token's audience) for both servers when another build is compared: each accepts
    // the other's session tokens.
    const appKey = randomBytes(48).toString('base64url');
    const publicUrl = `http://${HOST}:${port}`;
    // The server that is set up and traced carries the SQL tracer; the one that is measured does not (step 5).
    const traced = await run.startServer({
      port,
      password: rootPassword,
      prefix: 'palisade-records-',
      env: { BENCH_SQL_TRACE: traceFile, APP_KEY: appKey, PUBLIC_URL: publicUrl },
      execArgv: ['--import', pathToFileURL(path.join(HERE, 'sql-trace.mjs')).href],
    });
    let server = traced;
    const { base } = server;
    const dbFile = path.join(server.dataDir, 'palisade.db');
    const root = await login(base, rootPassword);
    const rateLimits = await liftRateLimits(base, root);
    const rootId = (await api(base, root, 'GET', '/api/auth/me')).user?.id ?? null;
    log(`server up in ${server.startupMs} ms on ${base}; rate limits lifted (every budget 1e9 per ${rateLimits.window} s)`);

    // 2. The collection, role, user and grants, through the admin API.
    await api(
      base,
      root,
      'POST',
      '/api/admin/collections',
      {
        name: COLLECTION,
        fields: [
          { name: 'region', type: 'enum', values: REGIONS, indexed: true },
          { name: 'status', type: 'status', values: STATUSES, indexed: true },
          { name: 'customer', type: 'string' },
          { name: 'amount', type: 'decimal' },
          { name: 'margin', type: 'decimal', block: 'finance' },
          { name: 'notes', type: 'text', hidden: true },
          { name: 'owner', type: 'user' },
        ],
      },
      201,
    );
    await api(base, root, 'POST', '/api/admin/roles', { name: 'sales', description: 'bench: north region sales' }, 201);
    const sellerPassword = benchPassword(['seller', 'palisade']);
    const seller = (await api(base, root, 'POST', '/api/admin/users', { username: 'seller', password: sellerPassword, mustChangePassword: false }, 201)).user;
    await api(base, root, 'PUT', `/api/admin/users/${seller.id}/roles`, { roles: ['sales'] }, 204);
    const grants = [
      await api(
        base,
        root,
        'POST',
        '/api/admin/grants',
        { role: 'sales', collection: COLLECTION, actions: ['view'], fields: ['region', 'status', 'customer', 'amount'], scope: { region: 'north' } },
        201,
      ),
      await api(
        base,
        root,
        'POST',
        '/api/admin/grants',
        { role: 'sales', collection: COLLECTION, actions: ['view'], fields: ['block:finance'], statuses: ['closed'], scope: { region: 'north' } },
        201,
      ),
    ];

    // The narrow scope: an editor who sees the rows they own (1/10), four fields.
    await api(base, root, 'POST', '/api/admin/roles', { name: 'editors', description: 'bench: own rows' }, 201);
    const editorPassword = benchPassword(['editor', 'palisade']);
    const editor = (await api(base, root, 'POST', '/api/admin/users', { username: 'editor', password: editorPassword, mustChangePassword: false }, 201)).user;
    await api(base, root, 'PUT', `/api/admin/users/${editor.id}/roles`, { roles: ['editors'] }, 204);
    grants.push(
      await api(
        base,
        root,
        'POST',
        '/api/admin/grants',
        { role: 'editors', collection: COLLECTION, actions: ['view'], fields: ['region', 'status', 'owner', 'customer'], scope: { owner: '$user.id' } },
        201,
      ),
    );

    // 3. Seed.
    log(`seeding ${n.toLocaleString('en')} records into ${TABLE} (one transaction)`);
    const t0 = Date.now();
    const seeded = await runSeed(dbFile, n, rootId ?? 'bench', editor.id);
    const seedMs = Date.now() - t0;
    const ro = new Database(dbFile, { readonly: true, fileMustExist: true });
    run.onCleanup(() => {
      if (ro.open) ro.close();
    });
    const rows = ro.prepare(`select count(*) as n from ${TABLE}`).get().n;
    if (rows !== n) throw new Error(`seeded ${rows} rows, expected ${n}`);
    const dbBytes = statSync(dbFile).size;
    log(
      `seeded in ${(seedMs / 1000).toFixed(1)} s (insert ${(seeded.insertMs / 1000).toFixed(1)} s, checkpoint ${seeded.checkpointMs} ms); database ${(dbBytes / 2 ** 20).toFixed(0)} MiB`,
    );

    // 4. Sign in as the seller; record the SQL of the secured list; plans and timings.
    const token = await login(base, sellerPassword, 'seller');
    const headers = { authorization: `Bearer ${token}` };
    const securedUrl = `${base}/api/collections/${COLLECTION}/records?perPage=${PER_PAGE}`;
    const first = await api(base, token, 'GET', `/api/collections/${COLLECTION}/records?perPage=${PER_PAGE}`);
    const problems = checkSecuredPage(first, n).map((p) => `N=${n} secured page: ${p}`);
    if ('total' in first || first.hasMore !== n / 4 > PER_PAGE) problems.push(`N=${n} secured page: total ${first.total}, hasMore ${first.hasMore}`);
    const counted = await api(base, token, 'GET', `/api/collections/${COLLECTION}/records?perPage=${PER_PAGE}&total=true`);
    if (counted.total !== Math.min(10_000, Math.ceil(n / 4))) problems.push(`N=${n} secured page with total=true: total ${counted.total}`);
    const editorToken = await login(base, editorPassword, 'editor');
    const editorHeaders = { authorization: `Bearer ${editorToken}` };
    const editorFirst = await api(base, editorToken, 'GET', `/api/collections/${COLLECTION}/records?perPage=${PER_PAGE}`);
    problems.push(...checkEditorPage(editorFirst, n, editor.id).map((p) => `N=${n} editor page: ${p}`));

    const TRACED = 10;
    await waitTrace(traceFile, 'idle');
    process.kill(server.pid, 'SIGUSR2');
    await waitTrace(traceFile, 'recording');
    const sequentialMs = [];
    for (let i = 0; i < TRACED; i++) {
      const t = performance.now();
      await api(base, token, 'GET', `/api/collections/${COLLECTION}/records?perPage=${PER_PAGE}`);
      sequentialMs.push(performance.now() - t);
    }
    // The editor's list in the same trace: its statement is told apart by its scope.
    for (let i = 0; i < TRACED; i++) await api(base, editorToken, 'GET', `/api/collections/${COLLECTION}/records?perPage=${PER_PAGE}`);
    // One list with total=true, so that the count it adds is traced too (and left out of the statements per request).
    await api(base, token, 'GET', `/api/collections/${COLLECTION}/records?perPage=${PER_PAGE}&total=true`);
    sequentialMs.sort((a, b) => a - b);
    process.kill(server.pid, 'SIGUSR2');
    const trace = await waitTrace(traceFile, 'done');
    await traceDir.remove();
    const onTable = trace.statements.filter((s) => s.sql.includes(`"${TABLE}"`) && /^\s*select/i.test(s.sql));
    const lists = onTable.filter((s) => /\blimit\b/i.test(s.sql) && !/count\(/i.test(s.sql) && !/explain/i.test(s.sql));
    const listSt = lists.find((s) => !/"owner" = \?/.test(s.sql));
    const editorSt = lists.find((s) => /"owner" = \?/.test(s.sql));
    const countSt = onTable.find((s) => /count\(/i.test(s.sql));
    const rec = reconstructed();
    // Since issue 14 a list counts only when asked (total=true): the count is that of the one traced list with total=true.
    const secured = {
      source: listSt ? 'traced' : 'reconstructed',
      list: listSt?.params ? { sql: listSt.sql, params: listSt.params } : rec.list,
      count: countSt?.params ? { sql: countSt.sql, params: countSt.params } : rec.count,
      countTraced: Boolean(countSt),
      editorList: editorSt?.params ? { sql: editorSt.sql, params: editorSt.params } : null,
    };
    const sqlTrace = {
      requests: TRACED,
      // Client-side latency of these requests, one at a time (the SQL trace is on for them).
      sequentialMedianMs: Math.round(sequentialMs[Math.floor(TRACED / 2)] * 10) / 10,
      statementsPerRequest:
        Math.round(
          ((trace.prepared - trace.statements.filter((x) => /count\(/i.test(x.sql) && x.sql.includes(`"${TABLE}"`)).reduce((n, x) => n + x.count, 0)) /
            (2 * TRACED + 1)) *
            10,
        ) / 10,
      onCollectionTablePerRequest: Math.round((onTable.reduce((t, s) => t + s.count, 0) / (2 * TRACED)) * 10) / 10,
      statements: trace.statements.map((s) => ({
        perRequest: Math.round((s.count / (2 * TRACED)) * 10) / 10,
        sql: s.sql.length > 400 ? `${s.sql.slice(0, 400)}…` : s.sql,
      })),
    };
    const bareList = {
      sql: `select id, created_at, updated_at, created_by, updated_by, region, status, customer, amount, margin from ${TABLE} order by id limit ? offset ?`,
      params: [PER_PAGE, 0],
    };
    const bareCount = { sql: `select count(*) as n from ${TABLE}`, params: [] };
    // Diagnostics: the row scope of grant A alone, without the OR of the two grants' conditions.
    const c = (x) => `"${TABLE}"."${x}"`;
    const oneScopeList = {
      sql: `select ${['id', 'created_at', 'updated_at', 'created_by', 'updated_by', 'region', 'status', 'customer', 'amount', 'margin'].map(c).join(', ')} from "${TABLE}" where ${c('region')} = ? order by ${c('id')} asc limit ? offset ?`,
      params: ['north', PER_PAGE, 0],
    };
    const oneScopeCount = { sql: `select count(*) as n from "${TABLE}" where ${c('region')} = ?`, params: ['north'] };
    // What the list cost before issue 14 (D39), on the same data: the capped count on every request, then, past 2,000
    // matches, the opaque condition that walks the id index. Timed here so that before and after compare in one run.
    const cols = ['id', 'created_at', 'updated_at', 'created_by', 'updated_by', 'region', 'status', 'customer', 'amount', 'margin'].map(c).join(', ');
    const d39 = (cond, params) => ({
      list: {
        sql: `select ${cols} from "${TABLE}" where (case when (${cond}) then 1 else 0 end) = 1 order by ${c('id')} asc limit ? offset ?`,
        params: [...params, PER_PAGE, 0],
      },
      count: { sql: `select count(*) as n from (select 1 from "${TABLE}" where (${cond}) limit ?) as c`, params: [...params, 10_001] },
    });
    const before = { seller: d39(`${c('region')} = ?`, ['north']), editor: d39(`${c('owner')} = ?`, [editor.id]) };
    const plans = {
      oneScopeList: plan(ro, oneScopeList.sql, oneScopeList.params),
      oneScopeCount: plan(ro, oneScopeCount.sql, oneScopeCount.params),
      securedList: plan(ro, secured.list.sql, secured.list.params),
      securedCount: plan(ro, secured.count.sql, secured.count.params),
      bareList: plan(ro, bareList.sql, bareList.params),
      bareCount: plan(ro, bareCount.sql, bareCount.params),
      editorList: secured.editorList ? plan(ro, secured.editorList.sql, secured.editorList.params) : [],
    };
    const sqlMs = {
      securedList: timeSql(ro, secured.list.sql, secured.list.params),
      securedCount: timeSql(ro, secured.count.sql, secured.count.params),
      bareList: timeSql(ro, bareList.sql, bareList.params),
      bareCount: timeSql(ro, bareCount.sql, bareCount.params),
      oneScopeList: timeSql(ro, oneScopeList.sql, oneScopeList.params),
      oneScopeCount: timeSql(ro, oneScopeCount.sql, oneScopeCount.params),
      editorList: secured.editorList ? timeSql(ro, secured.editorList.sql, secured.editorList.params) : null,
      d39SellerList: timeSql(ro, before.seller.list.sql, before.seller.list.params),
      d39SellerCount: timeSql(ro, before.seller.count.sql, before.seller.count.params),
      d39EditorList: timeSql(ro, before.editor.list.sql, before.editor.list.params),
      d39EditorCount: timeSql(ro, before.editor.count.sql, before.editor.count.params),
    };
    const stat1 = ro.prepare(`select count(*) as n from sqlite_master where name = 'sqlite_stat1'`).get().n > 0;
    log(
      `secured list: ${sqlTrace.sequentialMedianMs} ms a request one at a time (median of ${TRACED}); ${sqlTrace.statementsPerRequest} SQL statements per request (${secured.source} SQL); ` +
        `alone: list ${sqlMs.securedList} ms, count ${sqlMs.securedCount} ms; bare: list ${sqlMs.bareList} ms, count ${sqlMs.bareCount} ms`,
    );
    log(`plan, secured list:\n    ${plans.securedList.join('\n    ')}\n  plan, secured count:\n    ${plans.securedCount.join('\n    ')}`);
    log(`editor list: alone ${sqlMs.editorList} ms; plan:\n    ${plans.editorList.join('\n    ')}`);

    // 5. Measure, on a server of the same build, data, key and port that never loaded the tracer: the product as it
    // ships. A server whose statement methods were once replaced (and put back) ran the same build at 0.8-1.2 times
    // the rate of an untraced one, depending on when it was traced (docs/benchmarks.md).
    await traced.stopProcess();
    server = await run.startServer({
      port,
      password: rootPassword,
      dataDir: traced.dataDir,
      env: { APP_KEY: appKey, PUBLIC_URL: publicUrl },
      execArgv: process.env.BENCH_CPU_PROF
        ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`, `--cpu-prof-name=server-${n}.cpuprofile`]
        : [],
    });
    const results = [];
    const only = (process.env.BENCH_ONLY ?? '').split(',').filter(Boolean);
    const want = (route) => only.length === 0 || only.includes(route);
    let bare = null;
    const securedName = `secured GET /api/collections/orders/records?perPage=50, N=${n}`;
    if (n === BARE_SIZE) {
      const barePort = await freePort();
      bare = await run.spawnNode({
        name: 'bare-server',
        args: [path.join(HERE, 'bare-server.mjs')],
        env: { BARE_DB: dbFile, PORT: String(barePort), HOST, NODE_ENV: 'production' },
        readyUrl: `http://${HOST}:${barePort}/bare?page=1`,
      });
      const bareUrl = `http://${HOST}:${barePort}/bare?page=1`;
      const bareBody = await (await fetch(bareUrl, { signal: AbortSignal.timeout(10_000) })).json();
      if (bareBody.items?.length !== Math.min(PER_PAGE, n) || bareBody.total !== n)
        problems.push(`N=${n} bare page: ${bareBody.items?.length} items, total ${bareBody.total}`);
      const compared = COMPARE_MAIN
        ? await run.startServer({
            port: await freePort(),
            password: rootPassword,
            dataDir: server.dataDir,
            env: { APP_KEY: appKey, PUBLIC_URL: publicUrl },
            main: COMPARE_MAIN,
          })
        : null;
      if (compared) {
        const res = await fetch(securedUrl.replace(base, compared.base), { headers, signal: AbortSignal.timeout(10_000) });
        if (res.status !== 200) throw new Error(`the compared build answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      }
      for (let round = 1; round <= ROUNDS; round++) {
        const of = ROUNDS > 1 ? `, round ${round} of ${ROUNDS}` : '';
        if (want('bare')) results.push({ route: 'bare', round, ...(await measure(`bare GET /bare?page=1 (no security), N=${n}${of}`, bareUrl, {}, bare.pid)) });
        if (want('secured'))
          results.push({
            route: 'secured',
            round,
            ...(await measure(`${securedName}${of}`, securedUrl, headers, server.pid, { seqMs: sqlTrace.sequentialMedianMs })),
          });
        if (compared)
          results.push({
            route: 'compared build, secured',
            round,
            ...(await measure(`${COMPARE_MAIN}: ${securedName}${of}`, securedUrl.replace(base, compared.base), headers, compared.pid, {
              seqMs: sqlTrace.sequentialMedianMs,
            })),
          });
      }
      await compared?.stopProcess();
      if (want('editor')) results.push({ route: 'editor (owner scope)', ...(await measure(`editor ${securedName}`, securedUrl, editorHeaders, server.pid)) });
      if (want('total'))
        results.push({
          route: 'secured, total=true',
          ...(await measure(`${securedName}&total=true`, `${securedUrl}&total=true`, headers, server.pid, { seqMs: sqlTrace.sequentialMedianMs })),
        });
      if (want('auth'))
        results.push({ route: 'auth-only', ...(await measure(`auth only GET /api/auth/me as seller, N=${n}`, `${base}/api/auth/me`, headers, server.pid)) });
      await bare.stop();
    } else {
      // At the smallest and the largest size the secured list is measured later, in rounds alternating between the
      // two servers (scaleRounds), so that the p50 ratio is taken minutes, not a seeding of 1 000 000 rows, apart.
      if (want('secured') && !KEEP.has(n))
        results.push({ route: 'secured', ...(await measure(securedName, securedUrl, headers, server.pid, { seqMs: sqlTrace.sequentialMedianMs })) });
      if (want('editor')) results.push({ route: 'editor (owner scope)', ...(await measure(`editor ${securedName}`, securedUrl, editorHeaders, server.pid)) });
    }
    // The same list one request at a time: its latency without queueing behind other connections.
    if (want('one'))
      results.push({
        route: 'secured, 1 conn',
        ...(await measure(`${securedName}, one connection`, securedUrl, headers, server.pid, {
          connections: 1,
          warmup: 0,
          seqMs: sqlTrace.sequentialMedianMs,
        })),
      });
    await waitIdle(server.pid);
    const check = await fetch(securedUrl, { headers, signal: AbortSignal.timeout(60_000) });
    const after = await check.json().catch(() => null);
    if (check.status !== 200) problems.push(`N=${n}: the secured list answered ${check.status} after the run`);
    for (const r of results) {
      if (r.ok2xx === 0 || r.non2xx || r.errors || r.timeouts)
        problems.push(`${r.name}: ${r.ok2xx} 2xx, ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}, ${r.errors} errors, ${r.timeouts} timeouts`);
    }

    ro.close();
    const stop = async () => {
      await server.stopProcess();
      await traced.stop();
    };
    let kept = null;
    if (KEEP.has(n)) kept = { n, server, securedUrl, sellerPassword, securedName, seqMs: sqlTrace.sequentialMedianMs, stop };
    else await stop();
    return {
      kept,
      records: n,
      startupMs: traced.startupMs,
      seedMs,
      seed: seeded,
      databaseMiB: Math.round(dbBytes / 2 ** 20),
      sqliteStat1: stat1,
      totalReported: counted?.total ?? null,
      hasMoreAfterRun: after?.hasMore ?? null,
      grants,
      sqlTrace,
      securedSql: secured,
      plans,
      sqlMs,
      results,
      problems,
    };
  }

  async function main() {
    if (!existsSync(MAIN)) throw new Error(`${path.relative(process.cwd(), MAIN)} not found; run \`npx tsc -p .\` first`);
    log(`sizes ${SIZES.join(', ')}; bare route and /api/auth/me at ${BARE_SIZE}; ${CONNS} connections, ${WARMUP} s warm-up + ${DURATION} s per measurement`);
    const sizes = [];
    for (const n of SIZES) sizes.push(await oneSize(n));
    await scaleRounds(sizes.flatMap((s) => (s.kept ? [s] : [])));
    for (const s of sizes) delete s.kept;

    const r2 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000);
    const at = (n, route) => sizes.find((s) => s.records === n)?.results.find((r) => r.route === route) ?? null;
    const bareR = at(BARE_SIZE, 'bare');
    const securedAtBare = at(BARE_SIZE, 'secured');
    const meAtBare = at(BARE_SIZE, 'auth-only');
    const small = Math.min(...SIZES);
    const large = Math.max(...SIZES);
    const sSmall = at(small, 'secured');
    const sLarge = at(large, 'secured');
    // One ratio per round (bare, then secured, alternated); the median of them.
    const ofRound = (route) => sizes.find((s) => s.records === BARE_SIZE)?.results.filter((r) => r.route === route) ?? [];
    const roundRatios = ofRound('secured').flatMap((s) => {
      const b = ofRound('bare').find((x) => x.round === s.round);
      return b && b.reqPerSec > 0 ? [r2(s.reqPerSec / b.reqPerSec)] : [];
    });
    const sortedRatios = [...roundRatios].sort((a, b) => a - b);
    // The compared build's secured list against this build's and against the bare route, per round.
    const comparedRounds = ofRound('compared build, secured').flatMap((c) => {
      const s = ofRound('secured').find((x) => x.round === c.round);
      const b = ofRound('bare').find((x) => x.round === c.round);
      return s && s.reqPerSec > 0
        ? [{ round: c.round, toThisBuild: r2(c.reqPerSec / s.reqPerSec), toBare: b?.reqPerSec ? r2(c.reqPerSec / b.reqPerSec) : null }]
        : [];
    });
    const throughputRatio = sortedRatios.length ? sortedRatios[Math.floor((sortedRatios.length - 1) / 2)] : null;
    // The p50 ratio: per round of scaleRounds (the answers' own times, to the microsecond), the median of the rounds;
    // with one measurement a size, autocannon's whole milliseconds.
    const p50Of = (r) => r.exactLatencyMs?.p50 ?? r.latencyMs.p50;
    const securedOf = (n) => sizes.find((s) => s.records === n)?.results.filter((r) => r.route === 'secured') ?? [];
    const p50Rounds = securedOf(small).flatMap((a) => {
      const b = a.round ? securedOf(large).find((x) => x.round === a.round) : null;
      return b && p50Of(a) > 0 ? [r2(p50Of(b) / p50Of(a))] : [];
    });
    const mid = (xs) => {
      const o = [...xs].sort((a, b) => a - b);
      return o.length % 2 ? o[(o.length - 1) / 2] : r2((o[o.length / 2 - 1] + o[o.length / 2]) / 2);
    };
    const p50Ratio = p50Rounds.length ? mid(p50Rounds) : sSmall && sLarge && p50Of(sSmall) > 0 ? r2(p50Of(sLarge) / p50Of(sSmall)) : null;
    const meanRatio = sSmall && sLarge && sSmall.latencyMs.mean > 0 ? r2(sLarge.latencyMs.mean / sSmall.latencyMs.mean) : null;
    const oSmall = at(small, 'secured, 1 conn');
    const oLarge = at(large, 'secured, 1 conn');
    const p50OneRatio = oSmall && oLarge && oSmall.latencyMs.p50 > 0 ? r2(oLarge.latencyMs.p50 / oSmall.latencyMs.p50) : null;
    const eSmall = at(small, 'editor (owner scope)');
    const eLarge = at(large, 'editor (owner scope)');
    const editorP50Ratio = eSmall && eLarge && eSmall.latencyMs.p50 > 0 ? r2(eLarge.latencyMs.p50 / eSmall.latencyMs.p50) : null;
    const editorAtBare = at(BARE_SIZE, 'editor (owner scope)');
    const totalAtBare = at(BARE_SIZE, 'secured, total=true');
    const summary = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      sqlite: new Database(':memory:').prepare('select sqlite_version() as v').get().v,
      backend: 'sqlite',
      durationPerMeasurementS: DURATION,
      warmupS: WARMUP,
      connections: CONNS,
      sizes,
      ratios: {
        securedToBareReqPerSec: {
          size: BARE_SIZE,
          value: throughputRatio,
          rounds: roundRatios,
          aim: '>= 0.70',
          met: throughputRatio === null ? null : throughputRatio >= 0.7,
        },
        securedP50LargestToSmallest: {
          sizes: [large, small],
          value: p50Ratio,
          rounds: p50Rounds,
          aim: '<= 1.5',
          met: p50Ratio === null ? null : p50Ratio <= 1.5,
        },
        securedMeanLatencyLargestToSmallest: meanRatio,
        securedP50OneConnectionLargestToSmallest: p50OneRatio,
        authOnlyToBareReqPerSec: bareR && meAtBare ? r2(meAtBare.reqPerSec / bareR.reqPerSec) : null,
        securedToAuthOnlyReqPerSec: meAtBare && securedAtBare ? r2(securedAtBare.reqPerSec / meAtBare.reqPerSec) : null,
        editorToBareReqPerSec: bareR && editorAtBare ? r2(editorAtBare.reqPerSec / bareR.reqPerSec) : null,
        editorP50LargestToSmallest: editorP50Ratio,
        totalTrueToSecuredReqPerSec: totalAtBare && securedAtBare ? r2(totalAtBare.reqPerSec / securedAtBare.reqPerSec) : null,
        ...(COMPARE_MAIN ? { comparedBuild: { main: COMPARE_MAIN, rounds: comparedRounds } } : {}),
      },
      problems: sizes.flatMap((s) => s.problems),
    };

    const fmt = (x) => (typeof x === 'number' ? x.toLocaleString('en') : '-');
    const lines = [
      `| records | route | conns | req/s (2xx) | p50 ms | p50 ms (exact) | p97.5 ms | p99 ms | mean ms | max ms | 2xx | non-2xx | errors | server cores |`,
      `|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
      ...sizes.flatMap((s) =>
        s.results.map(
          (r) =>
            `| ${fmt(s.records)} | ${r.route}${r.round && ROUNDS > 1 ? ` (round ${r.round})` : ''} | ${r.connections} | ${fmt(r.reqPerSec)} | ${fmt(r.latencyMs.p50)} | ${fmt(r.exactLatencyMs?.p50)} | ${fmt(r.latencyMs.p97_5)} | ${fmt(r.latencyMs.p99)} | ${fmt(r.latencyMs.mean)} | ${fmt(r.latencyMs.max)} | ${r.ok2xx} | ${r.non2xx} | ${r.errors + r.timeouts} | ${fmt(r.serverCores)} |`,
        ),
      ),
      '',
      `| records | SQL per secured request | count traced | secured list SQL ms | editor list SQL ms | count SQL ms (total=true) | total reported (total=true) | bare list SQL ms | bare count SQL ms | seed s | DB MiB |`,
      `|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|`,
      ...sizes.map(
        (s) =>
          `| ${fmt(s.records)} | ${s.sqlTrace.statementsPerRequest} | ${s.securedSql.countTraced ? 'yes' : 'no'} | ${s.sqlMs.securedList} | ${fmt(s.sqlMs.editorList)} | ${s.sqlMs.securedCount} | ${fmt(s.totalReported)} | ${s.sqlMs.bareList} | ${s.sqlMs.bareCount} | ${(s.seedMs / 1000).toFixed(1)} | ${s.databaseMiB} |`,
      ),
      '',
      `secured / bare req/s at ${fmt(BARE_SIZE)}: ${fmt(throughputRatio)}${roundRatios.length > 1 ? ` (median of rounds ${roundRatios.join(', ')})` : ''} (aim >= 0.70: ${summary.ratios.securedToBareReqPerSec.met === null ? '-' : summary.ratios.securedToBareReqPerSec.met ? 'met' : 'MISSED'})`,
      `secured p50 latency ${fmt(large)} / ${fmt(small)}: ${fmt(p50Ratio)}${p50Rounds.length > 1 ? ` (median of rounds ${p50Rounds.join(', ')})` : ''} (aim <= 1.5: ${summary.ratios.securedP50LargestToSmallest.met === null ? '-' : summary.ratios.securedP50LargestToSmallest.met ? 'met' : 'MISSED'}); mean latency ratio ${fmt(meanRatio)}; p50 ratio with one connection ${fmt(p50OneRatio)}`,
      `auth only (/api/auth/me) / bare req/s: ${fmt(summary.ratios.authOnlyToBareReqPerSec)}; secured / auth only: ${fmt(summary.ratios.securedToAuthOnlyReqPerSec)}`,
      ...(COMPARE_MAIN
        ? [
            `compared build (${COMPARE_MAIN}), secured list per round: / this build's ${comparedRounds.map((c) => c.toThisBuild).join(', ')}; / bare ${comparedRounds.map((c) => c.toBare).join(', ')}`,
          ]
        : []),
      `editor (owner scope) / bare req/s: ${fmt(summary.ratios.editorToBareReqPerSec)}; editor p50 ${fmt(large)} / ${fmt(small)}: ${fmt(editorP50Ratio)}; secured with total=true / without: ${fmt(summary.ratios.totalTrueToSecuredReqPerSec)}`,
      '',
      ...sizes.flatMap((s) => [
        `EXPLAIN QUERY PLAN at ${fmt(s.records)} (${s.securedSql.source} SQL; sqlite_stat1 ${s.sqliteStat1 ? 'present' : 'absent'}):`,
        `  secured list:  ${s.plans.securedList.join(' | ')}`,
        `  secured count: ${s.plans.securedCount.join(' | ')}`,
        `  editor list:   ${s.plans.editorList.join(' | ')}`,
        `  before issue 14 (D39: capped count + opaque walk), same data: seller list ${s.sqlMs.d39SellerList} ms + count ${s.sqlMs.d39SellerCount} ms; editor list ${s.sqlMs.d39EditorList} ms + count ${s.sqlMs.d39EditorCount} ms`,
        `  bare list:     ${s.plans.bareList.join(' | ')}`,
        `  bare count:    ${s.plans.bareCount.join(' | ')}`,
        `  diagnostic, grant A's scope alone (where region = ?): list ${s.sqlMs.oneScopeList} ms: ${s.plans.oneScopeList.join(' | ')}; count ${s.sqlMs.oneScopeCount} ms: ${s.plans.oneScopeCount.join(' | ')}`,
      ]),
      '',
      `secured list SQL: ${sizes[0]?.securedSql.list.sql}`,
      `secured count SQL: ${sizes[0]?.securedSql.count.sql}`,
    ];
    process.stdout.write(`\n${lines.join('\n')}\n\n${JSON.stringify(summary, null, 2)}\n`);
    if (summary.problems.length) log(`problems:\n  ${summary.problems.join('\n  ')}`);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(summary, null, 2)}\n`);
    return summary.problems.length === 0 ? 0 : 1;
  }

  await run.finish(main);
}
