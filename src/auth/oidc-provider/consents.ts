import type { Db } from '../../db/index.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import type { OidcClientStore } from './clients.js';

/** One client a person has allowed (their grants to it taken together). */
export interface Consent {
  clientId: string;
  /** The client's name; null when it is no longer registered. */
  clientName: string | null;
  /** The scopes allowed, in the order first given. */
  scopes: string[];
  /** Epoch ms of the oldest grant. */
  grantedAt: number;
  /** Epoch ms when the last one lapses (180 days after it was last extended). */
  expiresAt: number | null;
}

interface GrantPayload {
  clientId?: unknown;
  iat?: unknown;
  openid?: { scope?: unknown };
}

/**
 * A person's consents to the clients of Palisade's OpenID Provider (ASVS V10.7.3, D434): the provider's grants of
 * their account, listed, and revoked per client with every code and access token issued under them, in one
 * transaction with its `oidc_provider.consent_revoked` event. The next authorisation of that client asks again.
 */
export class OidcConsents {
  constructor(private readonly d: { db: Db; log: SecurityLog; now: () => number; clients: OidcClientStore }) {}

  /** The live grants of an account, per client, newest-named first by client name. */
  async list(accountId: string): Promise<Consent[]> {
    const rows = await this.live(this.d.db, accountId);
    const byClient = new Map<string, Consent>();
    for (const r of rows) {
      const p = parse(r.payload);
      const clientId = typeof p.clientId === 'string' ? p.clientId : r.client_id;
      if (!clientId) continue;
      const at = typeof p.iat === 'number' ? p.iat * 1000 : this.d.now();
      const scopes = typeof p.openid?.scope === 'string' ? p.openid.scope.split(' ').filter(Boolean) : [];
      const c = byClient.get(clientId) ?? { clientId, clientName: null, scopes: [], grantedAt: at, expiresAt: null };
      for (const s of scopes) if (!c.scopes.includes(s)) c.scopes.push(s);
      c.grantedAt = Math.min(c.grantedAt, at);
      const exp = r.expires_at === null ? null : Number(r.expires_at);
      c.expiresAt = c.expiresAt === null ? exp : exp === null ? c.expiresAt : Math.max(c.expiresAt, exp);
      byClient.set(clientId, c);
    }
    const out = [...byClient.values()];
    for (const c of out) c.clientName = (await this.d.clients.get(c.clientId))?.name ?? null;
    return out.sort((a, b) => (a.clientName ?? a.clientId).localeCompare(b.clientName ?? b.clientId));
  }

  /** The newest live grant of the account to the client, if any. */
  async latestGrant(accountId: string, clientId: string): Promise<string | undefined> {
    const rows = (await this.live(this.d.db, accountId)).filter((r) => r.client_id === clientId);
    rows.sort((a, b) => Number(b.expires_at ?? Number.MAX_SAFE_INTEGER) - Number(a.expires_at ?? Number.MAX_SAFE_INTEGER));
    return rows[0]?.id;
  }

  /** Ends the account's consent to a client: its grants and what was issued under them. NOT_FOUND when it has none. */
  async revoke(accountId: string, clientId: string, ctx: EventContext): Promise<void> {
    await this.d.db.transaction().execute(async (trx) => {
      const grants = (await this.live(trx, accountId)).filter((r) => r.client_id === clientId || parse(r.payload).clientId === clientId);
      if (grants.length === 0) throw new AppError('NOT_FOUND');
      const ids = grants.map((g) => g.id);
      const issued = await trx.deleteFrom('oidc_provider_models').where('grant_id', 'in', ids).executeTakeFirst();
      await trx.deleteFrom('oidc_provider_models').where('model', '=', 'Grant').where('id', 'in', ids).execute();
      await this.d.log.record(
        ctx,
        {
          type: 'oidc_provider.consent_revoked',
          outcome: 'success',
          subjectId: accountId,
          details: { clientId, grants: ids.length, issuedEnded: Number(issued.numDeletedRows) },
        },
        trx,
      );
    });
  }

  private live(db: Db, accountId: string) {
    return db
      .selectFrom('oidc_provider_models')
      .select(['id', 'payload', 'client_id', 'expires_at'])
      .where('model', '=', 'Grant')
      .where('account_id', '=', accountId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', this.d.now())]))
      .orderBy('id')
      .execute();
  }
}

function parse(payload: string): GrantPayload {
  try {
    return JSON.parse(payload) as GrantPayload;
  } catch {
    return {};
  }
}
