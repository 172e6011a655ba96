import type { UsersTable } from '../../db/types.js';
import type { EventContext } from '../../audit/events.js';
import { render } from '../../mail/templates.js';
import { isPlainAddress } from '../../mail/address.js';
import { AppError } from '../../errors.js';
import type { ResetDeps } from './index.js';
import type { SignInMethod } from '../session/index.js';
import { CHANGE_STEP_VALIDITY, issueToken } from './tokens.js';

const REMINDER_EVERY = 86400_000;

/** Password expiry at sign-in (AUTH-7): one of the sign-in gates of `SessionService.create`, run before any session exists. */
export class ExpiryGate {
  constructor(private readonly d: Omit<ResetDeps, 'shared' | 'settings' | 'hasher' | 'sessions' | 'locks' | 'notices'>) {}

  /**
   * Runs at sign-in after identity is proven, before a session exists: an expired password or a
   * required change refuses the sign-in and hands out a one-time change token instead; a password
   * near its expiry triggers a reminder mail at most once a day. Every method passes it today (the
   * only one is the password); a single sign-on proves no password, so its expiry does not stop one.
   */
  async check(user: UsersTable, method: SignInMethod, ctx: EventContext): Promise<void> {
    if (user.sso_only === 1 || (typeof method === 'object' && method.method === 'sso')) return;
    await this.deadline(user, method, ctx);
    const policy = await this.d.policy.current();
    const status = this.d.policy.expiry(user, policy);
    const code = user.must_change_password === 1 ? 'PASSWORD_CHANGE_REQUIRED' : status.expired ? 'PASSWORD_EXPIRED' : null;
    if (code !== null) {
      const reason = code === 'PASSWORD_EXPIRED' ? 'password_expired' : 'password_change_required';
      const { token, expiresAt } = await this.d.db.transaction().execute(async (trx) => {
        const issued = await issueToken(trx, user.id, 'change', CHANGE_STEP_VALIDITY, null, this.d.now());
        await this.d.log.record(ctx, { type: 'auth.login', outcome: 'failure', subjectId: user.id, details: { reason } }, trx);
        return issued;
      });
      throw new AppError(code, { changeToken: token, changeTokenExpiresAt: new Date(expiresAt).toISOString() }, code.toLowerCase());
    }
    if (status.reminder && isPlainAddress(user.email)) await this.remind(user, status.expiresAt!, ctx);
  }

  /**
   * A one-time password past its deadline proves nothing any more (ASVS V6.4.1, D366): no change token either. The
   * first of the sign-in gates, before the second factor's: an expired one-time password must not reach a second
   * factor's enrolment (which would let whoever found it plant their own factor).
   */
  async deadline(user: UsersTable, method: SignInMethod, ctx: EventContext): Promise<void> {
    if (user.sso_only === 1 || (typeof method === 'object' && method.method === 'sso')) return;
    if (user.must_change_password === 1 && user.must_change_by !== null && this.d.now() >= user.must_change_by) {
      await this.d.log.record(ctx, { type: 'auth.login', outcome: 'failure', subjectId: user.id, details: { reason: 'initial_password_expired' } });
      throw new AppError('INITIAL_PASSWORD_EXPIRED', undefined, 'initial_password_expired');
    }
  }

  private async remind(user: UsersTable, expiresAt: number, ctx: EventContext): Promise<void> {
    const now = this.d.now();
    // The reminder's claim and its event commit together: a claim without its event would hold the next one back a day.
    const claimed = await this.d.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('users')
        .set({ password_reminded_at: now })
        .where('id', '=', user.id)
        .where((eb) => eb.or([eb('password_reminded_at', 'is', null), eb('password_reminded_at', '<=', now - REMINDER_EVERY)]))
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await this.d.log.record(
        ctx,
        { type: 'password.reminder_sent', outcome: 'info', subjectId: user.id, details: { expiresAt: new Date(expiresAt).toISOString() } },
        trx,
      );
      return true;
    });
    if (!claimed) return;
    const msg = render('reminder', user.email!, { username: user.username, link: `${this.d.publicUrl}/`, expiresAt });
    this.d.tasks.run('mail-reminder', () => this.d.mailer.send(msg));
  }
}
