#!/usr/bin/env node
// What the change log's rows cost SQLite itself, without HTTP, Kysely or the trail's JavaScript (issue 13):
//
//   npx tsc -p tsconfig.json && node bench/audit-storage.mjs
//
// Migrates a fresh SQLite database with the real migrations (`node dist/cli/main.js migrate`), adds a collection
// table shaped as bench/audit.mjs's (`id` text primary key, five system columns, four strings and an integer), and
// then, for each variant below and in alternating order over BENCH_ROUNDS rounds, in a fresh process on a fresh copy:
// prefills BENCH_PREFILL records with their entries (in one transaction, unmeasured), then runs BENCH_TXNS
// transactions `begin immediate; ...; commit` as an audited create does on SQLite, with a passive checkpoint every
// 200 transactions (the server's background checkpointer does that work in another thread; it counts here). Each
// transaction's statements are prepared once and run through the SQLite binding directly.
//
// Variants (what each transaction writes besides the record row):
//   off          nothing (the change log off)
//   before-d459  what `src/audit/chain.ts` wrote before D459: the head read with `update ... returning`, the record's
//                sealed key (a row of audit_subject_keys), the log row (audit_log and its three indexes), the chain
//                row (audit_chain) and the head's update
//   now          what it writes today (D459): the head read with a `select` (BEGIN IMMEDIATE already holds the write
//                lock), the log row carrying the key's salt (`key_salt`), the chain row and the head's update
//   link-in-row  `now` with the chain link in the log row (a `hash` column) instead of a chain row (not built)
//   no-index     `now` without audit_log's actor and time indexes
//   log-only     the log row alone, without any secondary index
//
// It prints, per variant, the median over the rounds of the CPU time per transaction (user + system, this process,
// checkpoints included) and of the wall time, and the difference from `off`. Figures of one run only compare among
// themselves: the machine's speed moves between runs.
//
// Environment (all optional):
//   BENCH_ROUNDS    rounds (default 3, 1..9)
//   BENCH_TXNS      measured transactions per variant and round (default 10000)
//   BENCH_PREFILL   records and entries before measuring (default 50000)
//   BENCH_VARIANTS  comma-separated subset of the variants above

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAIN, intEnv } from './lib.mjs';

const VARIANTS = {
  off: { audit: false },
  'before-d459': { audit: true, lock: 'update', key: 'row', chain: 'row', indexes: 'all' },
  now: { audit: true, lock: 'select', key: 'salt', chain: 'row', indexes: 'all' },
  'link-in-row': { audit: true, lock: 'select', key: 'salt', chain: 'column', indexes: 'all' },
  'no-index': { audit: true, lock: 'select', key: 'salt', chain: 'row', indexes: 'record' },
  'log-only': { audit: true, lock: null, key: null, chain: null, indexes: 'none' },
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** One measurement in this process: prints one JSON line. */
function one(name, source, txns, prefill) {
  const require = createRequire(import.meta.url);
  const Database = require('@rocicorp/zero-sqlite3');
  const v = VARIANTS[name];
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-audit-storage-'));
  try {
    copyFileSync(source, path.join(dir, 'p.db'));
    const db = new Database(path.join(dir, 'p.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec(
      'create table col_x ("id" text primary key, "created_at" bigint not null, "updated_at" bigint not null, "created_by" text, "updated_by" text, title text, customer text, city text, reference text, qty bigint)',
    );
    if (v.chain === 'column') db.exec('alter table audit_log add column hash text');
    if (v.indexes !== 'all') db.exec('drop index audit_log_actor_idx; drop index audit_log_at_idx');
    if (v.indexes === 'none') db.exec('drop index audit_log_record_idx');
    const st = {
      record: db.prepare('insert into col_x values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      lock: db.prepare('update audit_chain_head set seq = seq where id = 1 returning seq, hash'),
      read: db.prepare('select seq, hash from audit_chain_head where id = 1'),
      key: db.prepare('insert into audit_subject_keys (subject, sealed, created_at) values (?, ?, ?)'),
      log: db.prepare(
        `insert into audit_log (seq, at, kind, collection, record_id, operation, actor_id, actor_name, via, ip, user_agent, request_id, data, key_salt${
          v.chain === 'column' ? ', hash' : ''
        }) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?${v.chain === 'column' ? ', ?' : ''})`,
      ),
      chain: db.prepare('insert into audit_chain (seq, kind, at, digest, hash) values (?, ?, ?, ?, ?)'),
      head: db.prepare('update audit_chain_head set seq = ?, hash = ? where id = 1'),
      begin: db.prepare('begin immediate'),
      commit: db.prepare('commit'),
    };
    const actor = randomUUID();
    let seq = 0;
    const hex = () => randomBytes(32).toString('hex');
    const data = () =>
      JSON.stringify({
        changed: ['title', 'customer', 'city', 'reference', 'qty'].map((field) => ({ field })),
        values: `v1.${randomBytes(180).toString('base64url')}`,
      });
    // The rows of one audited create, as the variant writes them; `full`: as `before-d459` (the prefill: a database
    // written before D459 and since).
    const create = (audit, full) => {
      const id = randomUUID();
      const now = Date.now();
      const w = full ? VARIANTS['before-d459'] : v;
      const head = audit && w.lock ? (w.lock === 'update' ? st.lock.get() : st.read.get()) : null;
      st.record.run(id, now, now, actor, actor, `Order ${id.slice(0, 8)}`, `Customer ${seq % 977}`, `City ${seq % 31}`, `REF-${seq}`, seq % 100);
      if (!audit) return;
      seq = head ? Number(head.seq) + 1 : seq + 1;
      if (w.key === 'row') st.key.run(`x:${id}`, `sealed:v1:${randomBytes(60).toString('base64url')}`, now);
      const salt = w.key === 'salt' ? `v2.${randomBytes(16).toString('base64url')}` : null;
      const row = [seq, now, 'change', 'x', id, 'create', actor, 'writer', null, '127.0.0.1', 'autocannon', randomUUID(), data(), salt];
      st.log.run(...row, ...(v.chain === 'column' ? [full ? null : hex()] : []));
      if (w.chain === 'row') st.chain.run(seq, 'change', now, hex(), hex());
      if (w.lock) st.head.run(seq, hex());
    };
    db.exec('begin');
    for (let i = 0; i < prefill; i++) create(true, true);
    db.exec('commit');
    if (!v.lock) seq = Number(st.read.get().seq);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < txns; i++) {
      st.begin.run();
      create(v.audit, false);
      st.commit.run();
      if (i % 200 === 199) db.pragma('wal_checkpoint(PASSIVE)');
    }
    const cpu = process.cpuUsage(cpu0);
    const wall = Number(process.hrtime.bigint() - t0) / 1000;
    db.close();
    process.stdout.write(`${JSON.stringify({ variant: name, cpuUs: (cpu.user + cpu.system) / txns, wallUs: wall / txns })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main() {
  const ROUNDS = intEnv('BENCH_ROUNDS', 3, 1, 9);
  const TXNS = intEnv('BENCH_TXNS', 10_000, 100, 1_000_000);
  const PREFILL = intEnv('BENCH_PREFILL', 50_000, 0, 5_000_000);
  const names = (process.env.BENCH_VARIANTS || Object.keys(VARIANTS).join(',')).split(',').map((s) => s.trim());
  for (const n of names) if (!VARIANTS[n]) throw new Error(`unknown variant ${n}; known: ${Object.keys(VARIANTS).join(', ')}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-audit-storage-'));
  try {
    execFileSync(process.execPath, [MAIN, 'migrate'], {
      env: { PATH: process.env.PATH, DATA_DIR: dir, APP_KEY: randomBytes(32).toString('base64url') },
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 120_000,
    });
    const source = path.join(dir, 'palisade.db');
    const got = new Map(names.map((n) => [n, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? names : [...names].reverse();
      for (const n of order) {
        const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--one', n, source, String(TXNS), String(PREFILL)], {
          encoding: 'utf8',
          timeout: 600_000,
        });
        if (r.status !== 0) throw new Error(`variant ${n}: exit ${r.status ?? r.signal}\n${r.stderr}`);
        const m = JSON.parse(r.stdout.trim().split('\n').pop());
        got.get(n).push(m);
        process.stderr.write(`round ${round + 1}/${ROUNDS} ${n}: ${m.cpuUs.toFixed(1)} µs CPU, ${m.wallUs.toFixed(1)} µs wall a transaction\n`);
      }
    }
    const off = got.has('off') ? median(got.get('off').map((m) => m.cpuUs)) : null;
    console.log(`\n${TXNS} transactions a round, ${ROUNDS} round(s), ${PREFILL} records before; medians\n`);
    console.log('| variant | CPU µs / transaction | wall µs / transaction | CPU beyond `off` | per round (CPU µs) |');
    console.log('|---|---:|---:|---:|---|');
    for (const [n, ms] of got) {
      const cpu = median(ms.map((m) => m.cpuUs));
      const beyond = off === null ? '' : (cpu - off).toFixed(1);
      console.log(`| ${n} | ${cpu.toFixed(1)} | ${median(ms.map((m) => m.wallUs)).toFixed(1)} | ${beyond} | ${ms.map((m) => m.cpuUs.toFixed(0)).join(', ')} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--one') one(process.argv[3], process.argv[4], Number(process.argv[5]), Number(process.argv[6]));
else main();
