#!/usr/bin/env node
// Palisade against Directus (issue 14): the editor scenario on both products, same data, same client, one run.
//
//   npm run bench:peer        (= tsc -p tsconfig.json && node bench/peer.mjs)
//   BENCH_QUICK=1 node bench/peer.mjs      (development: 2 s warm-up, 1 round of 3 s)
//
// The scenario (the peer harness's, ../shared/peers/directus/): 100,000 records in a collection `articles`
// (id, title, status, owner, a ~480-character body, secret); a role `editor` may view id, title, status and owner of
// the rows it owns (row scope owner = current user); the editor owns every 10th row (10,000). `GET` a page of 50 as
// the editor, with wrk -t1 -c32 on both products.
//
//   1. Directus 11.17 (installed under /tmp/peer-directus by the peer's setup.sh, on its SQLite): started with the
//      peer's start.sh when it does not answer (and stopped again with stop.sh at the end), seeded with its seed.sh
//      (idempotent: the rows are loaded only when missing). The editor signs in (JWT, or the static token with
//      BENCH_DIRECTUS_AUTH=static); URL /items/articles?limit=50.
//   2. For each Palisade dialect (SQLite, then PostgreSQL + Redis):
//      a. starts the real server (`node dist/cli/main.js start`) on 127.0.0.1 with a fresh data directory, random
//         APP_KEY and root password; on PostgreSQL in a fresh schema palisade_bench_peer_<random> (DATABASE_SCHEMA,
//         dropped at the end) with REDIS_URL; signs in as root and lifts the rate limits (bench/lib.mjs);
//      b. through the admin API: the collection `articles` (title, status: string; owner: user, which Palisade
//         indexes as (owner, id); body: text; secret: string), the role `editor`, the user `editor` with it, and
//         one grant: view, fields title, status, owner, scope {"owner": "$user.id"};
//      c. seeds 100,000 rows straight into col_articles, the same values as the peer's seed.mjs (SQLite: one
//         transaction in a worker thread with @rocicorp/zero-sqlite3; PostgreSQL: one INSERT … SELECT FROM unnest);
//      d. signs in as the editor (bearer) and checks each answer once, on both products: 200, 50 rows, only the
//         editor's, exactly the granted fields (Palisade: plus the system fields it always returns, reported);
//      e. measures, after a warm-up of each, BENCH_ROUNDS rounds of BENCH_DURATION s, alternating
//         (Palisade, Directus, Directus, Palisade, Palisade, Directus, …) the editor's page on both products; then
//         the same for Palisade's GET /api/auth/me as the editor against GET /healthz;
//      f. stops the server, drops the schema, removes the data directory.
// Then it prints a markdown table (req/s of 2xx answers, p50, p99, the serving process's CPU in cores from
// /proc/<pid>/stat) and the ratios against the aims: editor Palisade / Directus >= 5 on SQLite and >= 3 on
// PostgreSQL + Redis; /api/auth/me / /healthz >= 0.5 on both. Missing an aim is reported, not a failure.
//
// Exit codes: 0 every answer was 2xx and every shape held; 1 otherwise; 2 something failed to start or crashed;
// 3 the watchdog stopped the run. Only 127.0.0.1 is ever targeted; every step has a time limit.
//
// Environment (all optional):
//   BENCH_DURATION         seconds per measured round (default 10; quick 3)
//   BENCH_WARMUP           seconds of warm-up of each product before the editor rounds (default 10; quick 2)
//   BENCH_ME_WARMUP        seconds of warm-up of /api/auth/me and /healthz each (default 5; quick 1)
//   BENCH_ROUNDS           rounds per product and measurement (default 3; quick 1)
//   BENCH_PEER_CONNS       wrk connections (default 32); BENCH_PEER_THREADS wrk threads (default 1)
//   BENCH_QUICK=1          the quick defaults above
//   BENCH_DIALECTS         palisade dialects, comma-separated: sqlite, postgres (default both)
//   BENCH_ME=0             skip /api/auth/me against /healthz
//   BENCH_FIELDS=1         also measure Palisade's page with fields=id,title,status,owner (a third target in the
//                          editor rounds; a diagnostic of what the system fields cost, not an aim)
//   BENCH_DATABASE_URL     PostgreSQL (default postgres://postgres@127.0.0.1:5432/test)
//   BENCH_REDIS_URL        Redis for the PostgreSQL run (default redis://127.0.0.1:6379)
//   BENCH_DIRECTUS_AUTH    jwt (default: the editor signs in) or static (the editor's static token)
//   PEER_DIR               the peer harness (default ../shared/peers/directus from the project root)
//   BENCH_JSON             file to also write the JSON summary to
//   BENCH_CPU_PROF         a directory: each Palisade server runs with --cpu-prof and writes palisade-<dialect>.cpuprofile there
//   BENCH_PEER_OPTIONAL=1  (set by bench/run.mjs) skip, exit 0, when a prerequisite is missing: wrk, the Directus
//                          install, or, for the postgres dialect, PostgreSQL or Redis not answering

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { connect } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, MAIN, HOST, STARTUP_TIMEOUT_MS, PIN, onCpus, sleep, intEnv, freePort, benchPassword, api, login, liftRateLimits, createRun } from './lib.mjs';

const require = createRequire(import.meta.url);

const ROWS = 100_000;
const PER_PAGE = 50;
const COLLECTION = 'articles';
const TABLE = `col_${COLLECTION}`;
const GRANTED = ['title', 'status', 'owner'];
// The peer's seed.mjs values, row n = 1..ROWS.
const BODY = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. '
  .repeat(4)
  .slice(0, 480);
const STATUS = ['archived', 'published', 'draft']; // by n % 3
const CREATED0 = Date.UTC(2025, 10, 23);

/** Row n as the peer seeds it; ids are Palisade's (random UUIDs, as the server makes them). */
function row(n, editor, other) {
  const t = CREATED0 + n * 1000;
  return {
    id: randomUUID(),
    t,
    title: `Article ${n}`,
    body: `${BODY} #${n}`,
    status: STATUS[n % 3],
    owner: n % 10 === 0 ? editor : other,
    secret: `secret-${n}`,
  };
}

// ---- SQLite seeding (worker thread) ----------------------------------------------------------
function seedSqlite({ file, editor, root }) {
  const Database = require('@rocicorp/zero-sqlite3');
  const db = new Database(file, { timeout: 10_000 });
  try {
    const journal = db.pragma('journal_mode', { simple: true });
    if (journal !== 'wal') throw new Error(`the database is in ${journal} mode, not WAL: seeding would block the server`);
    db.pragma('cache_size = -262144');
    const ins = db.prepare(
      `insert into ${TABLE} (id, created_at, updated_at, created_by, updated_by, title, status, owner, body, secret) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const t0 = performance.now();
    db.transaction(() => {
      for (let n = 1; n <= ROWS; n++) {
        const r = row(n, editor, root);
        ins.run(r.id, r.t, r.t, root, root, r.title, r.status, r.owner, r.body, r.secret);
      }
    })();
    const insertMs = performance.now() - t0;
    // What the server's start-up and hourly PRAGMA optimize would do with this data (as bench/records.mjs).
    db.pragma('optimize = 0x10002');
    db.pragma('wal_checkpoint(TRUNCATE)');
    return { insertMs: Math.round(insertMs), rows: db.prepare(`select count(*) as n from ${TABLE}`).get().n };
  } finally {
    db.close();
  }
}

if (!isMainThread) {
  try {
    parentPort.postMessage({ ok: true, res: seedSqlite(workerData) });
  } catch (e) {
    parentPort.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
  }
} else {
  await mainThread();
}

async function mainThread() {
  const QUICK = process.env.BENCH_QUICK === '1';
  const DURATION = intEnv('BENCH_DURATION', QUICK ? 3 : 10, 1, 120);
  const WARMUP = intEnv('BENCH_WARMUP', QUICK ? 2 : 10, 0, 60);
  const ME_WARMUP = intEnv('BENCH_ME_WARMUP', QUICK ? 1 : 5, 0, 60);
  const ROUNDS = intEnv('BENCH_ROUNDS', QUICK ? 1 : 3, 1, 10);
  // Not BENCH_CONNS: bench/run.mjs, which runs this script too, uses that name for its own 10 connections.
  const CONNS = intEnv('BENCH_PEER_CONNS', 32, 1, 1024);
  const THREADS = intEnv('BENCH_PEER_THREADS', 1, 1, 8);
  const OPTIONAL = process.env.BENCH_PEER_OPTIONAL === '1';
  const WITH_ME = process.env.BENCH_ME !== '0';
  // Also measure Palisade's page with exactly the four fields asked for (a diagnostic: what the system fields cost).
  const WITH_FIELDS = process.env.BENCH_FIELDS === '1';
  const FIELDS_PARAM = 'fields=id,title,status,owner';
  const DIALECTS = (process.env.BENCH_DIALECTS || 'sqlite,postgres')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (DIALECTS.length === 0 || !DIALECTS.every((d) => d === 'sqlite' || d === 'postgres')) throw new Error('BENCH_DIALECTS lists sqlite and/or postgres');
  const DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
  const DIRECTUS_AUTH = process.env.BENCH_DIRECTUS_AUTH || 'jwt';
  if (DIRECTUS_AUTH !== 'jwt' && DIRECTUS_AUTH !== 'static') throw new Error('BENCH_DIRECTUS_AUTH is jwt or static');
  const PEER_DIR = path.resolve(process.env.PEER_DIR || path.join(ROOT, '..', 'shared', 'peers', 'directus'));

  const DRAIN_LIMIT_MS = 15_000;
  const WRK_SLACK_MS = 15_000;
  const SEED_TIMEOUT_MS = 120_000;
  const DIRECTUS_START_MS = 120_000;
  const DIRECTUS_SEED_MS = 300_000;
  const DIRECTUS_STOP_MS = 30_000;
  const roundMs = (s) => s * 1000 + WRK_SLACK_MS + DRAIN_LIMIT_MS;
  const perDialectMs =
    STARTUP_TIMEOUT_MS +
    60_000 + // admin API set-up, sign-ins, checks
    SEED_TIMEOUT_MS +
    2 * roundMs(WARMUP) +
    (WITH_FIELDS ? 3 : 2) * ROUNDS * roundMs(DURATION) +
    roundMs(3) +
    (WITH_ME ? 2 * roundMs(ME_WARMUP) + 2 * ROUNDS * roundMs(DURATION) : 0) +
    30_000;
  const WATCHDOG_MS = DIRECTUS_START_MS + DIRECTUS_SEED_MS + DIRECTUS_STOP_MS + 60_000 + DIALECTS.length * perDialectMs;
  const run = createRun('peer', WATCHDOG_MS);
  const log = run.log;

  const onlyLocal = (u, what) => {
    const h = new URL(u).hostname;
    if (h !== HOST && h !== 'localhost') throw new Error(`${what} must be on ${HOST} (got ${h}): only ${HOST} is targeted`);
  };

  /** CPU seconds used so far by a process (Linux /proc, clock ticks of 1/100 s), or null. */
  function cpuSeconds(pid) {
    if (!pid) return null;
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return null;
    }
  }

  /** Waits until `pid` is idle (under 5 % of a core for 300 ms), at most DRAIN_LIMIT_MS; a busy process is logged, not fatal. */
  async function waitIdle(pid, name) {
    const deadline = Date.now() + DRAIN_LIMIT_MS;
    let last = cpuSeconds(pid);
    if (last === null) return sleep(1000);
    while (Date.now() < deadline) {
      await sleep(300);
      const now = cpuSeconds(pid);
      if (now === null || now - last < 0.015) return;
      last = now;
    }
    log(`${name} (pid ${pid}) still busy ${DRAIN_LIMIT_MS / 1000} s after the last load; measuring anyway`);
  }

  /** Runs a command (its own process group) with a time limit; resolves to { code, out }. Throws on timeout. */
  function runCommand(cmd, args, { timeoutMs, env = process.env, cwd = PEER_DIR, name = path.basename(args[0] ?? cmd) } = {}) {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        out += d;
      });
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        reject(new Error(`${name} took longer than ${timeoutMs / 1000} s; output:\n${out.slice(-2000)}`));
      }, timeoutMs);
      child.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      child.once('close', (code) => {
        clearTimeout(t);
        resolve({ code, out });
      });
    });
  }

  // ---- wrk ------------------------------------------------------------------------------------
  const tmp = run.tempDir('palisade-peer-');
  const LUA = path.join(tmp.dir, 'report.lua');
  writeFileSync(
    LUA,
    `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f bytes_per_resp=%.0f non2xx=%d connect_err=%d read_err=%d write_err=%d timeout_err=%d\\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    summary.requests > 0 and summary.bytes / summary.requests or 0,
    e.status, e.connect, e.read, e.write, e.timeout))
end
`,
  );

  /** One wrk run (killed 15 s after its duration if it hangs); parsed from the report line. */
  function wrk(url, headers, duration) {
    onlyLocal(url, 'a load target');
    const args = ['-t', String(THREADS), '-c', String(CONNS), '-d', `${duration}s`, '--timeout', '10s', '--latency', '-s', LUA];
    for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
    args.push(url);
    return new Promise((resolve, reject) => {
      const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const stop = run.onCleanup(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        out += d;
      });
      const t = setTimeout(() => child.kill('SIGKILL'), duration * 1000 + WRK_SLACK_MS);
      child.once('error', (e) => {
        clearTimeout(t);
        stop();
        reject(e);
      });
      child.once('close', (code, signal) => {
        clearTimeout(t);
        stop();
        const line = out.split('\n').find((l) => l.startsWith('RESULT '));
        if (!line) return reject(new Error(`wrk ${url}: no result (code ${code}, signal ${signal}): ${out.slice(-500)}`));
        const r = Object.fromEntries(
          line
            .slice(7)
            .trim()
            .split(' ')
            .map((kv) => kv.split('='))
            .map(([k, v]) => [k, Number(v)]),
        );
        resolve(r);
      });
    });
  }

  const r1 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);
  const r2 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 100) / 100);
  const r3 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000);

  /** One measured round: wait until the serving process is idle, then wrk, with that process's CPU. */
  async function measure(target, duration) {
    await waitIdle(target.pid, target.product);
    const c0 = cpuSeconds(target.pid);
    const t0 = performance.now();
    const load0 = loadavg()[0];
    const w = await wrk(target.url, target.headers, duration);
    const wall = (performance.now() - t0) / 1000;
    const c1 = cpuSeconds(target.pid);
    const errors = w.connect_err + w.read_err + w.write_err + w.timeout_err;
    const ok2xx = w.requests - w.non2xx;
    return {
      requests: w.requests,
      ok2xx,
      non2xx: w.non2xx,
      errors,
      socketErrors: { connect: w.connect_err, read: w.read_err, write: w.write_err, timeout: w.timeout_err },
      durationS: w.duration_s,
      reqPerSec: r1(ok2xx / w.duration_s),
      latencyMs: { p50: r2(w.p50_ms), p90: r2(w.p90_ms), p99: r2(w.p99_ms), mean: r2(w.mean_ms), max: r2(w.max_ms) },
      bytesPerResponse: w.bytes_per_resp,
      serverCores: c0 === null || c1 === null ? null : r2((c1 - c0) / wall),
      loadAverage1m: [r2(load0), r2(loadavg()[0])],
    };
  }

  const median = (xs) => {
    const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
    if (v.length === 0) return null;
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  /** Rounds of one target, summed: 2xx over the measured seconds; latencies and cores as medians of the rounds. */
  function aggregate(rounds) {
    const ok = rounds.reduce((t, r) => t + r.ok2xx, 0);
    const secs = rounds.reduce((t, r) => t + r.durationS, 0);
    return {
      reqPerSec: r1(ok / secs),
      perRound: rounds.map((r) => r.reqPerSec),
      p50: r2(median(rounds.map((r) => r.latencyMs.p50))),
      p99: r2(median(rounds.map((r) => r.latencyMs.p99))),
      serverCores: r2(median(rounds.map((r) => r.serverCores))),
      ok2xx: ok,
      non2xx: rounds.reduce((t, r) => t + r.non2xx, 0),
      errors: rounds.reduce((t, r) => t + r.errors, 0),
      bytesPerResponse: Math.round(median(rounds.map((r) => r.bytesPerResponse)) ?? 0),
    };
  }

  /**
   * Warm-up of each target (its own seconds), then `ROUNDS` rounds of every target, alternating: in order on odd
   * rounds, in reverse on even ones (A B, B A, A B, … for two), so that drift of the shared machine falls on all.
   * Returns one list of rounds per target.
   */
  async function alternate(targets) {
    for (const t of targets) {
      if (t.warmup > 0) {
        await waitIdle(t.pid, t.product);
        log(`warm-up ${t.label}: ${t.warmup} s`);
        const r = await wrk(t.url, t.headers, t.warmup);
        if (r.non2xx || r.connect_err || r.timeout_err) log(`warm-up ${t.label}: ${r.non2xx} non-2xx, ${r.connect_err + r.timeout_err} connect/timeout errors`);
      }
    }
    const out = targets.map(() => []);
    for (let i = 0; i < ROUNDS; i++) {
      const order = targets.map((_, k) => k);
      if (i % 2 === 1) order.reverse();
      for (const k of order) {
        const t = targets[k];
        const m = await measure(t, DURATION);
        log(
          `round ${i + 1}/${ROUNDS} ${t.label}: ${m.reqPerSec} req/s, p50 ${m.latencyMs.p50} ms, p99 ${m.latencyMs.p99} ms, ${m.serverCores ?? '-'} cores` +
            (m.non2xx || m.errors ? `, ${m.non2xx} non-2xx, ${m.errors} socket errors` : ''),
        );
        out[k].push({ round: i + 1, ...m });
      }
    }
    return out;
  }

  // ---- Directus -----------------------------------------------------------------------------------
  async function peerEnv() {
    const envSh = path.join(PEER_DIR, 'env.sh');
    if (!existsSync(envSh)) throw new Error(`${envSh} not found (PEER_DIR)`);
    const names = ['PEER_ROOT', 'PID_FILE', 'BASE_URL', 'APP_DIR', 'ADMIN_EMAIL', 'ADMIN_PASSWORD', 'EDITOR_EMAIL', 'EDITOR_PASSWORD', 'EDITOR_TOKEN', 'ROWS'];
    const r = await runCommand('bash', ['-c', `source "$0" >/dev/null && printf '%s\\n' ${names.map((n) => `"$${n}"`).join(' ')}`, envSh], {
      timeoutMs: 10_000,
      name: 'env.sh',
    });
    if (r.code !== 0) throw new Error(`sourcing env.sh failed: ${r.out}`);
    const vals = r.out.split('\n');
    return Object.fromEntries(names.map((n, i) => [n, vals[i]]));
  }

  async function ping(base) {
    try {
      const r = await fetch(`${base}/server/ping`, { signal: AbortSignal.timeout(2000) });
      return (await r.text()) === 'pong';
    } catch {
      return false;
    }
  }

  async function directusJson(base, token, p, init = {}) {
    const r = await fetch(`${base}${p}`, {
      ...init,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.body ? { 'content-type': 'application/json' } : {}) },
      signal: AbortSignal.timeout(30_000),
    });
    const text = await r.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: r.status, body };
  }

  async function setUpDirectus(problems) {
    const env = await peerEnv();
    onlyLocal(env.BASE_URL, 'Directus');
    if (Number(env.ROWS) !== ROWS) throw new Error(`the peer's ROWS is ${env.ROWS}, this bench needs ${ROWS}`);
    const base = env.BASE_URL;
    let startedByUs = false;
    if (!(await ping(base))) {
      if (!existsSync(path.join(env.APP_DIR, 'node_modules', 'directus', 'cli.js')))
        throw new Error(`Directus is not installed under ${env.PEER_ROOT}: run ${path.join(PEER_DIR, 'setup.sh')} once (5-9 minutes)`);
      log(`starting Directus (${path.join(PEER_DIR, 'start.sh')})`);
      const t0 = Date.now();
      // Registered first, so that a start-up that half-succeeded is stopped too.
      run.onCleanup(async () => {
        log('stopping Directus (stop.sh)');
        const s = await runCommand('bash', [path.join(PEER_DIR, 'stop.sh')], { timeoutMs: DIRECTUS_STOP_MS });
        if (s.code !== 0) log(`stop.sh exited ${s.code}: ${s.out.trim()}`);
      });
      startedByUs = true;
      // Every CPU, as before pinning (lib.mjs `PIN`): the peer is not held to the one core our servers get.
      const s = await runCommand(...onCpus('all', 'bash', [path.join(PEER_DIR, 'start.sh')]), { timeoutMs: DIRECTUS_START_MS, name: 'start.sh' });
      if (s.code !== 0) throw new Error(`start.sh exited ${s.code}: ${s.out.trim()}`);
      log(`Directus up in ${Date.now() - t0} ms`);
    } else log(`Directus already answers on ${base}; it is left running at the end`);
    const pid = existsSync(env.PID_FILE) ? Number(readFileSync(env.PID_FILE, 'utf8').trim()) || null : null;
    if (!pid || cpuSeconds(pid) === null) log(`no live Directus pid in ${env.PID_FILE}: its CPU is not reported`);

    log('seeding Directus (seed.sh; rows are loaded only when missing)');
    const t1 = Date.now();
    const sd = await runCommand('bash', [path.join(PEER_DIR, 'seed.sh')], { timeoutMs: DIRECTUS_SEED_MS });
    if (sd.code !== 0) throw new Error(`seed.sh exited ${sd.code}: ${sd.out.trim().slice(-2000)}`);
    const seedLines = sd.out.trim().split('\n');
    log(`seed.sh done in ${Date.now() - t1} ms: ${seedLines.filter((l) => /rows|loaded/.test(l)).join('; ')}`);

    const admin = await directusJson(base, null, '/auth/login', {
      method: 'POST',
      body: JSON.stringify({ email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD }),
    });
    if (admin.status !== 200) throw new Error(`Directus admin login: HTTP ${admin.status}`);
    let token = env.EDITOR_TOKEN;
    if (DIRECTUS_AUTH === 'jwt') {
      const l = await directusJson(base, null, '/auth/login', {
        method: 'POST',
        body: JSON.stringify({ email: env.EDITOR_EMAIL, password: env.EDITOR_PASSWORD }),
      });
      if (l.status !== 200 || typeof l.body?.data?.access_token !== 'string') throw new Error(`Directus editor login: HTTP ${l.status}`);
      token = l.body.data.access_token;
    }
    const me = await directusJson(base, token, '/users/me?fields=id');
    if (me.status !== 200) throw new Error(`Directus /users/me as the editor: HTTP ${me.status}`);
    const editorId = me.body.data.id;
    const count = await directusJson(base, admin.body.data.access_token, `/items/${COLLECTION}?aggregate[count]=*`);
    const rows = Number(count.body?.data?.[0]?.count);
    if (rows !== ROWS) problems.push(`Directus: ${rows} rows in ${COLLECTION}, expected ${ROWS}`);

    const url = `${base}/items/${COLLECTION}?limit=${PER_PAGE}`;
    const page = await directusJson(base, token, `/items/${COLLECTION}?limit=${PER_PAGE}`);
    const shape = { status: page.status, rows: null, fields: null, ownRows: null };
    if (page.status !== 200 || !Array.isArray(page.body?.data)) problems.push(`Directus editor page: HTTP ${page.status}`);
    else {
      const items = page.body.data;
      const keys = [...new Set(items.flatMap((r) => Object.keys(r)))].sort();
      Object.assign(shape, { rows: items.length, fields: keys, ownRows: items.filter((r) => r.owner === editorId).length, topLevel: Object.keys(page.body) });
      if (items.length !== PER_PAGE) problems.push(`Directus editor page: ${items.length} rows, expected ${PER_PAGE}`);
      if (keys.join(',') !== 'id,owner,status,title') problems.push(`Directus editor page: fields ${keys.join(',')}, expected id,owner,status,title`);
      if (shape.ownRows !== items.length) problems.push(`Directus editor page: ${items.length - shape.ownRows} rows not the editor's`);
    }
    const version = (() => {
      try {
        return JSON.parse(readFileSync(path.join(env.APP_DIR, 'node_modules', 'directus', 'package.json'), 'utf8')).version;
      } catch {
        return null;
      }
    })();
    log(`Directus ${version}: editor page ${JSON.stringify(shape)}`);
    return {
      product: 'Directus',
      label: 'Directus GET /items/articles?limit=50',
      version,
      base,
      pid,
      startedByUs,
      url,
      headers: { authorization: `Bearer ${token}` },
      auth: DIRECTUS_AUTH,
      shape,
      warmed: false,
    };
  }

  // ---- Palisade -------------------------------------------------------------------------------------
  function seedSqliteInWorker(file, editor, root) {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { file, editor, root } });
    const terminate = run.onCleanup(() => w.terminate().catch(() => {}));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`seeding took longer than ${SEED_TIMEOUT_MS / 1000} s`)), SEED_TIMEOUT_MS);
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

  async function seedPostgres(schema, editor, root) {
    const pg = require('pg');
    const c = new pg.Client({
      connectionString: DATABASE_URL,
      connectionTimeoutMillis: 5000,
      statement_timeout: SEED_TIMEOUT_MS,
      query_timeout: SEED_TIMEOUT_MS + 5000,
    });
    await c.connect();
    try {
      const cols = { id: [], t: [], title: [], status: [], owner: [], body: [], secret: [] };
      for (let n = 1; n <= ROWS; n++) {
        const r = row(n, editor, root);
        for (const k of Object.keys(cols)) cols[k].push(r[k]);
      }
      const t0 = performance.now();
      await c.query(
        `insert into ${schema}.${TABLE} (id, created_at, updated_at, created_by, updated_by, title, status, owner, body, secret)
         select u.id, u.t, u.t, $8, $8, u.title, u.status, u.owner, u.body, u.secret
         from unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) as u(id, t, title, status, owner, body, secret)`,
        [cols.id, cols.t, cols.title, cols.status, cols.owner, cols.body, cols.secret, root],
      );
      const insertMs = performance.now() - t0;
      await c.query(`analyze ${schema}.${TABLE}`);
      const rows = Number((await c.query(`select count(*) as n from ${schema}.${TABLE}`)).rows[0].n);
      return { insertMs: Math.round(insertMs), rows };
    } finally {
      await c.end().catch(() => {});
    }
  }

  /** A fresh PostgreSQL schema for the server (DATABASE_SCHEMA), dropped at clean-up. */
  async function pgSchema() {
    const pg = require('pg');
    const schema = `palisade_bench_peer_${randomBytes(5).toString('hex')}`;
    const c = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5000 });
    await c.connect();
    try {
      await c.query(`CREATE SCHEMA ${schema}`);
    } finally {
      await c.end().catch(() => {});
    }
    const drop = run.onCleanup(async () => {
      const d = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5000, statement_timeout: 30_000 });
      try {
        await d.connect();
        await d.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } catch (e) {
        log(`could not drop schema ${schema}: ${e.message}`);
      } finally {
        await d.end().catch(() => {});
      }
    });
    return { schema, drop };
  }

  /** The editor's page on Palisade: 200, 50 rows, the editor's only, the granted fields plus system fields. */
  function checkPalisadePage(status, body, editorId, problems, tag) {
    const shape = { status, rows: null, fields: null, systemFields: null, ownRows: null, topLevel: null };
    if (status !== 200 || !Array.isArray(body?.items)) {
      problems.push(`${tag} editor page: HTTP ${status}`);
      return shape;
    }
    const items = body.items;
    const keys = [...new Set(items.flatMap((r) => Object.keys(r)))].sort();
    const system = ['id', 'createdAt', 'updatedAt', 'createdBy', 'updatedBy'];
    Object.assign(shape, {
      rows: items.length,
      fields: keys,
      systemFields: keys.filter((k) => system.includes(k)),
      ownRows: items.filter((r) => r.owner === editorId).length,
      topLevel: Object.keys(body),
    });
    if (items.length !== PER_PAGE) problems.push(`${tag} editor page: ${items.length} rows, expected ${PER_PAGE}`);
    if (shape.ownRows !== items.length) problems.push(`${tag} editor page: ${items.length - shape.ownRows} rows not the editor's`);
    const outside = keys.filter((k) => !GRANTED.includes(k) && !system.includes(k));
    if (outside.length) problems.push(`${tag} editor page: fields outside the grant: ${outside.join(', ')}`);
    for (const f of ['id', ...GRANTED]) if (!items.every((r) => f in r)) problems.push(`${tag} editor page: granted field ${f} missing on some rows`);
    return shape;
  }

  async function palisadeDialect(dialect, directus, problems) {
    const tag = dialect === 'sqlite' ? 'Palisade (SQLite)' : 'Palisade (PostgreSQL + Redis)';
    log(`---- ${tag} ----`);
    const port = await freePort();
    const password = benchPassword();
    let env = {};
    let pgs = null;
    if (dialect === 'postgres') {
      onlyLocal(DATABASE_URL, 'BENCH_DATABASE_URL');
      onlyLocal(REDIS_URL, 'BENCH_REDIS_URL');
      pgs = await pgSchema();
      env = { DATABASE_URL, DATABASE_SCHEMA: pgs.schema, REDIS_URL };
    }
    const execArgv = process.env.BENCH_CPU_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`, `--cpu-prof-name=palisade-${dialect}.cpuprofile`]
      : [];
    const server = await run.startServer({ port, password, prefix: 'palisade-peer-', env, execArgv });
    const { base } = server;
    const root = await login(base, password);
    const rateLimits = await liftRateLimits(base, root);
    const rootId = (await api(base, root, 'GET', '/api/auth/me')).user.id;
    log(`${tag} up in ${server.startupMs} ms on ${base}; rate limits lifted (every budget 1e9 per ${rateLimits.window} s)`);

    await api(
      base,
      root,
      'POST',
      '/api/admin/collections',
      {
        name: COLLECTION,
        fields: [
          { name: 'title', type: 'string' },
          { name: 'body', type: 'text' },
          { name: 'status', type: 'string' },
          { name: 'owner', type: 'user' },
          { name: 'secret', type: 'string' },
        ],
      },
      201,
    );
    await api(base, root, 'POST', '/api/admin/roles', { name: 'editor', description: 'bench: own articles' }, 201);
    const editorPassword = benchPassword(['editor', 'palisade']);
    const editor = (await api(base, root, 'POST', '/api/admin/users', { username: 'editor', password: editorPassword, mustChangePassword: false }, 201)).user;
    await api(base, root, 'PUT', `/api/admin/users/${editor.id}/roles`, { roles: ['editor'] }, 204);
    const grant = await api(
      base,
      root,
      'POST',
      '/api/admin/grants',
      { role: 'editor', collection: COLLECTION, actions: ['view'], fields: GRANTED, scope: { owner: '$user.id' } },
      201,
    );

    log(`seeding ${ROWS.toLocaleString('en')} rows into ${TABLE}`);
    const t0 = Date.now();
    const seeded =
      dialect === 'sqlite'
        ? await seedSqliteInWorker(path.join(server.dataDir, 'palisade.db'), editor.id, rootId)
        : await seedPostgres(pgs.schema, editor.id, rootId);
    const seedMs = Date.now() - t0;
    if (seeded.rows !== ROWS) throw new Error(`${tag}: seeded ${seeded.rows} rows, expected ${ROWS}`);
    log(`seeded in ${(seedMs / 1000).toFixed(1)} s (insert ${(seeded.insertMs / 1000).toFixed(1)} s)`);

    const token = await login(base, editorPassword, 'editor');
    const headers = { authorization: `Bearer ${token}` };
    const listPath = `/api/collections/${COLLECTION}/records?perPage=${PER_PAGE}`;
    const get = async (p, h = headers) => {
      const r = await fetch(`${base}${p}`, { headers: h, signal: AbortSignal.timeout(30_000) });
      const text = await r.text();
      let body = null;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      return { status: r.status, body };
    };
    const first = await get(listPath);
    const shape = checkPalisadePage(first.status, first.body, editor.id, problems, tag);
    if (first.body && typeof first.body === 'object' && 'total' in first.body) problems.push(`${tag} editor page: a total without total=true`);
    // Not measured: what a client asking for exactly the four fields gets.
    const asked = await get(`${listPath}&fields=id,title,status,owner`);
    const askedFields = Array.isArray(asked.body?.items) ? [...new Set(asked.body.items.flatMap((r) => Object.keys(r)))].sort() : null;
    if (asked.status !== 200) problems.push(`${tag} editor page with ${FIELDS_PARAM}: HTTP ${asked.status}`);
    else if (WITH_FIELDS && askedFields.join(',') !== 'id,owner,status,title')
      problems.push(`${tag} editor page with ${FIELDS_PARAM}: fields ${askedFields.join(',')}, expected id,owner,status,title`);
    else if (WITH_FIELDS && !asked.body.items.every((r) => r.owner === editor.id))
      problems.push(`${tag} editor page with ${FIELDS_PARAM}: rows not the editor's`);
    const me = await get('/api/auth/me');
    if (me.status !== 200 || me.body?.user?.id !== editor.id) problems.push(`${tag} /api/auth/me as the editor: HTTP ${me.status}, user ${me.body?.user?.id}`);
    const hz = await get('/healthz', {});
    if (hz.status !== 200) problems.push(`${tag} /healthz: HTTP ${hz.status}`);
    log(`${tag} editor page: ${JSON.stringify(shape)}; with fields=id,title,status,owner: ${JSON.stringify(askedFields)}`);

    const pTarget = { product: tag, label: `${tag} GET ${listPath}`, pid: server.pid, url: `${base}${listPath}`, headers, warmup: WARMUP };
    // Directus stays up for the whole run: after its first full warm-up, a short one.
    const dTarget = { ...directus, label: `Directus (SQLite) GET /items/articles?limit=50`, warmup: directus.warmed ? Math.min(WARMUP, 3) : WARMUP };
    const fTarget = WITH_FIELDS
      ? {
          product: tag,
          label: `${tag} GET ${listPath}&${FIELDS_PARAM}`,
          pid: server.pid,
          url: `${base}${listPath}&${FIELDS_PARAM}`,
          headers,
          warmup: Math.min(WARMUP, 3),
        }
      : null;
    const [palR, dirR, fieldsR] = await alternate([pTarget, dTarget, ...(fTarget ? [fTarget] : [])]);
    const editorRounds = { a: palR, b: dirR };
    directus.warmed = true;

    let meRounds = null;
    if (WITH_ME) {
      const meT = { product: tag, label: `${tag} GET /api/auth/me (editor)`, pid: server.pid, url: `${base}/api/auth/me`, headers, warmup: ME_WARMUP };
      const hzT = { product: tag, label: `${tag} GET /healthz`, pid: server.pid, url: `${base}/healthz`, headers: {}, warmup: ME_WARMUP };
      const [a, b] = await alternate([meT, hzT]);
      meRounds = { a, b };
    }

    // The editor's token must still work after the load.
    const after = await get(listPath);
    if (after.status !== 200) problems.push(`${tag}: the editor's list answered ${after.status} after the run`);
    await server.stop();
    if (pgs) await pgs.drop();

    const rounds = [
      ...editorRounds.a.map((r) => ({ dialect, product: tag, measurement: 'editor page', ...r })),
      ...editorRounds.b.map((r) => ({ dialect, product: 'Directus (SQLite)', measurement: 'editor page', ...r })),
      ...(fieldsR ?? []).map((r) => ({ dialect, product: tag, measurement: `editor page, ${FIELDS_PARAM}`, ...r })),
      ...(meRounds
        ? [
            ...meRounds.a.map((r) => ({ dialect, product: tag, measurement: 'GET /api/auth/me', ...r })),
            ...meRounds.b.map((r) => ({ dialect, product: tag, measurement: 'GET /healthz', ...r })),
          ]
        : []),
    ];
    for (const r of rounds)
      if (r.ok2xx === 0 || r.non2xx || r.errors)
        problems.push(`${r.product} ${r.measurement} round ${r.round}: ${r.ok2xx} 2xx, ${r.non2xx} non-2xx, socket errors ${JSON.stringify(r.socketErrors)}`);
    const pal = aggregate(editorRounds.a);
    const dir = aggregate(editorRounds.b);
    const fieldsA = fieldsR ? aggregate(fieldsR) : null;
    const meA = meRounds ? aggregate(meRounds.a) : null;
    const hzA = meRounds ? aggregate(meRounds.b) : null;
    const aimEditor = dialect === 'sqlite' ? 5 : 3;
    const editorRatio = r2(pal.reqPerSec / dir.reqPerSec);
    const meRatio = meA ? r3(meA.reqPerSec / hzA.reqPerSec) : null;
    return {
      dialect,
      product: tag,
      startupMs: server.startupMs,
      seedMs,
      seed: seeded,
      grant,
      shape,
      fieldsParamShows: askedFields,
      rounds,
      editor: { palisade: pal, directus: dir, ...(fieldsA ? { palisadeFieldsParam: fieldsA } : {}) },
      me: meA ? { me: meA, healthz: hzA } : null,
      ratios: {
        editorPalisadeToDirectus: {
          value: editorRatio,
          perRound: editorRounds.a.map((r, i) => r2(r.reqPerSec / editorRounds.b[i].reqPerSec)),
          aim: `>= ${aimEditor}`,
          met: editorRatio >= aimEditor,
        },
        ...(fieldsA
          ? { editorFieldsParamToDirectus: r2(fieldsA.reqPerSec / dir.reqPerSec), editorFieldsParamToDefault: r2(fieldsA.reqPerSec / pal.reqPerSec) }
          : {}),
        meToHealthz: meA
          ? { value: meRatio, perRound: meRounds.a.map((r, i) => r3(r.reqPerSec / meRounds.b[i].reqPerSec)), aim: '>= 0.5', met: meRatio >= 0.5 }
          : null,
      },
    };
  }

  /** A TCP connection to host:port within 2 s. */
  function reachable(u, defaultPort) {
    const { hostname, port } = new URL(u);
    return new Promise((resolve) => {
      const sock = connect({ host: hostname, port: Number(port) || defaultPort }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.setTimeout(2000, () => {
        sock.destroy();
        resolve(false);
      });
      sock.once('error', () => resolve(false));
    });
  }

  /** What this run needs and does not have. */
  async function missing() {
    const out = [];
    const wrkCheck = await runCommand('wrk', ['--version'], { timeoutMs: 5000, cwd: ROOT, name: 'wrk' }).catch((e) => ({ code: -1, out: e.message }));
    if (!/^wrk /m.test(wrkCheck.out)) out.push(`wrk (apt-get install wrk): ${wrkCheck.out.trim().split('\n')[0]}`);
    try {
      const env = await peerEnv();
      if (!existsSync(path.join(env.APP_DIR, 'node_modules', 'directus', 'cli.js')))
        out.push(`Directus under ${env.PEER_ROOT} (run ${path.join(PEER_DIR, 'setup.sh')} once: 5-9 minutes)`);
    } catch (e) {
      out.push(`the peer harness: ${e.message}`);
    }
    if (DIALECTS.includes('postgres')) {
      onlyLocal(DATABASE_URL, 'BENCH_DATABASE_URL');
      onlyLocal(REDIS_URL, 'BENCH_REDIS_URL');
      if (!(await reachable(DATABASE_URL, 5432))) out.push(`PostgreSQL at ${new URL(DATABASE_URL).host}`);
      if (!(await reachable(REDIS_URL, 6379))) out.push(`Redis at ${new URL(REDIS_URL).host}`);
    }
    return out;
  }

  async function main() {
    if (!existsSync(MAIN)) throw new Error(`${path.relative(process.cwd(), MAIN)} not found; run \`npx tsc -p tsconfig.json\` first`);
    const lacking = await missing();
    if (lacking.length > 0) {
      if (!OPTIONAL) throw new Error(`missing: ${lacking.join('; ')}`);
      const msg = `Palisade against Directus (bench/peer.mjs): SKIPPED, missing ${lacking.join('; ')}`;
      log(msg);
      process.stdout.write(`\n${msg}\n`);
      return 0;
    }
    const t0 = Date.now();
    log(
      `wrk -t${THREADS} -c${CONNS}; ${WARMUP} s warm-up, ${ROUNDS} round(s) of ${DURATION} s per product, alternating; dialects ${DIALECTS.join(', ')}; ` +
        `/api/auth/me against /healthz: ${WITH_ME ? `yes (${ME_WARMUP} s warm-up)` : 'no'}`,
    );
    const problems = [];
    const directus = await setUpDirectus(problems);
    const dialects = [];
    for (const d of DIALECTS) dialects.push(await palisadeDialect(d, directus, problems));

    const fmt = (x) => (typeof x === 'number' ? x.toLocaleString('en') : '-');
    const lines = [
      `| Palisade on | product / route | round | req/s (2xx) | p50 ms | p99 ms | server cores | 2xx | non-2xx | socket errors |`,
      `|---|---|---:|---:|---:|---:|---:|---:|---:|---:|`,
    ];
    for (const d of dialects) {
      const groups = [
        [`${d.product}, editor page`, d.rounds.filter((r) => r.measurement === 'editor page' && r.product !== 'Directus (SQLite)'), d.editor.palisade],
        [`Directus (SQLite), editor page`, d.rounds.filter((r) => r.measurement === 'editor page' && r.product === 'Directus (SQLite)'), d.editor.directus],
        ...(d.editor.palisadeFieldsParam
          ? [
              [
                `${d.product}, editor page, ${FIELDS_PARAM}`,
                d.rounds.filter((r) => r.measurement === `editor page, ${FIELDS_PARAM}`),
                d.editor.palisadeFieldsParam,
              ],
            ]
          : []),
        ...(d.me
          ? [
              [`${d.product}, GET /api/auth/me`, d.rounds.filter((r) => r.measurement === 'GET /api/auth/me'), d.me.me],
              [`${d.product}, GET /healthz`, d.rounds.filter((r) => r.measurement === 'GET /healthz'), d.me.healthz],
            ]
          : []),
      ];
      for (const [name, rs, agg] of groups) {
        for (const r of rs)
          lines.push(
            `| ${d.dialect} | ${name} | ${r.round} | ${fmt(r.reqPerSec)} | ${fmt(r.latencyMs.p50)} | ${fmt(r.latencyMs.p99)} | ${fmt(r.serverCores)} | ${fmt(r.ok2xx)} | ${r.non2xx} | ${r.errors} |`,
          );
        lines.push(
          `| ${d.dialect} | **${name}** | all | **${fmt(agg.reqPerSec)}** | ${fmt(agg.p50)} | ${fmt(agg.p99)} | ${fmt(agg.serverCores)} | ${fmt(agg.ok2xx)} | ${agg.non2xx} | ${agg.errors} |`,
        );
      }
    }
    lines.push('', `| ratio | Palisade on | value | per round | aim | |`, `|---|---|---:|---|---|---|`);
    for (const d of dialects) {
      const e = d.ratios.editorPalisadeToDirectus;
      lines.push(
        `| editor page, Palisade / Directus | ${d.dialect} | **${fmt(e.value)}** | ${e.perRound.join(', ')} | ${e.aim} | ${e.met ? 'met' : 'MISSED'} |`,
      );
      if (d.ratios.editorFieldsParamToDirectus !== undefined)
        lines.push(
          `| editor page with ${FIELDS_PARAM}, Palisade / Directus (not an aim; / default page: ${fmt(d.ratios.editorFieldsParamToDefault)}) | ${d.dialect} | ${fmt(d.ratios.editorFieldsParamToDirectus)} | | | |`,
        );
      const m = d.ratios.meToHealthz;
      if (m)
        lines.push(
          `| GET /api/auth/me / GET /healthz | ${d.dialect} | **${fmt(m.value)}** | ${m.perRound.join(', ')} | ${m.aim} | ${m.met ? 'met' : 'MISSED'} |`,
        );
    }
    lines.push('');
    for (const d of dialects)
      lines.push(
        `${d.product}: editor page fields ${JSON.stringify(d.shape.fields)} (system fields ${JSON.stringify(d.shape.systemFields)}; top level ${JSON.stringify(d.shape.topLevel)}), ` +
          `${d.shape.ownRows}/${d.shape.rows} rows the editor's; with fields=id,title,status,owner: ${JSON.stringify(d.fieldsParamShows)}; ` +
          `${fmt(d.editor.palisade.bytesPerResponse)} bytes an answer (Directus ${fmt(d.editor.directus.bytesPerResponse)})`,
      );
    lines.push(
      `Directus ${directus.version} (${directus.auth} auth): editor page fields ${JSON.stringify(directus.shape.fields)}, ${directus.shape.ownRows}/${directus.shape.rows} rows the editor's; ${directus.startedByUs ? 'started and stopped by this run' : 'already running, left running'}`,
    );
    lines.push(
      PIN
        ? `server cores: CPU of the serving Node process only (not PostgreSQL's or Redis's); Palisade on CPU ${PIN.server}, wrk on CPU ${PIN.load}, Directus on CPUs ${PIN.all} (D461); PostgreSQL and Redis unpinned`
        : `server cores: CPU of the serving Node process only (not PostgreSQL's or Redis's); wrk and both servers share ${cpus().length} cores`,
    );
    const summary = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      client: { tool: 'wrk', threads: THREADS, connections: CONNS, durationS: DURATION, warmupS: WARMUP, meWarmupS: ME_WARMUP, rounds: ROUNDS },
      rows: ROWS,
      directus: { version: directus.version, auth: directus.auth, base: directus.base, startedByUs: directus.startedByUs, shape: directus.shape },
      dialects,
      wallSeconds: Math.round((Date.now() - t0) / 1000),
      problems,
    };
    lines.push(`run took ${summary.wallSeconds} s`);
    process.stdout.write(`\n${lines.join('\n')}\n\n${JSON.stringify(summary, null, 2)}\n`);
    if (problems.length) log(`problems:\n  ${problems.join('\n  ')}`);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(summary, null, 2)}\n`);
    return problems.length === 0 ? 0 : 1;
  }

  await run.finish(main);
}
