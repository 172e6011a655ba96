import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../index.js';
import { CREDENTIALS_CHANNEL } from '../change-feed.js';

/** The tables a credential's lookup reads (`src/auth/account-row.ts`): a change to any is a change to some kept row. */
export const CREDENTIAL_TABLES = ['sessions', 'api_keys', 'users', 'account_locks', 'state_stamps'] as const;

/**
 * Issue 14, D453: on PostgreSQL every change to a table a credential's lookup reads notifies `palisade_credentials` in
 * the transaction of the change, so that an instance keeping credential rows learns of it when it commits, whoever
 * wrote it (another instance, the CLI, an operator's SQL). Row triggers, so that a statement that changes no row
 * notifies nothing; a statement trigger for TRUNCATE, which has no rows. NOTIFY folds the notices of one
 * transaction into one. SQLite needs none: its change mark moves with every row of the file (D450).
 */
export function migration(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<any>) {
      if (dialect !== 'postgres') return;
      await sql`CREATE FUNCTION credentials_changed() RETURNS trigger LANGUAGE plpgsql AS ${sql.lit(
        `BEGIN PERFORM pg_notify('${CREDENTIALS_CHANNEL}', TG_TABLE_SCHEMA); RETURN NULL; END`,
      )}`.execute(db);
      for (const t of CREDENTIAL_TABLES) {
        await sql`CREATE TRIGGER ${sql.raw(`${t}_notify`)} AFTER INSERT OR UPDATE OR DELETE ON ${sql.raw(t)}
          FOR EACH ROW EXECUTE FUNCTION credentials_changed()`.execute(db);
        await sql`CREATE TRIGGER ${sql.raw(`${t}_notify_truncate`)} AFTER TRUNCATE ON ${sql.raw(t)}
          FOR EACH STATEMENT EXECUTE FUNCTION credentials_changed()`.execute(db);
      }
    },
  };
}
