import type { Kysely, Migration } from 'kysely';

/** ACCESS-1, ACCESS-2: system and menu permissions per role, departments that carry roles, the active role of a session. */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('roles')
        .addColumn('permissions', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      await db.schema
        .alterTable('roles')
        .addColumn('menus', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      await db.schema
        .createTable('departments')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('department_roles')
        .addColumn('department', 'text', (c) => c.notNull().references('departments.name').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull().references('roles.name').onDelete('cascade'))
        .addPrimaryKeyConstraint('pk_department_roles', ['department', 'role'])
        .execute();
      await db.schema
        .createTable('user_departments')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('department', 'text', (c) => c.notNull().references('departments.name').onDelete('cascade'))
        .addPrimaryKeyConstraint('pk_user_departments', ['user_id', 'department'])
        .execute();
      await db.schema.createIndex('user_departments_department_idx').on('user_departments').column('department').execute();
      await db.schema.alterTable('sessions').addColumn('active_role', 'text').execute();
    },
  };
}
