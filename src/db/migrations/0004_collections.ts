import type { Kysely, Migration } from 'kysely';

/** The collections registry (issue 3): definitions; each collection's own table is made by the registry. */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('collections')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}
