// Preloaded into the server by bench/records.mjs (`node --import <this file> dist/cli/main.js start`)
// to see the SQL that the server really runs for a request, without changing the product.
//
// Active only when BENCH_SQL_TRACE names a file. It wraps better-sqlite3's Statement#all, #get, #run
// and #iterate, so each call is one statement run (the server keeps prepared statements, so prepares
// are not runs):
//   - the first SIGUSR2 starts recording: every SQL text run, how often, and the parameters of its
//     first read;
//   - the second SIGUSR2 stops recording, puts the original methods back (so nothing of this stays
//     on the measured path) and writes { state: 'done', prepared, statements } to the file.
// Each step also writes the file, so the bench knows when a signal has been handled.

import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const out = process.env.BENCH_SQL_TRACE;
if (out) {
  const require = createRequire(import.meta.url);
  const Database = require('@rocicorp/zero-sqlite3');
  // Statements are counted where they run, not where they are prepared: the server keeps prepared
  // statements (src/db/index.ts), so one prepare can serve many runs.
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1'));
  probe.close();
  const originals = Object.fromEntries(['all', 'get', 'run', 'iterate'].map((m) => [m, proto[m]]));
  let state = 'idle';
  let prepared = 0;
  const statements = new Map();
  for (const [m, original] of Object.entries(originals)) {
    proto[m] = function traced(...args) {
      if (state === 'recording') {
        prepared += 1;
        let e = statements.get(this.source);
        if (!e) {
          e = { sql: this.source, count: 0, params: null };
          statements.set(this.source, e);
        }
        e.count += 1;
        if (this.reader && e.params === null) e.params = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
      }
      return original.apply(this, args);
    };
  }

  writeFileSync(out, JSON.stringify({ state }));
  process.on('SIGUSR2', () => {
    if (state === 'idle') {
      state = 'recording';
      writeFileSync(out, JSON.stringify({ state }));
    } else if (state === 'recording') {
      state = 'done';
      Object.assign(proto, originals);
      writeFileSync(out, JSON.stringify({ state, prepared, statements: [...statements.values()] }));
    }
  });
}
