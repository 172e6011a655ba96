import { AppError } from '../../errors.js';
import type { AuthState } from './types.js';

/**
 * How recent a sign-in must be for a sensitive operation (step-up, ASVS V7.5.1-V7.5.3, D432): ten minutes, as for
 * linking a provider (D290). A renewal keeps the session's sign-in time, so only a sign-in makes a session fresh.
 */
export const RECENT_SIGN_IN_MS = 10 * 60_000;

/**
 * A sensitive operation needs a session signed in within RECENT_SIGN_IN_MS; otherwise REAUTH_REQUIRED, and the
 * caller signs in again through the one sign-in funnel (password and every second factor the account holds, a
 * passkey, or single sign-on), which ends the old session and opens a fresh one. API keys and basic authentication
 * are never fresh: they have no sign-in to repeat.
 */
export function assertRecentSignIn(auth: AuthState, now: number): void {
  if (auth.method !== 'session') throw new AppError('SESSION_REQUIRED');
  const signedInAt = Number(auth.session.created_at);
  if (now - signedInAt <= RECENT_SIGN_IN_MS) return;
  throw new AppError('REAUTH_REQUIRED', { signedInAt: new Date(signedInAt).toISOString(), freshSeconds: RECENT_SIGN_IN_MS / 1000 });
}
