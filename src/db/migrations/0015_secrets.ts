import type { Kysely, Migration } from 'kysely';

/**
 * DATA-1, the secret store: third-party credentials by name, each encrypted (AES-256-GCM, the name as
 * associated data) under the data key whose id `key_id` names; never the plain value. Who set a secret
 * and when is kept by actor id and name (the CLI and the system have no user id).
 */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('ciphertext', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addColumn('created_by_name', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_by', 'text')
        .addColumn('updated_by_name', 'text', (c) => c.notNull())
        .execute();
    },
  };
}
