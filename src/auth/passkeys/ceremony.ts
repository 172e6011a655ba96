import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { PasskeysTable } from '../../db/types.js';
import type { PasskeyConfig } from './env.js';
import { fromBase64Url, toBase64Url, webauthn } from './webauthn.js';

export type { AuthenticationResponseJSON, RegistrationResponseJSON };

/** Why a response was refused: recorded in the security log, never sent to the client. */
export type CeremonyFailure = 'malformed' | 'wrong_origin' | 'wrong_rp_id' | 'not_verified_user' | 'bad_signature' | 'counter_not_increased';

/** The challenge a response claims to answer (read before verifying, to find and spend it); null when unreadable. */
export function challengeOf(clientDataJSON: string): string | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
    const c = typeof parsed === 'object' && parsed !== null ? (parsed as { challenge?: unknown }).challenge : undefined;
    return typeof c === 'string' && c.length <= 128 ? c : null;
  } catch {
    return null;
  }
}

/** The library's refusals are plain errors: sort them into the reasons we record. */
function reasonOf(e: unknown): CeremonyFailure {
  const m = e instanceof Error ? e.message : '';
  if (/origin/i.test(m)) return 'wrong_origin';
  if (/RP ID/i.test(m)) return 'wrong_rp_id';
  if (/User verification/i.test(m)) return 'not_verified_user';
  return 'malformed';
}

export interface NewCredential {
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string[];
  aaguid: string;
  backedUp: boolean;
}

/**
 * Checks a registration response against the challenge already spent for it, this server's RP ID and
 * origins, with user verification required (a passkey signs in alone, so it must be two factors: the
 * device and its PIN or biometric). Attestation is not asked for: we trust no device model list.
 */
export async function verifyNewCredential(
  cfg: PasskeyConfig,
  response: RegistrationResponseJSON,
  challenge: string,
): Promise<{ ok: true; credential: NewCredential } | { ok: false; reason: CeremonyFailure }> {
  try {
    const v = await (await webauthn()).verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: [...cfg.origins],
      expectedRPID: cfg.rpId,
      requireUserVerification: true,
    });
    if (!v.verified) return { ok: false, reason: 'bad_signature' };
    const { credential, aaguid, credentialBackedUp } = v.registrationInfo;
    return {
      ok: true,
      credential: {
        credentialId: credential.id,
        publicKey: toBase64Url(credential.publicKey),
        counter: credential.counter,
        transports: response.response.transports ?? [],
        aaguid,
        backedUp: credentialBackedUp,
      },
    };
  } catch (e) {
    return { ok: false, reason: reasonOf(e) };
  }
}

/**
 * Checks an assertion made by a stored passkey: the spent challenge, RP ID, origin, user verification
 * and signature (the library), then the counter ourselves, once the signature proves the authenticator
 * made it: an authenticator that keeps a counter must report more than last time, else a copy of its
 * key is in use somewhere (a cloned authenticator).
 */
export async function verifyAssertion(
  cfg: PasskeyConfig,
  response: AuthenticationResponseJSON,
  passkey: PasskeysTable,
  challenge: string,
): Promise<{ ok: true; counter: number; backedUp: boolean } | { ok: false; reason: CeremonyFailure; counter?: number }> {
  let v: Awaited<ReturnType<Awaited<ReturnType<typeof webauthn>>['verifyAuthenticationResponse']>>;
  try {
    v = await (await webauthn()).verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: [...cfg.origins],
      expectedRPID: cfg.rpId,
      requireUserVerification: true,
      // The counter is compared below, after the signature: the library compares it before, which would
      // let a forged assertion with a low counter pass for a clone.
      credential: { id: passkey.credential_id, publicKey: fromBase64Url(passkey.public_key), counter: 0 },
    });
  } catch (e) {
    return { ok: false, reason: reasonOf(e) };
  }
  if (!v.verified) return { ok: false, reason: 'bad_signature' };
  const counter = v.authenticationInfo.newCounter;
  if ((counter > 0 || passkey.counter > 0) && counter <= passkey.counter) return { ok: false, reason: 'counter_not_increased', counter };
  return { ok: true, counter, backedUp: v.authenticationInfo.credentialBackedUp };
}
