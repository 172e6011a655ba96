import type { Kysely, Migration } from 'kysely';

/** Roles, role assignments and grants (issue 3). */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('roles')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('user_roles')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull().references('roles.name').onDelete('cascade'))
        .addPrimaryKeyConstraint('pk_user_roles', ['user_id', 'role'])
        .execute();
      await db.schema
        .createTable('grants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('role', 'text', (c) => c.notNull().references('roles.name').onDelete('cascade'))
        .addColumn('collection', 'text', (c) => c.notNull())
        .addColumn('actions', 'text', (c) => c.notNull())
        .addColumn('fields', 'text', (c) => c.notNull())
        .addColumn('statuses', 'text')
        .addColumn('scope', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('grants_collection_idx').on('grants').columns(['collection', 'role']).execute();
    },
  };
}
