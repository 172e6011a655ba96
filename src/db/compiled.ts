import { randomUUID } from 'node:crypto';
import { PostgresAdapter, createQueryId, type Compilable, type CompiledQuery } from 'kysely';
import type { Db } from './index.js';
import { keepPrepared } from './prepared.js';

/**
 * A statement built and compiled once, then run with its one value bound: for the lookups every request makes (the
 * session, the API key), where Kysely's building was about a tenth of a secured read (issue 14). `build` gets a marker
 * in place of the value; the marker must be the compiled query's only parameter and absent from its text, or the
 * first run throws. The SQL text never changes, so the value stays a bound parameter. On PostgreSQL the statement
 * is kept prepared on each connection (`keepPrepared`).
 */
export function compiledOnce<R>(db: Db, build: (value: string) => Compilable<R>): (value: string) => Promise<R | undefined> {
  let compiled: CompiledQuery<R> | undefined;
  return async (value) => {
    if (!compiled) {
      const marker = `compiled-once:${randomUUID()}`;
      const query = build(marker).compile();
      if (query.parameters.length !== 1 || query.parameters[0] !== marker || query.sql.includes(marker))
        throw new Error('compiledOnce: the value must be the query’s one parameter');
      if (db.getExecutor().adapter instanceof PostgresAdapter) keepPrepared(query.sql);
      compiled = query;
    }
    if (typeof value !== 'string') throw new TypeError('compiledOnce: the value must be a string');
    // A fresh query id per run, as Kysely gives each execution (a plugin may keep state per id).
    return (await db.executeQuery<R>({ ...compiled, parameters: [value], queryId: createQueryId() })).rows[0];
  };
}
