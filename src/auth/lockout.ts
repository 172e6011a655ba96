import { createHash } from 'node:crypto';
import type { Db } from '../db/index.js';
import type { SharedState } from '../shared-state/index.js';
import type { SettingsStore } from '../config/settings.js';
import { lockoutArea, spreadArea, type LockoutSettings } from './lockout-settings.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { AppError } from '../errors.js';
import { hitWindow } from '../edge/windows.js';

export { lockoutArea, spreadArea, type LockoutSettings, type SpreadSettings } from './lockout-settings.js';

/** What a sign-in attempt holds between its reservation and its outcome. */
export interface AttemptTicket {
  subject: string;
  userId: string | null;
  /** This attempt's place in the window; the attempt that reaches maxAttempts locks on failure. */
  place: number;
  settings: LockoutSettings;
}

export interface LockInfo {
  userId: string;
  username: string;
  lockedAt: number;
  lockedUntil: number | null;
  reason: string;
  lockedBy: string | null;
}

/**
 * Account lockout (AUTH-9). Every password or second-factor check first reserves an attempt, before
 * any hash is computed: an attempt past the limit is refused without hashing, and because the
 * reservation is one atomic increment in the shared state, concurrent attempts on any number of
 * instances lock the account after exactly maxAttempts failures.
 */
export class LockoutService {
  readonly area = lockoutArea;
  /** Called after an automatic lock when `mailResetOnLock` is on (wired to the reset mail). */
  onLockMail: ((userId: string, ctx: EventContext) => Promise<void>) | null = null;

  constructor(
    private readonly db: Db,
    private readonly shared: SharedState,
    private readonly settings: SettingsStore,
    private readonly log: SecurityLog,
    private readonly now: () => number,
  ) {}

  /** Unknown identifiers are counted and "locked" too, under a hash, so locks reveal no accounts. */
  static subject(userId: string | null, normalisedIdentifier: string): string {
    return userId ? `u:${userId}` : `i:${createHash('sha256').update(normalisedIdentifier).digest('base64url').slice(0, 22)}`;
  }

  async activeLock(userId: string): Promise<{ lockedUntil: number | null } | null> {
    const row = await this.db.selectFrom('account_locks').select(['locked_until']).where('user_id', '=', userId).executeTakeFirst();
    if (!row || (row.locked_until !== null && row.locked_until <= this.now())) return null;
    return { lockedUntil: row.locked_until };
  }

  /**
   * Reserves an attempt; null means refuse at once (locked, or the limit is being reached by
   * concurrent attempts). The counter is one key that lives `interval` from the first failure and
   * only grows, so exactly one attempt takes the place that locks.
   */
  async reserve(subject: string, userId: string | null): Promise<AttemptTicket | null> {
    const settings = await this.settings.get(this.area);
    if (userId ? await this.activeLock(userId) : await this.pseudoLocked(subject)) return null;
    let count = await this.shared.incr(`fail:${subject}`, settings.interval * 1000);
    // The counter outlives the lock it caused (it is never reset while attempts may still be racing
    // to it); the first attempt after an automatic lock ended starts counting afresh.
    if (count > settings.maxAttempts && userId && await this.clearEndedLock(userId)) {
      await this.shared.del(`fail:${subject}`);
      count = await this.shared.incr(`fail:${subject}`, settings.interval * 1000);
    }
    if (count > settings.maxAttempts) return null;
    return { subject, userId, place: count, settings };
  }

  /** The attempt ended without a verdict (the hash queue was full): give its place back. */
  async release(t: AttemptTicket): Promise<void> {
    await this.shared.incrBy(`fail:${t.subject}`, -1, t.settings.interval * 1000);
  }

  /** The attempt failed: the one that reached the limit locks the account. Returns true when it locked. */
  async failed(t: AttemptTicket, ctx: EventContext): Promise<boolean> {
    if (t.place < t.settings.maxAttempts) return false;
    const until = t.settings.lockDuration === 0 ? null : this.now() + t.settings.lockDuration * 1000;
    if (t.userId) {
      await this.lock(t.userId, 'too_many_failed_attempts', until, null, ctx);
    } else {
      await this.shared.setIfAbsent(`lockp:${t.subject}`, String(until ?? this.now() + 86400_000), (t.settings.lockDuration || 86400) * 1000);
    }
    // The lock now holds. An account's counter is left alone: attempts that passed the lock check just
    // before the lock was written still find it past the limit. When the lock ends, reserve() starts
    // counting afresh. A pseudo-lock (unknown username) has no row to tell its end, so its counter goes now.
    if (!t.userId) await this.shared.del(`fail:${t.subject}`);
    if (t.userId && t.settings.mailResetOnLock && this.onLockMail) await this.onLockMail(t.userId, ctx);
    return true;
  }

  /** A good password: the failures so far are forgotten. */
  async succeeded(t: AttemptTicket): Promise<void> {
    await this.shared.del(`fail:${t.subject}`);
  }

  /** Removes an automatic or timed lock that has ended; true for the one caller that removed it. */
  private async clearEndedLock(userId: string): Promise<boolean> {
    const res = await this.db.deleteFrom('account_locks').where('user_id', '=', userId)
      .where('locked_until', 'is not', null).where('locked_until', '<=', this.now()).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  private async pseudoLocked(subject: string): Promise<boolean> {
    const v = await this.shared.getValue(`lockp:${subject}`);
    return v !== null && Number(v) > this.now();
  }

  /**
   * Locks an account: by an administrator (`by` set: until unlocked) or by the lockout (`by` null).
   * An automatic lock never replaces an administrator's. Runs in `db` when that is a transaction
   * (UserService.lockByAdministrator ends the sessions in it).
   */
  async lock(userId: string, reason: string, until: number | null, by: string | null, ctx: EventContext, db: Db = this.db): Promise<void> {
    const now = this.now();
    const run = <T>(fn: (trx: Db) => Promise<T>): Promise<T> => (db.isTransaction ? fn(db) : db.transaction().execute(fn));
    await run(async (trx) => {
      const inserted = await trx.insertInto('account_locks')
        .values({ user_id: userId, locked_at: now, locked_until: until, reason, locked_by: by })
        .onConflict((oc) => {
          const up = oc.column('user_id').doUpdateSet({ locked_at: now, locked_until: until, reason, locked_by: by });
          return by === null
            ? up.where((eb) => eb.or([eb('account_locks.locked_by', 'is', null), eb('account_locks.locked_until', '<=', now)]))
            : up;
        })
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 1) === 0) return;
      await this.log.record(ctx, {
        type: 'account.locked', outcome: 'info', subjectId: userId,
        details: { reason, until: until === null ? 'until unlocked' : new Date(until).toISOString(), by: by ? 'administrator' : 'lockout' },
      }, trx);
    });
  }

  /** Lifts any lock (administrators, the CLI). */
  async unlock(userId: string, ctx: EventContext): Promise<boolean> {
    return this.lift(userId, ctx, false);
  }

  /** Lifts only a lock the lockout made itself (a completed reset): an administrator's lock stays. */
  async unlockAutomatic(userId: string, ctx: EventContext): Promise<boolean> {
    return this.lift(userId, ctx, true);
  }

  /** True while an administrator's lock holds: such accounts get no self-service reset mail. */
  async lockedByAdministrator(userId: string): Promise<boolean> {
    const row = await this.db.selectFrom('account_locks').select(['locked_by', 'locked_until']).where('user_id', '=', userId).executeTakeFirst();
    return !!row && row.locked_by !== null && (row.locked_until === null || row.locked_until > this.now());
  }

  private async lift(userId: string, ctx: EventContext, automaticOnly: boolean): Promise<boolean> {
    let q = this.db.deleteFrom('account_locks').where('user_id', '=', userId);
    if (automaticOnly) q = q.where('locked_by', 'is', null);
    const res = await q.executeTakeFirst();
    await this.shared.del(`fail:${LockoutService.subject(userId, '')}`);
    const was = Number(res.numDeletedRows) > 0;
    if (was) await this.log.record(ctx, { type: 'account.unlocked', outcome: 'info', subjectId: userId, details: { by: automaticOnly ? 'password_reset' : ctx.actor.name } });
    return was;
  }

  async listLocked(): Promise<LockInfo[]> {
    const rows = await this.db.selectFrom('account_locks').innerJoin('users', 'users.id', 'account_locks.user_id')
      .select(['account_locks.user_id', 'users.username', 'account_locks.locked_at', 'account_locks.locked_until', 'account_locks.reason', 'account_locks.locked_by'])
      .where((eb) => eb.or([eb('account_locks.locked_until', 'is', null), eb('account_locks.locked_until', '>', this.now())]))
      .orderBy('account_locks.locked_at', 'desc').execute();
    return rows.map((r) => ({ userId: r.user_id, username: r.username, lockedAt: r.locked_at, lockedUntil: r.locked_until, reason: r.reason, lockedBy: r.locked_by }));
  }
}

/**
 * Spread-attack detection (AUTH-10): failed sign-ins across all accounts in a sliding window; past
 * the threshold, password sign-in pauses for everyone. Sessions and API keys are not affected.
 */
export class SpreadDetector {
  readonly area = spreadArea;

  constructor(
    private readonly shared: SharedState,
    private readonly settings: SettingsStore,
    private readonly log: SecurityLog,
    private readonly now: () => number,
  ) {}

  /** Throws SIGN_IN_PAUSED while a pause holds; logs the end of a pause once. */
  async assertOpen(ctx: EventContext): Promise<void> {
    const now = this.now();
    const v = await this.shared.getValue('spread:pause');
    if (v !== null && Number(v) > now) {
      throw new AppError('SIGN_IN_PAUSED', undefined, 'spread attack pause', { 'retry-after': String(Math.ceil((Number(v) - now) / 1000)) });
    }
    await this.logEnd(now, ctx);
  }

  /** The end of the last pause is logged by exactly one instance, once it has passed. */
  private async logEnd(now: number, ctx: EventContext): Promise<void> {
    const pending = await this.shared.getValue('spread:last');
    if (pending === null || Number(pending) > now) return;
    if (await this.shared.setIfAbsent(`spread:ended:${pending}`, '1', 86400_000)) {
      await this.log.record(ctx, { type: 'signin.resumed', outcome: 'info', details: { pausedUntil: new Date(Number(pending)).toISOString() } });
    }
  }

  async failed(ctx: EventContext): Promise<void> {
    const s = await this.settings.get(this.area);
    const now = this.now();
    const { count } = await hitWindow(this.shared, 'spread:fail', s.window, now);
    if (count < s.threshold) return;
    const until = now + s.pause * 1000;
    const current = await this.shared.getValue('spread:pause');
    if (current !== null && Number(current) > now) return;
    if (current !== null) await this.shared.del('spread:pause');
    // The pause key lives exactly as long as the pause, so a crashed instance cannot leave it stuck.
    if (await this.shared.setIfAbsent('spread:pause', String(until), s.pause * 1000)) {
      await this.logEnd(now, ctx);
      await this.shared.set('spread:last', String(until), (s.pause + 86400) * 1000);
      await this.log.record(ctx, {
        type: 'signin.paused', outcome: 'info',
        details: { failures: count, windowSeconds: s.window, until: new Date(until).toISOString() },
      });
    }
  }
}
