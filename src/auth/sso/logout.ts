import type { EventContext, SecurityLog } from '../../audit/events.js';
import type { Db } from '../../db/index.js';
import type { SessionsTable } from '../../db/types.js';
import { AppError } from '../../errors.js';
import { LogoutTokenRefusal, type OidcProtocol } from './oidc.js';
import type { ProviderStore } from './providers.js';
import type { SamlSingleLogout } from './saml/logout.js';
import type { SamlProvider } from './types.js';

/** What single logout needs of the sessions: ending those a provider's logout names (with their events and `sso.logout`). */
export interface ProviderSessionEnder {
  endProviderSessions(
    provider: string,
    by: { subject: string | null; sid: string | null },
    ctx: EventContext,
    /** Spends the logout's id in the transaction that ends the sessions. */
    spend?: (trx: Db) => Promise<boolean>,
  ): Promise<number>;
}

/**
 * Single logout (D339–D348): an OIDC provider's back-channel logout token, and what a SAML IdP and Palisade ask of
 * each other (the IdP's LogoutRequest at our SLO service; a sign-out of a session a SAML sign-in opened sent on to the
 * IdP). Each ends the sessions it names with the message's id spent in the same transaction; a refusal is a failed
 * `sso.logout` and SSO_LOGOUT_INVALID.
 */
export class SingleLogout {
  constructor(
    private readonly d: {
      providers: ProviderStore;
      log: SecurityLog;
      sessions: ProviderSessionEnder;
      oidc: Pick<OidcProtocol, 'verifyLogoutToken'>;
      saml: SamlSingleLogout;
      /** Spends a message's id in the given transaction until it expires; false when it was seen before (a replay). */
      spend: (trx: Db, provider: string, id: string, until: number) => Promise<boolean>;
    },
  ) {}

  /**
   * An OIDC provider's back-channel logout (D340): the logout token verified (`OidcProtocol.verifyLogoutToken`), then
   * the sessions it names ended with its `jti` spent in that transaction (a provider retrying after a 503 is no replay).
   * Only refusals of what the provider signed (a replay, a claim) are recorded; junk anyone can post is not.
   */
  async oidc(slug: string, token: string, request: Omit<EventContext, 'actor'>): Promise<number> {
    const ctx: EventContext = { ...request, actor: { id: null, name: `sso:${slug}` } };
    const p = await this.d.providers.get(slug);
    if (!p?.enabled || p.type !== 'oidc') throw new AppError('NOT_FOUND');
    try {
      const named = await this.d.oidc.verifyLogoutToken(p, token);
      return await this.d.sessions.endProviderSessions(p.slug, { subject: named.subject, sid: named.sid }, ctx, (trx) =>
        this.d.spend(trx, p.slug, `logout:${named.jti}`, named.until),
      );
    } catch (e) {
      if (!(e instanceof LogoutTokenRefusal && !e.signed)) await this.recordRefusal(ctx, p.slug, e);
      throw e;
    }
  }

  /** A refused logout message: a failed `sso.logout` with the reason (other errors are not refusals). */
  private async recordRefusal(ctx: EventContext, provider: string, e: unknown): Promise<void> {
    if (e instanceof AppError && e.code === 'SSO_LOGOUT_INVALID') {
      await this.d.log.record(ctx, { type: 'sso.logout', outcome: 'failure', subjectId: null, details: { provider, reason: e.internal ?? '' } });
    }
  }

  /**
   * A SAML IdP's single logout message at our SLO service (HTTP-POST binding; D341). A `SAMLRequest` (the IdP's
   * LogoutRequest) is verified (`SamlSingleLogout.verifyLogoutRequest`), the sessions it names ended, and answered with
   * our LogoutResponse at the IdP's `sloUrl`; a refusal is a failed `sso.logout` and SSO_LOGOUT_INVALID. A
   * `SAMLResponse` ends an SP-initiated logout whose session already ended: it changes nothing and is not read, so
   * the browser goes to the sign-in page. NOT_FOUND for a provider without `sloUrl` (we advertise no SLO service).
   */
  async saml(
    slug: string,
    form: { SAMLRequest?: string; SAMLResponse?: string; RelayState?: string },
    request: Omit<EventContext, 'actor'>,
  ): Promise<{ redirect: string; ended: boolean }> {
    const ctx: EventContext = { ...request, actor: { id: null, name: `sso:${slug}` } };
    const p = await this.d.providers.get(slug);
    if (!p?.enabled || p.type !== 'saml' || !(p as SamlProvider).settings.sloUrl) throw new AppError('NOT_FOUND');
    const sp = p as SamlProvider;
    if ((form.SAMLRequest === undefined) === (form.SAMLResponse === undefined)) {
      throw new AppError('VALIDATION_FAILED', [{ path: '/', message: 'give exactly one of SAMLRequest or SAMLResponse' }]);
    }
    if (form.SAMLRequest === undefined) return { redirect: '/sign-in', ended: false };
    let named: Awaited<ReturnType<SamlSingleLogout['verifyLogoutRequest']>>;
    try {
      named = await this.d.saml.verifyLogoutRequest(sp, form.SAMLRequest);
      // The request's ID is spent in the transaction that ends the sessions: a failure between the two is retried whole.
      const spent = named;
      await this.d.sessions.endProviderSessions(p.slug, { subject: named.subject, sid: named.sid }, ctx, (trx) =>
        this.d.spend(trx, p.slug, spent.id, spent.until),
      );
    } catch (e) {
      await this.recordRefusal(ctx, p.slug, e);
      throw e;
    }
    return { redirect: await this.d.saml.logoutResponseUrl(sp, named.request, form.RelayState ?? ''), ended: true };
  }

  /**
   * Where a browser goes after signing out of a session a SAML sign-in opened (D343): the IdP's SLO service with our
   * LogoutRequest for that sign-in's NameID and SessionIndex, when the provider is enabled and has `sloUrl`; else
   * null. The Palisade session has ended already: a failure here only loses the courtesy, so it answers null.
   */
  async urlFor(session: Pick<SessionsTable, 'sso_provider' | 'sso_subject' | 'sso_sid'>): Promise<string | null> {
    if (!session.sso_provider || !session.sso_subject) return null;
    try {
      const p = await this.d.providers.get(session.sso_provider);
      if (!p?.enabled || p.type !== 'saml' || !(p as SamlProvider).settings.sloUrl) return null;
      return await this.d.saml.logoutRequestUrl(p as SamlProvider, session.sso_subject, session.sso_sid);
    } catch {
      return null;
    }
  }
}
