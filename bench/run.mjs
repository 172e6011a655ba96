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
//   BENCH_RECORDS=0, BENCH_FLOOD=0, BENCH_PEER=0
//                         leave out one of the benchmarks that run after this script's own, one after the other,
//                         each as a child process with its output passed through and its exit code counted in ours
//                         (the issue 14 aims, so that `npm run bench` gives every figure in one go):
//                         bench/records.mjs (secured list against a bare route at 100 000 rows, p50 at 1 000 000
//                         against 10 000), bench/flood.mjs (a read's p99 during a bad-sign-in flood) and
//                         bench/peer.mjs (the editor scenario against Directus, /api/auth/me against /healthz, on
//                         SQLite and on PostgreSQL + Redis; skipped with a message when Directus (../shared/peers/
//                         directus), wrk, PostgreSQL or Redis is missing). They run after this script's server has
//                         stopped, with the same environment but BENCH_CONNS, BENCH_PORT and BENCH_JSON
//                         (BENCH_<NAME>_JSON is each one's BENCH_JSON) and with BENCH_DURATION set to
//                         BENCH_SUITE_DURATION (default 5 s a measurement, so that the whole run stays under 10
//                         minutes; run a script alone for longer measurements).

import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAIN, HOST, STARTUP_TIMEOUT_MS, intEnv, freePort, cannon, summarise, benchPassword, login, liftRateLimits, createRun } from './lib.mjs';

const DURATION = intEnv('BENCH_DURATION', 10, 1, 60);
const WARMUP = intEnv('BENCH_WARMUP', 2, 0, 10);
const LOGIN_CONNS = intEnv('BENCH_LOGIN_CONNS', 4, 1, 64);
const CONNS = intEnv('BENCH_CONNS', 10, 1, 256);
/** The benchmarks run after this script's own, in order; each can be left out (BENCH_<NAME>=0). */
const FOLLOWERS = [
  { name: 'RECORDS', script: './records.mjs', what: 'the secured list and how it scales' },
  { name: 'FLOOD', script: './flood.mjs', what: "a read's p99 during a bad-sign-in flood" },
  { name: 'PEER', script: './peer.mjs', what: 'Palisade against Directus, /api/auth/me against /healthz' },
].filter((f) => process.env[`BENCH_${f.name}`] !== '0');
const SUITE_DURATION = String(intEnv('BENCH_SUITE_DURATION', 5, 1, 60));
const FOLLOW = FOLLOWERS.length > 0;
// Each benchmark that follows has its own watchdog and time limits; this is the outer bound of each one's run.
const PEER_LIMIT_MS = 45 * 60_000;
// Whole run: start-up + three measurements + two warm-ups + slack (+ the benchmarks that follow).
const WATCHDOG_MS = STARTUP_TIMEOUT_MS + (3 * DURATION + 2 * WARMUP) * 1000 + 60_000 + FOLLOWERS.length * (PEER_LIMIT_MS + 30_000);

const run = createRun('bench', WATCHDOG_MS);

async function main() {
  if (!existsSync(MAIN)) throw new Error(`${path.relative(process.cwd(), MAIN)} not found; run \`npx tsc -p .\` first`);
  const port = process.env.BENCH_PORT ? intEnv('BENCH_PORT', 0, 1, 65535) : await freePort();
  const base = `http://${HOST}:${port}`;
  const password = benchPassword();
  const backend = process.env.DATABASE_URL ? 'postgresql' : 'sqlite';

  process.stderr.write(`bench: starting server on ${base} (${backend})\n`);
  const server = await run.startServer({ port, password, databaseUrl: process.env.DATABASE_URL || null });
  const startupMs = server.startupMs;
  const token = await login(base, password);
  const rateLimits = await liftRateLimits(base, token);
  process.stderr.write(
    `bench: up in ${startupMs} ms, signed in; rate limits lifted to 1e9 per ${rateLimits.window} s ` +
      `(PATCH /api/admin/settings/rate-limits); ${DURATION} s per measurement\n`,
  );

  const loginBody = JSON.stringify({ username: 'root', password });
  const meHeaders = { authorization: `Bearer ${token}` };

  process.stderr.write(`bench: (a) POST /api/auth/login, ${LOGIN_CONNS} connections\n`);
  const a = await cannon({
    url: `${base}/api/auth/login`,
    method: 'POST',
    connections: LOGIN_CONNS,
    duration: DURATION,
    headers: { 'content-type': 'application/json' },
    body: loginBody,
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
    if (r.non2xx || r.errors || r.timeouts)
      summary.problems.push(`${r.name}: ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}, ${r.errors} errors, ${r.timeouts} timeouts`);
  }
  if (check.status !== 200) summary.problems.push(`GET /api/auth/me after the run answered ${check.status}`);

  const fmt = (x) => (typeof x === 'number' ? String(x) : '-');
  const lines = [
    `| measurement | conns | req/s (2xx) | p50 ms | p97.5 ms | p99 ms | mean ms | max ms | 2xx | non-2xx | errors |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.connections} | ${fmt(r.reqPerSec)} | ${fmt(r.latencyMs.p50)} | ${fmt(r.latencyMs.p97_5)} | ${fmt(r.latencyMs.p99)} | ${fmt(r.latencyMs.mean)} | ${fmt(r.latencyMs.max)} | ${r.ok2xx} | ${r.non2xx} | ${r.errors + r.timeouts} |`,
    ),
    '',
    `authenticated / unauthenticated req/s: ${ratio ?? '-'}  (login: ${ra.reqPerSec} req/s)`,
    `rate limits lifted for the run: every budget 1e9 per ${rateLimits.window} s (the limiter still counts each request)`,
  ];
  process.stdout.write(`\n${lines.join('\n')}\n\n${JSON.stringify(summary, null, 2)}\n`);
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(summary, null, 2)}\n`);
  const code = summary.problems.length === 0 ? 0 : 1;
  if (!FOLLOW) return code;
  await server.stop();
  let worst = code;
  for (const f of FOLLOWERS) worst = Math.max(worst, await runFollower(f));
  return worst;
}

/** One of the benchmarks that follow, as a child process (its output passed through); resolves to its exit code. */
function runFollower(f) {
  const env = { ...process.env, BENCH_PEER_OPTIONAL: '1', BENCH_DURATION: SUITE_DURATION };
  for (const k of ['BENCH_CONNS', 'BENCH_PORT', 'BENCH_JSON']) delete env[k];
  if (process.env[`BENCH_${f.name}_JSON`]) env.BENCH_JSON = process.env[`BENCH_${f.name}_JSON`];
  const script = `bench/${f.script.slice(2)}`;
  process.stderr.write(`bench: running ${script} (${f.what}; BENCH_${f.name}=0 skips it)\n`);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(f.script, import.meta.url))], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    const stop = run.onCleanup(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    });
    const t = setTimeout(() => {
      process.stderr.write(`bench: ${script} still running after ${PEER_LIMIT_MS / 60_000} min; stopping it\n`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
    }, PEER_LIMIT_MS);
    child.once('error', (e) => {
      process.stderr.write(`bench: could not run ${script}: ${e.message}\n`);
    });
    child.once('close', (code, signal) => {
      clearTimeout(t);
      stop();
      process.stderr.write(`bench: ${script} exited ${code ?? signal} after ${Math.round((Date.now() - t0) / 1000)} s\n`);
      resolve(code === null ? 2 : code);
    });
  });
}

await run.finish(main);
