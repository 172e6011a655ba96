import type { Kysely, Migration } from 'kysely';

/**
 * AUTH-13, single sign-on: identity providers as runtime configuration (`identity_providers`: the
 * protocol's settings as JSON, never a secret: the client secret lives in the secret store under the
 * name the settings give), the provider identities linked to users (`sso_links`, with the roles and
 * departments the provider's mapping last granted, so a sync removes only what it added), and the
 * sign-in flows in progress (`sso_flows`: state hashed, nonce, PKCE verifier, the browser binding
 * hashed; spent once).
 */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('identity_providers')
        .addColumn('slug', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('settings', 'text', (c) => c.notNull())
        .addColumn('provisioning', 'text', (c) => c.notNull())
        .addColumn('default_roles', 'text', (c) => c.notNull())
        .addColumn('default_departments', 'text', (c) => c.notNull())
        .addColumn('mappings', 'text', (c) => c.notNull())
        .addColumn('email_domains', 'text', (c) => c.notNull())
        .addColumn('trust_email', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('trust_mfa', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('sso_links')
        .addColumn('provider', 'text', (c) => c.notNull().references('identity_providers.slug').onDelete('cascade'))
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('issuer', 'text', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('mapped_roles', 'text', (c) => c.notNull())
        .addColumn('mapped_departments', 'text', (c) => c.notNull())
        .addColumn('linked_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addPrimaryKeyConstraint('sso_links_pk', ['provider', 'subject'])
        .execute();
      await db.schema.createIndex('sso_links_user').on('sso_links').column('user_id').execute();
      await db.schema
        .createTable('sso_flows')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text')
        .addColumn('session_id', 'text')
        .addColumn('binding_hash', 'text', (c) => c.notNull())
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('code_verifier', 'text', (c) => c.notNull())
        .addColumn('return_to', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute();
    },
  };
}
