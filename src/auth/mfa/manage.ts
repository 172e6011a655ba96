import type { Db } from '../../db/index.js';
import type { UsersTable } from '../../db/types.js';
import type { EventContext } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { factorState, hasFactor, hasUsableFactor, methodsOf, type FactorState } from './factors.js';
import { mfaArea } from './settings.js';
import { maskAddress } from './email-code.js';
import { replaceRecoveryCodes } from './recovery.js';
import type { MfaDeps } from './deps.js';
import type { SecondFactor } from '../session/types.js';

export interface MfaStatus {
  /** The policy requires this user to use a second factor. */
  required: boolean;
  totp: 'none' | 'pending' | 'confirmed';
  email: { enabled: boolean; address: string | null };
  /** SMS codes: the number masked; pending until a first code came back. */
  sms: { state: 'none' | 'pending' | 'confirmed'; phone: string | null };
  recoveryCodesRemaining: number;
  passkeys: number;
  /** What a sign-in's second step may use. */
  methods: SecondFactor[];
  /**
   * What this server offers to set up: SMS codes need a gateway, passkeys an RP ID, email codes the `mfa` setting
   * `emailCodes` (the UI hides the rest).
   */
  available: { sms: boolean; passkeys: boolean; email: boolean };
}

/** Tables a user's factors live in; all are cleared by a reset. */
const FACTOR_TABLES = [
  'mfa_totp',
  'mfa_email',
  'mfa_sms',
  'mfa_recovery_codes',
  'mfa_email_codes',
  'mfa_challenges',
  'passkeys',
  'passkey_challenges',
  // IP as a factor: adaptive trust is forgotten with the factors it stood in for.
  'mfa_trusted_addresses',
] as const;

/**
 * How the administrator established who asks for a reset (ASVS V6.4.4, D436): the evidence a lost factor is replaced
 * on, declared and kept with the `mfa.reset` event. Accounts are created by the same permission (users.manage), so
 * the check is the one their enrolment rested on, and the user still proves the password before enrolling anew.
 */
export const IDENTITY_CHECKS = ['in_person', 'video_call', 'call_back', 'manager_confirmed', 'identity_document'] as const;
export type IdentityCheckMethod = (typeof IDENTITY_CHECKS)[number];
export interface IdentityCheck {
  method: IdentityCheckMethod;
  /** Where the evidence is kept: a ticket, a case number, who confirmed (3-200 printable characters). */
  reference: string;
}

const FACTOR_TABLE = { totp: 'mfa_totp', email: 'mfa_email', sms: 'mfa_sms' } as const;

/**
 * Removing factors (the user's own, with a fresh proof the caller checked; or all of them by an
 * administrator) and making new recovery codes. A user the policy requires to use a second factor
 * cannot remove their last one. When the last factor goes, the recovery codes go with it.
 */
export class FactorAdmin {
  constructor(private readonly d: MfaDeps) {}

  async status(user: UsersTable): Promise<MfaStatus> {
    const f = await factorState(this.d.db, user);
    const { emailCodes } = await this.d.settings.get(mfaArea);
    return {
      required: await this.d.policy.required(user),
      totp: f.totp,
      email: { enabled: f.email, address: f.email && user.email ? maskAddress(user.email) : null },
      sms: { state: f.sms, phone: f.smsPhone },
      recoveryCodesRemaining: f.recoveryCodes,
      passkeys: f.passkeys,
      methods: methodsOf(f, emailCodes),
      available: { sms: this.d.sms !== null, passkeys: (this.d.passkeys ?? null) !== null, email: emailCodes },
    };
  }

  async remove(user: UsersTable, factor: 'totp' | 'email' | 'sms', ctx: EventContext): Promise<void> {
    const before = await factorState(this.d.db, user);
    if ({ totp: before.totp === 'none', email: !before.email, sms: before.sms === 'none' }[factor]) throw new AppError('NOT_FOUND');
    const after: FactorState =
      factor === 'totp'
        ? { ...before, totp: 'none' }
        : factor === 'email'
          ? { ...before, email: false, emailUsable: false }
          : { ...before, sms: 'none', smsPhone: null };
    // The last factor that works goes only where none is required (a withdrawn email factor does not count, D438).
    const { emailCodes } = await this.d.settings.get(mfaArea);
    if (hasUsableFactor(before, emailCodes) && !hasUsableFactor(after, emailCodes) && (await this.d.policy.required(user)))
      throw new AppError('MFA_FACTOR_REQUIRED');
    const wasPending = (factor === 'totp' && before.totp === 'pending') || (factor === 'sms' && before.sms === 'pending');
    await this.d.db.transaction().execute(async (trx) => {
      await trx.deleteFrom(FACTOR_TABLE[factor]).where('user_id', '=', user.id).execute();
      // A removed number takes its unspent codes with it.
      if (factor === 'sms')
        await trx.deleteFrom('mfa_email_codes').where('user_id', '=', user.id).where('purpose', 'in', ['sms_signin', 'sms_enable']).execute();
      const last = !hasFactor(after);
      if (last) await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', user.id).execute();
      await this.d.log.record(
        ctx,
        {
          type: 'mfa.removed',
          outcome: 'success',
          subjectId: user.id,
          details: { factor, wasPending, recoveryCodesRemoved: last },
        },
        trx,
      );
    });
    // An enrolment never confirmed was no factor: nothing changed in how the account signs in.
    if (!wasPending) this.d.notices.authChanged(user, 'factor_removed', ctx, { factor });
  }

  /** Ten new recovery codes; the old ones stop working in the same transaction. */
  async regenerate(user: UsersTable, ctx: EventContext): Promise<string[]> {
    if (!hasFactor(await factorState(this.d.db, user))) throw new AppError('MFA_METHOD_UNAVAILABLE', undefined, 'no second factor');
    const codes = await this.d.db.transaction().execute(async (trx) => {
      const made = await replaceRecoveryCodes(trx, user.id, this.d.now());
      await this.d.log.record(ctx, { type: 'mfa.recovery_codes_created', outcome: 'success', subjectId: user.id, details: { reason: 'regenerated' } }, trx);
      return made;
    });
    this.d.notices.authChanged(user, 'recovery_codes_regenerated', ctx);
    return codes;
  }

  /**
   * An administrator's (or the CLI's) reset: every factor, recovery code, pending code and challenge
   * of the user goes, and every session of the user ends, with the `mfa.reset` event, in one
   * transaction. Administrators reset others only: their own factors they remove themselves. The identity check the
   * administrator made is recorded with the event; the reset is refused without one.
   */
  async reset(userId: string, check: IdentityCheck, ctx: EventContext): Promise<{ sessionsEnded: number }> {
    if (ctx.actor.id !== null && ctx.actor.id === userId) throw new AppError('CANNOT_MODIFY_SELF');
    const reference = check.reference.trim();
    if (!(IDENTITY_CHECKS as readonly string[]).includes(check.method) || reference.length < 3 || reference.length > 200 || /[\p{Cc}\p{Cf}]/u.test(reference))
      throw new AppError('IDENTITY_CHECK_REQUIRED');
    const user = await this.d.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    if (!user) throw new AppError('NOT_FOUND');
    const before = await factorState(this.d.db, user);
    const done = await this.d.db.transaction().execute(async (trx: Db) => {
      for (const table of FACTOR_TABLES) await trx.deleteFrom(table).where('user_id', '=', userId).execute();
      const sessionsEnded = await this.d.sessions.endUserCredentials(userId, 'mfa_reset', ctx, trx);
      await this.d.log.record(
        ctx,
        {
          type: 'mfa.reset',
          outcome: 'success',
          subjectId: userId,
          details: {
            totp: before.totp,
            email: before.email,
            sms: before.sms,
            recoveryCodes: before.recoveryCodes,
            passkeys: before.passkeys,
            sessionsEnded,
            identityCheck: { method: check.method, reference },
          },
        },
        trx,
      );
      return { sessionsEnded };
    });
    // Told after the commit (V6.3.7): a reset the user did not ask for is how an account is taken over.
    this.d.notices.authChanged(user, 'mfa_reset', ctx);
    return done;
  }
}
