import type { Kysely, Migration } from 'kysely';

/**
 * AUDIT-5, GDPR policies: per collection, a rule that deletes or anonymises the records it matches,
 * on demand or on a schedule (`next_run_at`, claimed by one instance at a time; `running_until` is
 * the lease of a run in progress). `privacy_anonymised` marks records an anonymisation has handled, so
 * a scheduled policy does not anonymise them again until they change (`updated_at` past the mark).
 * Both belong to their collection and go with it.
 */
export function migration(): Migration {
  const big = 'bigint' as const;
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('privacy_policies')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('collection', 'text', (c) => c.notNull().references('collections.name').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('field_values', 'text', (c) => c.notNull())
        .addColumn('purge_history', 'integer', (c) => c.notNull())
        .addColumn('schedule_enabled', 'integer', (c) => c.notNull())
        .addColumn('schedule_every', 'integer')
        .addColumn('next_run_at', big)
        .addColumn('running_until', big)
        .addColumn('last_run_at', big)
        .addColumn('last_result', 'text')
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addColumn('updated_by', 'text')
        .execute();
      await db.schema.createIndex('privacy_policies_name_idx').on('privacy_policies').columns(['collection', 'name']).unique().execute();
      await db.schema.createIndex('privacy_policies_due_idx').on('privacy_policies').columns(['schedule_enabled', 'next_run_at']).execute();
      await db.schema
        .createTable('privacy_anonymised')
        .addColumn('collection', 'text', (c) => c.notNull().references('collections.name').onDelete('cascade'))
        .addColumn('record_id', 'text', (c) => c.notNull())
        .addColumn('at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('privacy_anonymised_pk', ['collection', 'record_id'])
        .execute();
    },
  };
}
