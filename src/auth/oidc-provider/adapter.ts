import type { Db } from '../../db/index.js';
import type { EventContext, SecurityEvent, SecurityLog } from '../../audit/events.js';
import type { OidcClientStore } from './clients.js';

/** What a provider model's payload carries that the adapter looks at. */
interface Payload {
  grantId?: string;
  clientId?: string;
  accountId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
  scope?: string;
  loginTs?: number;
  [k: string]: unknown;
}

export interface AdapterDeps {
  db: Db;
  log: SecurityLog;
  now: () => number;
  clients: OidcClientStore;
  /** The request the provider is serving (client address, request id), for the events a write records. */
  context: () => EventContext;
  /** An event the caller asked to be recorded with the next save of `model` (a consent with its grant), else null. */
  alongside: (model: string) => { ctx: EventContext; event: SecurityEvent } | null;
  /** Metadata of a registered, enabled client, as oidc-provider reads it; undefined otherwise. */
  clientMetadata: (clientId: string) => Promise<Record<string, unknown> | undefined>;
  /** The provider's own refusal for a code (or other single-use model) another request consumed first (D333). */
  alreadyConsumed: (model: string) => Error;
  /**
   * Whether the Palisade session that signed the provider session in (the account, and its sign-in second: the
   * session's `created_at`, which the login result gave as `ts`) is still live: not revoked, not expired (D334).
   */
  signInLive: (accountId: string, loginTs: number) => Promise<boolean>;
}

/**
 * Whether a presented key (a code, a token, a client id from a request's body) can name a row at all: no stored key
 * holds a NUL, and PostgreSQL refuses one in a query (a 500 instead of "not found") (D335).
 */
const lookable = (key: unknown): key is string => typeof key === 'string' && !key.includes('\u0000');

/** At most one sweep of expired rows a minute per instance. */
const SWEEP_EVERY_MS = 60_000;

/**
 * oidc-provider's storage on Kysely (both dialects): one table for every model but `Client`, which comes from the
 * registered clients. Rows carry their expiry; a row past it is never answered, and expired rows are swept while
 * writing. An authorisation code or access token stored is recorded as a security event in the same transaction.
 */
export function kyselyAdapter(d: AdapterDeps): new (model: string) => object {
  let lastSweep = 0;
  const sweep = async () => {
    const now = d.now();
    if (now - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = now;
    await d.db.deleteFrom('oidc_provider_models').where('expires_at', '<', now).execute();
  };
  const live = (r: { payload: string; expires_at: number | null; consumed_at: number | null } | undefined): Payload | undefined => {
    if (!r) return undefined;
    if (r.expires_at !== null && Number(r.expires_at) <= d.now()) return undefined;
    const p = JSON.parse(r.payload) as Payload;
    return r.consumed_at === null ? p : { ...p, consumed: Math.floor(Number(r.consumed_at) / 1000) };
  };

  /**
   * A provider session lives only as long as the Palisade session it was signed in with: once that one is signed
   * out, revoked or expired, the provider session is not found, and with it every code and access token bound to
   * it (they expire with the session: no offline_access), at the token and userinfo endpoints too (D334).
   */
  const bound = async (model: string, p: Payload | undefined): Promise<Payload | undefined> => {
    if (p === undefined || model !== 'Session' || typeof p.accountId !== 'string') return p;
    return typeof p.loginTs === 'number' && (await d.signInLive(p.accountId, p.loginTs)) ? p : undefined;
  };

  return class KyselyOidcAdapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      if (this.model === 'Client') return;
      const row = {
        payload: JSON.stringify(payload),
        grant_id: payload.grantId ?? null,
        client_id: payload.clientId ?? null,
        account_id: payload.accountId ?? null,
        uid: payload.uid ?? null,
        user_code: payload.userCode ?? null,
        expires_at: expiresIn ? d.now() + expiresIn * 1000 : null,
      };
      await d.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('oidc_provider_models')
          .values({ model: this.model, id, consumed_at: null, ...row })
          .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(row))
          .execute();
        const type = this.model === 'AuthorizationCode' ? 'oidc_provider.code_issued' : this.model === 'AccessToken' ? 'oidc_provider.token_issued' : null;
        if (type !== null) {
          await d.log.record(
            d.context(),
            { type, outcome: 'success', subjectId: payload.accountId ?? null, details: { clientId: payload.clientId, scope: payload.scope } },
            trx,
          );
        }
        const extra = d.alongside(this.model);
        if (extra) await d.log.record(extra.ctx, extra.event, trx);
      });
      await sweep();
    }

    /** This model's row by one of its keys, while it lives; a key that cannot name a row finds nothing (D335). */
    private async one(column: 'id' | 'uid' | 'user_code', key: string) {
      if (!lookable(key)) return undefined;
      return live(
        await d.db
          .selectFrom('oidc_provider_models')
          .select(['payload', 'expires_at', 'consumed_at'])
          .where('model', '=', this.model)
          .where(column, '=', key)
          .executeTakeFirst(),
      );
    }

    async find(id: string): Promise<Payload | undefined> {
      if (!lookable(id)) return undefined;
      if (this.model === 'Client') return d.clientMetadata(id) as Promise<Payload | undefined>;
      return bound(this.model, await this.one('id', id));
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      return bound(this.model, await this.one('uid', uid));
    }

    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      return this.one('user_code', userCode);
    }

    /**
     * Spends a single-use model (an authorisation code) once: the update is conditional on the row still being
     * unspent, and the request that does not win it (a second redemption racing the first, on this instance or
     * another) is refused, and the grant the code came from is ended, as the library does for a replay (D333).
     */
    async consume(id: string): Promise<void> {
      const r = await d.db
        .updateTable('oidc_provider_models')
        .set({ consumed_at: d.now() })
        .where('model', '=', this.model)
        .where('id', '=', id)
        .where('consumed_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) return;
      const row = await d.db.selectFrom('oidc_provider_models').select('grant_id').where('model', '=', this.model).where('id', '=', id).executeTakeFirst();
      if (row?.grant_id) await d.db.deleteFrom('oidc_provider_models').where('grant_id', '=', row.grant_id).execute();
      throw d.alreadyConsumed(this.model);
    }

    async destroy(id: string): Promise<void> {
      await d.db.deleteFrom('oidc_provider_models').where('model', '=', this.model).where('id', '=', id).execute();
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await d.db.deleteFrom('oidc_provider_models').where('grant_id', '=', grantId).execute();
    }
  };
}
