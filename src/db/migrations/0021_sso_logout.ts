import type { Kysely, Migration } from 'kysely';

/**
 * AUTH-13, single logout: a session opened by single sign-on remembers the provider, the subject it named and the
 * provider's own session (an OIDC `sid`, a SAML SessionIndex), so that a back-channel logout token or a SAML
 * LogoutRequest ends exactly the sessions it names (D339). A second-factor challenge remembers the first step's
 * method, so that the session the second step opens says how it was proven (an SSO sign-in, not a password).
 */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('sessions').addColumn('sso_provider', 'text').execute();
      await db.schema.alterTable('sessions').addColumn('sso_subject', 'text').execute();
      await db.schema.alterTable('sessions').addColumn('sso_sid', 'text').execute();
      await db.schema.createIndex('sessions_sso_subject').on('sessions').columns(['sso_provider', 'sso_subject']).execute();
      await db.schema.createIndex('sessions_sso_sid').on('sessions').columns(['sso_provider', 'sso_sid']).execute();
      await db.schema.alterTable('mfa_challenges').addColumn('first_method', 'text').execute();
    },
  };
}
