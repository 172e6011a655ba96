import type { Db } from '../../db/index.js';
import type { SharedState } from '../../shared-state/index.js';
import type { UsersTable } from '../../db/types.js';
import type { SettingsStore } from '../../config/settings.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import type { BackgroundTasks } from '../../background.js';
import type { Mailer } from '../../mail/index.js';
import { render, type LinkKind } from '../../mail/templates.js';
import { isPlainAddress } from '../../mail/address.js';
import { AppError } from '../../errors.js';
import type { PasswordHasher } from '../passwords.js';
import type { SessionService } from '../session/index.js';
import type { AccountLocks } from '../account-locks.js';
import { normaliseIdentifier } from '../identifier.js';
import type { PasswordPolicyService } from '../password-policy/index.js';
import { writePassword } from '../password-policy/history.js';
import type { ChangeNotices } from '../notices/index.js';
import { passwordResetArea, type PasswordResetSettings } from './settings.js';
import {
  LinkAddressChanged,
  LinkThrottled,
  claimToken,
  inspectToken,
  issueToken,
  issuedSince,
  type LinkCap,
  type LinkTokenKind,
  type TokenProblem,
} from './tokens.js';

const HOUR = 3600_000;

/** The same for every forgot-password request, whatever happens next. */
export const FORGOT_ANSWER = Object.freeze({ message: 'If an account matches, a link to reset its password has been sent.' });

const TOKEN_ERRORS: Readonly<Record<TokenProblem, 'RESET_TOKEN_INVALID' | 'RESET_TOKEN_EXPIRED' | 'RESET_TOKEN_USED'>> = Object.freeze({
  malformed: 'RESET_TOKEN_INVALID',
  unknown: 'RESET_TOKEN_INVALID',
  altered: 'RESET_TOKEN_INVALID',
  superseded: 'RESET_TOKEN_INVALID',
  expired: 'RESET_TOKEN_EXPIRED',
  used: 'RESET_TOKEN_USED',
});

export interface ResetDeps {
  db: Db;
  /** The database's shared state (never Redis, like the lockout's): it counts forgot requests per address. */
  shared: SharedState;
  settings: SettingsStore;
  policy: PasswordPolicyService;
  hasher: PasswordHasher;
  sessions: SessionService;
  /** A completed reset lifts a lockout's lock (the link proves control of the mailbox), in its transaction. */
  locks: AccountLocks;
  log: SecurityLog;
  mailer: Mailer;
  tasks: BackgroundTasks;
  now: () => number;
  /** Base of the links in mails (PUBLIC_URL), without a trailing slash. */
  publicUrl: string;
  /** Tells the user of a completed reset or required change, after it committed (ASVS V6.3.7). */
  notices: ChangeNotices;
}

/**
 * Password reset and invitation (AUTH-8), and spending the change token of an expired password. Links are
 * single use, stored hashed, and a new one voids the user's earlier ones. Mail goes out in the
 * background so that answers do not depend on whether an account exists.
 */
export class PasswordResetService {
  readonly area = passwordResetArea;

  constructor(private readonly d: ResetDeps) {}

  current(): Promise<PasswordResetSettings> {
    return this.d.settings.get(this.area);
  }

  /**
   * POST /api/auth/password/forgot. The request only does what every request does (the per-IP
   * throttle, one atomic increment); looking the account up and mailing happen after the answer.
   * Like the lockout's attempts, each request takes a place in the address's counter, which lives an hour
   * from its first request: concurrent requests on any number of instances take distinct places, so at
   * most forgotPerIp pass in that hour.
   */
  async forgot(who: { username?: string; email?: string }, ctx: EventContext): Promise<void> {
    const s = await this.current();
    const ip = (ctx.ip ?? 'unknown').slice(0, 64);
    if ((await this.d.shared.incr(`forgot:${ip}`, HOUR)) > s.forgotPerIp) {
      await this.d.log.record(ctx, { type: 'password.reset_requested', outcome: 'failure', details: { result: 'ip_throttled' } });
      throw new AppError('RATE_LIMITED', undefined, 'forgot-password per-IP limit', { 'retry-after': '3600' });
    }
    this.d.tasks.run('password-forgot', () => this.forgotLater(who, s, ctx));
  }

  private async forgotLater(who: { username?: string; email?: string }, s: PasswordResetSettings, ctx: EventContext): Promise<void> {
    const ident = normaliseIdentifier(who.username ?? who.email ?? '');
    const user = await this.d.db
      .selectFrom('users')
      .selectAll()
      .where(who.username !== undefined ? 'username' : 'email', '=', ident)
      .executeTakeFirst();
    const adminLock = user ? await this.d.locks.lockedByAdministrator(user.id) : false;
    const reason = !user
      ? 'unknown_account'
      : user.status !== 'active'
        ? 'disabled'
        : user.sso_only === 1
          ? 'sso_only'
          : !user.email
            ? 'no_email'
            : !isPlainAddress(user.email)
              ? 'invalid_email'
              : adminLock
                ? 'locked_by_administrator'
                : null;
    if (!user || reason !== null) {
      await this.d.log.record(ctx, { type: 'password.reset_requested', outcome: 'info', subjectId: user?.id ?? null, details: { result: 'no_mail', reason } });
      return;
    }
    const throttled = () =>
      this.d.log.record(ctx, { type: 'password.reset_requested', outcome: 'failure', subjectId: user.id, details: { result: 'account_throttled' } });
    // A cheap look first (a flood past the limit takes no lock); the count that decides is taken under the
    // user's row lock, in the transaction that issues the link (issueToken).
    const cap: LinkCap = { kinds: ['reset'], since: this.d.now() - HOUR, max: s.forgotPerAccount };
    if ((await issuedSince(this.d.db, user.id, cap.kinds, cap.since)) >= cap.max) {
      await throttled();
      return;
    }
    try {
      await this.mailLink(user, 'reset', s.resetLinkValidity, null, ctx, cap);
    } catch (e) {
      if (!(e instanceof LinkThrottled)) throw e;
      await throttled();
    }
  }

  /** An administrator sends a reset link or an invitation. The mail goes out in the background. */
  async sendLink(userId: string, kind: 'admin_reset' | 'invitation', ctx: EventContext): Promise<{ expiresAt: number }> {
    const user = await this.d.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    if (!user) throw new AppError('NOT_FOUND');
    const reason =
      user.status !== 'active'
        ? 'disabled'
        : user.sso_only === 1
          ? 'sso_only'
          : !user.email
            ? 'no_email'
            : !isPlainAddress(user.email)
              ? 'invalid_email'
              : kind === 'invitation' && user.password_hash !== null
                ? 'has_password'
                : null;
    if (reason !== null) throw new AppError('LINK_NOT_SENDABLE', { reason });
    const s = await this.current();
    return this.mailLink(user, kind, kind === 'invitation' ? s.invitationValidity : s.adminResetLinkValidity, ctx.actor.id ?? ctx.actor.name, ctx);
  }

  /** `cap`: a link the user asked for (forgot), within the per-account limit; LinkThrottled past it. */
  private async mailLink(
    user: UsersTable,
    kind: LinkKind,
    validity: number,
    createdBy: string | null,
    ctx: EventContext,
    cap?: LinkCap,
  ): Promise<{ expiresAt: number }> {
    let issued: { token: string; expiresAt: number };
    try {
      // Issued only while user.email is still the user's address (an email change voids links); the
      // link and its events commit together.
      issued = await this.d.db.transaction().execute(async (trx) => {
        const i = await issueToken(trx, user.id, kind, validity, createdBy, this.d.now(), user.email!, cap);
        if (cap) await this.d.log.record(ctx, { type: 'password.reset_requested', outcome: 'info', subjectId: user.id, details: { result: 'mail' } }, trx);
        await this.d.log.record(
          ctx,
          {
            type: 'password.link_sent',
            outcome: 'success',
            subjectId: user.id,
            details: { kind, expiresAt: new Date(i.expiresAt).toISOString(), via: this.d.mailer.kind },
          },
          trx,
        );
        return i;
      });
    } catch (e) {
      if (e instanceof LinkAddressChanged) throw new AppError('CONFLICT', { field: 'email' }, 'email changed while issuing a link');
      throw e;
    }
    const { token, expiresAt } = issued;
    const page = kind === 'invitation' ? 'accept-invitation' : 'reset-password';
    // The token travels in the fragment, which browsers never send to a server or in a Referer.
    const msg = render(kind, user.email!, { username: user.username, link: `${this.d.publicUrl}/${page}#token=${token}`, expiresAt });
    this.d.tasks.run(`mail-${kind}`, () => this.d.mailer.send(msg));
    return { expiresAt };
  }

  /**
   * POST /api/auth/password/reset: a link token and a new password. The policy applies (a refused
   * password leaves the token usable); on success the token is spent, every other link voided, every
   * session of the user ended, and the event recorded, all in one transaction.
   */
  async consume(token: string, password: string, ctx: EventContext): Promise<void> {
    const now = this.d.now();
    const { row, problem } = await inspectToken(this.d.db, token, now);
    const user = row && problem === null ? await this.d.db.selectFrom('users').selectAll().where('id', '=', row.user_id).executeTakeFirst() : undefined;
    const refusal = problem ?? (user?.status !== 'active' || user.sso_only === 1 ? 'superseded' : null);
    if (refusal !== null || !row || !user) {
      await this.d.log.record(ctx, {
        type: 'password.reset_refused',
        outcome: 'failure',
        subjectId: row?.user_id ?? null,
        details: { reason: problem ?? 'user_not_eligible', kind: row?.kind ?? null },
      });
      throw new AppError(TOKEN_ERRORS[refusal ?? 'superseded'], undefined, problem ?? 'user not eligible');
    }
    await this.d.policy.assertAcceptable(password, { username: user.username, email: user.email, user }, row.kind === 'change' ? 1 : 0);
    const hash = await this.d.hasher.hash(password);
    await this.d.db.transaction().execute(async (trx) => {
      if (!(await claimToken(trx, row.id, this.d.now()))) throw new AppError('RESET_TOKEN_USED', undefined, 'claimed concurrently');
      await writePassword(trx, user.id, hash, this.d.now());
      // A recovery (a mailed link, an invitation) ends every credential (D473); a `change` token is the owner's own
      // change of an expired or one-time password, given after they signed in with it: their API keys stay.
      if (row.kind === 'change') await this.d.sessions.endUserSessions(user.id, 'password_changed', ctx, undefined, trx);
      else await this.d.sessions.endUserCredentials(user.id, 'password_reset', ctx, trx);
      await this.d.log.record(
        { ...ctx, actor: { id: user.id, name: user.username } },
        {
          type: 'password.reset_completed',
          outcome: 'success',
          subjectId: user.id,
          details: { kind: row.kind },
        },
        trx,
      );
      await this.d.locks.unlockAutomatic(user.id, ctx, trx);
    });
    await this.d.locks.forgetFailures(user.id);
    // An invitation sets the first password, which the user chose a moment ago: no change to tell of.
    if (row.kind !== 'invitation')
      this.d.notices.authChanged(user, row.kind === 'change' ? 'password_changed' : 'password_reset', { ...ctx, actor: { id: user.id, name: user.username } });
  }
}

export type { LinkTokenKind };
