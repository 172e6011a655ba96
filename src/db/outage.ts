import type { DatabaseConnection, Dialect, Driver, QueryResult, CompiledQuery } from 'kysely';
import { AppError } from '../errors.js';
import { CircuitBreaker } from '../util/circuit-breaker.js';
import { isConnectionFailure, outageOf } from './errors.js';
import { overDriver, withDriver } from './driver-wrap.js';

/**
 * Failing dependencies (issue 9): the storage-health flag behind /readyz, and the guards that make a
 * dead PostgreSQL answer fast. Which errors are outages is decided in ./errors.ts.
 */

/**
 * Whether the database can write. Set when any statement fails with a storage error (full disk,
 * read-only file or database, I/O error), and remembered for `memoryMs`: /readyz reports it even
 * when its own small probe write passes, since small writes may fit where bigger ones fail.
 * It is not cleared by a later successful write for the same reason; it expires, so that an
 * instance taken out of rotation comes back once the disk has room and the probe passes.
 */
export class StorageHealth {
  private failure: { code: string; at: number } | null = null;
  constructor(private readonly memoryMs = 5_000) {}

  noteFailure(code: string): void {
    this.failure = { code, at: Date.now() };
  }

  /** The storage error code of a write that failed in the last `memoryMs`, or null. */
  recentFailure(): string | null {
    if (this.failure && Date.now() - this.failure.at < this.memoryMs) return this.failure.code;
    return null;
  }
}

/**
 * Wraps a Kysely dialect so that every statement's storage failure reaches `health`, and a rollback after the database already rolled back (SQLite does so itself on
 * SQLITE_FULL and SQLITE_IOERR) or after the connection died does not hide the original error.
 */
export function observedDialect(dialect: Dialect, health: StorageHealth, sqliteInTransaction?: () => boolean): Dialect {
  return withDriver(dialect, (driver) => observedDriver(driver, health, sqliteInTransaction));
}

/** The most values one statement may bind: under SQLite's 32 766 and PostgreSQL's 65 535. */
export const MAX_PARAMETERS = 30_000;

function observedDriver(driver: Driver, health: StorageHealth, sqliteInTransaction?: () => boolean): Driver {
  const wrap = (conn: DatabaseConnection): DatabaseConnection => {
    // Kysely's `log` option (the SQL log) replaces executeQuery on the connection it is given with one
    // that calls the one it read: kept here, so that it wraps this proxy's and does not call itself.
    const replaced = new Map<PropertyKey, unknown>();
    const proxy: DatabaseConnection = new Proxy(conn, {
      set(_target, prop, value) {
        replaced.set(prop, value);
        return true;
      },
      get(target, prop) {
        if (replaced.has(prop)) return replaced.get(prop);
        if (prop === 'executeQuery') {
          return async (q: CompiledQuery): Promise<QueryResult<unknown>> => {
            // Past what either database binds: SQLite would refuse it as an error like any bug, and node-postgres
            // would send a count that overflows (a protocol violation, read as a connection failure) (D466).
            if (q.parameters.length > MAX_PARAMETERS) throw new AppError('QUERY_TOO_LARGE', undefined, `${q.parameters.length} parameters`);
            try {
              return await target.executeQuery(q);
            } catch (e) {
              const o = outageOf(e);
              if (o?.code === 'STORAGE_UNAVAILABLE') health.noteFailure(o.reason);
              throw e;
            }
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    return proxy;
  };
  // One proxy per underlying connection.
  const proxies = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const proxyOf = (conn: DatabaseConnection): DatabaseConnection => {
    let p = proxies.get(conn);
    if (!p) {
      p = wrap(conn);
      proxies.set(conn, p);
    }
    return p;
  };
  return overDriver(driver, {
    acquireConnection: async () => proxyOf(await driver.acquireConnection()),
    rollbackTransaction: async (c: DatabaseConnection) => {
      if (sqliteInTransaction && !sqliteInTransaction()) return; // SQLite already rolled back
      try {
        await driver.rollbackTransaction(c);
      } catch (e) {
        if (outageOf(e)?.code !== 'SERVICE_UNAVAILABLE') throw e; // the connection died: so did the transaction
      }
    },
  });
}

/** The pool shape Kysely's PostgresDialect needs. */
interface PoolLike<C> {
  connect(): Promise<C>;
  end(): Promise<void>;
}

/**
 * A PostgreSQL pool behind a circuit breaker: once connections have failed twice in a row, a
 * request fails at once (503) for a second instead of waiting for its own connection timeout;
 * then one attempt goes through, and a success closes the breaker.
 */
export function guardedPool<C>(pool: PoolLike<C>, breaker = new CircuitBreaker({ threshold: 2, cooldownMs: 1000 })): PoolLike<C> {
  return {
    connect: () => breaker.run(() => pool.connect(), isConnectionFailure),
    end: () => pool.end(),
  };
}
