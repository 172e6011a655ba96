import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../index.js';

export function migration(dialect: Dialect): Migration {
  const big = 'bigint' as const;
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('email', 'text', (c) => c.unique())
        .addColumn('password_hash', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .addColumn('password_changed_at', big)
        .execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('remember', 'integer', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big, (c) => c.notNull())
        .addColumn('last_seen_at', big, (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('user_agent', 'text', (c) => c.notNull())
        .addColumn('revoked_at', big)
        .addColumn('revoked_reason', 'text')
        .execute();
      await db.schema.createIndex('sessions_user_idx').on('sessions').column('user_id').execute();
      await db.schema
        .createTable('token_renewals')
        .addColumn('jti', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('new_jti', 'text', (c) => c.notNull())
        .addColumn('new_iat', big, (c) => c.notNull())
        .addColumn('new_exp', big, (c) => c.notNull())
        .addColumn('kid', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('retired_at', big)
        .execute();
      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .addColumn('updated_by', 'text')
        .execute();
      await db.schema
        .createTable('security_events')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('at', big, (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text')
        .addColumn('actor_name', 'text')
        .addColumn('subject_id', 'text')
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('request_id', 'text')
        .addColumn('details', 'text')
        .execute();
      await db.schema.createIndex('security_events_at_idx').on('security_events').column('at').execute();
      await db.schema.createIndex('security_events_type_idx').on('security_events').columns(['type', 'at']).execute();
      // The security event log is append-only at the database level too.
      if (dialect === 'postgres') {
        await sql`CREATE FUNCTION security_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'security_events is append-only'; END $$`.execute(db);
        await sql`CREATE TRIGGER security_events_no_change BEFORE UPDATE OR DELETE ON security_events
          FOR EACH ROW EXECUTE FUNCTION security_events_append_only()`.execute(db);
      } else {
        await sql`CREATE TRIGGER security_events_no_update BEFORE UPDATE ON security_events
          BEGIN SELECT RAISE(ABORT, 'security_events is append-only'); END`.execute(db);
        await sql`CREATE TRIGGER security_events_no_delete BEFORE DELETE ON security_events
          BEGIN SELECT RAISE(ABORT, 'security_events is append-only'); END`.execute(db);
      }
    },
  };
}
