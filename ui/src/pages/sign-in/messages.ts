import { ApiError, describeError } from '../../lib/api';
import { RecaptchaUnsupported } from '../../lib/bot-check';
import { describeWebauthnError } from '../../lib/webauthn';

/** The answer of every request that signs in (POST /api/auth/login and its second steps). */
export interface SignInAnswer {
  user: { id: string; username: string };
  passwordExpiresAt: string | null;
  passwordExpiryReminder: boolean;
  recoveryCodes?: string[] | null;
}

const minutes = (s: number) => (s < 90 ? `${s} seconds` : `about ${Math.ceil(s / 60)} minutes`);

/** Clear words for every refusal on the sign-in screens; the server's code stays on the alert for support. */
export function explain(e: unknown): string {
  if (e instanceof RecaptchaUnsupported) {
    return 'This server asks for a reCAPTCHA check, which this sign-in page cannot show (its security policy allows no script from Google). Ask an administrator to switch the bot check to the proof-of-work check.';
  }
  const w = describeWebauthnError(e);
  if (w) return w;
  if (!(e instanceof ApiError)) return e instanceof Error && e.message ? `The check could not be completed: ${e.message}.` : describeError(e);
  switch (e.code) {
    case 'INVALID_CREDENTIALS':
      return 'The username, email or password is not right. If they are, the account may be locked after too many failed attempts, or disabled: the server does not say which, so that no one can learn about accounts. Wait a while and try again, reset your password, or ask an administrator.';
    case 'ACCOUNT_LOCKED':
      return 'This account is locked after too many failed attempts, or by an administrator. Wait for the lock to end, reset your password, or ask an administrator to unlock it.';
    case 'SIGN_IN_PAUSED':
      return `Password sign-in is paused for everyone for a while, because of many failed sign-ins on this server. Try again in ${e.retryAfter ? minutes(e.retryAfter) : 'a few minutes'}.`;
    case 'RATE_LIMITED':
      return `Too many attempts from this address. Try again in ${e.retryAfter ? minutes(e.retryAfter) : 'a while'}.`;
    case 'INITIAL_PASSWORD_EXPIRED':
      return 'This one-time password has expired: it could only be used for a short time. Ask an administrator for a new one, or reset your password.';
    case 'ACCOUNT_DISABLED':
      return 'This account is disabled. Ask an administrator.';
    case 'BOT_CHECK_REQUIRED':
    case 'BOT_CHECK_FAILED':
      return 'The check that you are not a robot did not pass. Try again.';
    case 'BOT_CHECK_UNAVAILABLE':
      return 'The check that you are not a robot cannot be verified right now. Try again shortly.';
    case 'MFA_TOKEN_INVALID':
      return 'This sign-in took too long or was already finished. Sign in again.';
    case 'MFA_CODE_INVALID':
      return 'That code is not right, or was already used. Check it and try again (an authenticator code changes every 30 seconds).';
    case 'MFA_METHOD_UNAVAILABLE':
      return 'This way of confirming is not set up for your account. Choose another.';
    case 'PASSKEY_INVALID':
      return 'The passkey could not be verified. Try again, or use another way.';
    case 'PASSKEY_CHALLENGE_INVALID':
      return 'The passkey request expired. Try again.';
    case 'PASSKEYS_NOT_CONFIGURED':
      return 'Passkeys are not set up on this server.';
    case 'SMS_NOT_CONFIGURED':
      return 'Text-message codes are not set up on this server. Choose another way.';
    case 'MFA_EMAIL_DISABLED':
      return 'Codes by email are not accepted on this server. Choose another way, such as an authenticator app or a recovery code.';
    case 'SMS_UNAVAILABLE':
      return 'The text message could not be sent right now. Try again shortly, or choose another way.';
    case 'PHONE_NUMBER_INVALID':
      return 'Give the phone number in international form, such as +4512345678.';
    case 'RESET_TOKEN_EXPIRED':
      return 'This step took too long. Sign in again to get a new chance to change your password.';
    case 'RESET_TOKEN_USED':
    case 'RESET_TOKEN_INVALID':
      return 'This password change can no longer be used. Sign in again.';
    case 'IP_BLOCKED':
      return 'Sign-in is not allowed from your network address. Ask an administrator.';
    case 'SSO_FAILED':
      return 'Single sign-on did not complete (it took too long, was opened in another browser, or the provider’s answer did not check out). Start again.';
    case 'SSO_PROVIDER_UNAVAILABLE':
      return 'The sign-in provider cannot be reached right now. Try again later, or sign in another way.';
    case 'SSO_ACCOUNT_UNKNOWN':
      return 'No account here is linked to that sign-in. Ask an administrator to create or link your account.';
    case 'SSO_ACCOUNT_NOT_LINKED':
      return 'An account with that email address already exists. Sign in to it another way, then link this provider under “Sign-in & security”.';
    case 'NOT_FOUND':
      return 'That sign-in provider is not available.';
    default:
      return describeError(e);
  }
}

export const codeOf = (e: unknown): string => (e instanceof ApiError ? e.code : e instanceof RecaptchaUnsupported ? e.code : '');

/** A refusal as the sign-in screens show it: the sentence, and the server's code kept on the alert for support. */
export interface Refusal {
  text: string;
  code: string;
}

export const refusal = (e: unknown): Refusal => ({ text: explain(e), code: codeOf(e) });

/** A refusal on a second sign-in step: a sign-in token that is gone starts over (`onRestart`) and leaves no error here. */
export function stepRefusal(e: unknown, onRestart: (r: Refusal) => void): Refusal | null {
  if (e instanceof ApiError && e.code === 'MFA_TOKEN_INVALID') {
    onRestart(refusal(e));
    return null;
  }
  return refusal(e);
}
