import type { Kysely, Migration } from 'kysely';

/**
 * AUTH-13, Palisade as an OpenID Provider: the clients administrators register (`oidc_clients`: redirect URIs
 * and scopes as JSON, the secret of a confidential client only as a secret-store name), and what the provider
 * keeps between requests (`oidc_provider_models`: codes, sessions, grants, interactions and tokens as JSON,
 * one row per model and id, with the grant, client, interaction uid and expiry it is looked up or swept by), so that
 * every instance shares them.
 */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('oidc_clients')
        .addColumn('client_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('redirect_uris', 'text', (c) => c.notNull())
        .addColumn('confidential', 'integer', (c) => c.notNull())
        .addColumn('secret_name', 'text')
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('consent_required', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('secret_rotated_at', 'bigint')
        .execute();
      await db.schema
        .createTable('oidc_provider_models')
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('grant_id', 'text')
        .addColumn('client_id', 'text')
        .addColumn('uid', 'text')
        .addColumn('user_code', 'text')
        .addColumn('expires_at', 'bigint')
        .addColumn('consumed_at', 'bigint')
        .addPrimaryKeyConstraint('oidc_provider_models_pk', ['model', 'id'])
        .execute();
      await db.schema.createIndex('oidc_provider_models_grant').on('oidc_provider_models').column('grant_id').execute();
      await db.schema.createIndex('oidc_provider_models_client').on('oidc_provider_models').column('client_id').execute();
      await db.schema.createIndex('oidc_provider_models_uid').on('oidc_provider_models').column('uid').execute();
      await db.schema.createIndex('oidc_provider_models_expiry').on('oidc_provider_models').column('expires_at').execute();
    },
  };
}
