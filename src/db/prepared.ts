/**
 * Statements that PostgreSQL keeps prepared on each connection (issue 14, D449): the fixed lookups every request makes
 * (`compiledOnce`). node-postgres parses a statement again at every run unless the query names it; a named one is
 * parsed and planned once per connection, then only bound and run. Only texts registered here are named, so the set
 * is bounded by the code, not by the requests; each text gets the next number of this process (connections belong to
 * one process), so two texts never share a name.
 */
const names = new Map<string, string>();

export function keepPrepared(text: string): void {
  if (!names.has(text)) names.set(text, `palisade_${names.size + 1}`);
}

/** Failures of a prepared statement on one connection after which its text runs unnamed there. */
const GIVE_UP_AFTER = 3;

/**
 * A prepared statement the server no longer runs: its result changed type under it (a column's type altered since it
 * was prepared), or the server side does not have it (a pooler in transaction mode that does not carry prepared
 * statements). The same query unnamed is always valid.
 */
function stale(e: unknown): boolean {
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
  return code === '26000' || (code === '0A000' && typeof message === 'string' && message.includes('cached plan must not change result type'));
}

interface Queryable {
  query: (...args: never[]) => unknown;
}

/**
 * Makes a pool client run the registered texts as named statements; every other query passes unchanged. A named
 * statement the server refuses as stale runs again unnamed at once, and is prepared afresh under a new name at its
 * next use; after GIVE_UP_AFTER such refusals it stays unnamed on this connection.
 */
export function preparing(client: Queryable): void {
  const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
  const refused = new Map<string, number>();
  client.query = ((...args: unknown[]) => {
    const [text, values] = args;
    if (args.length === 2 && typeof text === 'string' && Array.isArray(values)) {
      const name = names.get(text);
      const failures = refused.get(text) ?? 0;
      if (name !== undefined && failures < GIVE_UP_AFTER) {
        return query({ name: failures === 0 ? name : `${name}_${failures}`, text, values }).catch((e: unknown) => {
          if (!stale(e)) throw e;
          refused.set(text, failures + 1);
          return query(text, values);
        });
      }
    }
    return query(...args);
  }) as Queryable['query'];
}
