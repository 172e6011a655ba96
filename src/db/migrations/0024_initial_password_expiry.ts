import type { Kysely, Migration } from 'kysely';

/**
 * Issue 18, ASVS V6.4.1: a one-time password (generated, or set by an administrator with a required change) stops
 * signing in after a short time. `must_change_by` is when (epoch ms); null for a password the user chose, and for a
 * change an administrator required of the user's own password (that one never expires by this rule, D366).
 */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('users').addColumn('must_change_by', 'bigint').execute();
    },
  };
}
