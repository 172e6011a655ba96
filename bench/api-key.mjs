#!/usr/bin/env node
// API key against session token: the same record list, in one run (issue 11).
//
//   npx tsc -p . && node bench/api-key.mjs          (or: npm run bench:api-key)
//
// Starts `node dist/cli/main.js start` with a fresh data directory (SQLite, or PostgreSQL with
// DATABASE_URL), lifts the rate limits, creates a collection `items` with ITEMS records, a role `reader`
// that may view them, and a user `svc` who holds `reader` (and `keymaker`, with apikeys.manage). svc signs
// in and sets its session's active role to `reader`, so the session and the key act with exactly the same
// role; svc then creates an API key bound to `reader`. Both then list GET /api/collections/items/records
// (perPage 50) with autocannon, alternating session, key, session, key, so that drift of a noisy machine
// falls on both. Prints a markdown table and a JSON summary with the key/session ratio.
//
// Environment: BENCH_DURATION (s per measurement, default 10), BENCH_WARMUP (default 2), BENCH_CONNS
// (default 10), BENCH_ITEMS (default 200), BENCH_JSON (file for the summary), DATABASE_URL.

import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { MAIN, HOST, STARTUP_TIMEOUT_MS, intEnv, freePort, cannon, summarise, benchPassword, login, liftRateLimits, createRun, api } from './lib.mjs';

const DURATION = intEnv('BENCH_DURATION', 10, 1, 60);
const WARMUP = intEnv('BENCH_WARMUP', 2, 0, 10);
const CONNS = intEnv('BENCH_CONNS', 10, 1, 256);
const ITEMS = intEnv('BENCH_ITEMS', 200, 1, 10_000);
const WATCHDOG_MS = STARTUP_TIMEOUT_MS + (4 * DURATION + 2 * WARMUP) * 1000 + 120_000;

const run = createRun('bench:api-key', WATCHDOG_MS);

async function main() {
  if (!existsSync(MAIN)) throw new Error(`${path.relative(process.cwd(), MAIN)} not found; run \`npx tsc -p .\` first`);
  const port = await freePort();
  const base = `http://${HOST}:${port}`;
  const password = benchPassword();
  const backend = process.env.DATABASE_URL ? 'postgresql' : 'sqlite';
  const server = await run.startServer({ port, password, databaseUrl: process.env.DATABASE_URL || null });
  const root = await login(base, password);
  await liftRateLimits(base, root);

  await api(
    base,
    root,
    'POST',
    '/api/admin/collections',
    {
      name: 'items',
      fields: [
        { name: 'title', type: 'string', required: true },
        { name: 'n', type: 'integer' },
      ],
    },
    201,
  );
  for (let i = 0; i < ITEMS; i++) await api(base, root, 'POST', '/api/collections/items/records', { title: `item ${i}`, n: i }, 201);
  await api(base, root, 'POST', '/api/admin/roles', { name: 'reader' }, 201);
  await api(base, root, 'POST', '/api/admin/roles', { name: 'keymaker', permissions: ['apikeys.manage'] }, 201);
  await api(base, root, 'POST', '/api/admin/grants', { role: 'reader', collection: 'items', actions: ['view'], fields: ['title', 'n'] }, 201);
  const svcPassword = benchPassword();
  const svc = await api(base, root, 'POST', '/api/admin/users', { username: 'svc', password: svcPassword, mustChangePassword: false }, 201);
  await api(base, root, 'PUT', `/api/admin/users/${svc.user.id}/roles`, { roles: ['reader', 'keymaker'] }, 204);
  const token = await login(base, svcPassword, 'svc');
  const { secret } = await api(base, token, 'POST', '/api/auth/api-keys', { name: 'bench', role: 'reader' }, 201);
  await api(base, token, 'PUT', '/api/auth/active-role', { role: 'reader' });

  const url = `${base}/api/collections/items/records?perPage=50`;
  const sessionHeaders = { authorization: `Bearer ${token}` };
  const keyHeaders = { 'x-api-key': secret };
  const a = await fetch(url, { headers: sessionHeaders }).then((r) => r.json());
  const b = await fetch(url, { headers: keyHeaders }).then((r) => r.json());
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error('the session and the key see different lists');

  if (WARMUP > 0) {
    await cannon({ url, connections: CONNS, duration: WARMUP, headers: sessionHeaders });
    await cannon({ url, connections: CONNS, duration: WARMUP, headers: keyHeaders });
  }
  const rounds = [];
  for (const [name, headers] of [
    ['session token (1)', sessionHeaders],
    ['API key (1)', keyHeaders],
    ['session token (2)', sessionHeaders],
    ['API key (2)', keyHeaders],
  ]) {
    process.stderr.write(`bench:api-key: ${name}, ${CONNS} connections, ${DURATION} s\n`);
    rounds.push(summarise(`GET items?perPage=50, ${name}`, await cannon({ url, connections: CONNS, duration: DURATION, headers })));
  }
  const mean = (rs) => Math.round(rs.reduce((x, r) => x + r.reqPerSec, 0) / rs.length);
  const sessionRps = mean([rounds[0], rounds[2]]);
  const keyRps = mean([rounds[1], rounds[3]]);
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    backend,
    items: ITEMS,
    startupMs: server.startupMs,
    results: rounds,
    sessionReqPerSec: sessionRps,
    apiKeyReqPerSec: keyRps,
    ratioKeyToSession: sessionRps > 0 ? Math.round((keyRps / sessionRps) * 1000) / 1000 : null,
    problems: rounds.filter((r) => r.non2xx || r.errors || r.timeouts).map((r) => `${r.name}: ${r.non2xx} non-2xx, ${r.errors} errors`),
  };
  const fmt = (x) => (typeof x === 'number' ? String(x) : '-');
  const lines = [
    '| measurement | conns | req/s (2xx) | p50 ms | p99 ms | mean ms | non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rounds.map(
      (r) =>
        `| ${r.name} | ${r.connections} | ${fmt(r.reqPerSec)} | ${fmt(r.latencyMs.p50)} | ${fmt(r.latencyMs.p99)} | ${fmt(r.latencyMs.mean)} | ${r.non2xx} |`,
    ),
    '',
    `API key / session token req/s: ${summary.ratioKeyToSession} (${keyRps} / ${sessionRps})`,
  ];
  process.stdout.write(`\n${lines.join('\n')}\n\n${JSON.stringify(summary, null, 2)}\n`);
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(summary, null, 2)}\n`);
  return summary.problems.length === 0 ? 0 : 1;
}

await run.finish(main);
