import type { Db } from '../../db/index.js';
import type { SessionsTable, UsersTable } from '../../db/types.js';
import type { SharedState } from '../../shared-state/index.js';
import type { TokenPolicy } from '../token-policy.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import type { TokenClaims, TokenService } from '../tokens.js';
import type { SessionEnder } from './revoke.js';
import { newId, type IssuedToken } from './types.js';

/**
 * Token renewal (AUTH-2): each token is renewed exactly once across instances; a second renewal
 * inside the grace window gets the same token, a later one ends the session as reuse.
 */
export class Renewer {
  constructor(
    private readonly db: Db,
    private readonly tokens: TokenService,
    private readonly shared: SharedState,
    private readonly log: SecurityLog,
    private readonly ender: SessionEnder,
    private readonly graceSeconds: number,
  ) {}

  /** Renews the token of a live session of an active account; `now` is the request's clock reading. */
  async renew(
    claims: TokenClaims,
    user: UsersTable,
    session: SessionsTable,
    policy: TokenPolicy,
    now: number,
    ctx: Omit<EventContext, 'actor'>,
  ): Promise<IssuedToken> {
    const nowSec = Math.floor(now / 1000);
    const actorCtx: EventContext = { ...ctx, actor: { id: user.id, name: user.username } };
    const newExp = Math.min(nowSec + policy.tokenValidity, Math.floor(session.expires_at / 1000));
    if (newExp <= nowSec) throw new AppError('SESSION_ENDED', undefined, 'absolute validity reached');
    const kid = await this.tokens.currentKid();
    const candidate = { newJti: newId(), newIat: nowSec, newExp, kid, createdAt: now };
    // The claim lives as long as the old token can be presented for renewal, plus the grace window.
    const ttlMs = Math.max(1000, (claims.exp + policy.refreshLimit) * 1000 - now + this.graceSeconds * 1000);
    // The claim is durable (the database, whatever Redis holds), and commits with its event and the
    // session's last_seen_at: a failed write leaves no claim behind, so a retry renews afresh.
    const { won, claim } = await this.db.transaction().execute(async (trx) => {
      const r = await this.shared.claimRenewal(claims.jti, session.id, candidate, ttlMs, trx);
      if (r.won) {
        await this.log.record(actorCtx, { type: 'token.renewed', outcome: 'success', subjectId: user.id, details: { sessionId: session.id } }, trx);
        await trx.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', session.id).execute();
      }
      return r;
    });
    if (!won && now - claim.createdAt > this.graceSeconds * 1000) {
      // The session ends and the reuse is recorded together.
      await this.db.transaction().execute(async (trx) => {
        await this.ender.endSession(session.id, 'token_reuse', actorCtx, trx);
        await this.log.record(
          actorCtx,
          {
            type: 'token.reuse_detected',
            outcome: 'failure',
            subjectId: user.id,
            details: { sessionId: session.id, renewedAt: new Date(claim.createdAt).toISOString() },
          },
          trx,
        );
      });
      throw new AppError('TOKEN_REUSED');
    }
    const { token } = await this.tokens.sign({ sub: user.id, sid: session.id, jti: claim.newJti, iat: claim.newIat, exp: claim.newExp }, claim.kid);
    return { token, expiresAt: claim.newExp * 1000, sessionExpiresAt: session.expires_at };
  }
}
