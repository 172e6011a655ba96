import type { Kysely, Migration } from 'kysely';

/**
 * DATA-1: the id of the data key new secrets are sealed under, one row (id 1), moved by a rotation in the
 * transaction that re-encrypts the secrets. A write reads it in its own transaction and refuses when its
 * process holds another key (D206); its row is also what serialises rotations and start-up settlement on
 * SQLite (a write to it takes the database's write lock; PostgreSQL uses an advisory lock, D207).
 */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('secrets_key')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}
