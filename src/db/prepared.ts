import { createHash } from 'node:crypto';

/**
 * Statements that PostgreSQL keeps prepared on each connection (issue 14): the fixed lookups every request makes
 * (`compiledOnce`). node-postgres parses a statement again at every run unless the query names it; a named one is
 * parsed and planned once per connection, then only bound and run. Only texts registered here are named, so the set
 * is bounded by the code, not by the requests; the name is a digest of the text, so two texts never share one.
 */
const names = new Map<string, string>();

export function keepPrepared(text: string): void {
  if (!names.has(text)) names.set(text, `palisade_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`);
}

interface Queryable {
  query: (...args: never[]) => unknown;
}

/** Makes a pool client run the registered texts as named statements; every other query passes unchanged. */
export function preparing(client: Queryable): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => {
    const [text, values] = args;
    if (args.length === 2 && typeof text === 'string' && Array.isArray(values)) {
      const name = names.get(text);
      if (name !== undefined) return query({ name, text, values });
    }
    return query(...args);
  }) as Queryable['query'];
}
