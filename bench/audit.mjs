#!/usr/bin/env node
// Audit trail benchmark (issue 13): what the change log costs a record write, and how fast the whole
// audit chain is verified.
//
//   npm run bench:audit          (= tsc -p tsconfig.json && node bench/audit.mjs)
//
// In one run:
//   1. starts the real server (`node dist/cli/main.js start`) on 127.0.0.1 with a fresh data
//      directory (SQLite) or a fresh PostgreSQL schema (BENCH_DATABASE_URL; the schema
//      palisade_bench_audit_<random> is given to the server as DATABASE_SCHEMA and dropped at the end),
//      a fixed random APP_KEY and a random root password; signs in as root (bearer mode) and lifts the
//      rate limits as bench/run.mjs does (every budget 1e9);
//   2. creates two collections with the same fields, `audit_on` and `audit_off`: title, customer, city
//      and reference (strings, none unique), qty (integer); no status field (a status field writes a
//      status entry whatever the change log says) and no revisions. `audit_off` then gets
//      PATCH /api/admin/collections/audit_off {"audit":{"changeLog":false}}, so a write on it records
//      nothing, while a write on `audit_on` (the default) reads the record after the write, finds or
//      creates the record's key, encrypts the old and new values and appends a change entry to the
//      chain, all in the write's transaction.
//      The writer is BENCH_CALLER: `writer` (default), a user whose role `writer` has a create, update
//      and view grant on both collections (every field, no row scope), or `root`, the administrator,
//      whose every records call also writes a `record.bypass` security event on the chain (two per
//      write: the write's plan and the read-back), in both collections alike.
//      Then (SQLite only) it records the SQL the server runs for 10 creates on `audit_on`
//      (bench/sql-trace.mjs, preloaded into the server and switched off again before anything is
//      measured): statements per create, and those only the change log runs (the read of the new
//      record, its key, and 4 per appended change entry); a create on `audit_off` runs the rest;
//   3. writes: POST /api/collections/<c>/records as BENCH_CALLER (bearer token) with autocannon
//      (BENCH_CONNS connections, BENCH_DURATION s a round, each body a new qty), BENCH_ROUNDS rounds per
//      collection, alternating (on, off, then off, on, ...) after an unmeasured BENCH_WARMUP s on each;
//   4. updates: PATCH /api/collections/<c>/records/<id> on the first 200 records of each collection,
//      cycled, each body a new qty and city (so every update changes two values), the same way;
//   5. checks that `audit_off` has no change entry, that the newest `audit_on` entry carries its values,
//      and verifies the chain through POST /api/admin/audit/verify; stops the server (keeping its data);
//   6. chain verification: appends BENCH_CHAIN_ENTRIES (default 1 000 000) real entries with the compiled
//      dist/audit/chain.js `append` (in a worker thread, batches of 10 000 entries a transaction; nine in
//      ten are change entries with a 160-byte sealed value, one in ten a security event, as a busy
//      instance writes them), then times `node dist/cli/main.js audit verify` BENCH_VERIFY_RUNS times
//      (the first reads a cold process, the database pages are whatever the OS kept) and reports entries
//      per second from the walk's own milliseconds (its output: "... (N ms)").
// Before each measurement the script waits until the server is idle (under 5 % of a core for 300 ms).
// It prints markdown tables, the on/off ratios (aim: change log on / off >= 0.80 for creates) and a
// JSON summary.
//
// It exits 0 when every write answered 2xx, the checks held and every verification found the chain
// intact, 1 otherwise (see `problems`), 2 when something failed to start or a step overran its time
// limit, 3 when the watchdog stopped the run. Missing the aim does not fail the run: it is reported.
// Only 127.0.0.1 is ever targeted (PostgreSQL: whatever BENCH_DATABASE_URL names); every step has a
// time limit.
//
// Environment (all optional):
//   BENCH_DATABASE_URL   postgres://... : run on PostgreSQL in a throw-away schema (default: SQLite)
//   BENCH_DURATION       seconds per measured round (default 5, 1..60)
//   BENCH_WARMUP         seconds of unmeasured warm-up per collection and scenario (default 2, 0..10)
//   BENCH_ROUNDS         measured rounds per collection and scenario (default 3, 1..10)
//   BENCH_CONNS          connections (default 10)
//   BENCH_CALLER         writer (default) or root: who writes (see step 2)
//   BENCH_CHAIN_ENTRIES  entries appended before timing `audit verify` (default 1000000; 0 skips part 6)
//   BENCH_VERIFY_RUNS    times `audit verify` is run (default 2, 1..5)
//   BENCH_SKIP_WRITES    1: skip steps 3 and 4 (chain verification only)
//   BENCH_JSON           file to also write the JSON summary to
//   BENCH_CPU_PROF       a directory: the server runs with --cpu-prof and writes its profile there
//                        (it covers steps 2 to 5; the verify CLI runs with --cpu-prof too)

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  MAIN,
  ROOT,
  STARTUP_TIMEOUT_MS,
  onCpus,
  sleep,
  intEnv,
  freePort,
  cannon,
  summarise,
  benchPassword,
  api,
  login,
  liftRateLimits,
  createRun,
} from './lib.mjs';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SEED_BATCH = 10_000;

// ---- seeding the chain (worker thread) ------------------------------------------------------
/** Appends `n` entries through dist/audit/chain.js `append`, SEED_BATCH a transaction. */
async function seedChain({ databaseUrl, schema, dataDir, n }) {
  const { openDb } = await import(pathToFileURL(path.join(ROOT, 'dist', 'db', 'index.js')).href);
  const { append } = await import(pathToFileURL(path.join(ROOT, 'dist', 'audit', 'chain.js')).href);
  const h = await openDb({ databaseUrl, dataDir, poolMax: 2, pgSchema: schema ?? undefined });
  try {
    const headSeq = async () => Number((await h.db.selectFrom('audit_chain_head').select('seq').where('id', '=', 1).executeTakeFirstOrThrow()).seq);
    const before = await headSeq();
    const ids = Array.from({ length: 5000 }, () => randomUUID());
    const start = Date.now() - 30 * 24 * 3600 * 1000;
    const t0 = performance.now();
    let hashMs = 0;
    for (let done = 0; done < n; ) {
      const k = Math.min(SEED_BATCH, n - done);
      const entries = [];
      for (let i = 0; i < k; i++) {
        const j = done + i;
        const at = start + j;
        const common = { at, actor_id: 'bench-actor', actor_name: 'root', ip: '127.0.0.1', user_agent: 'bench/audit.mjs', request_id: `req-${j}` };
        if (j % 10 === 9)
          entries.push({
            table: 'security_events',
            row: { ...common, type: 'auth.login', outcome: 'success', subject_id: 'bench-actor', details: JSON.stringify({ method: 'password', mfa: false }) },
          });
        else {
          const sealed = `v1.${randomBytes(12).toString('base64url')}.${randomBytes(160).toString('base64url')}.${randomBytes(16).toString('base64url')}`;
          const changed = [{ field: 'title' }, { field: 'customer' }, { field: 'city' }, { field: 'reference' }, { field: 'qty' }];
          entries.push({
            table: 'audit_log',
            row: {
              ...common,
              kind: 'change',
              collection: 'orders',
              record_id: ids[j % ids.length],
              operation: j % 3 === 0 ? 'create' : 'update',
              via: null,
              data: JSON.stringify({ changed, values: sealed }),
            },
          });
        }
      }
      const b0 = performance.now();
      await append(h.db, entries);
      hashMs += performance.now() - b0;
      done += k;
      if (done % 100_000 === 0 || done === n) parentPort.postMessage({ progress: done });
    }
    return { before, after: await headSeq(), ms: Math.round(performance.now() - t0), appendMs: Math.round(hashMs) };
  } finally {
    await h.close();
  }
}

if (!isMainThread) {
  seedChain(workerData).then(
    (res) => parentPort.postMessage({ ok: true, res }),
    (e) => parentPort.postMessage({ ok: false, error: e instanceof Error ? e.stack || e.message : String(e) }),
  );
} else {
  await mainThread();
}

async function mainThread() {
  const DATABASE_URL = process.env.BENCH_DATABASE_URL || null;
  const DURATION = intEnv('BENCH_DURATION', 5, 1, 60);
  const WARMUP = intEnv('BENCH_WARMUP', 2, 0, 10);
  const ROUNDS = intEnv('BENCH_ROUNDS', 3, 1, 10);
  const CONNS = intEnv('BENCH_CONNS', 10, 1, 256);
  const CHAIN = intEnv('BENCH_CHAIN_ENTRIES', 1_000_000, 0, 5_000_000);
  const VERIFY_RUNS = intEnv('BENCH_VERIFY_RUNS', 2, 1, 5);
  const SKIP_WRITES = process.env.BENCH_SKIP_WRITES === '1';
  const PROF = process.env.BENCH_CPU_PROF || null;
  const CALLER = process.env.BENCH_CALLER || 'writer';
  if (CALLER !== 'writer' && CALLER !== 'root') throw new Error('BENCH_CALLER is writer or root');

  const DRAIN_LIMIT_MS = 60_000;
  const seedLimitMs = 60_000 + Math.ceil(CHAIN * (DATABASE_URL ? 1 : 0.5)); // 1M: 9.3 min on SQLite, 17.7 on PostgreSQL
  const verifyLimitMs = 60_000 + Math.ceil(CHAIN * (DATABASE_URL ? 0.5 : 0.25));
  const measureMs = (WARMUP + DURATION + 20) * 1000 + 2 * DRAIN_LIMIT_MS;
  const WATCHDOG_MS =
    2 * STARTUP_TIMEOUT_MS +
    120_000 +
    (SKIP_WRITES ? 0 : 2 * 2 * (ROUNDS + 1) * measureMs) +
    (CHAIN > 0 ? seedLimitMs + VERIFY_RUNS * verifyLimitMs : 0) +
    60_000;
  const run = createRun('bench:audit', WATCHDOG_MS);
  const log = run.log;
  const problems = [];

  /** CPU seconds used so far by a process (Linux /proc; 100 ticks a second), or null. */
  function cpuSeconds(pid) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return null;
    }
  }

  /** Waits until `pid` uses under 5 % of a core for 300 ms (what a measurement left in flight is done). */
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

  /** One autocannon measurement of `requests` (autocannon's request list), with the server's cores. */
  async function measure(name, url, headers, requests, pid, duration) {
    await waitIdle(pid);
    const c0 = cpuSeconds(pid);
    const t0 = performance.now();
    const load0 = loadavg()[0];
    const r = await cannon({ url, headers, requests, connections: CONNS, duration });
    const wall = (performance.now() - t0) / 1000;
    const c1 = cpuSeconds(pid);
    const cores = c0 === null || c1 === null ? null : Math.round(((c1 - c0) / wall) * 100) / 100;
    // The server's CPU time per answered request: steadier than req/s when other work shares the cores.
    const answered = r.requests.total;
    const cpuMs = c0 === null || c1 === null || answered === 0 ? null : Math.round((((c1 - c0) * 1000) / answered) * 1000) / 1000;
    return summarise(name, r, {
      serverCores: cores,
      serverCpuMsPerRequest: cpuMs,
      loadAverage1m: [Math.round(load0 * 100) / 100, Math.round(loadavg()[0] * 100) / 100],
    });
  }

  /** A node child process run to its end with a time limit; its stdout, stderr, exit code and wall ms. */
  function runNode(args, env, limitMs, execArgv = []) {
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      // `audit verify` is measured too: on the servers' CPU (D461).
      const [cmd, argv] = onCpus('server', process.execPath, [...execArgv, ...args]);
      const child = spawn(cmd, argv, {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const kill = run.onCleanup(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (c) => {
        out += c;
      });
      child.stderr.on('data', (c) => {
        err += c;
      });
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`node ${args.join(' ')} took longer than ${limitMs / 1000} s`));
      }, limitMs);
      child.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      child.once('exit', (code) => {
        clearTimeout(t);
        kill();
        resolve({ code, out, err, wallMs: Math.round(performance.now() - t0) });
      });
    });
  }

  function seedInWorker(params) {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: params });
    const terminate = run.onCleanup(() => w.terminate().catch(() => {}));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`appending ${params.n} chain entries took longer than ${seedLimitMs / 1000} s`)), seedLimitMs);
      w.on('message', (m) => {
        if (m.progress !== undefined) {
          log(`  ${m.progress.toLocaleString('en')} entries appended`);
          return;
        }
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

  /** A fresh PostgreSQL schema, dropped at clean-up. */
  async function pgSchema() {
    const pg = require('pg');
    const schema = `palisade_bench_audit_${randomBytes(5).toString('hex')}`;
    const c = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5000, query_timeout: 10_000 });
    await c.connect();
    try {
      await c.query(`CREATE SCHEMA ${schema}`);
    } finally {
      await c.end();
    }
    run.onCleanup(async () => {
      const d = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5000, query_timeout: 60_000 });
      try {
        await d.connect();
        await d.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } catch (e) {
        log(`could not drop schema ${schema}: ${e.message}`);
      } finally {
        await d.end().catch(() => {});
      }
    });
    return schema;
  }

  const FIELDS = [
    { name: 'title', type: 'string' },
    { name: 'customer', type: 'string' },
    { name: 'city', type: 'string' },
    { name: 'reference', type: 'string' },
    { name: 'qty', type: 'integer' },
  ];
  const CITIES = ['Lyon', 'Porto', 'Gdansk', 'Turku', 'Ghent', 'Bergamo'];
  let counter = 0;
  const createBody = () => {
    const i = counter++;
    return JSON.stringify({
      title: `Order ${i}`,
      customer: `Customer ${i % 997}`,
      city: CITIES[i % CITIES.length],
      reference: `REF-${100000 + i}`,
      qty: i % 500,
    });
  };

  async function writes(server, token) {
    const { base, pid } = server;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const scenarios = [
      {
        key: 'create',
        label: 'POST /records',
        requests: (c) => [
          {
            method: 'POST',
            path: `/api/collections/${c}/records`,
            setupRequest: (req) => ({ ...req, body: createBody() }),
          },
        ],
      },
      {
        key: 'update',
        label: 'PATCH /records/:id',
        requests: (c, ids) => [
          {
            method: 'PATCH',
            setupRequest: (req) => {
              const i = counter++;
              return {
                ...req,
                path: `/api/collections/${c}/records/${ids[i % ids.length]}`,
                body: JSON.stringify({ qty: i % 100000, city: CITIES[i % CITIES.length] }),
              };
            },
          },
        ],
      },
    ];
    const results = [];
    const ids = {};
    for (const sc of scenarios) {
      if (sc.key === 'update')
        for (const c of ['audit_on', 'audit_off']) {
          const page = await api(base, token, 'GET', `/api/collections/${c}/records?perPage=200`);
          ids[c] = page.items.map((r) => r.id);
          if (ids[c].length < 50) throw new Error(`${c}: only ${ids[c].length} records to update`);
        }
      const reqs = { audit_on: sc.requests('audit_on', ids.audit_on), audit_off: sc.requests('audit_off', ids.audit_off) };
      if (WARMUP > 0)
        for (const c of ['audit_on', 'audit_off']) {
          await waitIdle(pid);
          await cannon({ url: base, headers, requests: reqs[c], connections: CONNS, duration: WARMUP });
        }
      for (let r = 1; r <= ROUNDS; r++) {
        const order = r % 2 === 1 ? ['audit_on', 'audit_off'] : ['audit_off', 'audit_on'];
        for (const c of order) {
          const name = `${sc.label}, change log ${c === 'audit_on' ? 'on' : 'off'} (${r})`;
          log(`${name}: ${CONNS} connections, ${DURATION} s`);
          const m = await measure(name, base, headers, reqs[c], pid, DURATION);
          results.push({ scenario: sc.key, changeLog: c === 'audit_on', round: r, ...m });
          if (m.ok2xx === 0 || m.non2xx || m.errors || m.timeouts)
            problems.push(`${name}: ${m.ok2xx} 2xx, ${m.non2xx} non-2xx ${JSON.stringify(m.statusCodes)}, ${m.errors} errors, ${m.timeouts} timeouts`);
        }
      }
    }
    return results;
  }

  async function main() {
    if (!existsSync(MAIN)) throw new Error(`${path.relative(process.cwd(), MAIN)} not found; run \`npx tsc -p .\` first`);
    const backend = DATABASE_URL ? 'postgresql' : 'sqlite';
    const port = await freePort();
    const password = benchPassword();
    const appKey = randomBytes(48).toString('base64url');
    const data = run.tempDir('palisade-bench-audit-');
    const schema = DATABASE_URL ? await pgSchema() : null;
    const dbEnv = DATABASE_URL ? { DATABASE_URL, DATABASE_SCHEMA: schema } : {};
    const profArgs = (name) => (PROF ? ['--cpu-prof', '--cpu-prof-dir', PROF, '--cpu-prof-name', `${name}-${backend}-${Date.now()}.cpuprofile`] : []);
    log(
      `${backend}; writes as ${CALLER}: ${SKIP_WRITES ? 'skipped' : `${ROUNDS} rounds x ${DURATION} s per collection, ${CONNS} connections, ${WARMUP} s warm-up`}; chain: ${CHAIN.toLocaleString('en')} entries, ${VERIFY_RUNS} verify runs`,
    );

    // 1-2. Server, collections.
    const traceFile = DATABASE_URL ? null : path.join(data.dir, 'sql-trace.json');
    let server = await run.startServer({
      port,
      password,
      dataDir: data.dir,
      env: { APP_KEY: appKey, ...dbEnv, ...(traceFile ? { BENCH_SQL_TRACE: traceFile } : {}) },
      execArgv: traceFile ? ['--import', pathToFileURL(path.join(HERE, 'sql-trace.mjs')).href] : profArgs('server'),
    });
    const base = server.base;
    const root = await login(base, password);
    await liftRateLimits(base, root);
    for (const name of ['audit_on', 'audit_off']) await api(base, root, 'POST', '/api/admin/collections', { name, fields: FIELDS }, 201);
    const off = await api(base, root, 'PATCH', '/api/admin/collections/audit_off', { audit: { changeLog: false } });
    if (off.collection?.audit?.changeLog !== false) throw new Error(`PATCH audit_off: the change log is still on: ${JSON.stringify(off.collection?.audit)}`);
    let token = root;
    if (CALLER === 'writer') {
      await api(base, root, 'POST', '/api/admin/roles', { name: 'writer', description: 'bench: writes both collections' }, 201);
      for (const c of ['audit_on', 'audit_off'])
        await api(
          base,
          root,
          'POST',
          '/api/admin/grants',
          { role: 'writer', collection: c, actions: ['view', 'create', 'update'], fields: FIELDS.map((f) => f.name) },
          201,
        );
      const writerPassword = benchPassword(['writer', 'palisade']);
      const w = await api(base, root, 'POST', '/api/admin/users', { username: 'writer', password: writerPassword, mustChangePassword: false }, 201);
      await api(base, root, 'PUT', `/api/admin/users/${w.user.id}/roles`, { roles: ['writer'] }, 204);
      token = await login(base, writerPassword, 'writer');
    }
    for (let i = 0; i < 60; i++)
      for (const c of ['audit_on', 'audit_off']) await api(base, token, 'POST', `/api/collections/${c}/records`, JSON.parse(createBody()), 201);

    // SQL per create (SQLite): recorded before any measurement, the trace is off again afterwards.
    let sqlPerCreate = null;
    if (traceFile) {
      await waitTrace(traceFile, 'idle');
      process.kill(server.pid, 'SIGUSR2');
      await waitTrace(traceFile, 'recording');
      const TRACED = 10;
      for (let i = 0; i < TRACED; i++) await api(base, token, 'POST', '/api/collections/audit_on/records', JSON.parse(createBody()), 201);
      process.kill(server.pid, 'SIGUSR2');
      const t = await waitTrace(traceFile, 'done');
      // What only the change log runs: the read of the new record, its key (read, create, read), and one
      // append of one entry (4 statements: the head's number, the content row, the spine row, the head's
      // hash) per audit_log insert; security events (root's record.bypass) append to the chain too, in
      // both collections alike.
      const n = (re) => t.statements.filter((x) => re.test(x.sql)).reduce((k, x) => k + x.count, 0);
      const only = n(/^select \* from "col_audit_on"/) + n(/audit_subject_keys/) + 4 * n(/^insert into "?audit_log"?/);
      const perCreate = (x) => Math.round((x / TRACED) * 10) / 10;
      const all = t.statements.reduce((k, x) => k + x.count, 0);
      sqlPerCreate = {
        changeLogOn: perCreate(all),
        changeLogOnly: perCreate(only),
        changeLogOff: perCreate(all - only),
        statements: t.statements.map((x) => ({ perCreate: perCreate(x.count), sql: x.sql.length > 200 ? `${x.sql.slice(0, 200)}…` : x.sql })),
      };
      log(`SQL per create: ${sqlPerCreate.changeLogOn} statements with the change log, ${sqlPerCreate.changeLogOff} without`);
      // The writes are measured on a server that never loaded the tracer (same build, data, key and port), the product
      // as it ships: a server whose statement methods were once replaced ran lists at a different rate from an
      // untraced one of the same build (bench/records.mjs). The create ratio did not move with this (0.653).
      await server.stopProcess();
      server = await run.startServer({ port, password, dataDir: data.dir, env: { APP_KEY: appKey, ...dbEnv }, execArgv: profArgs('server') });
    }

    // 3-4. Writes.
    const results = SKIP_WRITES ? [] : await writes(server, token);

    // 5. Checks.
    await waitIdle(server.pid);
    const offEntries = await api(base, root, 'GET', '/api/admin/audit?kind=change&collection=audit_off&limit=5');
    if (offEntries.entries.length !== 0) problems.push(`audit_off has ${offEntries.entries.length}+ change entries; expected none`);
    const onEntries = await api(base, root, 'GET', '/api/admin/audit?kind=change&collection=audit_on&limit=1');
    const newest = onEntries.entries[0];
    if (!newest?.changes?.some((ch) => ch.field === 'qty' && 'new' in ch))
      problems.push(`the newest audit_on change entry has no readable qty value: ${JSON.stringify(newest)}`);
    const onCount = (await api(base, root, 'GET', '/api/collections/audit_on/records?perPage=1&total=true')).total;
    const v0 = await api(base, root, 'POST', '/api/admin/audit/verify', {});
    if (!v0.ok) problems.push(`verify after the writes: ${JSON.stringify(v0.problem)}`);
    log(`after the writes: chain of ${v0.entries} entries intact: ${v0.ok} (${v0.ms} ms); audit_on holds ${onCount} records`);
    await server.stopProcess();

    // 6. Chain verification.
    const verifyRuns = [];
    let seeded = null;
    if (CHAIN > 0) {
      log(`appending ${CHAIN.toLocaleString('en')} entries with dist/audit/chain.js append (batches of ${SEED_BATCH.toLocaleString('en')})`);
      seeded = await seedInWorker({ databaseUrl: DATABASE_URL, schema, dataDir: data.dir, n: CHAIN });
      log(`appended in ${(seeded.ms / 1000).toFixed(1)} s; head ${seeded.before} -> ${seeded.after}`);
      if (seeded.after - seeded.before !== CHAIN) problems.push(`the chain grew by ${seeded.after - seeded.before}, expected ${CHAIN}`);
      const env = { NODE_ENV: 'production', DATA_DIR: data.dir, APP_KEY: appKey, LOG_LEVEL: 'warn', ...dbEnv };
      for (let i = 1; i <= VERIFY_RUNS; i++) {
        const r = await runNode([MAIN, 'audit', 'verify'], env, verifyLimitMs, profArgs('verify'));
        const line = r.out.trim().split('\n').pop() ?? '';
        const ms = Number(/\((\d+) ms\)/.exec(line)?.[1]);
        const entries = Number(/(\d+) entries on the chain/.exec(line)?.[1]);
        const checked = Number(/(\d+) checked/.exec(line)?.[1]);
        if (r.code !== 0 || !/^audit chain intact/.test(r.out))
          problems.push(`audit verify run ${i}: exit ${r.code}: ${r.out.trim()} ${r.err.trim().slice(0, 500)}`);
        // Each verification records one audit.verified event after its walk: the chain grows by one per run.
        if (entries !== seeded.after + i - 1) problems.push(`audit verify run ${i}: ${entries} entries, expected ${seeded.after + i - 1}`);
        verifyRuns.push({
          run: i,
          entries,
          checked,
          walkMs: ms,
          processWallMs: r.wallMs,
          entriesPerSec: ms > 0 ? Math.round(entries / (ms / 1000)) : null,
          output: line,
        });
        log(`audit verify run ${i}: ${line} (process ${r.wallMs} ms)`);
      }
    }

    const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
    const r1 = (x) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);
    const r3 = (x) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000);
    const scen = {};
    for (const key of ['create', 'update']) {
      const on = results.filter((r) => r.scenario === key && r.changeLog);
      const offR = results.filter((r) => r.scenario === key && !r.changeLog);
      if (on.length === 0) continue;
      const onRps = mean(on.map((r) => r.reqPerSec));
      const offRps = mean(offR.map((r) => r.reqPerSec));
      scen[key] = {
        onReqPerSec: Math.round(onRps * 10) / 10,
        offReqPerSec: Math.round(offRps * 10) / 10,
        ratioOnToOff: r3(onRps / offRps),
        onP50: r1(mean(on.map((r) => r.latencyMs.p50))),
        offP50: r1(mean(offR.map((r) => r.latencyMs.p50))),
        onP99: r1(mean(on.map((r) => r.latencyMs.p99))),
        offP99: r1(mean(offR.map((r) => r.latencyMs.p99))),
        // Per-round ratios (each on round against the off round next to it): the spread of the figure.
        roundRatios: on.map((r) => r3(r.reqPerSec / (offR.find((o) => o.round === r.round)?.reqPerSec ?? Number.NaN))),
        onCpuMsPerRequest: r3(mean(on.map((r) => r.serverCpuMsPerRequest))),
        offCpuMsPerRequest: r3(mean(offR.map((r) => r.serverCpuMsPerRequest))),
        // off / on server CPU per request: the throughput ratio a server with a core of its own would see.
        cpuRatioOffToOn: r3(mean(offR.map((r) => r.serverCpuMsPerRequest)) / mean(on.map((r) => r.serverCpuMsPerRequest))),
      };
    }
    const summary = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      backend,
      caller: CALLER,
      connections: CONNS,
      durationPerRoundS: DURATION,
      warmupS: WARMUP,
      rounds: ROUNDS,
      startupMs: server.startupMs,
      results,
      writes: scen,
      sqlPerCreate,
      aim: scen.create
        ? { what: 'create req/s, change log on / off', aim: '>= 0.80', value: scen.create.ratioOnToOff, met: scen.create.ratioOnToOff >= 0.8 }
        : null,
      chainAfterWrites: { entries: v0.entries, verifyMs: v0.ms, auditOnRecords: onCount },
      chain: seeded ? { appended: CHAIN, appendMs: seeded.ms, headBefore: seeded.before, headAfter: seeded.after, verifyRuns } : null,
      problems,
    };
    const fmt = (x) => (typeof x === 'number' ? x.toLocaleString('en') : '-');
    const lines = [];
    if (results.length) {
      lines.push(
        '| measurement | conns | req/s (2xx) | p50 ms | p99 ms | mean ms | non-2xx | server cores | server CPU ms / request |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
        ...results.map(
          (r) =>
            `| ${r.name} | ${r.connections} | ${fmt(r.reqPerSec)} | ${fmt(r.latencyMs.p50)} | ${fmt(r.latencyMs.p99)} | ${fmt(r.latencyMs.mean)} | ${r.non2xx} | ${fmt(r.serverCores)} | ${fmt(r.serverCpuMsPerRequest)} |`,
        ),
        '',
        '| writes | change log on req/s | off req/s | on / off | per round | p50 on / off ms | p99 on / off ms | server CPU ms on / off | off / on CPU |',
        '|---|---:|---:|---:|---|---:|---:|---:|---:|',
        ...Object.entries(scen).map(
          ([k, s]) =>
            `| ${k} | ${fmt(s.onReqPerSec)} | ${fmt(s.offReqPerSec)} | **${fmt(s.ratioOnToOff)}** | ${s.roundRatios.join(', ')} | ${fmt(s.onP50)} / ${fmt(s.offP50)} | ${fmt(s.onP99)} / ${fmt(s.offP99)} | ${fmt(s.onCpuMsPerRequest)} / ${fmt(s.offCpuMsPerRequest)} | ${fmt(s.cpuRatioOffToOn)} |`,
        ),
        '',
        sqlPerCreate
          ? `SQL statements per create: ${sqlPerCreate.changeLogOn} with the change log, ${sqlPerCreate.changeLogOff} without (${sqlPerCreate.changeLogOnly} for the log)`
          : '',
        summary.aim ? `create, change log on / off: ${fmt(summary.aim.value)} (aim >= 0.80: ${summary.aim.met ? 'met' : 'MISSED'})` : '',
      );
    }
    if (seeded)
      lines.push(
        '',
        `chain: ${fmt(CHAIN)} entries appended in ${(seeded.ms / 1000).toFixed(1)} s (${fmt(Math.round(CHAIN / (seeded.ms / 1000)))} entries/s)`,
        '| verify run | entries | checked | walk ms | entries/s | process wall ms |',
        '|---:|---:|---:|---:|---:|---:|',
        ...verifyRuns.map((v) => `| ${v.run} | ${fmt(v.entries)} | ${fmt(v.checked)} | ${fmt(v.walkMs)} | ${fmt(v.entriesPerSec)} | ${fmt(v.processWallMs)} |`),
      );
    process.stdout.write(`\n${lines.join('\n')}\n\n${JSON.stringify(summary, null, 2)}\n`);
    if (problems.length) log(`problems:\n  ${problems.join('\n  ')}`);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(summary, null, 2)}\n`);
    await data.remove();
    return problems.length === 0 ? 0 : 1;
  }

  await run.finish(main);
}
