import type { Kysely, Migration } from 'kysely';

/** Abuse defences (issue 5): shared counters and flags, account locks, IP rules. */
export function migration(): Migration {
  const big = 'bigint' as const;
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('shared_kv')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('count', big, (c) => c.notNull())
        .addColumn('value', 'text')
        .addColumn('expires_at', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('shared_kv_expires_idx').on('shared_kv').column('expires_at').execute();
      await db.schema
        .createTable('account_locks')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('locked_at', big, (c) => c.notNull())
        .addColumn('locked_until', big)
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('locked_by', 'text')
        .execute();
      await db.schema
        .createTable('ip_rules')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('cidr', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('note', 'text')
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .execute();
      await db.schema.createIndex('ip_rules_unique_idx').on('ip_rules').columns(['action', 'cidr', 'scope']).unique().execute();
    },
  };
}
