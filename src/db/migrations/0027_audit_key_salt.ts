import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../index.js';

/**
 * Issue 13, D459: a record's audit key is derived from APP_KEY and a random salt, and the salt is kept in the record's
 * first change entry (`audit_log.key_salt`, outside the chain's digest) instead of a sealed key in a row of its own
 * (`audit_subject_keys`, which keeps the keys written before this and those retention or a replacement moved there).
 *
 * `audit_log` stays append-only but for one change: an erasure (inside the window its transaction opened in
 * `audit_prune`) sets `key_salt` to null. Every other update is refused, as before.
 */
const AUDIT_LOG_CONTENT_COLUMNS = [
  'seq',
  'at',
  'kind',
  'collection',
  'record_id',
  'operation',
  'actor_id',
  'actor_name',
  'via',
  'ip',
  'user_agent',
  'request_id',
  'data',
] as const;

export function migration(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('audit_log').addColumn('key_salt', 'text').execute();
      if (dialect === 'postgres') {
        // Compares whole rows but the salt: a column added later is covered without changing this.
        await sql`CREATE FUNCTION audit_log_erase_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF NEW.key_salt IS NULL AND (to_jsonb(NEW) - 'key_salt') = (to_jsonb(OLD) - 'key_salt')
              AND EXISTS (SELECT 1 FROM audit_prune p WHERE p.kind = 'erase') THEN RETURN NEW; END IF;
            RAISE EXCEPTION 'audit_log is append-only';
          END $$`.execute(db);
        await sql`DROP TRIGGER audit_log_no_update ON audit_log`.execute(db);
        await sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
          FOR EACH ROW EXECUTE FUNCTION audit_log_erase_only()`.execute(db);
        return;
      }
      // SQLite: the same rule, column by column. A trigger `BEFORE UPDATE OF <columns>` would miss `rowid`, `_rowid_` and
      // `oid`, other names of `seq`. test/audit/audit-key-salt.test.ts updates every column the table has, and those.
      const same = AUDIT_LOG_CONTENT_COLUMNS.map((c) => `NEW.${c} IS NOT OLD.${c}`).join(' OR ');
      await sql`DROP TRIGGER audit_log_no_update`.execute(db);
      await sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        WHEN NEW.key_salt IS NOT NULL OR NOT EXISTS (SELECT 1 FROM audit_prune p WHERE p.kind = 'erase') OR ${sql.raw(same)}
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`.execute(db);
    },
  };
}
