import type { Kysely, Migration } from 'kysely';

/**
 * AUTH-12, IP as a factor: the addresses adaptive trust counts per user (IPv4 as it is, IPv6 by its
 * /64), with the successful full sign-ins from each within the current window (from `first_at`).
 */
export function migration(): Migration {
  const big = 'bigint' as const;
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('mfa_trusted_addresses')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('successes', 'integer', (c) => c.notNull())
        .addColumn('first_at', big, (c) => c.notNull())
        .addColumn('last_at', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('mfa_trusted_addresses_user_ip_idx').on('mfa_trusted_addresses').columns(['user_id', 'ip']).unique().execute();
    },
  };
}
