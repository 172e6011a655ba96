import type { Db } from '../../db/index.js';
import type { SessionsTable, SsoLinksTable, UsersTable } from '../../db/types.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import type { IssuedToken, SessionMode, SignInMethod } from '../session/types.js';
import type { SessionRequest } from '../session/create.js';
import { SsoAccounts, SsoRefusal } from './accounts.js';
import { keepFlow, spendFlow, type FlowPurpose } from './flows.js';
import { OidcProtocol } from './oidc.js';
import { ProviderStore, type SsoSecrets } from './providers.js';
import { DirectoryCheck, type DirectoryDefences } from './directory.js';
import { kindOf } from './kinds.js';
import { LdapProtocol } from './ldap/index.js';
import { SamlProtocol } from './saml/index.js';
import { CasProtocol } from './cas/index.js';
import { spendAssertion } from './saml/replay.js';
import { SamlSingleLogout } from './saml/logout.js';
import { SingleLogout, type ProviderSessionEnder } from './logout.js';
import type { CallbackInput, RedirectProtocol, RedirectProvider, SamlProvider } from './types.js';
import type { OutboundAllowlist } from '../../config/outbound.js';

export type { CallbackInput, Provider, ProviderType, ProvenIdentity, OidcSettings, LdapSettings, ClaimMapping } from './types.js';
export type { DirectoryDefences } from './directory.js';
export { ID_TOKEN_ALGS, PROVIDER_TYPES } from './types.js';
export { SLUG_PATTERN } from './schema.js';
export { kindOf as providerKind, IMPLEMENTED_TYPES } from './kinds.js';
export { clientSecretNameOf, type ProviderInput, type ProviderView, type SsoSecrets } from './providers.js';
export { safeReturnPath } from './flows.js';

/** How recent an SSO-only user's sign-in must be to link another provider (they have no password to give). */
export const LINK_FRESH_MS = 10 * 60_000;

/** Where a finished callback leads: a new session, or (a link flow) back to the signed-in account. */
export type Finished =
  | { kind: 'session'; user: UsersTable; opened: { session: SessionsTable; issued: IssuedToken }; mode: SessionMode; returnTo: string }
  | { kind: 'linked'; returnTo: string };

/**
 * Single sign-on (AUTH-13): providers (`providers.ts`), the accounts a proven identity reaches
 * (`accounts.ts`), the flows in progress (`flows.ts`) and the protocols (`oidc.ts`). Every sign-in ends
 * in `SessionService.create` with method `sso`: the account check, the second-factor gate (unless the
 * provider asserted MFA and is trusted for it) and the session policy apply as to any other method.
 */
export class SsoService {
  readonly providers: ProviderStore;
  readonly accounts: SsoAccounts;
  private readonly protocols: Readonly<Record<RedirectProvider['type'], RedirectProtocol>>;
  private readonly oidc: OidcProtocol;
  private readonly saml: SamlProtocol;
  private readonly directory: DirectoryCheck;
  private readonly singleLogout: SingleLogout;

  constructor(
    private readonly d: {
      db: Db;
      log: SecurityLog;
      secrets: SsoSecrets;
      sessions: {
        create(user: UsersTable, method: SignInMethod, r: SessionRequest): Promise<{ session: SessionsTable; issued: IssuedToken }>;
        isLive(sessionId: string, userId: string): Promise<boolean>;
      } & ProviderSessionEnder;
      /** The user's current password, checked under the lockout (INVALID_CREDENTIALS): a link is a new way in (D290). */
      provePassword(user: UsersTable, password: string, ctx: EventContext): Promise<void>;
      /** The account stage: a disabled or locked user may not act (refuses). */
      accountCheck(user: UsersTable): Promise<void>;
      now: () => number;
      /** PUBLIC_URL: every address Palisade tells a provider is built from it. */
      publicUrl: string;
      /** OUTBOUND_ALLOW (D435): checked when a provider is saved and before each connection to it. */
      outbound?: OutboundAllowlist | null;
      /** The password sign-in's lockout, spread detection and address counter, which a directory sign-in shares. */
      defences: DirectoryDefences;
    },
  ) {
    this.providers = new ProviderStore(d);
    this.accounts = new SsoAccounts(d);
    this.saml = new SamlProtocol({
      resolveSecret: (name) => d.secrets.value(name),
      publicUrl: d.publicUrl,
      spendAssertion: (provider, id, until) => spendAssertion(d.db, provider, id, until, d.now()),
    });
    this.oidc = new OidcProtocol((name) => d.secrets.value(name), d.now, d.outbound ?? null);
    this.protocols = { oidc: this.oidc, saml: this.saml, cas: new CasProtocol() } as Record<RedirectProvider['type'], RedirectProtocol>;
    this.directory = new DirectoryCheck(d, new LdapProtocol((name) => d.secrets.value(name)));
    this.singleLogout = new SingleLogout({
      providers: this.providers,
      log: d.log,
      sessions: d.sessions,
      oidc: this.oidc,
      saml: new SamlSingleLogout({ sp: (p) => this.saml.sp(p), publicUrl: d.publicUrl }),
      spend: (trx, provider, id, until) => spendAssertion(trx, provider, id, until, d.now()),
    });
  }

  /** The enabled providers, for the sign-in page's buttons. */
  async enabledProviders(): Promise<{ slug: string; displayName: string; type: string }[]> {
    return (await this.providers.list()).filter((p) => p.enabled).map((p) => ({ slug: p.slug, displayName: p.displayName, type: p.type }));
  }

  /**
   * Starts linking a provider identity to the signed-in user (D290): a new way into the account, so it needs the
   * current password, or, for an SSO-only user who has none, a session signed in within LINK_FRESH_MS; the link is
   * made at the callback only while this session is still live.
   */
  async startLink(
    slug: string,
    user: UsersTable,
    session: SessionsTable,
    password: string | undefined,
    f: { returnTo: string; redirectUri: string },
    ctx: EventContext,
  ): Promise<{ url: string; binding: string; crossSitePost: boolean }> {
    if (user.sso_only === 1) {
      if (this.d.now() - Number(session.created_at) > LINK_FRESH_MS) throw new AppError('SSO_REAUTH_REQUIRED', { freshSeconds: LINK_FRESH_MS / 1000 });
    } else {
      if (password === undefined) throw new AppError('SSO_REAUTH_REQUIRED', { freshSeconds: LINK_FRESH_MS / 1000 }, 'no password');
      await this.d.provePassword(user, password, ctx);
    }
    return this.start(slug, { purpose: 'link', userId: user.id, sessionId: session.id, ...f });
  }

  /** Starts a sign-in (or, for a signed-in user, a link): the provider's address and the browser's binding value for its cookie. */
  async start(
    slug: string,
    f: { purpose: FlowPurpose; userId: string | null; sessionId?: string | null; returnTo: string; redirectUri: string },
  ): Promise<{ url: string; binding: string; crossSitePost: boolean }> {
    const p = await this.providers.enabled(slug);
    // A directory provider has no redirect: its sign-in is a form (`signInWithPassword`).
    if (!kindOf(p.type).redirect) throw new AppError('NOT_FOUND');
    this.providers.assertReachable(p);
    const rp = p as RedirectProvider;
    const { url, kept } = await this.protocols[rp.type].start(rp, f.redirectUri);
    const { binding } = await keepFlow(
      this.d.db,
      { provider: p.slug, purpose: f.purpose, userId: f.userId, sessionId: f.sessionId ?? null, returnTo: f.returnTo, kept },
      this.d.now(),
    );
    // SAML answers by a cross-site POST, which a SameSite=Lax cookie does not follow (D302).
    return { url, binding, crossSitePost: p.type === 'saml' };
  }

  /** A SAML provider's SP metadata (XML), for its IdP; NOT_FOUND for a disabled or other provider. */
  async samlMetadata(slug: string): Promise<string> {
    const p = await this.providers.enabled(slug);
    if (p.type !== 'saml') throw new AppError('NOT_FOUND');
    return this.saml.metadata(p as SamlProvider);
  }

  /**
   * The callback: the flow spent (state, browser binding), the code exchanged and the ID token checked,
   * then the account found, linked or created, and the funnel run. Every refusal is recorded as a
   * failed `sso.login` (or `sso.linked`) and thrown.
   */
  async finish(slug: string, cb: CallbackInput, binding: string | undefined, request: Omit<EventContext, 'actor'>): Promise<Finished> {
    const anon: EventContext = { ...request, actor: { id: null, name: `sso:${slug}` } };
    const fail = async (code: 'SSO_FAILED' | 'NOT_FOUND', reason: string, userId: string | null = null, type: 'sso.login' | 'sso.linked' = 'sso.login') => {
      await this.d.log.record(anon, { type, outcome: 'failure', subjectId: userId, details: { provider: slug.slice(0, 40), reason } });
      return new AppError(code, undefined, reason);
    };
    const p = await this.providers.get(slug);
    if (!p?.enabled || !kindOf(p.type).redirect) throw await fail('NOT_FOUND', 'unknown_provider');
    this.providers.assertReachable(p);
    const rp = p as RedirectProvider;
    const protocol = this.protocols[rp.type];
    const state = protocol.stateOf(cb);
    const spent = await spendFlow(this.d.db, p.slug, state, binding, this.d.now());
    if (spent.problem !== null) throw await fail('SSO_FAILED', spent.problem, spent.flow?.user_id ?? null);
    const flow = spent.flow;
    const linking = flow.purpose === 'link';
    const type = linking ? 'sso.linked' : 'sso.login';
    const providerError = protocol.providerError(cb);
    if (providerError !== null) throw await fail('SSO_FAILED', `provider_error: ${providerError.slice(0, 64)}`, flow.user_id, type);
    let id: Awaited<ReturnType<RedirectProtocol['finish']>>;
    try {
      id = await protocol.finish(rp, cb, {
        state: state!,
        nonce: flow.nonce,
        codeVerifier: flow.code_verifier,
      });
    } catch (e) {
      const reason = e instanceof AppError ? `${e.code}: ${e.internal ?? ''}` : 'unexpected';
      await fail('SSO_FAILED', reason.slice(0, 300), flow.user_id, type);
      throw e;
    }
    if (linking) {
      if (!flow.user_id) throw await fail('SSO_FAILED', 'link_without_user', null, type);
      const user = await this.d.db.selectFrom('users').selectAll().where('id', '=', flow.user_id).executeTakeFirst();
      if (!user) throw await fail('SSO_FAILED', 'link_user_gone', null, type);
      // The session that started the link must still be live, and the account may act (D290).
      if (!flow.session_id || !(await this.d.sessions.isLive(flow.session_id, user.id))) throw await fail('SSO_FAILED', 'link_session_ended', user.id, type);
      try {
        await this.d.accountCheck(user);
      } catch {
        throw await fail('SSO_FAILED', 'link_account_may_not_act', user.id, type);
      }
      await this.accounts.link(p, id, user.id, 'user', { ...request, actor: { id: user.id, name: user.username } });
      return { kind: 'linked', returnTo: flow.return_to };
    }
    let user: UsersTable;
    try {
      user = await this.accounts.signIn(p, id, request);
    } catch (e) {
      if (e instanceof SsoRefusal) {
        await this.d.log.record(anon, { type: 'sso.login', outcome: 'failure', subjectId: e.userId, details: { provider: p.slug, reason: e.reason } });
      }
      throw e;
    }
    // The one funnel: account check, second factor (a trusted provider's MFA counts as one), session.
    const method: SignInMethod = { method: 'sso', provider: p.slug, mfa: p.trustMfa && id.mfa, subject: id.subject, providerSession: id.providerSession };
    const opened = await this.d.sessions.create(user, method, { mode: 'cookie', rememberMe: false, request });
    return { kind: 'session', user, opened, mode: 'cookie', returnTo: flow.return_to };
  }

  /**
   * An OIDC provider's back-channel logout (D340; `SingleLogout.oidc`). A refusal is SSO_LOGOUT_INVALID; the provider
   * learns nothing more.
   */
  backchannelLogout(slug: string, token: string, request: Omit<EventContext, 'actor'>): Promise<number> {
    return this.singleLogout.oidc(slug, token, request);
  }

  /** A SAML IdP's single logout message at our SLO service (`logout.ts`, D341). */
  samlLogout(
    slug: string,
    form: { SAMLRequest?: string; SAMLResponse?: string; RelayState?: string },
    request: Omit<EventContext, 'actor'>,
  ): Promise<{ redirect: string; ended: boolean }> {
    return this.singleLogout.saml(slug, form, request);
  }

  /** Where a browser goes after signing out of a session a SAML sign-in opened, or null (`logout.ts`, D343). */
  logoutUrlFor(session: Pick<SessionsTable, 'sso_provider' | 'sso_subject' | 'sso_sid'>): Promise<string | null> {
    return this.singleLogout.urlFor(session);
  }

  /**
   * A directory sign-in (LDAP): the username and password checked at the directory under the password
   * sign-in's defences (`directory.ts`), then the same account step and the one funnel as a redirect's
   * callback. The caller has run the bot check.
   */
  async signInWithPassword(
    slug: string,
    creds: { username: string; password: string },
    f: { mode: SessionMode; rememberMe: boolean; request: Omit<EventContext, 'actor'> },
  ): Promise<{ user: UsersTable; opened: { session: SessionsTable; issued: IssuedToken } }> {
    const p = await this.providers.get(slug);
    if (!p?.enabled || p.type !== 'ldap') throw new AppError('NOT_FOUND');
    this.providers.assertReachable(p);
    const id = await this.directory.prove(p, creds.username, creds.password, f.request);
    let user: UsersTable;
    try {
      user = await this.accounts.signIn(p, id, f.request);
    } catch (e) {
      if (e instanceof SsoRefusal) {
        await this.d.log.record(
          { ...f.request, actor: { id: null, name: `sso:${slug}` } },
          { type: 'sso.login', outcome: 'failure', subjectId: e.userId, details: { provider: p.slug, reason: e.reason } },
        );
      }
      throw e;
    }
    // A directory proves a password only: the second factor is asked for as after a local password.
    const opened = await this.d.sessions.create(
      user,
      { method: 'sso', provider: p.slug, mfa: false, subject: id.subject, providerSession: null },
      { mode: f.mode, rememberMe: f.rememberMe, request: f.request },
    );
    return { user, opened };
  }

  async linksOf(userId: string): Promise<SsoLinksTable[]> {
    return this.accounts.linksOf(userId);
  }

  /** An administrator links a provider identity to a user (the subject as the provider names it). */
  async adminLink(userId: string, slug: string, subject: string, ctx: EventContext): Promise<void> {
    const p = await this.providers.get(slug);
    if (!p) throw new AppError('NOT_FOUND');
    await this.accounts.link(p, { issuer: kindOf(p.type).issuerOf(p.settings as never), subject, email: null }, userId, 'admin', ctx);
  }

  unlink(userId: string, slug: string, subject: string, by: 'user' | 'admin', ctx: EventContext): Promise<boolean> {
    return this.accounts.unlink(userId, slug, subject, by, ctx);
  }
}
