import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import type { UsersTable } from '../../db/types.js';
import type { EventContext } from '../../audit/events.js';
import { attemptSubject } from '../account-locks.js';
import { CEREMONY_TIMEOUT_MS, issueCeremony } from '../passkeys/challenges.js';
import { proveAssertion, type AssertionDeps } from '../passkeys/assertion.js';
import type { AuthenticationResponseJSON } from '../passkeys/ceremony.js';
import { requirePasskeys, type PasskeyConfig } from '../passkeys/env.js';
import { fromBase64Url, webauthn } from '../passkeys/webauthn.js';

/**
 * Proves identity with a passkey alone (a discoverable WebAuthn credential with user verification). It
 * opens no session: the route hands the user to `SessionService.create(user, 'passkey', ...)`, the one
 * funnel, which checks the account and runs the sign-in gates. A refused assertion counts towards the
 * lockout of the account whose passkey it names, on the same counter as its password.
 */
export class PasskeyCredential {
  constructor(
    private readonly d: AssertionDeps,
    private readonly config: PasskeyConfig | null,
  ) {}

  /** Options for navigator.credentials.get(): no allowCredentials (the authenticator offers its passkeys for this site). */
  async options(): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const cfg = requirePasskeys(this.config);
    const challenge = await issueCeremony(this.d.db, 'signin', null, this.d.now());
    return (await webauthn()).generateAuthenticationOptions({
      rpID: cfg.rpId,
      challenge: fromBase64Url(challenge),
      userVerification: 'required',
      timeout: CEREMONY_TIMEOUT_MS,
      allowCredentials: [],
    });
  }

  async prove(response: AuthenticationResponseJSON, request: Omit<EventContext, 'actor'>): Promise<UsersTable> {
    const cfg = requirePasskeys(this.config);
    const { user } = await proveAssertion(
      this.d,
      cfg,
      response,
      { purpose: 'signin', userId: null, subject: (id) => attemptSubject(id, ''), failureType: 'auth.login' },
      request,
    );
    return user;
  }
}
