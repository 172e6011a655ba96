#!/usr/bin/env node
// Palisade HTTP micro-benchmark.
//
//   npx tsc -p . && node bench/run.mjs
//
// Spawns `node dist/cli/main.js start` on 127.0.0.1 with a fresh data directory, waits for
// /healthz, signs in once, lifts the rate limits (PATCH /api/admin/settings/rate-limits: every
// budget set to 1e9, so the abuse defences do not throttle the load generator; the limiter still
// counts every request, so its cost is measured), then measures with autocannon, in one run:
//   (a) POST /api/auth/login with the correct password (argon2id verify dominates),
//   (b) GET /healthz (unauthenticated),
//   (c) GET /api/auth/me with the bearer token (JWT verify + settings, session and user reads),
// prints a markdown table and a JSON summary, stops the server and removes the data directory.
//
// It builds nothing: dist/ must exist. Everything is bounded in time (start-up, each
// measurement, shutdown, and a global watchdog); only 127.0.0.1 is ever targeted.
//
// Environment (all optional):
//   BENCH_DURATION        seconds per measurement (default 10, 1..60)
//   BENCH_WARMUP          seconds of unmeasured warm-up before (b) and (c) (default 2, 0..10)
//   BENCH_LOGIN_CONNS     connections for (a) (default 4)
//   BENCH_CONNS           connections for (b) and (c) (default 10)
//   BENCH_PORT            port for the server (default: a free port chosen by the OS)
//   BENCH_JSON            file to also write the JSON summary to
//   DATABASE_URL          postgres://... to run on PostgreSQL instead of SQLite. The script
//                         creates a throw-away schema (palisade_bench_<random>), points the
//                         server at it with search_path, and drops it at the end.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, cpus } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');
const HOST = '127.0.0.1';

function intEnv(name, def, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
  return n;
}

const DURATION = intEnv('BENCH_DURATION', 10, 1, 60);
const WARMUP = intEnv('BENCH_WARMUP', 2, 0, 10);
const LOGIN_CONNS = intEnv('BENCH_LOGIN_CONNS', 4, 1, 64);
const CONNS = intEnv('BENCH_CONNS', 10, 1, 256);
const STARTUP_TIMEOUT_MS = 30_000;
const SHUTDOWN_TIMEOUT_MS = 5_000;
// Whole run: start-up + three measurements + two warm-ups + slack.
const WATCHDOG_MS = STARTUP_TIMEOUT_MS + (3 * DURATION + 2 * WARMUP) * 1000 + 60_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---- state for cleanup ------------------------------------------------------------------
let child = null;
let childExit = null; // Promise resolved with { code, signal }
let dataDir = null;
let pgSchema = null;
let pgBaseUrl = null;
const outputTail = [];

function remember(chunk) {
  for (const line of chunk.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    outputTail.push(line);
    if (outputTail.length > 40) outputTail.shift();
  }
}

async function stopServer() {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const done = await Promise.race([childExit.then(() => true), sleep(SHUTDOWN_TIMEOUT_MS).then(() => false)]);
  if (!done) {
    process.stderr.write('bench: server did not stop within 5 s of SIGTERM; sending SIGKILL\n');
    child.kill('SIGKILL');
    await Promise.race([childExit, sleep(2000)]);
  }
}

async function dropPgSchema() {
  if (!pgSchema) return;
  const pg = require('pg');
  const c = new pg.Client({ connectionString: pgBaseUrl, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
  } catch (e) {
    process.stderr.write(`bench: could not drop schema ${pgSchema}: ${e.message}\n`);
  } finally {
    await c.end().catch(() => {});
  }
  pgSchema = null;
}

let cleanedUp = false;
async function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  await stopServer();
  await dropPgSchema();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

const watchdog = setTimeout(async () => {
  process.stderr.write(`bench: watchdog: run exceeded ${Math.round(WATCHDOG_MS / 1000)} s, aborting\n`);
  await cleanup();
  process.exit(3);
}, WATCHDOG_MS);
watchdog.unref();

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    process.stderr.write(`bench: ${sig}, cleaning up\n`);
    await cleanup();
    process.exit(130);
  });
}

// ---- server -----------------------------------------------------------------------------
async function startServer(port, password) {
  dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-bench-'));
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? dataDir,
    NODE_ENV: 'production',
    HOST,
    PORT: String(port),
    DATA_DIR: dataDir,
    APP_KEY: randomBytes(48).toString('base64url'),
    INIT_ROOT_USERNAME: 'root',
    INIT_ROOT_PASSWORD: password,
    LOG_LEVEL: 'warn',
  };
  if (process.env.DATABASE_URL) {
    pgBaseUrl = process.env.DATABASE_URL;
    pgSchema = `palisade_bench_${randomBytes(5).toString('hex')}`;
    const u = new URL(pgBaseUrl);
    u.searchParams.set('options', `-c search_path=${pgSchema}`);
    const pg = require('pg');
    const c = new pg.Client({ connectionString: pgBaseUrl, connectionTimeoutMillis: 5000 });
    await c.connect();
    try { await c.query(`CREATE SCHEMA ${pgSchema}`); } finally { await c.end(); }
    env.DATABASE_URL = u.toString();
  }

  child = spawn(process.execPath, [MAIN, 'start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  childExit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.stdout.on('data', remember);
  child.stderr.on('data', remember);

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let exited = null;
  childExit.then((x) => { exited = x; });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`server exited during start-up (code ${exited.code}, signal ${exited.signal})`);
    try {
      const r = await fetch(`http://${HOST}:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch { /* not up yet */ }
    await sleep(100);
  }
  throw new Error(`server did not answer /healthz within ${STARTUP_TIMEOUT_MS / 1000} s`);
}

/**
 * A password the default policy accepts: 24 characters mixing upper and lower case, digits and
 * symbols, without the username or the product name.
 */
function benchPassword() {
  const sets = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!@#$%^&*'];
  for (;;) {
    const bytes = randomBytes(24);
    const pw = [...bytes].map((b, i) => { const set = sets[i % 4]; return set[b % set.length]; }).join('');
    if (!/root|palisade/i.test(pw)) return pw;
  }
}

/** Raises every rate-limit budget (not the window) to 1e9; returns the settings now in force. */
async function liftRateLimits(base, token) {
  const auth = { authorization: `Bearer ${token}` };
  const url = `${base}/api/admin/settings/rate-limits`;
  const cur = await fetch(url, { headers: auth, signal: AbortSignal.timeout(10_000) });
  const current = await cur.json().catch(() => null);
  if (cur.status !== 200 || !current) throw new Error(`GET rate limits: HTTP ${cur.status} ${JSON.stringify(current)}`);
  const patch = Object.fromEntries(Object.keys(current).filter((k) => k !== 'window').map((k) => [k, 1e9]));
  const r = await fetch(url, {
    method: 'PATCH', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(patch),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await r.json().catch(() => null);
  if (r.status !== 200 || !body) throw new Error(`PATCH rate limits: HTTP ${r.status} ${JSON.stringify(body)}`);
  return body;
}

async function login(base, password) {
  const r = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'root', password }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await r.json().catch(() => null);
  if (r.status !== 200 || !body || typeof body.token !== 'string') {
    throw new Error(`login failed: HTTP ${r.status} ${JSON.stringify(body)}`);
  }
  return body.token;
}

// ---- measurement ------------------------------------------------------------------------
function cannon(opts) {
  return new Promise((resolve, reject) => {
    const inst = autocannon({ timeout: 10, ...opts }, (err, res) => (err ? reject(err) : resolve(res)));
    // Hard stop in case autocannon itself hangs.
    const t = setTimeout(() => { inst.stop(); }, (opts.duration + 15) * 1000);
    inst.once('done', () => clearTimeout(t));
  });
}

function summarise(name, r) {
  const ok = r['2xx'];
  return {
    name,
    connections: r.connections,
    durationS: r.duration,
    requests: r.requests.total,
    ok2xx: ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count])),
    // Successful responses per second over the actual measured duration.
    reqPerSec: Math.round((ok / r.duration) * 10) / 10,
    // autocannon's mean of per-second samples (all status codes).
    reqPerSecSampleMean: r.requests.average,
    latencyMs: {
      p50: r.latency.p50, p97_5: r.latency.p97_5, p99: r.latency.p99,
      mean: Math.round(r.latency.average * 100) / 100, max: r.latency.max,
    },
  };
}

async function main() {
  if (!existsSync(MAIN)) throw new Error(`${path.relative(process.cwd(), MAIN)} not found; run \`npx tsc -p .\` first`);
  const port = process.env.BENCH_PORT ? intEnv('BENCH_PORT', 0, 1, 65535) : await freePort();
  const base = `http://${HOST}:${port}`;
  const password = benchPassword();
  const backend = process.env.DATABASE_URL ? 'postgresql' : 'sqlite';

  process.stderr.write(`bench: starting server on ${base} (${backend})\n`);
  const t0 = Date.now();
  await startServer(port, password);
  const startupMs = Date.now() - t0;
  const token = await login(base, password);
  const rateLimits = await liftRateLimits(base, token);
  process.stderr.write(`bench: up in ${startupMs} ms, signed in; rate limits lifted to 1e9 per ${rateLimits.window} s `
    + `(PATCH /api/admin/settings/rate-limits); ${DURATION} s per measurement\n`);

  const loginBody = JSON.stringify({ username: 'root', password });
  const meHeaders = { authorization: `Bearer ${token}` };

  process.stderr.write(`bench: (a) POST /api/auth/login, ${LOGIN_CONNS} connections\n`);
  const a = await cannon({
    url: `${base}/api/auth/login`, method: 'POST', connections: LOGIN_CONNS, duration: DURATION,
    headers: { 'content-type': 'application/json' }, body: loginBody,
  });

  if (WARMUP > 0) await cannon({ url: `${base}/healthz`, connections: CONNS, duration: WARMUP });
  process.stderr.write(`bench: (b) GET /healthz, ${CONNS} connections\n`);
  const b = await cannon({ url: `${base}/healthz`, connections: CONNS, duration: DURATION });

  if (WARMUP > 0) await cannon({ url: `${base}/api/auth/me`, connections: CONNS, duration: WARMUP, headers: meHeaders });
  process.stderr.write(`bench: (c) GET /api/auth/me, ${CONNS} connections\n`);
  const c = await cannon({ url: `${base}/api/auth/me`, connections: CONNS, duration: DURATION, headers: meHeaders });

  // The token must still work after the run (no session was ended by the load).
  const check = await fetch(`${base}/api/auth/me`, { headers: meHeaders, signal: AbortSignal.timeout(5000) });

  const rows = [summarise('login (POST /api/auth/login)', a), summarise('unauthenticated (GET /healthz)', b), summarise('authenticated (GET /api/auth/me)', c)];
  const [ra, rb, rc] = rows;
  const ratio = rb.reqPerSec > 0 ? Math.round((rc.reqPerSec / rb.reqPerSec) * 1000) / 1000 : null;
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    backend,
    startupMs,
    durationPerMeasurementS: DURATION,
    // Lifted before measuring so the abuse defences do not throttle the load generator.
    rateLimits,
    results: rows,
    ratioAuthenticatedToUnauthenticated: ratio,
    // Mean latency difference: the added per-request cost of authentication under this load.
    authOverheadMeanLatencyMs: Math.round((rc.latencyMs.mean - rb.latencyMs.mean) * 100) / 100,
    tokenStillValidAfterRun: check.status === 200,
    problems: [],
  };
  for (const r of rows) {
    if (r.non2xx || r.errors || r.timeouts) summary.problems.push(`${r.name}: ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}, ${r.errors} errors, ${r.timeouts} timeouts`);
  }
  if (check.status !== 200) summary.problems.push(`GET /api/auth/me after the run answered ${check.status}`);

  const fmt = (x) => (typeof x === 'number' ? String(x) : '-');
  const lines = [
    `| measurement | conns | req/s (2xx) | p50 ms | p97.5 ms | p99 ms | mean ms | max ms | 2xx | non-2xx | errors |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
    ...rows.map((r) => `| ${r.name} | ${r.connections} | ${fmt(r.reqPerSec)} | ${fmt(r.latencyMs.p50)} | ${fmt(r.latencyMs.p97_5)} | ${fmt(r.latencyMs.p99)} | ${fmt(r.latencyMs.mean)} | ${fmt(r.latencyMs.max)} | ${r.ok2xx} | ${r.non2xx} | ${r.errors + r.timeouts} |`),
    '',
    `authenticated / unauthenticated req/s: ${ratio ?? '-'}  (login: ${ra.reqPerSec} req/s)`,
    `rate limits lifted for the run: every budget 1e9 per ${rateLimits.window} s (the limiter still counts each request)`,
  ];
  process.stdout.write(`\n${lines.join('\n')}\n\n${JSON.stringify(summary, null, 2)}\n`);
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(summary, null, 2) + '\n');
  return summary.problems.length === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  if (outputTail.length) process.stderr.write(`bench: last server output:\n  ${outputTail.join('\n  ')}\n`);
  code = 2;
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
if (outputTail.length && code === 0) process.stderr.write(`bench: server output (LOG_LEVEL=warn):\n  ${outputTail.join('\n  ')}\n`);
process.exit(code);
