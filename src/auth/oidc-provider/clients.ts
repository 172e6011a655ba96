import { randomBytes } from 'node:crypto';
import { PostgresAdapter } from 'kysely';
import type { Db } from '../../db/index.js';
import type { OidcClientsTable } from '../../db/types.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';

/** The scopes a client may be allowed: `roles` is Palisade's own (the user's role names as the `roles` claim). */
export const OIDC_SCOPES = ['openid', 'profile', 'email', 'roles'] as const;
export type OidcScope = (typeof OIDC_SCOPES)[number];

/** What the provider needs of the secret store (handed in by services.ts: auth does not import secrets). */
export interface OidcSecrets {
  /** Sets (a value) or deletes ('') a secret inside the caller's transaction, with its event. */
  write(name: string, value: string, ctx: EventContext, db: Db): Promise<void>;
  /** The value, or null when not set; one that does not open throws SECRETS_UNREADABLE. Never reaches a route. */
  value(name: string): Promise<string | null>;
}

/** A client's row, locked for the change (PostgreSQL; SQLite's write transaction is exclusive already); NOT_FOUND without one. */
async function lockedRow(trx: Db, clientId: string) {
  const r = await trx
    .selectFrom('oidc_clients')
    .selectAll()
    .where('client_id', '=', clientId)
    .$if(onPostgres(trx), (q) => q.forUpdate())
    .executeTakeFirst();
  if (!r) throw new AppError('NOT_FOUND');
  return r;
}

export interface OidcClient {
  clientId: string;
  name: string;
  redirectUris: string[];
  confidential: boolean;
  scopes: OidcScope[];
  consentRequired: boolean;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  secretRotatedAt: number | null;
}

export interface OidcClientInput {
  name?: string;
  redirectUris?: string[];
  confidential?: boolean;
  scopes?: string[];
  consentRequired?: boolean;
  enabled?: boolean;
}

/** Row locks where the dialect has them (SQLite serialises writers anyway). */
const onPostgres = (db: Db) => db.getExecutor().adapter instanceof PostgresAdapter;

/** The secret store's name of a confidential client's secret. */
export const clientSecretNameOf = (clientId: string) => `oidcProvider.client.${clientId}`;

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Why a redirect URI is refused, or null: absolute, no fragment, no credentials, https or loopback http. */
export function redirectUriProblem(raw: string): string | null {
  if (raw.length > 2000) return 'a redirect URI is at most 2000 characters';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'a redirect URI is an absolute URL';
  }
  if (u.href !== raw) return 'a redirect URI is given in its normal form (as the URL parser writes it)';
  if (u.hash !== '' || raw.includes('#')) return 'a redirect URI has no fragment';
  if (u.username !== '' || u.password !== '') return 'a redirect URI carries no user name or password';
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:' && LOOPBACK.has(u.hostname)) return null;
  return 'a redirect URI uses https, or http on a loopback address only';
}

const rowOf = (r: OidcClientsTable): OidcClient => ({
  clientId: r.client_id,
  name: r.name,
  redirectUris: JSON.parse(r.redirect_uris) as string[],
  confidential: Number(r.confidential) === 1,
  scopes: JSON.parse(r.scopes) as OidcScope[],
  consentRequired: Number(r.consent_required) === 1,
  enabled: Number(r.enabled) === 1,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  secretRotatedAt: r.secret_rotated_at === null ? null : Number(r.secret_rotated_at),
});

function checked(input: Required<OidcClientInput>): void {
  const problems: Array<{ path: string; message: string }> = [];
  const name = input.name.trim();
  if (name.length === 0 || name.length > 100) problems.push({ path: '/name', message: 'a name is 1 to 100 characters' });
  if (input.redirectUris.length === 0 || input.redirectUris.length > 10) problems.push({ path: '/redirectUris', message: 'one to ten redirect URIs' });
  input.redirectUris.forEach((u, i) => {
    const p = redirectUriProblem(u);
    if (p) problems.push({ path: `/redirectUris/${i}`, message: p });
  });
  if (new Set(input.redirectUris).size !== input.redirectUris.length) problems.push({ path: '/redirectUris', message: 'a redirect URI is listed twice' });
  for (const s of input.scopes) if (!(OIDC_SCOPES as readonly string[]).includes(s)) problems.push({ path: '/scopes', message: `unknown scope ${s}` });
  if (!input.scopes.includes('openid')) problems.push({ path: '/scopes', message: 'the scopes include openid' });
  if (problems.length > 0) throw new AppError('VALIDATION_FAILED', problems);
}

/**
 * The clients administrators register (AUTH-13, Palisade as an OpenID Provider). Each change is written with its
 * security event in one transaction; a confidential client's secret goes to the secret store in the same
 * transaction and is answered once, at creation and rotation. Disabling, deleting or rotating a client ends what
 * the provider holds for it (codes, tokens, grants).
 */
export class OidcClientStore {
  constructor(private readonly d: { db: Db; log: SecurityLog; now: () => number; secrets: OidcSecrets }) {}

  async list(): Promise<OidcClient[]> {
    return (await this.d.db.selectFrom('oidc_clients').selectAll().orderBy('created_at').orderBy('client_id').execute()).map(rowOf);
  }

  async get(clientId: string): Promise<OidcClient | null> {
    const r = await this.d.db.selectFrom('oidc_clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
    return r ? rowOf(r) : null;
  }

  /** Whether any client is enabled: until one is, the provider answers nothing (no discovery document). */
  async anyEnabled(): Promise<boolean> {
    const r = await this.d.db.selectFrom('oidc_clients').select('client_id').where('enabled', '=', 1).limit(1).executeTakeFirst();
    return r !== undefined;
  }

  /** A confidential client's secret, for the provider's client authentication only. */
  async secretOf(c: OidcClient): Promise<string | null> {
    return c.confidential ? this.d.secrets.value(clientSecretNameOf(c.clientId)) : null;
  }

  async create(input: OidcClientInput, ctx: EventContext): Promise<{ client: OidcClient; secret: string | null }> {
    const full: Required<OidcClientInput> = {
      name: input.name ?? '',
      redirectUris: input.redirectUris ?? [],
      confidential: input.confidential ?? true,
      scopes: input.scopes ?? ['openid', 'profile', 'email'],
      consentRequired: input.consentRequired ?? true,
      enabled: input.enabled ?? true,
    };
    checked(full);
    const clientId = `pc_${randomBytes(16).toString('hex')}`;
    const secret = full.confidential ? randomBytes(32).toString('base64url') : null;
    const now = this.d.now();
    await this.d.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('oidc_clients')
        .values({
          client_id: clientId,
          name: full.name.trim(),
          redirect_uris: JSON.stringify(full.redirectUris),
          confidential: full.confidential ? 1 : 0,
          secret_name: secret === null ? null : clientSecretNameOf(clientId),
          scopes: JSON.stringify([...new Set(full.scopes)]),
          consent_required: full.consentRequired ? 1 : 0,
          enabled: full.enabled ? 1 : 0,
          created_at: now,
          updated_at: now,
          secret_rotated_at: null,
        })
        .execute();
      if (secret !== null) await this.d.secrets.write(clientSecretNameOf(clientId), secret, ctx, trx);
      await this.d.log.record(
        ctx,
        {
          type: 'oidc_provider.client_created',
          outcome: 'success',
          subjectId: clientId,
          details: { name: full.name.trim(), confidential: full.confidential, redirectUris: full.redirectUris, scopes: full.scopes },
        },
        trx,
      );
    });
    return { client: (await this.get(clientId))!, secret };
  }

  async update(clientId: string, patch: OidcClientInput, ctx: EventContext): Promise<OidcClient> {
    await this.d.db.transaction().execute(async (trx) => {
      const r = await lockedRow(trx, clientId);
      const cur = rowOf(r);
      if (patch.confidential !== undefined && patch.confidential !== cur.confidential) {
        throw new AppError('VALIDATION_FAILED', [{ path: '/confidential', message: 'a client stays confidential or public; register a new one instead' }]);
      }
      const next: Required<OidcClientInput> = {
        name: patch.name ?? cur.name,
        redirectUris: patch.redirectUris ?? cur.redirectUris,
        confidential: cur.confidential,
        scopes: patch.scopes ?? cur.scopes,
        consentRequired: patch.consentRequired ?? cur.consentRequired,
        enabled: patch.enabled ?? cur.enabled,
      };
      checked(next);
      await trx
        .updateTable('oidc_clients')
        .set({
          name: next.name.trim(),
          redirect_uris: JSON.stringify(next.redirectUris),
          scopes: JSON.stringify([...new Set(next.scopes)]),
          consent_required: next.consentRequired ? 1 : 0,
          enabled: next.enabled ? 1 : 0,
          updated_at: this.d.now(),
        })
        .where('client_id', '=', clientId)
        .execute();
      const changed = (Object.keys(patch) as Array<keyof OidcClientInput>).filter((k) => patch[k] !== undefined);
      // A client disabled, or its scopes or addresses narrowed, keeps nothing it was given before.
      const ends = (cur.enabled && !next.enabled) || patch.redirectUris !== undefined || patch.scopes !== undefined;
      if (ends) await this.endIssued(trx, clientId);
      await this.d.log.record(
        ctx,
        { type: 'oidc_provider.client_updated', outcome: 'success', subjectId: clientId, details: { changed, endedIssued: ends } },
        trx,
      );
    });
    return (await this.get(clientId))!;
  }

  /** A new secret for a confidential client, answered once; the old one stops working, and so do its tokens. */
  async rotateSecret(clientId: string, ctx: EventContext): Promise<string> {
    const secret = randomBytes(32).toString('base64url');
    await this.d.db.transaction().execute(async (trx) => {
      const r = await lockedRow(trx, clientId);
      if (Number(r.confidential) !== 1) throw new AppError('OIDC_CLIENT_PUBLIC');
      await this.d.secrets.write(clientSecretNameOf(clientId), secret, ctx, trx);
      await trx.updateTable('oidc_clients').set({ secret_rotated_at: this.d.now(), updated_at: this.d.now() }).where('client_id', '=', clientId).execute();
      await this.endIssued(trx, clientId);
      await this.d.log.record(ctx, { type: 'oidc_provider.client_secret_rotated', outcome: 'success', subjectId: clientId }, trx);
    });
    return secret;
  }

  async delete(clientId: string, ctx: EventContext): Promise<boolean> {
    return this.d.db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('oidc_clients').where('client_id', '=', clientId).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) return false;
      await this.d.secrets.write(clientSecretNameOf(clientId), '', ctx, trx);
      await this.endIssued(trx, clientId);
      await this.d.log.record(ctx, { type: 'oidc_provider.client_deleted', outcome: 'success', subjectId: clientId }, trx);
      return true;
    });
  }

  /** Codes, tokens and grants of the client go (the provider's sessions are per browser and stay). */
  private async endIssued(trx: Db, clientId: string): Promise<void> {
    await trx.deleteFrom('oidc_provider_models').where('client_id', '=', clientId).execute();
  }
}
