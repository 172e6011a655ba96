import type { Dialect, Driver } from 'kysely';

/**
 * The two wrappers of Kysely's driver (`outage.ts`, `sqlite-wait.ts`) change a few of its calls and pass the
 * rest through: these say which, once.
 */

/** `dialect` with its driver replaced by `driver(dialect's own)`. */
export function withDriver(dialect: Dialect, driver: (inner: Driver) => Driver): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createDriver: () => driver(dialect.createDriver()),
  };
}

/** `driver` with the calls in `over` replaced; every other call, savepoints included, goes to `driver`. */
export function overDriver(driver: Driver, over: Partial<Driver>): Driver {
  const d: Driver = {
    init: () => driver.init(),
    acquireConnection: () => driver.acquireConnection(),
    beginTransaction: (c, settings) => driver.beginTransaction(c, settings),
    commitTransaction: (c) => driver.commitTransaction(c),
    rollbackTransaction: (c) => driver.rollbackTransaction(c),
    releaseConnection: (c) => driver.releaseConnection(c),
    destroy: () => driver.destroy(),
    ...over,
  };
  if (driver.savepoint) d.savepoint = driver.savepoint.bind(driver);
  if (driver.rollbackToSavepoint) d.rollbackToSavepoint = driver.rollbackToSavepoint.bind(driver);
  if (driver.releaseSavepoint) d.releaseSavepoint = driver.releaseSavepoint.bind(driver);
  return d;
}
