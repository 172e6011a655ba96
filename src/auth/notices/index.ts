import type { Db } from '../../db/index.js';
import type { SessionsTable, UsersTable } from '../../db/types.js';
import type { SettingsStore } from '../../config/settings.js';
import type { SharedState } from '../../shared-state/index.js';
import type { EventContext } from '../../audit/events.js';
import type { BackgroundTasks } from '../../background.js';
import { errorSummary } from '../../background.js';
import type { Mailer } from '../../mail/index.js';
import { isPlainAddress } from '../../mail/address.js';
import { renderEmailChanged, renderNotice, type NoticeFacts } from '../../mail/templates.js';
import { lockoutArea } from '../lockout-settings.js';
import { clientFamily } from './client.js';
import { inspectSignIn } from './sign-in.js';
import { changeText, signInText, type AuthChange, type NoticeFactor, type NoticeText, type SignInReason } from './texts.js';

export { clientFamily, networkOf } from './client.js';
export { FAILURES_BEFORE_NOTICE, INACTIVE_DAYS } from './sign-in.js';
export type { AuthChange, NoticeFactor, SignInReason } from './texts.js';

/** Who a notice goes to: the account's own address, when it has a plain one. */
export type NoticeUser = Pick<UsersTable, 'id' | 'username' | 'email'>;

/** At most one sign-in notice of a kind per user in this time, whatever happens. */
const SIGN_IN_NOTICE_EVERY_MS = 10 * 60_000;
/** How long a count of failed attempts waits for the next sign-in; an older one would be told as inactivity anyway. */
const FAILURES_KEPT_MS = 180 * 86_400_000;
const failuresKey = (userId: string) => `notice-failures:${userId}`;

/**
 * The notices about a change to how an account signs in (ASVS V6.3.7), for the services that make such changes:
 * call `authChanged` after the change committed. It returns at once and never throws.
 */
export interface ChangeNotices {
  authChanged(user: NoticeUser, change: AuthChange, ctx: EventContext, detail?: { factor?: NoticeFactor }): void;
}

/** The notice of a right first step whose second factor then failed (ASVS V6.3.5): for the second step. */
export interface AttemptNotices {
  secondFactorFailed(user: NoticeUser, ctx: EventContext): void;
}

/** A change or sign-in notice that tells nothing: for tests and tools that build a service alone. */
export const NO_NOTICES: ChangeNotices & AttemptNotices = Object.freeze({ authChanged: () => undefined, secondFactorFailed: () => undefined });

export interface NoticeDeps {
  db: Db;
  settings: SettingsStore;
  /** The per-user, per-kind bound on sign-in notices (losing it only allows one more notice). */
  shared: SharedState;
  mailer: Mailer;
  tasks: BackgroundTasks;
  now: () => number;
  /** A notice that could not be worked out or sent: a warning in the log (the error's kind and message, never the mail). */
  warn: (detail: Record<string, unknown>, message: string) => void;
}

/**
 * The one home of the mails that tell a user about their account (D439, D440): a change to how it signs in
 * (`authChanged`, ASVS V6.3.7), a suspicious sign-in (`signedIn`, from the session funnel) and a right password
 * whose second factor failed (`secondFactorFailed`, ASVS V6.3.5), and the old address's notice of an email change
 * (V7.5.1). Each is worked out and mailed in the background after the change or sign-in committed: it never holds up,
 * fails or undoes what it tells of; a failure is a warning in the log. An account without a plain address gets none.
 */
export class AuthNotices implements ChangeNotices, AttemptNotices {
  constructor(private readonly d: NoticeDeps) {}

  authChanged(user: NoticeUser, change: AuthChange, ctx: EventContext, detail: { factor?: NoticeFactor } = {}): void {
    this.later(`notice ${change}`, user, async () => changeText(change, detail.factor), ctx);
  }

  /** The old address learns that the account's address changed (ASVS V7.5.1); `old` is the address before. */
  emailChanged(old: string, user: NoticeUser, by: 'self' | 'administrator'): void {
    if (!isPlainAddress(old)) return;
    const msg = renderEmailChanged(old, { username: user.username, by, removed: user.email === null, at: this.d.now() });
    this.d.tasks.run('mail-email-changed', () => this.d.mailer.send(msg));
  }

  /** A failed attempt on the account (the lockout tells each): counted until the next sign-in. Never throws. */
  async failedAttempt(userId: string): Promise<void> {
    try {
      await this.d.shared.incr(failuresKey(userId), FAILURES_KEPT_MS);
    } catch (e) {
      this.d.warn({ event: 'notice.failed', task: 'notice failure count', userId, err: errorSummary(e) }, 'a failed attempt was not counted for the notices');
    }
  }

  /**
   * A sign-in opened `session` (the funnel calls it once the session committed): mails the user when it came from a
   * client and network their recent sessions did not, after several failed attempts, or after long inactivity. The
   * count of failed attempts starts again from here.
   */
  signedIn(user: NoticeUser, session: SessionsTable, ctx: EventContext): void {
    // No address, no notice: the count is left to expire (FAILURES_KEPT_MS) rather than cost each sign-in a round trip.
    if (!isPlainAddress(user.email)) return;
    const failures = this.takeFailures(user.id);
    this.later(
      'notice sign-in',
      user,
      async () => {
        const n = await failures;
        if (!(await this.d.settings.get(lockoutArea)).signInNotices) return null;
        const found = await inspectSignIn(this.d.db, session, n);
        const reasons = await this.unsent(user.id, found.reasons);
        return reasons.length === 0 ? null : signInText(reasons, found);
      },
      ctx,
    );
  }

  secondFactorFailed(user: NoticeUser, ctx: EventContext): void {
    this.later(
      'notice second factor',
      user,
      async () => {
        if (!(await this.d.settings.get(lockoutArea)).signInNotices) return null;
        const reasons = await this.unsent(user.id, ['second_factor_failed']);
        return reasons.length === 0 ? null : signInText(reasons, { failures: 0, days: 0 });
      },
      ctx,
    );
  }

  /** The failed attempts counted since the previous sign-in, and the count cleared (in the background; 0 when unknown). */
  private takeFailures(userId: string): Promise<number> {
    const key = failuresKey(userId);
    const taken = (async () => {
      try {
        const n = await this.d.shared.count(key);
        if (n > 0) await this.d.shared.del(key);
        return n;
      } catch (e) {
        this.d.warn(
          { event: 'notice.failed', task: 'notice failure count', userId, err: errorSummary(e) },
          'the failed attempts could not be read for the notices',
        );
        return 0;
      }
    })();
    this.d.tasks.run('notice failure count', async () => void (await taken));
    return taken;
  }

  /** The reasons not told to this user in the last 10 minutes, each claimed for the next 10. */
  private async unsent(userId: string, reasons: readonly SignInReason[]): Promise<SignInReason[]> {
    const out: SignInReason[] = [];
    for (const r of reasons) if (await this.d.shared.setIfAbsent(`notice:${r}:${userId}`, '1', SIGN_IN_NOTICE_EVERY_MS)) out.push(r);
    return out;
  }

  /** Works a notice out and mails it in the background; null from `text`: nothing to tell. */
  private later(task: string, user: NoticeUser, text: () => Promise<NoticeText | null>, ctx: EventContext): void {
    const to = user.email;
    if (to === null || !isPlainAddress(to)) return;
    // Where the change came from, when the user made it; an administrator's address and browser are not the user's to see.
    const own = ctx.actor.id === null || ctx.actor.id === user.id;
    const facts: NoticeFacts = { at: this.d.now(), ip: own ? (ctx.ip ?? null) : null, client: own && ctx.userAgent ? clientFamily(ctx.userAgent) : null };
    this.d.tasks.run(task, async () => {
      try {
        const t = await text();
        if (t !== null) await this.d.mailer.send(renderNotice(to, { username: user.username, ...t, facts }));
      } catch (e) {
        this.d.warn({ event: 'notice.failed', task, userId: user.id, err: errorSummary(e) }, 'an account notice was not sent');
      }
    });
  }
}
