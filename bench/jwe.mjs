#!/usr/bin/env node
// Encrypted API bodies (EDGE-6): what sealing the answer costs on a record list, in one run.
//
//   npx tsc -p . && node bench/jwe.mjs
//
// Starts `node dist/cli/main.js start` (TRANSPORT_ENCRYPTION=optional, the default) with a fresh data
// directory (SQLite, or PostgreSQL with DATABASE_URL), lifts the rate limits, creates a collection `items`
// with ITEMS records and signs in as root (bearer). Then GET /api/collections/items/records?perPage=50 with
// autocannon, alternating plain, encrypted, plain, encrypted (BENCH_ROUNDS pairs), so that drift of a noisy
// machine falls on both. "Encrypted" is the protocol's GET: `Accept: application/jose` with a
// `palisade-response-key` header (made once with the shipped helper, dist/client/transport.js), so the
// server runs one ECDH-ES agreement and one AES-256-GCM encryption per answer; the client's decryption is
// not in the figure (autocannon does not open the answers; the run checks once that one opens to the same
// list as the plain answer). Prints a markdown table and a JSON summary with the encrypted/plain ratio.
//
// Environment: BENCH_DURATION (s per measurement, default 10), BENCH_WARMUP (default 2), BENCH_CONNS
// (default 10), BENCH_ITEMS (default 200), BENCH_ROUNDS (pairs, default 2), BENCH_JSON (file for the
// summary), DATABASE_URL.

import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MAIN, ROOT, HOST, STARTUP_TIMEOUT_MS, intEnv, freePort, cannon, summarise, benchPassword, login, liftRateLimits, createRun, api } from './lib.mjs';

const DURATION = intEnv('BENCH_DURATION', 10, 1, 60);
const WARMUP = intEnv('BENCH_WARMUP', 2, 0, 10);
const CONNS = intEnv('BENCH_CONNS', 10, 1, 256);
const ITEMS = intEnv('BENCH_ITEMS', 200, 1, 10_000);
const ROUNDS = intEnv('BENCH_ROUNDS', 2, 1, 10);
const WATCHDOG_MS = STARTUP_TIMEOUT_MS + (2 * ROUNDS * DURATION + 2 * WARMUP) * 1000 + 180_000;
const HELPER = path.join(ROOT, 'dist', 'client', 'transport.js');

const run = createRun('bench:jwe', WATCHDOG_MS);

async function main() {
  if (!existsSync(MAIN) || !existsSync(HELPER))
    throw new Error(`${path.relative(process.cwd(), MAIN)} or the client helper not found; run \`npx tsc -p .\` first`);
  const { keyDocument, seal } = await import(pathToFileURL(HELPER).href);
  const port = await freePort();
  const base = `http://${HOST}:${port}`;
  const password = benchPassword();
  const backend = process.env.DATABASE_URL ? 'postgresql' : 'sqlite';
  const server = await run.startServer({ port, password, databaseUrl: process.env.DATABASE_URL || null, env: { TRANSPORT_ENCRYPTION: 'optional' } });
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

  const target = '/api/collections/items/records?perPage=50';
  const url = `${base}${target}`;
  const doc = keyDocument(await api(base, null, 'GET', '/api/transport/key'));
  const sealed = await seal(doc.keys[0], 'GET', target);
  const plainHeaders = { authorization: `Bearer ${root}` };
  const sealedHeaders = { ...plainHeaders, ...sealed.headers };

  // One of each, compared: the encrypted answer opens to the plain one.
  const plain = await fetch(url, { headers: plainHeaders }).then((r) => r.text());
  const res = await fetch(url, { headers: sealedHeaders });
  const body = await res.text();
  if (res.headers.get('content-type') !== 'application/jose') throw new Error(`the encrypted answer came as ${res.headers.get('content-type')}`);
  const opened = await sealed.open({ status: res.status, contentType: res.headers.get('content-type'), body });
  if (opened.text !== plain) throw new Error('the encrypted answer does not open to the plain one');
  const sizes = { plainBytes: Buffer.byteLength(plain), encryptedBytes: Buffer.byteLength(body) };

  if (WARMUP > 0) {
    await cannon({ url, connections: CONNS, duration: WARMUP, headers: plainHeaders });
    await cannon({ url, connections: CONNS, duration: WARMUP, headers: sealedHeaders });
  }
  const rounds = [];
  for (let i = 1; i <= ROUNDS; i++) {
    for (const [name, headers] of [
      [`plain (${i})`, plainHeaders],
      [`encrypted (${i})`, sealedHeaders],
    ]) {
      process.stderr.write(`bench:jwe: ${name}, ${CONNS} connections, ${DURATION} s\n`);
      rounds.push(summarise(`GET items?perPage=50, ${name}`, await cannon({ url, connections: CONNS, duration: DURATION, headers })));
    }
  }
  const mean = (rs) => Math.round(rs.reduce((x, r) => x + r.reqPerSec, 0) / rs.length);
  const plainRps = mean(rounds.filter((_, i) => i % 2 === 0));
  const sealedRps = mean(rounds.filter((_, i) => i % 2 === 1));
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    backend,
    items: ITEMS,
    ...sizes,
    startupMs: server.startupMs,
    results: rounds,
    plainReqPerSec: plainRps,
    encryptedReqPerSec: sealedRps,
    ratioEncryptedToPlain: plainRps > 0 ? Math.round((sealedRps / plainRps) * 1000) / 1000 : null,
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
    `encrypted / plain req/s: ${summary.ratioEncryptedToPlain} (${sealedRps} / ${plainRps}); answer ${sizes.encryptedBytes} bytes sealed, ${sizes.plainBytes} plain`,
  ];
  process.stdout.write(`\n${lines.join('\n')}\n\n${JSON.stringify(summary, null, 2)}\n`);
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(summary, null, 2)}\n`);
  return summary.problems.length === 0 ? 0 : 1;
}

await run.finish(main);
