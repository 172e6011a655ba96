/**
 * SQLite's WAL checkpoints off the event loop. By default the connection that commits the
 * transaction crossing `wal_autocheckpoint` pages copies the whole log back into the database file
 * inside that commit: one request in a few hundred pays for every write before it, and an audited
 * write, whose commit dirties more pages, pays more often (about 40 % of its commit, measured). A
 * second connection in a worker thread runs PASSIVE checkpoints instead (SQLite's advice for
 * applications: PASSIVE never blocks a writer or a reader); the main connection's automatic
 * checkpoint stays on at a higher threshold, so the log stays bounded if the worker stops (D363).
 * The thread costs about 50 ms of CPU to start: it starts once the log first holds more than
 * `START_BYTES` (a database that is seldom written, or a test's, never pays for it). A thread that ends unasked is
 * replaced, by the next scrub at once or else after a pause that doubles with each loss (one second up to a minute),
 * and its replacement first empties the log, in case a scrub was owed when it went.
 */
import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

/** Pages the log may hold before the main connection checkpoints itself (the worker's backstop). */
export const BACKSTOP_PAGES = 10_000;
/** How often the worker checkpoints. */
const INTERVAL_MS = 250;
/** The log's size at which the worker starts (about 1 000 pages, SQLite's own default threshold), looked at every second. */
const START_BYTES = 4 * 1024 * 1024;
const WATCH_MS = 1000;
/** The pause before a lost thread is replaced, doubled with each loss up to the longest. */
const RESTART_MS = 1000;
const RESTART_MAX_MS = 60_000;

export interface Checkpointer {
  /**
   * Copies the whole log into the database file and empties the log (`wal_checkpoint(TRUNCATE)`, retried every 20 ms
   * while a reader or a writer is in the way, for at most `withinMs`): the pages that a deletion or an overwrite
   * replaced are then gone from the log too (D458). Starts the thread if it has not started. True once done; false
   * past `withinMs`, and then every later tick of the thread tries again until the log is emptied.
   */
  scrub(withinMs: number): Promise<boolean>;
  /** Closes the worker's connection and ends the thread (at most about a second). */
  stop(): Promise<void>;
}

// Plain CommonJS run by `eval`: the worker needs no file of its own, under tsx or from dist alike.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const SQLite = require(workerData.module);
let db = null;
try {
  db = new SQLite(workerData.file, { fileMustExist: true });
  db.pragma('busy_timeout = 0');
} catch { process.exit(1); } // a connection that cannot open: the thread ends, and is replaced after a pause
// Busy or locked is the moment's; anything else (an I/O error, a corrupt or vanished file) ends the thread, which is
// replaced with a connection of its own.
const fatal = (e) => !/^SQLITE_(BUSY|LOCKED)/.test(String(e && e.code));
// A scrub not done in its time is still owed: every tick tries to empty the log until one does. A thread replacing
// one that ended unasked starts owing one: it cannot know what its predecessor owed.
let owed = workerData.owed === true;
const truncate = () => {
  try { const r = db && db.pragma('wal_checkpoint(TRUNCATE)'); return Array.isArray(r) && r.length > 0 && r[0].busy === 0; } catch (e) { if (fatal(e)) process.exit(1); return false; }
};
const tick = () => {
  if (owed) { owed = !truncate(); return; }
  try { db && db.pragma('wal_checkpoint(PASSIVE)'); } catch (e) { if (fatal(e)) process.exit(1); /* busy: the next tick */ }
};
const timer = db ? setInterval(tick, workerData.interval) : null;
const scrub = (id, until) => {
  const ok = truncate();
  if (ok) owed = false;
  if (ok || Date.now() >= until || !db) {
    if (!ok && db) owed = true;
    parentPort.postMessage({ scrubbed: id, ok });
  } else setTimeout(() => scrub(id, until), 20);
};
parentPort.on('message', (m) => {
  if (m && typeof m === 'object' && typeof m.scrub === 'number') return scrub(m.scrub, Date.now() + m.within);
  if (m !== 'stop') return;
  if (timer) clearInterval(timer);
  // A scrub still owed when the process ends (a CLI command's) is tried once more; past that the log's old pages go as
  // it is written over.
  if (owed) truncate();
  try { db && db.close(); } catch {}
  db = null;
  parentPort.close();
});
`;

export interface CheckpointTiming {
  /** The log's size at which the worker starts. */
  startBytes: number;
  /** How often the log's size is looked at until then. */
  watchMs: number;
  /** How often the worker checkpoints. */
  intervalMs: number;
  /** The first pause before a thread that ended unasked is replaced (doubled with each loss, up to a minute). */
  restartMs?: number;
  /** Code the thread runs before its own (tests only: a thread that ends as a real one might). */
  prelude?: string;
}
const TIMING: CheckpointTiming = { startBytes: START_BYTES, watchMs: WATCH_MS, intervalMs: INTERVAL_MS };

/** Checkpoints the WAL-mode database at `file` from a worker thread, once its log has grown past `startBytes`. */
export function checkpointInBackground(file: string, timing: CheckpointTiming = TIMING): Checkpointer {
  let worker: (Checkpointer & { ended(): boolean }) | null = null;
  let stopped = false;
  let losses = 0;
  let replace: NodeJS.Timeout | null = null;
  const start = () => {
    if (replace) clearTimeout(replace);
    replace = null;
    const owed = worker !== null; // a replacement
    const startedAt = Date.now();
    worker = startCheckpointer(file, timing, owed, () => {
      // Ended unasked (an error in the thread, or its connection's): replaced after a pause, so that a thread that
      // cannot live does not cost its start every moment. One that lived ten minutes starts the pauses over.
      if (stopped) return;
      if (Date.now() - startedAt > 600_000) losses = 0;
      const pause = Math.min((timing.restartMs ?? RESTART_MS) * 2 ** losses, RESTART_MAX_MS);
      losses += 1;
      replace = setTimeout(start, pause);
      replace.unref();
    });
  };
  const watch = setInterval(() => {
    let size = 0;
    try {
      size = statSync(`${file}-wal`).size;
    } catch {
      return;
    }
    if (size < timing.startBytes) return;
    clearInterval(watch);
    start();
  }, timing.watchMs);
  watch.unref();
  return {
    scrub(withinMs) {
      if (stopped) return Promise.resolve(false);
      clearInterval(watch);
      if (!worker || worker.ended()) start();
      return worker!.scrub(withinMs);
    },
    async stop() {
      stopped = true;
      clearInterval(watch);
      if (replace) clearTimeout(replace);
      await worker?.stop();
    },
  };
}

/**
 * Starts the checkpointing thread for the WAL-mode database at `file`; `owed`: it empties the log at its first tick.
 * `lost` is called when the thread ends without having been asked to stop.
 */
function startCheckpointer(file: string, timing: CheckpointTiming, owed: boolean, lost: () => void): Checkpointer & { ended(): boolean } {
  const module = createRequire(import.meta.url).resolve('@rocicorp/zero-sqlite3');
  const source = timing.prelude ? `${timing.prelude}\n${SOURCE}` : SOURCE;
  const worker = new Worker(source, { eval: true, workerData: { file, module, interval: timing.intervalMs, owed } });
  worker.on('error', () => {
    /* its exit follows: it is replaced (D465), and the backstop threshold keeps the log bounded meanwhile */
  });
  worker.unref();
  let exited = false;
  // Scrubs asked and not answered yet, by number: each settles with the worker's answer, or false when it ends.
  const waiting = new Map<number, (ok: boolean) => void>();
  let asked = 0;
  worker.on('message', (m: { scrubbed?: unknown; ok?: unknown }) => {
    const settle = typeof m?.scrubbed === 'number' ? waiting.get(m.scrubbed) : undefined;
    if (settle) settle(m.ok === true);
  });
  let stopped: Promise<void> | null = null;
  worker.once('exit', () => {
    exited = true;
    for (const settle of [...waiting.values()]) settle(false);
    if (!stopped) lost();
  });
  return {
    ended: () => exited,
    scrub(withinMs) {
      if (exited || stopped) return Promise.resolve(false);
      const id = ++asked;
      return new Promise<boolean>((resolve) => {
        // The thread keeps the process alive while a scrub waits (a CLI command's last step), and not a moment longer;
        // a thread that does not answer within a second more than it was given counts as a failed scrub.
        const backstop = setTimeout(() => settle(false), withinMs + 1000);
        const settle = (ok: boolean) => {
          clearTimeout(backstop);
          if (!waiting.delete(id)) return;
          if (waiting.size === 0) worker.unref();
          resolve(ok);
        };
        waiting.set(id, settle);
        worker.ref();
        worker.postMessage({ scrub: id, within: withinMs });
      });
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (exited) return resolve();
        const done = setTimeout(() => {
          void worker.terminate().then(() => resolve());
        }, 1000);
        worker.once('exit', () => {
          clearTimeout(done);
          resolve();
        });
        worker.postMessage('stop');
      });
      return stopped;
    },
  };
}
