import { parse as parsePg } from 'pg-connection-string';

const IDENT = /^[a-z_][a-z0-9_$]{0,62}$/;

/** Words that name no role in a GRANT unless quoted (`TO public` would give every role the rights). */
const SPECIAL = new Set(['public', 'current_user', 'current_role', 'session_user', 'none', 'all']);

/** A role or schema name as SQL: plain lower-case names as they are, anything else (and the special words) double-quoted. */
const ident = (name: string): string => (IDENT.test(name) && !SPECIAL.has(name) ? name : `"${name.replaceAll('"', '""')}"`);

/** The user name a PostgreSQL URL connects as, or null when it names none (then libpq's default applies). */
export function roleOfUrl(url: string): string | null {
  try {
    return parsePg(url).user || null;
  } catch {
    return null;
  }
}

/**
 * The statements that make `role` a data-only role on `schema` (ASVS V13.2.2, D376): rows read and written,
 * sequences used, no CREATE on the schema, and the same rights on every table and sequence that `owner` (the role
 * of DATABASE_MIGRATION_URL, which runs migrations and schema changes) creates later. Run by `owner` or a
 * superuser; `palisade db grants` prints them.
 */
export function grantStatements(o: { schema: string; role: string; owner: string }): string[] {
  const s = ident(o.schema);
  const r = ident(o.role);
  const w = ident(o.owner);
  return [
    `REVOKE CREATE ON SCHEMA ${s} FROM PUBLIC;`,
    `REVOKE CREATE ON SCHEMA ${s} FROM ${r};`,
    `GRANT USAGE ON SCHEMA ${s} TO ${r};`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${r};`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${s} TO ${r};`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${w} IN SCHEMA ${s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${r};`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${w} IN SCHEMA ${s} GRANT USAGE, SELECT ON SEQUENCES TO ${r};`,
  ];
}
