import type { Db } from '../db/index.js';
import type { RenewalClaim, SharedState } from './index.js';

export class DatabaseSharedState implements SharedState {
  readonly kind = 'database' as const;
  private claims = 0;
  constructor(private readonly db: Db, private readonly now: () => number) {}

  async claimRenewal(jti: string, sessionId: string, claim: RenewalClaim, ttlMs: number) {
    const inserted = await this.db.insertInto('token_renewals')
      .values({
        jti, session_id: sessionId, new_jti: claim.newJti, new_iat: claim.newIat, new_exp: claim.newExp,
        kid: claim.kid, created_at: claim.createdAt, expires_at: claim.createdAt + ttlMs,
      })
      .onConflict((oc) => oc.column('jti').doNothing())
      .returning('jti')
      .executeTakeFirst();
    if (++this.claims % 200 === 0) await this.sweep();
    if (inserted) return { won: true, claim };
    const row = await this.db.selectFrom('token_renewals').selectAll().where('jti', '=', jti).executeTakeFirstOrThrow();
    return {
      won: false,
      claim: { newJti: row.new_jti, newIat: row.new_iat, newExp: row.new_exp, kid: row.kid, createdAt: row.created_at },
    };
  }

  /** Drops claims whose token can no longer be presented. */
  async sweep(): Promise<void> {
    await this.db.deleteFrom('token_renewals').where('expires_at', '<', this.now()).execute();
  }

  async ping() { return true; }
  async close() { /* the database handle is closed by its owner */ }
}
