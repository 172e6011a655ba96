#!/usr/bin/env node
// Palisade sign-in flood benchmark: what a flood of bad sign-ins does to authenticated reads.
//
//   npx tsc -p . && node bench/flood.mjs
//
// Spawns `node dist/cli/main.js start` on 127.0.0.1 with a fresh data directory, waits for
// /healthz, signs in once as root, lifts ONLY the read budgets (readPerIp, readPerUser = 1e9, so
// the reader itself is not throttled) and then measures, in one run, the latency and req/s of
// GET /api/auth/me with the bearer token:
//   (a) at rest;
//   (b) while a flood of bad sign-ins runs at the same time (POST /api/auth/login, wrong password,
//       a new made-up username on every request) under the DEFAULT defences: sign-in rate limit
//       per address, account lockout and spread-attack detection as shipped;
//   (c) the same flood with the sign-in defences lifted (authPerIp = 1e9, spread threshold and
//       lockout maxAttempts at their maximum), so every flood request reaches the bounded
//       password-hash queue (HASH_CONCURRENCY running, HASH_QUEUE_MAX waiting, then 503);
//   (d) at rest again, as a control for drift in what else is using the machine.
// For each flood it reports the status codes (and error codes from the bodies: 401
// INVALID_CREDENTIALS, 429 RATE_LIMITED, 503 SERVER_BUSY or SIGN_IN_PAUSED), and the read p99
// ratio flood / rest. It prints a markdown table and a JSON summary, stops the server and removes
// the data directory.
//
// The flood runs in a worker thread (its own autocannon and event loop), so the reader's
// latencies are not inflated by the flood's client-side work on the same event loop; both still
// share the machine's cores with the server. The flood starts BENCH_FLOOD_LEAD seconds before the
// reader and ends after it, so the reader only ever sees a flood in full swing.
//
// It builds nothing: dist/ must exist. Everything is bounded in time (start-up, each
// measurement, shutdown, and a global watchdog); only 127.0.0.1 is ever targeted.
//
// Environment (all optional):
//   BENCH_DURATION        seconds per read measurement (default 10, 1..60)
//   BENCH_WARMUP          seconds of unmeasured read warm-up before (a) (default 2, 0..10)
//   BENCH_CONNS           connections of the reader (default 10)
//   BENCH_FLOOD_CONNS     connections of the flood (default 32)
//   BENCH_FLOOD_LEAD      seconds the flood runs before the reader starts and after it ends (default 1, 0..5)
//   BENCH_PORT            port for the server (default: a free port chosen by the OS)
//   BENCH_JSON            file to also write the JSON summary to
//   DATABASE_URL          postgres://... to run on PostgreSQL instead of SQLite (a throw-away
//                         schema palisade_bench_<random>, dropped at the end, as bench/run.mjs)

import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  autocannon,
  MAIN,
  HOST,
  STARTUP_TIMEOUT_MS,
  sleep,
  intEnv,
  freePort,
  cannon,
  summarise as summariseResult,
  benchPassword,
  login,
  adminSettings,
  createRun,
} from './lib.mjs';

// ---- the flood (worker thread) ------------------------------------------------------------
// Bad sign-ins, a new made-up username each time (flood-<run>-<n>), so neither the lockout of
// one account nor a per-username cache stops it: only the per-address budget, the spread
// detector and the hash queue can.
async function floodWorker({ base, connections, duration, tag }) {
  if (!base.startsWith(`http://${HOST}:`)) throw new Error('flood target must be 127.0.0.1');
  let n = 0;
  const codes = {};
  const password = `Wrong-${randomBytes(9).toString('base64url')}-7!`;
  const url = `${base}/api/auth/login`;
  const raw = await cannon({
    url,
    connections,
    duration,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ username: `flood-${tag}-${n++}`, password }) }),
        onResponse: (status, body) => {
          const m = /"code":"([A-Z_]+)"/.exec(body ?? '');
          const k = `${status} ${m ? m[1] : status < 300 ? 'OK' : '?'}`;
          codes[k] = (codes[k] ?? 0) + 1;
        },
      },
    ],
  });
  // In a worker thread autocannon hands back raw histograms: aggregate them as it does itself.
  const r = raw.latency ? raw : autocannon.aggregateResult([raw], { url, connections, duration });
  return {
    connections: r.connections,
    durationS: r.duration,
    requests: r.requests.total,
    usernames: n,
    reqPerSec: Math.round((r.requests.total / r.duration) * 10) / 10,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count])),
    errorCodes: codes,
    errors: r.errors,
    timeouts: r.timeouts,
    latencyMs: { p50: r.latency.p50, p97_5: r.latency.p97_5, p99: r.latency.p99, mean: Math.round(r.latency.average * 100) / 100, max: r.latency.max },
  };
}

if (!isMainThread) {
  floodWorker(workerData).then(
    (res) => parentPort.postMessage({ ok: true, res }),
    (e) => parentPort.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
} else {
  await mainThread();
}

async function mainThread() {
  const DURATION = intEnv('BENCH_DURATION', 10, 1, 60);
  const WARMUP = intEnv('BENCH_WARMUP', 2, 0, 10);
  const CONNS = intEnv('BENCH_CONNS', 10, 1, 256);
  const FLOOD_CONNS = intEnv('BENCH_FLOOD_CONNS', 32, 1, 512);
  const LEAD = intEnv('BENCH_FLOOD_LEAD', 1, 0, 5);
  const FLOOD_DURATION = DURATION + 2 * LEAD;
  // Whole run: start-up + warm-up + four reads (two of them inside a longer flood) + slack.
  const WATCHDOG_MS = STARTUP_TIMEOUT_MS + (WARMUP + 2 * DURATION + 2 * FLOOD_DURATION + 4) * 1000 + 90_000;

  const run = createRun('flood', WATCHDOG_MS);
  let child = null; // the server's process
  const admin = adminSettings;

  function startFlood(base, tag) {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { base, connections: FLOOD_CONNS, duration: FLOOD_DURATION, tag } });
    const terminate = run.onCleanup(() => w.terminate().catch(() => {}));
    return new Promise((resolve, reject) => {
      w.once('message', (m) => (m.ok ? resolve(m.res) : reject(new Error(`flood worker: ${m.error}`))));
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`flood worker exited (code ${code}) without a result`)));
    }).finally(() => terminate());
  }

  /** CPU seconds of the server process (Linux /proc, 100 ticks/s) and of this process (all threads). */
  function cpuNow() {
    let server = null;
    try {
      const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      server = (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      /* not Linux */
    }
    const u = process.cpuUsage();
    return { server, bench: (u.user + u.system) / 1e6, wall: performance.now() / 1000 };
  }
  /** Cores used between two cpuNow() readings. */
  function cores(from, to) {
    const wall = to.wall - from.wall;
    const r = (x) => Math.round(x * 100) / 100;
    return {
      server: from.server === null || to.server === null ? null : r((to.server - from.server) / wall),
      loadGenerator: r((to.bench - from.bench) / wall),
    };
  }

  function summarise(name, r, cpu) {
    const out = summariseResult(name, r, {
      // CPU cores used while this read ran: the server, and this process (reader plus flood worker).
      cores: cpu,
    });
    delete out.reqPerSecSampleMean;
    return out;
  }

  /** The reader under a flood: the flood starts LEAD s earlier and outlasts the reader. */
  async function readUnderFlood(base, meHeaders, tag) {
    const flood = startFlood(base, tag);
    flood.catch(() => {}); // awaited below; avoid an unhandled rejection while the reader runs
    await sleep(LEAD * 1000);
    const c0 = cpuNow();
    const read = await cannon({ url: `${base}/api/auth/me`, connections: CONNS, duration: DURATION, headers: meHeaders });
    const cpu = cores(c0, cpuNow());
    return { read, cpu, flood: await flood };
  }

  async function main() {
    if (!existsSync(MAIN)) throw new Error(`${path.relative(process.cwd(), MAIN)} not found; run \`npx tsc -p .\` first`);
    const port = process.env.BENCH_PORT ? intEnv('BENCH_PORT', 0, 1, 65535) : await freePort();
    const base = `http://${HOST}:${port}`;
    const password = benchPassword();
    const backend = process.env.DATABASE_URL ? 'postgresql' : 'sqlite';
    const load = [loadavg()[0]];

    process.stderr.write(`flood: starting server on ${base} (${backend})\n`);
    // No LOCKOUT_*, SPREAD_*, HASH_* variables: the defences run with their shipped defaults.
    const server = await run.startServer({ port, password, prefix: 'palisade-flood-', databaseUrl: process.env.DATABASE_URL || null });
    child = server.child;
    const startupMs = server.startupMs;
    const token = await login(base, password);
    const meHeaders = { authorization: `Bearer ${token}` };

    // Only the read budgets are lifted: sign-in rate limit, lockout and spread stay as shipped.
    const defaults = {
      rateLimits: await admin(base, token, 'PATCH', 'rate-limits', { readPerIp: 1e9, readPerUser: 1e9 }),
      lockout: await admin(base, token, 'GET', 'lockout'),
      spread: await admin(base, token, 'GET', 'spread'),
    };
    process.stderr.write(
      `flood: up in ${startupMs} ms; read budgets lifted (readPerIp, readPerUser = 1e9); ` +
        `sign-in defences at defaults: authPerIp ${defaults.rateLimits.authPerIp}/${defaults.rateLimits.window} s, ` +
        `lockout ${defaults.lockout.maxAttempts}/${defaults.lockout.interval} s, spread ${defaults.spread.threshold}/${defaults.spread.window} s\n`,
    );

    if (WARMUP > 0) await cannon({ url: `${base}/api/auth/me`, connections: CONNS, duration: WARMUP, headers: meHeaders });
    process.stderr.write(`flood: (a) GET /api/auth/me at rest, ${CONNS} connections, ${DURATION} s\n`);
    let c0 = cpuNow();
    const a = await cannon({ url: `${base}/api/auth/me`, connections: CONNS, duration: DURATION, headers: meHeaders });
    const aCpu = cores(c0, cpuNow());
    load.push(loadavg()[0]);

    process.stderr.write(`flood: (b) the same read under a bad sign-in flood (${FLOOD_CONNS} connections), default defences\n`);
    const b = await readUnderFlood(base, meHeaders, 'b');
    load.push(loadavg()[0]);
    await sleep(1000); // let the hash queue drain

    const lifted = {
      rateLimits: await admin(base, token, 'PATCH', 'rate-limits', { authPerIp: 1e9 }),
      lockout: await admin(base, token, 'PATCH', 'lockout', { maxAttempts: 100 }),
      spread: await admin(base, token, 'PATCH', 'spread', { threshold: 10_000_000 }),
    };
    process.stderr.write(
      `flood: (c) the same under the flood with the sign-in defences lifted (authPerIp 1e9, lockout maxAttempts 100, spread threshold 1e7)\n`,
    );
    const c = await readUnderFlood(base, meHeaders, 'c');
    load.push(loadavg()[0]);
    await sleep(1000);

    process.stderr.write(`flood: (d) GET /api/auth/me at rest again (control)\n`);
    c0 = cpuNow();
    const d = await cannon({ url: `${base}/api/auth/me`, connections: CONNS, duration: DURATION, headers: meHeaders });
    const dCpu = cores(c0, cpuNow());
    load.push(loadavg()[0]);

    const check = await fetch(`${base}/api/auth/me`, { headers: meHeaders, signal: AbortSignal.timeout(5000) });
    const serverAlive = child.exitCode === null && child.signalCode === null;

    const reads = [
      summarise('(a) read at rest', a, aCpu),
      summarise('(b) read + flood, default defences', b.read, b.cpu),
      summarise('(c) read + flood, sign-in defences lifted', c.read, c.cpu),
      summarise('(d) read at rest again (control)', d, dCpu),
    ];
    const [ra, rb, rc, rd] = reads;
    const ratio = (x, y) => (y > 0 ? Math.round((x / y) * 100) / 100 : null);
    const floods = { b: b.flood, c: c.flood };
    const summary = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      backend,
      startupMs,
      durationPerMeasurementS: DURATION,
      floodDurationS: FLOOD_DURATION,
      floodLeadS: LEAD,
      loadAverage1m: load.map((x) => Math.round(x * 100) / 100),
      settings: { defaults, lifted },
      reads,
      floods,
      ratios: {
        p99FloodToRest: { b: ratio(rb.latencyMs.p99, ra.latencyMs.p99), c: ratio(rc.latencyMs.p99, ra.latencyMs.p99) },
        reqPerSecFloodToRest: { b: ratio(rb.reqPerSec, ra.reqPerSec), c: ratio(rc.reqPerSec, ra.reqPerSec) },
        p99RestAgainToRest: ratio(rd.latencyMs.p99, ra.latencyMs.p99),
      },
      tokenStillValidAfterRun: check.status === 200,
      serverAlive,
      problems: [],
    };
    for (const r of reads) {
      if (r.ok2xx === 0) summary.problems.push(`${r.name}: no read completed (${r.requests} requests answered)`);
      if (r.non2xx || r.errors || r.timeouts)
        summary.problems.push(`${r.name}: ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}, ${r.errors} errors, ${r.timeouts} timeouts`);
    }
    for (const [k, f] of Object.entries(floods)) {
      const odd = Object.keys(f.statusCodes).filter((s) => !['401', '429', '503'].includes(s));
      if (odd.length || f.errors || f.timeouts)
        summary.problems.push(`flood (${k}): statuses ${JSON.stringify(f.statusCodes)}, ${f.errors} errors, ${f.timeouts} timeouts`);
    }
    if (check.status !== 200) summary.problems.push(`GET /api/auth/me after the run answered ${check.status}`);
    if (!serverAlive) summary.problems.push('the server exited during the run');

    const fmt = (x) => (typeof x === 'number' ? String(x) : '-');
    const codes = (f) => ['401', '429', '503'].map((s) => f.statusCodes[s] ?? 0);
    const lines = [
      `| read (GET /api/auth/me) | conns | req/s (2xx) | p50 ms | p97.5 ms | p99 ms | mean ms | max ms | 2xx | non-2xx | errors | server cores | load-gen cores |`,
      `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
      ...reads.map(
        (r) =>
          `| ${r.name} | ${r.connections} | ${fmt(r.reqPerSec)} | ${fmt(r.latencyMs.p50)} | ${fmt(r.latencyMs.p97_5)} | ${fmt(r.latencyMs.p99)} | ${fmt(r.latencyMs.mean)} | ${fmt(r.latencyMs.max)} | ${r.ok2xx} | ${r.non2xx} | ${r.errors + r.timeouts} | ${fmt(r.cores.server)} | ${fmt(r.cores.loadGenerator)} |`,
      ),
      '',
      `| flood (POST /api/auth/login, bad password) | conns | s | requests | req/s | 401 | 429 | 503 | errors | p50 ms | p99 ms | error codes |`,
      `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|`,
      ...Object.entries(floods).map(
        ([k, f]) =>
          `| (${k}) ${k === 'b' ? 'default defences' : 'sign-in defences lifted'} | ${f.connections} | ${f.durationS} | ${f.requests} | ${f.reqPerSec} | ${codes(f).join(' | ')} | ${f.errors + f.timeouts} | ${fmt(f.latencyMs.p50)} | ${fmt(f.latencyMs.p99)} | ${Object.entries(
            f.errorCodes,
          )
            .map(([e, n]) => `${e}: ${n}`)
            .join(', ')} |`,
      ),
      '',
      `read p99 flood / rest: (b) ${fmt(summary.ratios.p99FloodToRest.b)}, (c) ${fmt(summary.ratios.p99FloodToRest.c)}; ` +
        `read req/s flood / rest: (b) ${fmt(summary.ratios.reqPerSecFloodToRest.b)}, (c) ${fmt(summary.ratios.reqPerSecFloodToRest.c)}; ` +
        `control p99 (d) / (a): ${fmt(summary.ratios.p99RestAgainToRest)}`,
    ];
    process.stdout.write(`\n${lines.join('\n')}\n\n${JSON.stringify(summary, null, 2)}\n`);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(summary, null, 2)}\n`);
    return summary.problems.length === 0 ? 0 : 1;
  }

  await run.finish(main);
}
