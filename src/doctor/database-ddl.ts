import { sql } from 'kysely';
import type { Db } from '../db/index.js';

/** What the requests' role may do to the schema's structure (PostgreSQL only: SQLite has no roles). */
export interface DdlRights {
  role: string;
  schema: string;
  ownsSchema: boolean;
  createInSchema: boolean;
  /** Tables of the schema the role owns, or a role it belongs to owns: it may alter or drop them. */
  ownedTables: number;
}

/**
 * Reads whether the connection's role could create, alter or drop tables in its schema (ASVS V13.2.2, D376):
 * it owns the schema (or is a member of its owner), holds CREATE on it, or owns some of its tables. Null when the
 * connection has no current schema.
 */
export async function ddlRights(db: Db): Promise<DdlRights | null> {
  const row = (
    await sql<{ role: string; schema: string; owns_schema: boolean; create_in_schema: boolean; owned_tables: number | string }>`
      select current_user as role, n.nspname as schema,
        pg_has_role(current_user, n.nspowner, 'MEMBER') as owns_schema,
        has_schema_privilege(current_user, n.oid, 'CREATE') as create_in_schema,
        (select count(*) from pg_class c where c.relnamespace = n.oid and c.relkind in ('r', 'p')
          and pg_has_role(current_user, c.relowner, 'MEMBER')) as owned_tables
      from pg_namespace n where n.nspname = current_schema()`.execute(db)
  ).rows[0];
  if (!row) return null;
  return {
    role: row.role,
    schema: row.schema,
    ownsSchema: row.owns_schema,
    createInSchema: row.create_in_schema,
    ownedTables: Number(row.owned_tables),
  };
}

/** The check's outcome from the rights read; `split`: DATABASE_MIGRATION_URL is set. */
export function ddlVerdict(r: DdlRights, split: boolean): { status: 'pass' | 'warn'; detail: string; fix: string } {
  const can = [
    ...(r.ownsSchema ? [`owns the schema "${r.schema}"`] : []),
    ...(r.createInSchema && !r.ownsSchema ? [`has CREATE on the schema "${r.schema}"`] : []),
    ...(r.ownedTables > 0 ? [`owns ${r.ownedTables} of its tables`] : []),
  ];
  if (can.length === 0)
    return { status: 'pass', detail: `"${r.role}" reads and writes the rows of "${r.schema}" but cannot create, alter or drop its tables`, fix: '' };
  return {
    status: 'warn',
    detail: `the requests' role "${r.role}" ${can.join(' and ')}: a flaw that reaches SQL could create, alter or drop tables`,
    fix: split
      ? `Give DATABASE_URL a role without those rights: \`palisade db grants --role <role>\` prints the statements (docs/database.md).`
      : 'Set DATABASE_MIGRATION_URL to the owner role and DATABASE_URL to a data-only role: `palisade db grants --role <role>` prints the statements (docs/database.md).',
  };
}
