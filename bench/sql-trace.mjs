// Preloaded into the server by bench/records.mjs (`node --import <this file> dist/cli/main.js start`)
// to see the SQL that the server really runs for a request, without changing the product.
//
// Active only when BENCH_SQL_TRACE names a file. It wraps better-sqlite3's Database#prepare (Kysely
// prepares every statement on every query, so each prepare is one statement run):
//   - the first SIGUSR2 starts recording: every prepared SQL text, how often, and the parameters of
//     its first run (through Statement#all, which Kysely uses for reads);
//   - the second SIGUSR2 stops recording, puts the original prepare back (so nothing of this stays
//     on the measured path) and writes { state: 'done', prepared, statements } to the file.
// Each step also writes the file, so the bench knows when a signal has been handled.

import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const out = process.env.BENCH_SQL_TRACE;
if (out) {
  const require = createRequire(import.meta.url);
  const Database = require('better-sqlite3');
  const original = Database.prototype.prepare;
  let state = 'idle';
  let prepared = 0;
  const statements = new Map();

  Database.prototype.prepare = function tracedPrepare(sql, ...rest) {
    const stmt = original.call(this, sql, ...rest);
    if (state !== 'recording') return stmt;
    prepared += 1;
    let e = statements.get(sql);
    if (!e) {
      e = { sql, count: 0, params: null };
      statements.set(sql, e);
    }
    e.count += 1;
    if (stmt.reader && e.params === null) {
      const all = stmt.all;
      stmt.all = function tracedAll(...args) {
        if (e.params === null) e.params = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
        return all.apply(this, args);
      };
    }
    return stmt;
  };

  writeFileSync(out, JSON.stringify({ state }));
  process.on('SIGUSR2', () => {
    if (state === 'idle') {
      state = 'recording';
      writeFileSync(out, JSON.stringify({ state }));
    } else if (state === 'recording') {
      state = 'done';
      Database.prototype.prepare = original;
      writeFileSync(out, JSON.stringify({ state, prepared, statements: [...statements.values()] }));
    }
  });
}
