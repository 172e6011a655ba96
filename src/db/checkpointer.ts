/**
 * SQLite's WAL checkpoints off the event loop. By default the connection that commits the
 * transaction crossing `wal_autocheckpoint` pages copies the whole log back into the database file
 * inside that commit: one request in a few hundred pays for every write before it, and an audited
 * write, whose commit dirties more pages, pays more often (about 40 % of its commit, measured). A
 * second connection in a worker thread runs PASSIVE checkpoints instead (SQLite's advice for
 * applications: PASSIVE never blocks a writer or a reader); the main connection's automatic
 * checkpoint stays on at a higher threshold, so the log stays bounded if the worker stops (D363).
 * The thread costs about 50 ms of CPU to start: it starts once the log first holds more than
 * `START_BYTES` (a database that is seldom written, or a test's, never pays for it).
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

export interface Checkpointer {
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
} catch { db = null; }
const tick = () => { try { db && db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or gone: the next tick */ } };
const timer = db ? setInterval(tick, workerData.interval) : null;
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  if (timer) clearInterval(timer);
  try { db && db.close(); } catch {}
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
}
const TIMING: CheckpointTiming = { startBytes: START_BYTES, watchMs: WATCH_MS, intervalMs: INTERVAL_MS };

/** Checkpoints the WAL-mode database at `file` from a worker thread, once its log has grown past `startBytes`. */
export function checkpointInBackground(file: string, timing: CheckpointTiming = TIMING): Checkpointer {
  let worker: Checkpointer | null = null;
  const watch = setInterval(() => {
    let size = 0;
    try {
      size = statSync(`${file}-wal`).size;
    } catch {
      return;
    }
    if (size < timing.startBytes) return;
    clearInterval(watch);
    worker = startCheckpointer(file, timing.intervalMs);
  }, timing.watchMs);
  watch.unref();
  return {
    async stop() {
      clearInterval(watch);
      await worker?.stop();
    },
  };
}

/** Starts the checkpointing thread for the WAL-mode database at `file`. */
function startCheckpointer(file: string, intervalMs: number): Checkpointer {
  const module = createRequire(import.meta.url).resolve('@rocicorp/zero-sqlite3');
  const worker = new Worker(SOURCE, { eval: true, workerData: { file, module, interval: intervalMs } });
  worker.on('error', () => {
    /* the backstop threshold keeps the log bounded */
  });
  worker.unref();
  let exited = false;
  worker.once('exit', () => {
    exited = true;
  });
  let stopped: Promise<void> | null = null;
  return {
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
