import type { Db } from '../../db/index.js';
import type { UsersTable } from '../../db/types.js';
import type { SettingsStore } from '../../config/settings.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { secondFactorOf, type SignInMethod } from '../session/types.js';
import type { SessionAsked } from '../session/create.js';
import { issueChallenge } from './challenge.js';
import { factorState, hasFactor, methodsOf, type MfaPolicy } from './factors.js';
import { mfaArea } from './settings.js';
import type { TrustedAddresses } from './trusted-ip.js';

/** Methods that prove two factors by themselves: a user-verified passkey (a device held, and its PIN or biometric). */
const MULTI_FACTOR: ReadonlySet<string> = new Set(['passkey']);

/**
 * The second-factor sign-in gate (AUTH-12), first of the gates of `SessionService.create`: it runs after
 * the password is proven and before any session exists. A user with a factor, or one the policy requires
 * to have one, gets no session from a password alone: the sign-in answers MFA_REQUIRED with a
 * single-use challenge token for the second step (or MFA_ENROLMENT_REQUIRED with an enrolment-only
 * token, for a required user who has none). Only a sign-in that names the factor it proved passes.
 * Basic authentication, which has no second step, is refused for such users.
 */
export class SecondFactorGate {
  constructor(
    private readonly d: {
      db: Db;
      settings: SettingsStore;
      log: SecurityLog;
      policy: MfaPolicy;
      now: () => number;
      /** IP as a factor: a trusted address may skip the second step (never basic, never the enrolment). */
      trust?: Pick<TrustedAddresses, 'skips'>;
      /** An SMS gateway is configured: texted codes may be set up. */
      smsAvailable?: boolean;
    },
  ) {}

  async check(user: UsersTable, method: SignInMethod, ctx: EventContext, session?: SessionAsked): Promise<void> {
    if (secondFactorOf(method) !== null || (typeof method === 'string' && MULTI_FACTOR.has(method))) return;
    // A provider's MFA assertion counts only when the provider is set to trust it (AUTH-13).
    if (typeof method === 'object' && method.method === 'sso' && method.mfa) return;
    const factors = await factorState(this.d.db, user);
    const has = hasFactor(factors);
    if (!has && !(await this.d.policy.required(user))) return;
    if (method === 'basic' || session === undefined) {
      await this.d.log.record(ctx, {
        type: 'auth.login',
        outcome: 'failure',
        subjectId: user.id,
        details: { reason: 'second_factor_required', method: typeof method === 'string' ? method : method.method },
      });
      throw new AppError('MFA_REQUIRED', undefined, 'no second step for this method');
    }
    if (has && this.d.trust && (await this.d.trust.skips(user, ctx))) return;
    const settings = await this.d.settings.get(mfaArea);
    const kind = has ? 'signin' : 'enrol';
    const methods = methodsOf(factors, settings.emailCodes);
    const issued = await this.d.db.transaction().execute(async (trx) => {
      const c = await issueChallenge(trx, user.id, kind, session, settings.challengeValidity, this.d.now(), method);
      await this.d.log.record(ctx, { type: 'mfa.challenged', outcome: 'info', subjectId: user.id, details: { kind, methods } }, trx);
      return c;
    });
    const expiresAt = new Date(issued.expiresAt).toISOString();
    if (has) throw new AppError('MFA_REQUIRED', { challengeToken: issued.token, expiresAt, methods }, 'second factor required');
    // What this server lets the user set up now: an authenticator app always, codes by email and text when offered.
    const offered = ['totp', ...(settings.emailCodes ? ['email'] : []), ...(this.d.smsAvailable ? ['sms'] : [])];
    throw new AppError('MFA_ENROLMENT_REQUIRED', { enrolmentToken: issued.token, expiresAt, offered }, 'second factor enrolment required');
  }
}
