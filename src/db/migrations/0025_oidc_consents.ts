import type { Kysely, Migration } from 'kysely';

/**
 * AUTH-13, consents a person can review and revoke (ASVS V10.7.3, D434): each row of the OpenID Provider's storage
 * names the account it belongs to, so that a person's grants (their consents) are found by account, and ended
 * with every code and token issued under them. Rows written before carry the account in their JSON only: the
 * grants among them are given it here.
 */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('oidc_provider_models').addColumn('account_id', 'text').execute();
      await db.schema.createIndex('oidc_provider_models_account').on('oidc_provider_models').columns(['account_id', 'model']).execute();
      const grants = await db.selectFrom('oidc_provider_models').select(['id', 'payload']).where('model', '=', 'Grant').execute();
      for (const g of grants as Array<{ id: string; payload: string }>) {
        let accountId: unknown;
        try {
          accountId = (JSON.parse(g.payload) as { accountId?: unknown }).accountId;
        } catch {
          accountId = undefined;
        }
        if (typeof accountId === 'string') {
          await db.updateTable('oidc_provider_models').set({ account_id: accountId }).where('model', '=', 'Grant').where('id', '=', g.id).execute();
        }
      }
    },
  };
}
