import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../index.js';

/**
 * Issue 14, caches that stay exact: one row of version stamps, moved by triggers in the transaction of every change to
 * what an instance caches (D360). `access`: the access model and the collection definitions (roles, grants, role and
 * department assignments, departments, collections); `settings`: the settings areas and the secret store they read
 * (IP rules keep their own one-second cache). A reader that reads a stamp and then the data sees data at least as new as the stamp, so a cache
 * filled after reading stamp v and kept under v is never older than v. Triggers, not calls in the code that writes,
 * so that no writer (a new feature, a restore, an operator's SQL) can forget to move them.
 */
export const ACCESS_TABLES = ['roles', 'grants', 'user_roles', 'departments', 'department_roles', 'user_departments', 'collections'] as const;
export const SETTINGS_TABLES = ['settings', 'secrets'] as const;

export function migration(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('state_stamps')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('access', 'bigint', (c) => c.notNull())
        .addColumn('settings', 'bigint', (c) => c.notNull())
        .execute();
      await db.insertInto('state_stamps').values({ id: 1, access: 1, settings: 1 }).execute();
      const concerns = [
        ['access', ACCESS_TABLES],
        ['settings', SETTINGS_TABLES],
      ] as const;
      for (const [column, tables] of concerns) {
        if (dialect === 'postgres') {
          // The schema of its creation, whatever the writer's search_path: the stamps of this installation move.
          await sql`CREATE FUNCTION ${sql.raw(`state_stamp_${column}`)}() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS ${sql.lit(
            `BEGIN UPDATE state_stamps SET ${column} = ${column} + 1 WHERE id = 1; RETURN NULL; END`,
          )}`.execute(db);
          // Deferred to the commit: the stamps row is locked last, after anything else the transaction locks (the
          // audit chain's head), so two changes can never wait on each other in opposite orders.
          // TRUNCATE (an operator's; no code of ours truncates) has no row trigger: a statement trigger moves it at once.
          for (const t of tables) {
            await sql`CREATE CONSTRAINT TRIGGER ${sql.raw(`${t}_stamp`)} AFTER INSERT OR UPDATE OR DELETE ON ${sql.raw(t)}
              DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${sql.raw(`state_stamp_${column}`)}()`.execute(db);
            await sql`CREATE TRIGGER ${sql.raw(`${t}_stamp_truncate`)} AFTER TRUNCATE ON ${sql.raw(t)}
              FOR EACH STATEMENT EXECUTE FUNCTION ${sql.raw(`state_stamp_${column}`)}()`.execute(db);
          }
        } else {
          for (const t of tables)
            for (const op of ['INSERT', 'UPDATE', 'DELETE'])
              await sql`CREATE TRIGGER ${sql.raw(`${t}_stamp_${op.toLowerCase()}`)} AFTER ${sql.raw(op)} ON ${sql.raw(t)}
                BEGIN UPDATE state_stamps SET ${sql.raw(column)} = ${sql.raw(column)} + 1 WHERE id = 1; END`.execute(db);
        }
      }
    },
  };
}
