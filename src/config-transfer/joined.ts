import type { Db } from '../db/index.js';

/**
 * A transaction that the services built on it join instead of opening their own: `transaction().execute(fn)`
 * runs `fn` in it. Kysely does not nest transactions, and each service (registry, access store, settings
 * store) opens its own; built on this handle, all of an import's changes and their events commit or roll back
 * together (D211). Everything else is the transaction itself, its methods bound to it.
 */
export function joinedTransaction(trx: Db): Db {
  if (!trx.isTransaction) throw new TypeError('joinedTransaction needs a transaction');
  const joined: Db = new Proxy(trx, {
    get(target, prop) {
      if (prop === 'transaction') {
        const builder = {
          execute: <T>(fn: (t: Db) => Promise<T>): Promise<T> => fn(joined),
          // An isolation level or access mode asked for inside is the outer transaction's.
          setIsolationLevel: () => builder,
          setAccessMode: () => builder,
        };
        return () => builder;
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return joined;
}
