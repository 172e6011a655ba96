import type { Db } from '../../db/index.js';
import type { UsersTable } from '../../db/types.js';
import type { EventContext } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import type { SecondFactor } from '../session/types.js';
import { claimChallenge } from './challenge.js';
import { provePassword } from './attempt.js';
import { Enrolment } from './enrolment.js';
import { FactorAdmin, type IdentityCheck, type MfaStatus } from './manage.js';
import { SecondStep, actorOf, provenStep, type ProvenSecondStep } from './second-step.js';
import { PasskeyStep } from './passkey-step.js';
import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import type { AuthenticationResponseJSON } from '../passkeys/ceremony.js';
import { mfaArea } from './settings.js';
import type { TotpEnrolment } from './totp.js';
import type { MfaDeps } from './deps.js';

export { mfaArea, type MfaSettings } from './settings.js';
export { MfaKeys } from './secret-box.js';
export { MfaPolicy } from './factors.js';
export { SecondFactorGate } from './gate.js';
export type { MfaDeps } from './deps.js';
export type { MfaStatus, IdentityCheck, IdentityCheckMethod } from './manage.js';
export { IDENTITY_CHECKS } from './manage.js';
export type { ProvenSecondStep } from './second-step.js';
export type { TotpEnrolment } from './totp.js';

type Request = Omit<EventContext, 'actor'>;
type Code = { sentTo: string; expiresAt: number };

/** A confirmed enrolment under an enrolment-only token: the proof to open the session with, and the recovery codes. */
export interface EnrolledSignIn extends ProvenSecondStep {
  recoveryCodes: string[] | null;
}

/**
 * Second factor (AUTH-12): the sign-in's second step (`second-step.ts`), setting factors up
 * (`enrolment.ts`: TOTP, email, SMS with `sms.ts`), removing them and recovery codes (`manage.ts`). The gate that asks for
 * a second factor at sign-in is `gate.ts`, given to the session funnel; the policy is `factors.ts`.
 * Every change to a signed-in user's own factors needs their current password first.
 */
export class MfaService {
  readonly area = mfaArea;
  private readonly step: SecondStep;
  private readonly enrolment: Enrolment;
  private readonly factors: FactorAdmin;
  private readonly passkeyStep: PasskeyStep;

  constructor(private readonly d: MfaDeps) {
    this.step = new SecondStep(d);
    this.passkeyStep = new PasskeyStep(d, this.step);
    this.enrolment = new Enrolment(d);
    this.factors = new FactorAdmin(d);
  }

  /** The second step of a sign-in: proves the factor and spends the challenge; opens no session. */
  verify(input: { challengeToken: string; method: SecondFactor; code: string }, request: Request): Promise<ProvenSecondStep> {
    return this.step.verify(input, request);
  }

  sendSignInCode(challengeToken: string, request: Request): Promise<Code> {
    return this.step.sendCode(challengeToken, request);
  }

  /** Texts a sign-in code for the challenge (SMS factor confirmed); the gateway's failure is the caller's 503. */
  sendSignInSms(challengeToken: string, request: Request): Promise<Code> {
    return this.step.sendSmsCode(challengeToken, request);
  }

  /** A passkey as the second step: the options for the challenge token's user, then the assertion (`passkey-step.ts`). */
  passkeyOptions(challengeToken: string, request: Request): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return this.passkeyStep.options(challengeToken, request);
  }

  verifyPasskey(challengeToken: string, response: AuthenticationResponseJSON, request: Request): Promise<ProvenSecondStep> {
    return this.passkeyStep.verify(challengeToken, response, request);
  }

  // An enrolment-only token (a user the policy requires to enrol, who has no factor yet).

  async startTotpWithToken(token: string, request: Request): Promise<TotpEnrolment> {
    const { user } = await this.step.token(token, 'enrol', request);
    return this.enrolment.beginTotp(user, actorOf(request, user));
  }

  async confirmTotpWithToken(token: string, code: string, request: Request): Promise<EnrolledSignIn> {
    const { row, user } = await this.step.token(token, 'enrol', request);
    const { recoveryCodes } = await this.enrolment.finishTotp(user, code, actorOf(request, user), this.spendToken(row.id));
    return { ...provenStep(row, user, 'totp'), recoveryCodes };
  }

  async sendEnableCodeWithToken(token: string, request: Request): Promise<Code> {
    const { user } = await this.step.token(token, 'enrol', request);
    return this.enrolment.beginEmail(user, actorOf(request, user));
  }

  async confirmEmailWithToken(token: string, code: string, request: Request): Promise<EnrolledSignIn> {
    const { row, user } = await this.step.token(token, 'enrol', request);
    const { recoveryCodes } = await this.enrolment.finishEmail(user, code, actorOf(request, user), this.spendToken(row.id));
    return { ...provenStep(row, user, 'email'), recoveryCodes };
  }

  async startSmsWithToken(token: string, phone: string, request: Request): Promise<Code> {
    const { user } = await this.step.token(token, 'enrol', request);
    return this.enrolment.beginSms(user, phone, actorOf(request, user));
  }

  async confirmSmsWithToken(token: string, code: string, request: Request): Promise<EnrolledSignIn> {
    const { row, user } = await this.step.token(token, 'enrol', request);
    const { recoveryCodes } = await this.enrolment.finishSms(user, code, actorOf(request, user), this.spendToken(row.id));
    return { ...provenStep(row, user, 'sms'), recoveryCodes };
  }

  /** The enrolment token is spent with the confirmation, in its transaction. */
  private spendToken(id: string): (trx: Db) => Promise<void> {
    return async (trx) => {
      if (!(await claimChallenge(trx, id, this.d.now()))) throw new AppError('MFA_TOKEN_INVALID', undefined, 'used concurrently');
    };
  }

  // A signed-in user's own factors.

  status(user: UsersTable): Promise<MfaStatus> {
    return this.factors.status(user);
  }

  async startTotp(user: UsersTable, password: string, ctx: EventContext): Promise<TotpEnrolment> {
    await provePassword(this.d, user, password, ctx, 'mfa.enrolment_started');
    return this.enrolment.beginTotp(user, ctx);
  }

  confirmTotp(user: UsersTable, code: string, ctx: EventContext): Promise<{ recoveryCodes: string[] | null }> {
    return this.enrolment.finishTotp(user, code, ctx);
  }

  async sendEnableCode(user: UsersTable, password: string, ctx: EventContext): Promise<Code> {
    await provePassword(this.d, user, password, ctx, 'mfa.enrolment_started');
    return this.enrolment.beginEmail(user, ctx);
  }

  confirmEmail(user: UsersTable, code: string, ctx: EventContext): Promise<{ recoveryCodes: string[] | null }> {
    return this.enrolment.finishEmail(user, code, ctx);
  }

  async startSms(user: UsersTable, password: string, phone: string, ctx: EventContext): Promise<Code> {
    await provePassword(this.d, user, password, ctx, 'mfa.enrolment_started');
    return this.enrolment.beginSms(user, phone, ctx);
  }

  confirmSms(user: UsersTable, code: string, ctx: EventContext): Promise<{ recoveryCodes: string[] | null }> {
    return this.enrolment.finishSms(user, code, ctx);
  }

  async remove(user: UsersTable, factor: 'totp' | 'email' | 'sms', password: string, ctx: EventContext): Promise<void> {
    await provePassword(this.d, user, password, ctx, 'mfa.removed');
    await this.factors.remove(user, factor, ctx);
  }

  async regenerateRecoveryCodes(user: UsersTable, password: string, ctx: EventContext): Promise<string[]> {
    await provePassword(this.d, user, password, ctx, 'mfa.recovery_codes_created');
    return this.factors.regenerate(user, ctx);
  }

  /** An administrator's or the CLI's reset of another user's factors; ends their sessions. */
  reset(userId: string, check: IdentityCheck, ctx: EventContext): Promise<{ sessionsEnded: number }> {
    return this.factors.reset(userId, check, ctx);
  }
}
