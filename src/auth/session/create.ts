import type { Db } from '../../db/index.js';
import type { SessionsTable, UsersTable } from '../../db/types.js';
import type { SettingsStore } from '../../config/settings.js';
import { tokenPolicyArea, type TokenPolicy } from '../token-policy.js';
import { auditLogArea } from '../../audit-settings.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import type { TokenService } from '../tokens.js';
import type { AccountLocks } from '../account-locks.js';
import { standingOf } from '../standing.js';
import { newId, secondFactorOf, type CarriedToken, type IssuedToken, type SessionMode, type SignInContext, type SignInMethod } from './types.js';

/**
 * A check that runs after identity is proven and before any session exists; it refuses the sign-in
 * by throwing (a required second factor, an expired password or a required change). `session` is the
 * session asked for (absent for methods that open none, such as basic), for a gate whose answer must
 * carry it on to a later step (the second factor's challenge).
 */
export type SignInGate = (user: UsersTable, method: SignInMethod, ctx: EventContext, session?: SessionAsked) => Promise<void>;

/** What a sign-in asks for: the session's mode and lifetime. */
export interface SessionAsked {
  mode: SessionMode;
  rememberMe: boolean;
}

export interface SessionRequest {
  mode: SessionMode;
  rememberMe: boolean;
  /** The request's audit context, without the actor; with the session token the request carried, if any. */
  request: SignInContext;
}

/** Ends one session with its `session.ended` event, in the caller's transaction (the `SessionEnder`'s). */
export type EndSession = (sessionId: string, reason: string, ctx: EventContext, db: Db) => Promise<boolean>;

/**
 * The one funnel to a session: every way of proving identity ends here. It does not care how the
 * user proved who they are; it runs every gate first, so no session is ever handed out and taken back.
 */
export class SessionCreator {
  /**
   * Whether a user's sign-ins are always recorded, hidden sign-ins or not: administrators and holders
   * of any system permission (services.ts sets it from the access model; auth sits below access).
   */
  privileged: (user: UsersTable) => Promise<boolean> = async (user) => user.is_admin === 1;

  /**
   * Told of every session opened, once it committed, whichever way the user proved who they are: the sign-in notices
   * (ASVS V6.3.5, src/auth/notices/; services.ts sets it). It returns at once; what it does can never undo the sign-in.
   */
  opened: (user: UsersTable, session: SessionsTable, ctx: EventContext) => void = () => undefined;

  constructor(
    private readonly db: Db,
    private readonly tokens: TokenService,
    private readonly settings: SettingsStore,
    private readonly log: SecurityLog,
    private readonly lockout: Pick<AccountLocks, 'activeLock'>,
    private readonly now: () => number,
    /** Gates after the account check, in order (second factor, then password expiry). */
    private readonly gates: readonly SignInGate[] = [],
    private readonly endSession: EndSession = async () => false,
  ) {}

  /** Runs the account check and every gate, and opens nothing: for methods that have no session (basic). */
  async admit(user: UsersTable, method: SignInMethod, request: Omit<EventContext, 'actor'>, session?: SessionAsked): Promise<void> {
    const actorCtx: EventContext = { ...request, actor: { id: user.id, name: user.username } };
    await this.checkAccount(user, actorCtx);
    for (const gate of this.gates) await gate(user, method, actorCtx, session);
  }

  async create(user: UsersTable, method: SignInMethod, r: SessionRequest): Promise<{ session: SessionsTable; issued: IssuedToken }> {
    // The carried token goes no further than this function: no gate or event sees it.
    const { carried: carriedToken, ...request } = r.request;
    const actorCtx: EventContext = { ...request, actor: { id: user.id, name: user.username } };
    await this.admit(user, method, request, { mode: r.mode, rememberMe: r.rememberMe });
    const factor = secondFactorOf(method);
    const sso = typeof method === 'object' && method.method === 'sso' ? method : null;
    const policy = await this.settings.get(tokenPolicyArea);
    const now = this.now();
    const session: SessionsTable = {
      id: newId(),
      user_id: user.id,
      mode: r.mode,
      remember: r.rememberMe ? 1 : 0,
      created_at: now,
      expires_at: now + (r.rememberMe ? policy.rememberMeValidity : policy.sessionValidity) * 1000,
      last_seen_at: now,
      ip: (r.request.ip ?? '').slice(0, 64),
      user_agent: (r.request.userAgent ?? '').slice(0, 512),
      revoked_at: null,
      revoked_reason: null,
      active_role: null,
      // A single logout (a back-channel logout token, a SAML LogoutRequest) ends the sessions it names (D339).
      sso_provider: sso?.provider ?? null,
      sso_subject: sso?.subject.slice(0, 255) ?? null,
      sso_sid: sso?.providerSession?.slice(0, 255) ?? null,
    };
    // AUDIT-1: an ordinary user's successful sign-in may go unrecorded; an administrator's never does,
    // nor does any failure (those are recorded where they happen, whatever this setting says).
    const recorded = !(await this.settings.get(auditLogArea)).hideOrdinarySignIns || (await this.privileged(user));
    const carried = await this.carriedSession(carriedToken, policy);
    // The session and its sign-in event commit together: a full disk leaves neither (issue 9).
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('sessions').values(session).execute();
      // A sign-in ends the session the request came with, another account's or the same one's (ASVS V7.2.4, D365):
      // no browser or client holds two sessions, and none keeps one that someone else planted before the sign-in.
      if (carried !== null) await this.endSession(carried, 'signed_in_again', actorCtx, trx);
      if (!recorded) return;
      await this.log.record(
        actorCtx,
        {
          type: 'auth.login',
          outcome: 'success',
          subjectId: user.id,
          details: {
            sessionId: session.id,
            method: typeof method === 'string' ? method : method.method,
            mode: r.mode,
            rememberMe: r.rememberMe,
            admin: user.is_admin === 1,
            ...(factor ? { secondFactor: factor } : {}),
            ...(sso ? { provider: sso.provider, providerMfa: sso.mfa } : {}),
          },
        },
        trx,
      );
    });
    this.opened(user, session, actorCtx);
    return { session, issued: await this.issue(user.id, session, policy) };
  }

  /**
   * A disabled or locked account gets no session, whichever method proved it. The answer is that of
   * bad credentials, so a sign-in reveals nothing about the account.
   */
  private async checkAccount(user: UsersTable, ctx: EventContext): Promise<void> {
    const standing = await standingOf(user, this.lockout);
    if (standing === 'active') return;
    await this.log.record(ctx, { type: 'auth.login', outcome: 'failure', subjectId: user.id, details: { reason: standing } });
    throw new AppError('INVALID_CREDENTIALS', undefined, standing);
  }

  /**
   * The session a carried token names, when its signature holds (expired or not: a renewable token is a live
   * session). A token that does not verify names nothing; the sign-in goes on either way.
   */
  private async carriedSession(carried: CarriedToken | null | undefined, policy: TokenPolicy): Promise<string | null> {
    if (!carried) return null;
    try {
      const { claims } = await this.tokens.verifySignature(carried.token, (policy.tokenValidity + policy.refreshLimit) * 1000);
      return claims.sid;
    } catch (e) {
      if (e instanceof AppError) return null;
      throw e;
    }
  }

  private async issue(userId: string, session: SessionsTable, policy: TokenPolicy): Promise<IssuedToken> {
    const nowSec = Math.floor(this.now() / 1000);
    const exp = Math.min(nowSec + policy.tokenValidity, Math.floor(session.expires_at / 1000));
    const { token } = await this.tokens.sign({ sub: userId, sid: session.id, jti: newId(), iat: nowSec, exp });
    return { token, expiresAt: exp * 1000, sessionExpiresAt: session.expires_at };
  }
}
