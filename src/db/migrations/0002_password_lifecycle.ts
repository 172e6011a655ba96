import type { ColumnDefinitionBuilder, Kysely, Migration } from 'kysely';
import type { Dialect } from '../index.js';

/** Password lifecycle (issue 4, AUTH-7, AUTH-8): expiry flags, history, single-use links, forgot throttle. */
export function migration(dialect: Dialect): Migration {
  const big = 'bigint' as const;
  const serial = (c: ColumnDefinitionBuilder) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement());
  const idType = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('users')
        .addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('users')
        .addColumn('sso_only', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.alterTable('users').addColumn('password_reminded_at', big).execute();
      await db.schema
        .createTable('password_history')
        .addColumn('id', idType, serial)
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('password_history_user_idx').on('password_history').columns(['user_id', 'id']).execute();
      await db.schema
        .createTable('password_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('verifier_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big, (c) => c.notNull())
        .addColumn('used_at', big)
        .addColumn('revoked_at', big)
        .addColumn('created_by', 'text')
        .execute();
      await db.schema.createIndex('password_tokens_user_idx').on('password_tokens').columns(['user_id', 'created_at']).execute();
      await db.schema
        .createTable('password_reset_requests')
        .addColumn('id', idType, serial)
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('at', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('password_reset_requests_ip_idx').on('password_reset_requests').columns(['ip', 'at']).execute();
    },
  };
}
