import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import type { UsersTable } from '../../db/types.js';
import type { EventContext } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { secondFactorSubject } from '../account-locks.js';
import { CEREMONY_TIMEOUT_MS, issueCeremony } from '../passkeys/challenges.js';
import { proveAssertion } from '../passkeys/assertion.js';
import type { AuthenticationResponseJSON } from '../passkeys/ceremony.js';
import { fromBase64Url, webauthn } from '../passkeys/webauthn.js';
import { requirePasskeys } from '../passkeys/env.js';
import { claimChallenge } from './challenge.js';
import { offeredMethods } from './factors.js';
import { actorOf, provenStep, type ProvenSecondStep, type SecondStep } from './second-step.js';
import type { MfaDeps } from './deps.js';
import { successRecorder } from './trusted-ip.js';

type Request = Omit<EventContext, 'actor'>;

/**
 * A passkey as the second step of a password sign-in (AUTH-12). The options are for the passkeys of the
 * challenge token's user only, with a WebAuthn challenge bound to that user; the assertion is checked
 * like a passwordless one (`../passkeys/assertion.ts`) but spends attempts on the second-factor counter,
 * and only a passkey of that user passes. The challenge token is spent with the success, so it works
 * once; a refused assertion leaves it usable until it expires, like a wrong code.
 */
export class PasskeyStep {
  constructor(
    private readonly d: MfaDeps,
    private readonly step: SecondStep,
  ) {}

  async options(challengeToken: string, request: Request): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const cfg = requirePasskeys(this.d.passkeys ?? null);
    const { user } = await this.step.token(challengeToken, 'signin', request);
    await this.assertAvailable(user, request);
    const own = await this.d.db.selectFrom('passkeys').select(['credential_id', 'transports']).where('user_id', '=', user.id).execute();
    const challenge = await issueCeremony(this.d.db, 'second_factor', user.id, this.d.now());
    return (await webauthn()).generateAuthenticationOptions({
      rpID: cfg.rpId,
      challenge: fromBase64Url(challenge),
      userVerification: 'required',
      timeout: CEREMONY_TIMEOUT_MS,
      allowCredentials: own.map((x) => ({ id: x.credential_id, transports: x.transports ? (JSON.parse(x.transports) as string[]) : undefined })),
    });
  }

  async verify(challengeToken: string, response: AuthenticationResponseJSON, request: Request): Promise<ProvenSecondStep> {
    const cfg = requirePasskeys(this.d.passkeys ?? null);
    const { row, user } = await this.step.token(challengeToken, 'signin', request);
    await this.assertAvailable(user, request);
    try {
      await proveAssertion(
        this.d,
        cfg,
        response,
        { purpose: 'second_factor', userId: user.id, subject: secondFactorSubject, failureType: 'mfa.verified' },
        request,
      );
    } catch (e) {
      // A right first step and a refused passkey: whoever tried holds the password (ASVS V6.3.5).
      if (e instanceof AppError && e.code === 'PASSKEY_INVALID') this.d.notices.secondFactorFailed(user, actorOf(request, user));
      throw e;
    }
    const noteAddress = await successRecorder(this.d, actorOf(request, user), user.id);
    await this.d.db.transaction().execute(async (trx) => {
      // The token goes with the proof: a second request with the same token loses here.
      if (!(await claimChallenge(trx, row.id, this.d.now()))) throw new AppError('MFA_TOKEN_INVALID', undefined, 'used concurrently');
      await this.d.log.record(actorOf(request, user), { type: 'mfa.verified', outcome: 'success', subjectId: user.id, details: { method: 'passkey' } }, trx);
      await noteAddress(trx, this.d.now());
    });
    return provenStep(row, user, 'passkey');
  }

  private async assertAvailable(user: UsersTable, request: Request): Promise<void> {
    if ((await offeredMethods(this.d.db, this.d.settings, user)).includes('passkey')) return;
    await this.d.log.record(actorOf(request, user), {
      type: 'mfa.verified',
      outcome: 'failure',
      subjectId: user.id,
      details: { method: 'passkey', reason: 'method_unavailable' },
    });
    throw new AppError('MFA_METHOD_UNAVAILABLE');
  }
}
