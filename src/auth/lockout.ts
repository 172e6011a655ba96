import type { SharedState } from '../shared-state/index.js';
import type { SettingsStore } from '../config/settings.js';
import { lockoutArea, spreadArea, type LockoutSettings } from './lockout-settings.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { AppError } from '../errors.js';
import { hitWindow } from '../edge/windows.js';
import { attemptSubject, type AccountLocks } from './account-locks.js';

export { lockoutArea, spreadArea, type LockoutSettings, type SpreadSettings } from './lockout-settings.js';

/** What a sign-in attempt holds between its reservation and its outcome. */
export interface AttemptTicket {
  subject: string;
  userId: string | null;
  /** This attempt's place in the window; the attempt that reaches maxAttempts locks on failure. */
  place: number;
  settings: LockoutSettings;
}

/** Sends the locked user a reset link (LOCKOUT_MAIL_RESET); given to the lockout at construction. */
export type LockMail = (userId: string, ctx: EventContext) => Promise<void>;

/**
 * Account lockout (AUTH-9). Every password or second-factor check first reserves an attempt, before
 * any hash is computed: an attempt past the limit is refused without hashing, and because the
 * reservation is one atomic increment in the shared state, concurrent attempts on any number of
 * instances lock the account after exactly maxAttempts failures. The locks themselves live in
 * AccountLocks.
 */
export class LockoutService {
  readonly area = lockoutArea;

  constructor(
    private readonly locks: AccountLocks,
    private readonly shared: SharedState,
    private readonly settings: SettingsStore,
    private readonly now: () => number,
    /** Sent after an automatic lock when `mailResetOnLock` is on. */
    private readonly lockMail: LockMail,
  ) {}

  /**
   * Told of every failed attempt on an account (a wrong password, code or passkey), before any lock it causes: the
   * sign-in notices count them (ASVS V6.3.5, src/auth/notices/; services.ts sets it). It never throws.
   */
  failureSeen: (userId: string) => Promise<void> = async () => undefined;

  static subject(userId: string | null, normalisedIdentifier: string): string {
    return attemptSubject(userId, normalisedIdentifier);
  }

  /**
   * Reserves an attempt; null means refuse at once (locked, or the limit is being reached by
   * concurrent attempts). The counter is one key that lives `interval` from the first failure and
   * only grows, so exactly one attempt takes the place that locks.
   */
  async reserve(subject: string, userId: string | null): Promise<AttemptTicket | null> {
    const settings = await this.settings.get(this.area);
    if (userId ? await this.locks.activeLock(userId) : await this.pseudoLocked(subject)) return null;
    let count = await this.shared.incr(`fail:${subject}`, settings.interval * 1000);
    // The counter outlives the lock it caused (it is never reset while attempts may still be racing
    // to it); the first attempt after an automatic lock ended starts counting afresh.
    if (count > settings.maxAttempts && userId && (await this.locks.clearEnded(userId))) {
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
    if (t.userId) await this.failureSeen(t.userId);
    if (t.place < t.settings.maxAttempts) return false;
    const until = t.settings.lockDuration === 0 ? null : this.now() + t.settings.lockDuration * 1000;
    if (t.userId) {
      await this.locks.lock(t.userId, 'too_many_failed_attempts', until, null, ctx);
    } else {
      await this.shared.setIfAbsent(`lockp:${t.subject}`, String(until ?? this.now() + 86400_000), (t.settings.lockDuration || 86400) * 1000);
    }
    // The lock now holds. An account's counter is left alone: attempts that passed the lock check just
    // before the lock was written still find it past the limit. When the lock ends, reserve() starts
    // counting afresh. A pseudo-lock (unknown username) has no row to tell its end, so its counter goes now.
    if (!t.userId) await this.shared.del(`fail:${t.subject}`);
    if (t.userId && t.settings.mailResetOnLock) await this.lockMail(t.userId, ctx);
    return true;
  }

  /**
   * One secret checked under the lockout: an attempt is reserved first (a locked account is refused
   * without running `check`), a wrong answer is counted (`beforeFailed` records its event first, so
   * the failure precedes the lock it may cause), a right one forgets the failures; if `check` throws,
   * the attempt is given back.
   */
  async attempt(
    subject: string,
    userId: string,
    ctx: EventContext,
    check: () => Promise<boolean>,
    beforeFailed?: () => Promise<void>,
  ): Promise<'ok' | 'wrong' | 'locked'> {
    const ticket = await this.reserve(subject, userId);
    if (!ticket) return 'locked';
    let ok: boolean;
    try {
      ok = await check();
    } catch (e) {
      await this.release(ticket);
      throw e;
    }
    if (ok) {
      await this.succeeded(ticket);
      return 'ok';
    }
    await beforeFailed?.();
    await this.failed(ticket, ctx);
    return 'wrong';
  }

  /** A good password: the failures so far are forgotten. */
  async succeeded(t: AttemptTicket): Promise<void> {
    await this.shared.del(`fail:${t.subject}`);
  }

  private async pseudoLocked(subject: string): Promise<boolean> {
    const v = await this.shared.getValue(`lockp:${subject}`);
    return v !== null && Number(v) > this.now();
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
        type: 'signin.paused',
        outcome: 'info',
        details: { failures: count, windowSeconds: s.window, until: new Date(until).toISOString() },
      });
    }
  }
}
