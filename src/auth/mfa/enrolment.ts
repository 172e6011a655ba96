import type { Db } from '../../db/index.js';
import type { UsersTable } from '../../db/types.js';
import type { EventContext } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { renderCode } from '../../mail/templates.js';
import { isPlainAddress } from '../../mail/address.js';
import { codeAttempt } from './attempt.js';
import { issueEmailCode, maskAddress, spendEmailCode } from './email-code.js';
import { remainingRecoveryCodes, replaceRecoveryCodes } from './recovery.js';
import { spendTotp, startTotp, type TotpEnrolment } from './totp.js';
import { confirmSmsPhone, startSmsEnrolment } from './sms.js';
import { mfaArea } from './settings.js';
import type { MfaDeps } from './deps.js';

type Factor = 'totp' | 'email' | 'sms';

/**
 * Setting a factor up: TOTP (a new secret, confirmed with a first code before it counts), the email
 * factor (a code mailed to the user's address, entered back) and SMS (a code texted to the number,
 * entered back; `sms.ts`). Every confirmation is a code check under
 * the lockout. The first factor also makes the ten recovery codes, returned once with the confirmation.
 * Who may start (a signed-in user with a fresh password, or an enrolment-only token) is the caller's
 * business: `extra` runs in the confirmation's transaction (spending the enrolment token).
 */
export class Enrolment {
  constructor(private readonly d: MfaDeps) {}

  async beginTotp(user: UsersTable, ctx: EventContext): Promise<TotpEnrolment> {
    const { issuer } = await this.d.settings.get(mfaArea);
    return startTotp(this.d.db, this.d.keys, user.id, user.username, issuer, this.d.now(), (trx) =>
      this.d.log.record(ctx, { type: 'mfa.enrolment_started', outcome: 'info', subjectId: user.id, details: { factor: 'totp' } }, trx),
    );
  }

  async finishTotp(user: UsersTable, code: string, ctx: EventContext, extra?: (trx: Db) => Promise<void>): Promise<{ recoveryCodes: string[] | null }> {
    return this.confirm(user, 'totp', ctx, extra, (trx, now) => spendTotp(trx, this.d.keys, user.id, code, now, false));
  }

  /** Mails a code that turns the email factor on when entered back; refused while the `mfa` area withdraws email codes. */
  async beginEmail(user: UsersTable, ctx: EventContext): Promise<{ sentTo: string; expiresAt: number }> {
    await this.assertEmailCodes();
    if (!user.email || !isPlainAddress(user.email)) throw new AppError('MFA_METHOD_UNAVAILABLE', undefined, 'no email address');
    if (await this.d.db.selectFrom('mfa_email').select('user_id').where('user_id', '=', user.id).executeTakeFirst()) throw new AppError('MFA_FACTOR_EXISTS');
    const { emailCodeValidity } = await this.d.settings.get(mfaArea);
    const { code, expiresAt } = await issueEmailCode(this.d, user.id, 'enable', null, emailCodeValidity, (trx) =>
      this.d.log.record(ctx, { type: 'mfa.code_sent', outcome: 'info', subjectId: user.id, details: { purpose: 'enable' } }, trx),
    );
    const msg = renderCode('enable', user.email, { username: user.username, code, expiresAt });
    this.d.tasks.run('mail-mfa-code', () => this.d.mailer.send(msg));
    return { sentTo: maskAddress(user.email), expiresAt };
  }

  async finishEmail(user: UsersTable, code: string, ctx: EventContext, extra?: (trx: Db) => Promise<void>): Promise<{ recoveryCodes: string[] | null }> {
    // A code mailed before the setting went off confirms nothing; refused before the lockout counts an attempt.
    await this.assertEmailCodes();
    return this.confirm(user, 'email', ctx, extra, async (trx, now) => {
      if (!(await spendEmailCode(trx, this.d.keys, user.id, 'enable', null, code, now))) return false;
      const on = await trx.selectFrom('mfa_email').select('user_id').where('user_id', '=', user.id).executeTakeFirst();
      if (on) throw new AppError('MFA_FACTOR_EXISTS');
      await trx.insertInto('mfa_email').values({ user_id: user.id, enabled_at: now }).execute();
      return true;
    });
  }

  /** Email is no factor while the `mfa` setting `emailCodes` is off (ASVS V6.3.6, the default). */
  private async assertEmailCodes(): Promise<void> {
    if (!(await this.d.settings.get(mfaArea)).emailCodes) throw new AppError('MFA_EMAIL_DISABLED', undefined, 'email codes are off');
  }

  /** Texts a code to the number (stored pending, sealed) that makes it a factor when entered back. */
  beginSms(user: UsersTable, phone: string, ctx: EventContext): Promise<{ sentTo: string; expiresAt: number }> {
    return startSmsEnrolment(this.d, user, phone, ctx);
  }

  async finishSms(user: UsersTable, code: string, ctx: EventContext, extra?: (trx: Db) => Promise<void>): Promise<{ recoveryCodes: string[] | null }> {
    return this.confirm(user, 'sms', ctx, extra, (trx, now) => confirmSmsPhone(trx, this.d.keys, user.id, code, now));
  }

  private async confirm(
    user: UsersTable,
    factor: Factor,
    ctx: EventContext,
    extra: ((trx: Db) => Promise<void>) | undefined,
    spend: (trx: Db, now: number) => Promise<boolean>,
  ): Promise<{ recoveryCodes: string[] | null }> {
    let recoveryCodes: string[] | null = null;
    const failure = { type: 'mfa.enrolled', outcome: 'failure', subjectId: user.id, details: { factor, reason: 'bad_code' } } as const;
    const result = await codeAttempt(this.d, user, ctx, failure, () =>
      this.d.db.transaction().execute(async (trx) => {
        const now = this.d.now();
        if (!(await spend(trx, now))) return false;
        if (extra) await extra(trx);
        // The first factor brings the recovery codes; a later one leaves the user's set as it is.
        if ((await remainingRecoveryCodes(trx, user.id)) === 0) recoveryCodes = await replaceRecoveryCodes(trx, user.id, now);
        await this.d.log.record(
          ctx,
          { type: 'mfa.enrolled', outcome: 'success', subjectId: user.id, details: { factor, recoveryCodesCreated: recoveryCodes !== null } },
          trx,
        );
        return true;
      }),
    );
    if (result !== 'ok') throw new AppError('MFA_CODE_INVALID', undefined, result);
    this.d.notices.authChanged(user, 'factor_added', ctx, { factor });
    return { recoveryCodes };
  }
}
