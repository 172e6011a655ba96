import { randomUUID } from 'node:crypto';
import type { Compilable, CompiledQuery } from 'kysely';
import type { Db } from './index.js';

/**
 * A statement built and compiled once, then run with its one value replaced: for the lookups every request makes (the
 * session, the API key), where Kysely's building was about a tenth of a secured read (issue 14). `build` gets a marker
 * in place of the value; the marker must be the compiled query's one parameter, or the first run throws. The SQL
 * text never changes, so the value stays a bound parameter.
 */
export function compiledOnce<R>(db: Db, build: (value: string) => Compilable<R>): (value: string) => Promise<R | undefined> {
  let compiled: { query: CompiledQuery<R>; at: number } | undefined;
  return async (value) => {
    if (!compiled) {
      const marker = `compiled-once:${randomUUID()}`;
      const query = build(marker).compile();
      const at = query.parameters.indexOf(marker);
      if (at < 0 || query.parameters.lastIndexOf(marker) !== at || query.parameters.length !== 1)
        throw new Error('compiledOnce: the value must be the query’s one parameter');
      compiled = { query, at };
    }
    const parameters = [...compiled.query.parameters];
    parameters[compiled.at] = value;
    return (await db.executeQuery<R>({ ...compiled.query, parameters })).rows[0];
  };
}
