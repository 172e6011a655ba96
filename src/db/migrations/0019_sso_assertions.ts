import type { Kysely, Migration } from 'kysely';

/**
 * AUTH-13, SAML: the assertions already used (`sso_assertions`), each kept until it expires, so a captured
 * response cannot be posted again to this instance or another (D303). Only a hash of the provider and the
 * assertion's ID is kept.
 */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('sso_assertions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sso_assertions_expiry').on('sso_assertions').column('expires_at').execute();
    },
  };
}
