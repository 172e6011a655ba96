import { inTransaction, type Db } from '../../db/index.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';

/**
 * Ending sessions (AUTH-4). The revocation and its event commit together or not at all: during an
 * outage the caller gets a 503 and the session stays as it was, never "acknowledged but alive".
 */
export class SessionEnder {
  constructor(
    private readonly db: Db,
    private readonly log: SecurityLog,
    private readonly now: () => number,
  ) {}

  /** Ends one session; returns false when it was already ended. */
  async endSession(sessionId: string, reason: string, ctx: EventContext, db: Db = this.db): Promise<boolean> {
    return inTransaction(db, (trx) => this.endSessionIn(sessionId, reason, ctx, trx));
  }

  /** Ends every live session of a user, optionally sparing one; returns how many ended. */
  async endUserSessions(userId: string, reason: string, ctx: EventContext, exceptSessionId?: string, db: Db = this.db): Promise<number> {
    return inTransaction(db, (trx) => this.endUserSessionsIn(userId, reason, ctx, exceptSessionId, trx));
  }

  /**
   * Account recovery (a reset link, an administrator's new password or second-factor reset): the person now proving
   * who they are did not prove they held the account's credentials, so every credential it had ends, its sessions
   * and its API keys, with their events, in the caller's transaction; an API key made with a stolen session would
   * otherwise outlive the cure. Returns the sessions ended.
   */
  async endUserCredentials(userId: string, reason: string, ctx: EventContext, db: Db = this.db): Promise<number> {
    return inTransaction(db, async (trx) => {
      const sessions = await this.endUserSessionsIn(userId, reason, ctx, undefined, trx);
      const keys = await trx
        .updateTable('api_keys')
        .set({ revoked_at: this.now(), revoked_reason: reason })
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .returning('id')
        .execute();
      if (keys.length > 0)
        await this.log.record(
          ctx,
          { type: 'apikey.revoked', outcome: 'success', subjectId: userId, details: { count: keys.length, ids: keys.map((k) => k.id).sort(), reason } },
          trx,
        );
      return sessions;
    });
  }

  /**
   * Ends every live session of every user (an operator's `palisade sessions revoke --all`, ASVS V7.4.5): one update and
   * one `session.ended` event with the count, in one transaction. Returns how many ended.
   */
  async endAllSessions(reason: string, ctx: EventContext): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const res = await trx.updateTable('sessions').set({ revoked_at: this.now(), revoked_reason: reason }).where('revoked_at', 'is', null).executeTakeFirst();
      const n = Number(res.numUpdatedRows);
      if (n > 0) await this.log.record(ctx, { type: 'session.ended', outcome: 'info', subjectId: null, details: { count: n, reason, allUsers: true } }, trx);
      return n;
    });
  }

  /** The user signs out: the session ends with its `session.ended` and `auth.logout` events, in one transaction. */
  async logout(sessionId: string, userId: string, ctx: EventContext): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.endSessionIn(sessionId, 'logout', ctx, trx);
      await this.log.record(ctx, { type: 'auth.logout', outcome: 'success', subjectId: userId, details: { sessionId } }, trx);
    });
  }

  /** The user signs out everywhere: every session ends, with the events, in one transaction. Returns how many. */
  async logoutAll(userId: string, ctx: EventContext): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const ended = await this.endUserSessionsIn(userId, 'logout_all', ctx, undefined, trx);
      await this.log.record(ctx, { type: 'auth.logout_all', outcome: 'success', subjectId: userId, details: { ended } }, trx);
      return ended;
    });
  }

  /**
   * A provider's single logout (an OIDC back-channel logout token, a SAML LogoutRequest): ends the live sessions it
   * opened that the logout names, by the provider's own session id when given (and the subject too, when both are),
   * else every session of the subject; the `session.ended` events and one `sso.logout` commit together (D339).
   */
  async endProviderSessions(
    provider: string,
    by: { subject: string | null; sid: string | null },
    ctx: EventContext,
    /** Spends the logout's id in the same transaction (false: seen before, and nothing ends), so a retry after a failure is not a replay. */
    spend?: (trx: Db) => Promise<boolean>,
  ): Promise<number> {
    if (by.subject === null && by.sid === null) return 0;
    return this.db.transaction().execute(async (trx) => {
      if (spend && !(await spend(trx))) throw new AppError('SSO_LOGOUT_INVALID', undefined, 'logout replayed');
      let q = trx.selectFrom('sessions').select(['id', 'user_id']).where('sso_provider', '=', provider).where('revoked_at', 'is', null);
      if (by.subject !== null) q = q.where('sso_subject', '=', by.subject);
      // Both named: the provider's session, or a session of that subject whose sign-in named none (it may be that one).
      if (by.sid !== null && by.subject !== null) q = q.where((eb) => eb.or([eb('sso_sid', '=', by.sid), eb('sso_sid', 'is', null)]));
      else if (by.sid !== null) q = q.where('sso_sid', '=', by.sid);
      const live = await q.execute();
      for (const s of live) await this.endSessionIn(s.id, 'sso_logout', ctx, trx);
      const users = [...new Set(live.map((s) => s.user_id))];
      await this.log.record(
        ctx,
        {
          type: 'sso.logout',
          outcome: 'success',
          subjectId: users.length === 1 ? users[0]! : null,
          details: { provider, ended: live.length, by: by.sid !== null ? 'session' : 'subject' },
        },
        trx,
      );
      return live.length;
    });
  }

  private async endSessionIn(sessionId: string, reason: string, ctx: EventContext, db: Db): Promise<boolean> {
    const res = await db
      .updateTable('sessions')
      .set({ revoked_at: this.now(), revoked_reason: reason })
      .where('id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    const ended = Number(res.numUpdatedRows) > 0;
    if (ended) {
      const s = await db.selectFrom('sessions').select('user_id').where('id', '=', sessionId).executeTakeFirst();
      await this.log.record(ctx, { type: 'session.ended', outcome: 'info', subjectId: s?.user_id ?? null, details: { sessionId, reason } }, db);
    }
    return ended;
  }

  private async endUserSessionsIn(userId: string, reason: string, ctx: EventContext, exceptSessionId: string | undefined, db: Db): Promise<number> {
    let q = db.updateTable('sessions').set({ revoked_at: this.now(), revoked_reason: reason }).where('user_id', '=', userId).where('revoked_at', 'is', null);
    if (exceptSessionId) q = q.where('id', '!=', exceptSessionId);
    const n = Number((await q.executeTakeFirst()).numUpdatedRows);
    if (n > 0) await this.log.record(ctx, { type: 'session.ended', outcome: 'info', subjectId: userId, details: { count: n, reason } }, db);
    return n;
  }
}
