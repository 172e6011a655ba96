import { createHash } from 'node:crypto';
import { inTransaction, type Db } from '../db/index.js';
import type { SharedState } from '../shared-state/index.js';
import type { EventContext, SecurityLog } from '../audit/events.js';

export interface LockInfo {
  userId: string;
  username: string;
  lockedAt: number;
  lockedUntil: number | null;
  reason: string;
  lockedBy: string | null;
}

/**
 * The key of an account's (or an unknown identifier's) failure counter. Unknown identifiers are
 * counted and "locked" too, under a hash, so locks reveal no accounts.
 */
export function attemptSubject(userId: string | null, normalisedIdentifier: string): string {
  return userId ? `u:${userId}` : `i:${createHash('sha256').update(normalisedIdentifier).digest('base64url').slice(0, 22)}`;
}

/**
 * The key of an account's second-factor failure counter: apart from the password's, so that a right
 * password (which forgets the password failures) cannot reset the count of wrong codes. Both lock the
 * same account, and unlocking forgets both.
 */
export function secondFactorSubject(userId: string): string {
  return `m:${userId}`;
}

/**
 * The register of locked accounts (AUTH-9, AUTH-4): who is locked, by whom, until when. The lockout
 * writes automatic locks into it, administrators their own; the sign-in gates and the pipeline's
 * account stage read it. It knows nothing of attempts or mail.
 */
export class AccountLocks {
  constructor(
    private readonly db: Db,
    private readonly shared: SharedState,
    private readonly log: SecurityLog,
    private readonly now: () => number,
  ) {}

  async activeLock(userId: string): Promise<{ lockedUntil: number | null } | null> {
    const row = await this.db.selectFrom('account_locks').select(['locked_until']).where('user_id', '=', userId).executeTakeFirst();
    if (!row || (row.locked_until !== null && row.locked_until <= this.now())) return null;
    return { lockedUntil: row.locked_until };
  }

  /** True while an administrator's lock holds: such accounts get no self-service reset mail. */
  async lockedByAdministrator(userId: string): Promise<boolean> {
    const row = await this.db.selectFrom('account_locks').select(['locked_by', 'locked_until']).where('user_id', '=', userId).executeTakeFirst();
    return !!row && row.locked_by !== null && (row.locked_until === null || row.locked_until > this.now());
  }

  /**
   * Locks an account: by an administrator (`by` set: until unlocked) or by the lockout (`by` null).
   * An automatic lock never replaces an administrator's. Runs in `db` when that is a transaction
   * (UserService.lockByAdministrator ends the sessions in it).
   */
  async lock(userId: string, reason: string, until: number | null, by: string | null, ctx: EventContext, db: Db = this.db): Promise<void> {
    const now = this.now();
    await inTransaction(db, async (trx) => {
      const inserted = await trx
        .insertInto('account_locks')
        .values({ user_id: userId, locked_at: now, locked_until: until, reason, locked_by: by })
        .onConflict((oc) => {
          const up = oc.column('user_id').doUpdateSet({ locked_at: now, locked_until: until, reason, locked_by: by });
          return by === null ? up.where((eb) => eb.or([eb('account_locks.locked_by', 'is', null), eb('account_locks.locked_until', '<=', now)])) : up;
        })
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 1) === 0) return;
      await this.log.record(
        ctx,
        {
          type: 'account.locked',
          outcome: 'info',
          subjectId: userId,
          details: { reason, until: until === null ? 'until unlocked' : new Date(until).toISOString(), by: by ? 'administrator' : 'lockout' },
        },
        trx,
      );
    });
  }

  /** Lifts any lock (administrators, the CLI), and forgets the account's failures. */
  async unlock(userId: string, ctx: EventContext): Promise<boolean> {
    const was = await this.lift(userId, ctx, false, this.db);
    await this.forgetFailures(userId);
    return was;
  }

  /**
   * Lifts only a lock the lockout made itself (a completed reset proves control of the mailbox): an
   * administrator's lock stays. Runs in `db` when that is a transaction (the reset's); the caller
   * forgets the failures once it has committed.
   */
  async unlockAutomatic(userId: string, ctx: EventContext, db: Db): Promise<boolean> {
    return this.lift(userId, ctx, true, db);
  }

  /**
   * Forgets an account's failed attempts. The counter is shared state, outside any transaction (on
   * SQLite a write there would wait for the open transaction's connection): call it after commit.
   */
  async forgetFailures(userId: string): Promise<void> {
    await this.shared.del(`fail:${attemptSubject(userId, '')}`);
    await this.shared.del(`fail:${secondFactorSubject(userId)}`);
  }

  /** Removes an automatic or timed lock that has ended; true for the one caller that removed it. */
  async clearEnded(userId: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('account_locks')
      .where('user_id', '=', userId)
      .where('locked_until', 'is not', null)
      .where('locked_until', '<=', this.now())
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async listLocked(): Promise<LockInfo[]> {
    const rows = await this.db
      .selectFrom('account_locks')
      .innerJoin('users', 'users.id', 'account_locks.user_id')
      .select([
        'account_locks.user_id',
        'users.username',
        'account_locks.locked_at',
        'account_locks.locked_until',
        'account_locks.reason',
        'account_locks.locked_by',
      ])
      .where((eb) => eb.or([eb('account_locks.locked_until', 'is', null), eb('account_locks.locked_until', '>', this.now())]))
      .orderBy('account_locks.locked_at', 'desc')
      .execute();
    return rows.map((r) => ({
      userId: r.user_id,
      username: r.username,
      lockedAt: r.locked_at,
      lockedUntil: r.locked_until,
      reason: r.reason,
      lockedBy: r.locked_by,
    }));
  }

  private async lift(userId: string, ctx: EventContext, automaticOnly: boolean, db: Db): Promise<boolean> {
    return inTransaction(db, async (trx) => {
      let q = trx.deleteFrom('account_locks').where('user_id', '=', userId);
      if (automaticOnly) q = q.where('locked_by', 'is', null);
      const res = await q.executeTakeFirst();
      const lifted = Number(res.numDeletedRows) > 0;
      if (lifted) {
        await this.log.record(
          ctx,
          { type: 'account.unlocked', outcome: 'info', subjectId: userId, details: { by: automaticOnly ? 'password_reset' : ctx.actor.name } },
          trx,
        );
      }
      return lifted;
    });
  }
}
