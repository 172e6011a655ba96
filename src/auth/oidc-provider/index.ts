import { AsyncLocalStorage } from 'node:async_hooks';
import { hkdfSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { default as Provider, InteractionDetails } from 'oidc-provider';
import type { Db } from '../../db/index.js';
import type { UsersTable } from '../../db/types.js';
import { SYSTEM_ACTOR, type EventContext, type SecurityEvent, type SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { kyselyAdapter } from './adapter.js';
import { OidcClientStore, type OidcClient, type OidcSecrets } from './clients.js';
import { SigningKeys } from './keys.js';
import { OidcConsents } from './consents.js';

export { OIDC_SCOPES, OidcClientStore, redirectUriProblem, type OidcClient, type OidcClientInput, type OidcSecrets } from './clients.js';
export type { InteractionDetails } from 'oidc-provider';
export type { Consent } from './consents.js';

/** The path the provider is mounted under; the issuer is PUBLIC_URL followed by it. */
export const OIDC_MOUNT = '/oidc';

/** How long what the provider issues lives, in seconds (D323). */
const TTL = { AuthorizationCode: 60, AccessToken: 600, IdToken: 600, Interaction: 600, Session: 8 * 3600, Grant: 180 * 86400 } as const;
/** How often an instance looks whether another one rotated the signing keys. */
const KEY_CHECK_MS = 60_000;

export interface OidcProviderDeps {
  db: Db;
  log: SecurityLog;
  now: () => number;
  /** PUBLIC_URL, without a trailing slash. */
  publicUrl: string;
  appKey: string;
  secrets: OidcSecrets;
  /** The user's role names (the `roles` claim); handed in, as auth does not import access. */
  rolesOf: (userId: string) => Promise<string[]>;
  /** Throws when the account may not act (disabled, locked). */
  accountCheck: (user: UsersTable) => Promise<void>;
  /** Where a write-path failure of an event goes. */
  warn: (msg: string, detail: Record<string, unknown>) => void;
}

/** What `loadExistingGrant` reads of oidc-provider's context. */
interface LoadGrantContext {
  oidc: {
    result?: { consent?: { grantId?: string } };
    session: { accountId?: string; grantIdFor(clientId: string): string | undefined };
    client: { clientId: string; clientAuthMethod?: string };
    provider: Provider;
  };
}

const scopeList = (v: unknown): string[] => (typeof v === 'string' ? v.split(' ').filter((s) => s.length > 0) : []);

/**
 * Palisade as an OpenID Provider (AUTH-13): `oidc-provider` with the clients administrators register, its state
 * in the database (`adapter.ts`), its signing keys in the secret store (`keys.ts`), cookie keys derived from
 * APP_KEY. The sign-in is Palisade's own: every authorisation goes through the interaction, which the HTTP layer
 * completes from the browser's Palisade session (D325).
 */
export class OidcProviderService {
  readonly clients: OidcClientStore;
  readonly keys: SigningKeys;
  /** People's consents to the clients: listed and revoked from their account page (D434). */
  readonly consents: OidcConsents;
  readonly issuer: string;
  private readonly als = new AsyncLocalStorage<EventContext>();
  /** An event to record in the transaction of the next save of one model (`withSave`). */
  private readonly pending = new AsyncLocalStorage<{ model: string; ctx: EventContext; event: SecurityEvent; taken: boolean }>();
  private built: { provider: Provider; fingerprint: string | null; checkedAt: number } | null = null;
  private building: Promise<Provider> | null = null;
  private readonly handlers = new WeakMap<Provider, (req: IncomingMessage, res: ServerResponse) => void>();

  constructor(private readonly d: OidcProviderDeps) {
    this.clients = new OidcClientStore(d);
    this.keys = new SigningKeys(d);
    this.consents = new OidcConsents({ ...d, clients: this.clients });
    this.issuer = `${d.publicUrl}${OIDC_MOUNT}`;
  }

  /** Whether the provider answers at all: only once an administrator has registered and enabled a client (D321). */
  active(): Promise<boolean> {
    return this.clients.anyEnabled();
  }

  /** The provider, built at first use and again when the signing keys were rotated (here or by another instance). */
  async provider(): Promise<Provider> {
    const now = this.d.now();
    if (this.built && now - this.built.checkedAt < KEY_CHECK_MS) return this.built.provider;
    if (this.built) {
      const fp = await this.keys.fingerprint();
      if (fp === this.built.fingerprint) {
        this.built.checkedAt = now;
        return this.built.provider;
      }
    }
    this.building ??= this.build().finally(() => {
      this.building = null;
    });
    return this.building;
  }

  /** Signs with a new generation of keys from now on (the last one stays published). */
  async rotateKeys(ctx: EventContext): Promise<string[]> {
    const kids = await this.keys.rotate(ctx);
    this.built = null;
    return kids;
  }

  /** Hands a request to the provider; resolves when the answer is written. */
  serve(req: IncomingMessage, res: ServerResponse, provider: Provider, ctx: EventContext): Promise<void> {
    return new Promise((resolve) => {
      res.once('close', resolve);
      res.once('finish', resolve);
      let handler = this.handlers.get(provider);
      if (!handler) {
        handler = provider.callback();
        this.handlers.set(provider, handler);
      }
      const run = handler;
      this.als.run(ctx, () => run(req, res));
    });
  }

  /** The client of an interaction, when it is registered and enabled. */
  async clientOf(details: InteractionDetails): Promise<OidcClient | null> {
    const id = details.params.client_id;
    const c = typeof id === 'string' ? await this.clients.get(id) : null;
    return c?.enabled ? c : null;
  }

  /** A consent form refused before it reached the interaction (no live session, a wrong form token, another account) (D336). */
  async recordRefusal(ctx: EventContext, details: InteractionDetails, reason: string): Promise<void> {
    await this.d.log.record(ctx, {
      type: 'oidc_provider.refused',
      outcome: 'failure',
      subjectId: details.session?.accountId ?? null,
      details: { clientId: details.params.client_id, error: 'invalid_request', reason },
    });
  }

  /**
   * Completes the login prompt with a Palisade account (recorded as `oidc_provider.signed_in`, in the transaction that
   * saves the interaction's result); returns where the browser goes next.
   */
  async finishLogin(req: IncomingMessage, res: ServerResponse, user: UsersTable, authTimeMs: number, clientId: string, ctx: EventContext): Promise<string> {
    const provider = await this.provider();
    const event: SecurityEvent = { type: 'oidc_provider.signed_in', outcome: 'success', subjectId: user.id, details: { clientId } };
    return this.pending.run({ model: 'Interaction', ctx, event, taken: false }, () =>
      provider.interactionResult(
        req,
        res,
        { login: { accountId: user.id, ts: Math.floor(authTimeMs / 1000), remember: false } },
        { mergeWithLastSubmission: false },
      ),
    );
  }

  /** Records the consent the prompt asks for as a grant (remembered for the provider session); returns where to go. */
  async grantConsent(req: IncomingMessage, res: ServerResponse, details: InteractionDetails, ctx: EventContext): Promise<string> {
    const provider = await this.provider();
    const accountId = details.session?.accountId;
    const clientId = String(details.params.client_id);
    if (!accountId) throw new AppError('OIDC_INTERACTION_INVALID');
    const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId, clientId });
    const pd = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
    if (pd.missingOIDCScope) grant.addOIDCScope(pd.missingOIDCScope.join(' '));
    if (pd.missingOIDCClaims) grant.addOIDCClaims(pd.missingOIDCClaims);
    // The grant and its event commit together: a consent is never remembered unrecorded.
    const event: SecurityEvent = {
      type: 'oidc_provider.consent_given',
      outcome: 'success',
      subjectId: accountId,
      details: { clientId, scopes: pd.missingOIDCScope ?? [] },
    };
    const grantId = await this.pending.run({ model: 'Grant', ctx, event, taken: false }, () => grant.save());
    return provider.interactionResult(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  /** Ends the interaction with an error the client is told (access_denied, login_required); recorded as a refusal. */
  async refuse(req: IncomingMessage, res: ServerResponse, details: InteractionDetails, error: string, reason: string, ctx: EventContext): Promise<string> {
    const provider = await this.provider();
    await this.d.log.record(ctx, {
      type: 'oidc_provider.refused',
      outcome: 'failure',
      subjectId: details.session?.accountId ?? null,
      details: { clientId: details.params.client_id, error, reason },
    });
    return provider.interactionResult(req, res, { error, error_description: reason }, { mergeWithLastSubmission: false });
  }

  async interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails> {
    const provider = await this.provider();
    try {
      return await provider.interactionDetails(req, res);
    } catch {
      throw new AppError('OIDC_INTERACTION_INVALID');
    }
  }

  private context(): EventContext {
    return this.als.getStore() ?? { actor: SYSTEM_ACTOR };
  }

  private async clientMetadata(clientId: string): Promise<Record<string, unknown> | undefined> {
    const c = await this.clients.get(clientId);
    if (!c?.enabled) return undefined;
    const secret = await this.clients.secretOf(c);
    if (c.confidential && secret === null) return undefined;
    return {
      client_id: c.clientId,
      client_name: c.name,
      application_type: 'web',
      redirect_uris: c.redirectUris,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      scope: c.scopes.join(' '),
      token_endpoint_auth_method: c.confidential ? 'client_secret_basic' : 'none',
      ...(secret !== null ? { client_secret: secret } : {}),
    };
  }

  /** A live Palisade session of the account that signed in at `loginTs` (seconds of its `created_at`) (D334). */
  private async signInLive(accountId: string, loginTs: number): Promise<boolean> {
    const now = this.d.now();
    const r = await this.d.db
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', accountId)
      .where('created_at', '>=', loginTs * 1000)
      .where('created_at', '<', (loginTs + 1) * 1000)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .limit(1)
      .executeTakeFirst();
    return r !== undefined;
  }

  private async account(sub: string) {
    const user = await this.d.db.selectFrom('users').selectAll().where('id', '=', sub).executeTakeFirst();
    if (!user) return undefined;
    try {
      await this.d.accountCheck(user);
    } catch {
      return undefined;
    }
    return user;
  }

  private async build(): Promise<Provider> {
    const fingerprintBefore = await this.keys.fingerprint();
    const jwks = await this.keys.current({ actor: SYSTEM_ACTOR });
    const cookieKey = Buffer.from(hkdfSync('sha256', this.d.appKey, 'oidc-provider', 'palisade/oidc-provider-cookies/v1', 32)).toString('base64url');
    // Loaded on first use: the library warns on import about the Node version, and most processes never need it.
    const { default: ProviderClass, interactionPolicy, errors } = await import('oidc-provider');
    const policy = interactionPolicy.base();
    const { Check } = interactionPolicy;
    // Every authorisation asks Palisade: the login prompt is due until this interaction's login result is in (D325).
    policy
      .get('login')!
      .checks.add(
        new Check('palisade_session', 'the Palisade session is checked on every authorisation', (ctx: { oidc: { result?: { login?: unknown } } }) =>
          ctx.oidc.result?.login ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT,
        ),
      );
    // A public client (no secret proves who it is) gets the person's consent on every authorisation, never a remembered one (D412).
    policy
      .get('consent')!
      .checks.add(
        new Check(
          'palisade_public_client',
          'a public client asks the person every time',
          (ctx: { oidc: { client?: { clientAuthMethod?: string }; result?: { consent?: unknown } } }) =>
            ctx.oidc.client?.clientAuthMethod === 'none' && !ctx.oidc.result?.consent ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT,
        ),
      );
    const self = this;
    const provider = new ProviderClass(this.issuer, {
      adapter: kyselyAdapter({
        db: this.d.db,
        log: this.d.log,
        now: this.d.now,
        clients: this.clients,
        context: () => this.context(),
        alongside: (model) => {
          // Once: a second save of the model in the same call (a library change) records nothing again.
          const p = this.pending.getStore();
          if (!p || p.model !== model || p.taken) return null;
          p.taken = true;
          return p;
        },
        clientMetadata: (id) => this.clientMetadata(id),
        signInLive: (accountId, loginTs) => this.signInLive(accountId, loginTs),
        alreadyConsumed: (model) =>
          model === 'AuthorizationCode' ? new errors.InvalidGrant('authorization code already consumed') : new errors.InvalidRequest(`${model} already used`),
      }),
      clients: [],
      jwks: { keys: jwks },
      cookies: { keys: [cookieKey], long: { signed: true, httpOnly: true, sameSite: 'lax' }, short: { signed: true, httpOnly: true, sameSite: 'lax' } },
      claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email', 'email_verified'], roles: ['roles'] },
      scopes: ['openid', 'profile', 'email', 'roles'],
      responseTypes: ['code'],
      pkce: { required: () => true },
      allowOmittingSingleRegisteredRedirectUri: false,
      features: {
        devInteractions: { enabled: false },
        rpInitiatedLogout: { enabled: false },
        revocation: { enabled: true },
        userinfo: { enabled: true },
        claimsParameter: { enabled: false },
        registration: { enabled: false },
      },
      enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'] },
      clientDefaults: { grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'RS256' },
      issueRefreshToken: async () => false,
      clientBasedCORS: (_ctx: unknown, origin: string, client: { redirectUris?: string[] }) =>
        (client.redirectUris ?? []).some((u) => {
          try {
            return new URL(u).origin === origin;
          } catch {
            return false;
          }
        }),
      ttl: { ...TTL },
      // Consent lasts until the person revokes it (or 180 days): a confidential client's live grant of this account is
      // found even from a new provider session; a public client is asked every time anyway (D412, D434).
      async loadExistingGrant(ctx: LoadGrantContext) {
        const grantId =
          ctx.oidc.result?.consent?.grantId ??
          ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId) ??
          (ctx.oidc.client.clientAuthMethod === 'none' || !ctx.oidc.session.accountId
            ? undefined
            : await self.consents.latestGrant(ctx.oidc.session.accountId, ctx.oidc.client.clientId));
        return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
      },
      interactions: { policy, url: (_ctx: unknown, interaction: { uid: string }) => `${OIDC_MOUNT}/interaction/${interaction.uid}` },
      async findAccount(_ctx: unknown, sub: string) {
        const user = await self.account(sub);
        if (!user) return undefined;
        return {
          accountId: user.id,
          async claims(_use: string, scope: string) {
            const scopes = new Set(scopeList(scope));
            return {
              sub: user.id,
              preferred_username: user.username,
              name: user.username,
              // Palisade does not verify addresses: a client must not link accounts by this email (D330).
              ...(user.email ? { email: user.email, email_verified: false } : {}),
              ...(scopes.has('roles') ? { roles: await self.d.rolesOf(user.id) } : {}),
            };
          },
        };
      },
      async renderError(ctx: { type: string; body: string }, out: Record<string, string>) {
        ctx.type = 'html';
        ctx.body = errorPage(out.error ?? 'error', out.error_description ?? 'The request could not be completed.');
      },
    });
    provider.proxy = true;
    const refusal = (ctx: { oidc?: { client?: { clientId?: string }; route?: string } } | undefined, err: { error?: string; error_description?: string }) => {
      this.d.log
        .record(this.context(), {
          type: 'oidc_provider.refused',
          outcome: 'failure',
          details: { route: ctx?.oidc?.route, clientId: ctx?.oidc?.client?.clientId, error: err?.error, reason: err?.error_description },
        })
        .catch((e: unknown) => this.d.warn('an oidc_provider.refused event was not written', { err: String(e) }));
    };
    for (const ev of ['authorization.error', 'grant.error', 'userinfo.error', 'revocation.error', 'check_session.error']) provider.on(ev, refusal);
    provider.on('server_error', (_ctx: unknown, err: unknown) => this.d.warn('the OpenID provider failed a request', { err: String(err) }));
    this.built = { provider, fingerprint: fingerprintBefore ?? (await this.keys.fingerprint()), checkedAt: this.d.now() };
    return provider;
  }
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The provider's error page: plain HTML, no script or style (the API's CSP applies to it). */
export function errorPage(error: string, description: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title></head><body><main><h1>Sign-in failed</h1><p>${esc(description)}</p><p><code>${esc(error)}</code></p></main></body></html>`;
}

export { esc as escapeHtml };
