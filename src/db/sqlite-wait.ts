/**
 * SQLite's lock waits, off the event loop (D383). SQLite's own busy timeout sleeps inside the call: while
 * another process (a CLI command, a second instance on the same file) holds the write lock, the whole
 * server stood still for up to its 5 s, and two instances in one process (the tests') could not
 * go on at all: the holder was frozen by the waiter. Here the connection's busy timeout is 0 and a
 * statement refused with SQLITE_BUSY is tried again after an asynchronous pause, up to `WAIT_MS`, then
 * refused as before (503 SERVICE_UNAVAILABLE).
 *
 * Only statements that had no effect are tried again: a transaction's start, and statements outside a
 * transaction. A transaction starts with BEGIN IMMEDIATE, which takes the write lock at once, so no
 * statement inside it waits for a lock (a deferred transaction that reads first may find, at its first
 * write, that another connection committed since: SQLITE_BUSY_SNAPSHOT, which no wait cures).
 */
import { CompiledQuery, type DatabaseConnection, type Dialect, type Driver, type QueryResult, type TransactionSettings } from 'kysely';
import { overDriver, withDriver } from './driver-wrap.js';

/** How long a statement waits for a lock in all, as SQLite's busy timeout did. */
export const WAIT_MS = 5000;
const MAX_PAUSE_MS = 50;

const isBusy = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY') && code !== 'SQLITE_BUSY_SNAPSHOT';
};

/** Runs `fn` until it is not refused for a lock, pausing 1, 2, 4 … 50 ms between tries, for at most `WAIT_MS`. */
async function patiently<T>(fn: () => Promise<T>): Promise<T> {
  const until = Date.now() + WAIT_MS;
  let pause = 1;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!isBusy(e) || Date.now() + pause > until) throw e;
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, MAX_PAUSE_MS);
    }
  }
}

/** `dialect` (Kysely's SQLite dialect) whose lock waits are asynchronous; `inTransaction` reads the connection's state. */
export function waitingDialect(dialect: Dialect, inTransaction: () => boolean): Dialect {
  return withDriver(dialect, (driver) => waitingDriver(driver, inTransaction));
}

function waitingDriver(driver: Driver, inTransaction: () => boolean): Driver {
  const wrapped = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const wrap = (c: DatabaseConnection): DatabaseConnection => {
    let w = wrapped.get(c);
    if (!w) {
      w = {
        executeQuery: <R>(q: CompiledQuery): Promise<QueryResult<R>> => (inTransaction() ? c.executeQuery<R>(q) : patiently(() => c.executeQuery<R>(q))),
        streamQuery: <R>(q: CompiledQuery, chunkSize?: number) => c.streamQuery<R>(q, chunkSize),
      };
      wrapped.set(c, w);
    }
    return w;
  };
  return overDriver(driver, {
    acquireConnection: async () => wrap(await driver.acquireConnection()),
    // `c` is this driver's connection (or a wrapper of it): outside a transaction, its statements already wait.
    beginTransaction: async (c: DatabaseConnection, _settings: TransactionSettings) => {
      await c.executeQuery(CompiledQuery.raw('begin immediate'));
    },
  });
}
