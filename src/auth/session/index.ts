import type { Db } from '../../db/index.js';
import type { StateStamps } from '../../db/stamps.js';
import type { SessionsTable, UsersTable } from '../../db/types.js';
import type { SharedState } from '../../shared-state/index.js';
import type { SettingsStore } from '../../config/settings.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import type { TokenService } from '../tokens.js';
import type { AccountLocks } from '../account-locks.js';
import { SessionCreator, type SessionRequest, type SignInGate } from './create.js';
import { Renewer } from './renew.js';
import { SessionEnder } from './revoke.js';
import { SessionVerifier, type PendingRenewal, type PendingSession, type TokenGate } from './verify.js';
import { XsrfTokens } from './xsrf.js';
import type { IssuedToken, SessionMode, SignInMethod } from './types.js';

export type {
  ApiKeyAuth,
  AuthState,
  BasicAuth,
  CarriedToken,
  IssuedToken,
  SecondFactor,
  SessionAuth,
  SessionMode,
  SignInContext,
  SignInMethod,
} from './types.js';
export { secondFactorOf } from './types.js';
export type { SessionAsked, SessionRequest, SignInGate } from './create.js';
export type { PendingRenewal, PendingSession, TokenGate } from './verify.js';

/**
 * Sessions (AUTH-2, AUTH-4): creating one after a proven identity (`create.ts`), checking and
 * renewing its tokens (`verify.ts`, `renew.ts`), ending it (`revoke.ts`), its XSRF token (`xsrf.ts`).
 * How a user proves who they are is not this module's business (`../credentials/`).
 */
export class SessionService {
  readonly creator: SessionCreator;
  private readonly verifier: SessionVerifier;
  private readonly ender: SessionEnder;
  private readonly xsrf: XsrfTokens;

  constructor(
    private readonly db: Db,
    tokens: TokenService,
    shared: SharedState,
    settings: SettingsStore,
    private readonly log: SecurityLog,
    private readonly now: () => number,
    appKey: string,
    graceSeconds: number,
    lockout: Pick<AccountLocks, 'activeLock'>,
    /** The sign-in gates after the account check, in order (password expiry today). */
    gates: readonly SignInGate[] = [],
    /** The version stamps, observed with every session read (D360). */
    stamps?: StateStamps,
  ) {
    this.ender = new SessionEnder(db, log, now);
    this.creator = new SessionCreator(db, tokens, settings, log, lockout, now, gates, (id, reason, ctx, trx) => this.ender.endSession(id, reason, ctx, trx));
    this.verifier = new SessionVerifier(db, tokens, settings, new Renewer(db, tokens, shared, log, this.ender, graceSeconds), now, stamps);
    this.xsrf = new XsrfTokens(appKey);
  }

  /** The one funnel to a session: runs every gate, then creates the session and its token. */
  /** The account check and the sign-in gates without a session (HTTP basic authentication). */
  admit(user: UsersTable, method: SignInMethod, request: Omit<EventContext, 'actor'>): Promise<void> {
    return this.creator.admit(user, method, request);
  }

  create(user: UsersTable, method: SignInMethod, r: SessionRequest): Promise<{ session: SessionsTable; issued: IssuedToken }> {
    return this.creator.create(user, method, r);
  }

  identify(token: string, via: SessionMode, ctx: Omit<EventContext, 'actor'>, autoRenew: boolean, gate?: TokenGate): Promise<PendingSession> {
    return this.verifier.identify(token, via, ctx, autoRenew, gate);
  }

  identifyForRefresh(token: string, via: SessionMode, ctx: Omit<EventContext, 'actor'>, gate?: TokenGate): Promise<PendingRenewal> {
    return this.verifier.identifyForRefresh(token, via, ctx, gate);
  }

  xsrfToken(sessionId: string): string {
    return this.xsrf.token(sessionId);
  }

  checkXsrf(sessionId: string, presented: string | undefined): boolean {
    return this.xsrf.check(sessionId, presented);
  }

  endSession(sessionId: string, reason: string, ctx: EventContext, db?: Db): Promise<boolean> {
    return this.ender.endSession(sessionId, reason, ctx, db);
  }

  endUserSessions(userId: string, reason: string, ctx: EventContext, exceptSessionId?: string, db?: Db): Promise<number> {
    return this.ender.endUserSessions(userId, reason, ctx, exceptSessionId, db);
  }

  /** Account recovery: the user's sessions and API keys end (`SessionEnder.endUserCredentials`). */
  endUserCredentials(userId: string, reason: string, ctx: EventContext, db?: Db): Promise<number> {
    return this.ender.endUserCredentials(userId, reason, ctx, db);
  }

  endAllSessions(reason: string, ctx: EventContext): Promise<number> {
    return this.ender.endAllSessions(reason, ctx);
  }

  endProviderSessions(
    provider: string,
    by: { subject: string | null; sid: string | null },
    ctx: EventContext,
    spend?: (trx: Db) => Promise<boolean>,
  ): Promise<number> {
    return this.ender.endProviderSessions(provider, by, ctx, spend);
  }

  logout(sessionId: string, userId: string, ctx: EventContext): Promise<void> {
    return this.ender.logout(sessionId, userId, ctx);
  }

  logoutAll(userId: string, ctx: EventContext): Promise<number> {
    return this.ender.logoutAll(userId, ctx);
  }

  /**
   * Ends one of the user's own live sessions; false when there is none of that id for this user
   * (another user's session answers like a missing one).
   */
  async endOwnSession(userId: string, sessionId: string, ctx: EventContext): Promise<boolean> {
    const target = await this.db
      .selectFrom('sessions')
      .select(['id', 'user_id'])
      .where('id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (!target || target.user_id !== userId) return false;
    await this.endSession(target.id, 'ended_by_user', ctx);
    return true;
  }

  /** Sets the role a session acts with (null: the union of held roles), with its audit event, in one transaction. */
  async setActiveRole(session: { id: string; user_id: string }, role: string | null, held: readonly string[], ctx: EventContext): Promise<void> {
    if (role !== null && !held.includes(role)) throw new AppError('ROLE_NOT_HELD');
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('sessions').set({ active_role: role }).where('id', '=', session.id).execute();
      await this.log.record(
        ctx,
        { type: 'access.changed', outcome: 'success', subjectId: session.user_id, details: { change: 'session.active_role', role } },
        trx,
      );
    });
  }

  /** Whether the session of this id belongs to the user and is neither ended nor expired (a signed link's re-check, D280). */
  async isLive(sessionId: string, userId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('sessions')
      .select('id')
      .where('id', '=', sessionId)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', this.now())
      .executeTakeFirst();
    return row !== undefined;
  }

  async listLive(userId: string): Promise<SessionsTable[]> {
    return this.db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', this.now())
      .orderBy('created_at', 'desc')
      .execute();
  }
}
