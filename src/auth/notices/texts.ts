/**
 * What an account notice says (ASVS V6.3.5, V6.3.7): the subject, what happened, and what to do if it was not the
 * reader. Rendered (and escaped) by `renderNotice` in src/mail/templates.ts. Never a link, never a secret.
 */

/** A change to how the account signs in, made and committed. */
export type AuthChange =
  /** The user changed their own password (with the current one, or the change a sign-in required). */
  | 'password_changed'
  /** The password was reset through a link mailed to the account's address. */
  | 'password_reset'
  /** An administrator (or the operator's CLI) set the password. */
  | 'password_set'
  /** A second factor (`detail.factor`) was set up. */
  | 'factor_added'
  /** A second factor (`detail.factor`) was removed by the user. */
  | 'factor_removed'
  /** An administrator (or the CLI) removed every factor, passkey and recovery code of the account. */
  | 'mfa_reset'
  | 'passkey_added'
  | 'passkey_removed'
  | 'recovery_codes_regenerated';

/** The second factors with a name of their own in a notice. */
export type NoticeFactor = 'totp' | 'email' | 'sms';

/** Why a sign-in, or an attempt, looks suspicious. */
export type SignInReason = 'new_client' | 'after_failures' | 'after_inactivity' | 'second_factor_failed';

const FACTOR_NAMES: Readonly<Record<NoticeFactor, string>> = Object.freeze({
  totp: 'An authenticator app (TOTP)',
  email: 'Codes by email',
  sms: 'Codes by text message',
});

const NOT_YOU = 'If this was you, there is nothing to do. If it was not, someone else may be able to sign in as you:';
const SECURE = `${NOT_YOU} reset your password from the sign-in page ("Forgot your password?") and tell your administrator at once.`;
const ASK_ADMIN = 'If you did not expect this, tell your administrator at once: someone may be trying to take over your account.';

export interface NoticeText {
  subject: string;
  what: string[];
  advice: string;
}

/** The text of a change notice; `factor` names the factor of `factor_added` and `factor_removed`. */
export function changeText(change: AuthChange, factor?: NoticeFactor): NoticeText {
  const name = factor ? FACTOR_NAMES[factor] : 'A second factor';
  switch (change) {
    case 'password_changed':
      return { subject: 'Your Palisade password was changed', what: ['The password of your Palisade account was changed.'], advice: SECURE };
    case 'password_reset':
      return {
        subject: 'Your Palisade password was reset',
        what: ['The password of your Palisade account was reset with a password link mailed to this address. Every session of the account was ended.'],
        advice: SECURE,
      };
    case 'password_set':
      return {
        subject: 'Your Palisade password was set by an administrator',
        what: ['An administrator set a new password for your Palisade account. Every session of the account was ended.'],
        advice: ASK_ADMIN,
      };
    case 'factor_added':
      return {
        subject: 'A second factor was added to your Palisade account',
        what: [`${name} was set up as a second factor of your Palisade account.`],
        advice: `${NOT_YOU} reset your password from the sign-in page, then remove the factor under "Sign-in & security", and tell your administrator.`,
      };
    case 'factor_removed':
      return {
        subject: 'A second factor was removed from your Palisade account',
        what: [`${name} was removed from the second factors of your Palisade account.`],
        advice: SECURE,
      };
    case 'mfa_reset':
      return {
        subject: 'The second factors of your Palisade account were reset',
        what: [
          'An administrator removed every second factor, passkey and recovery code of your Palisade account and ended its sessions. You will be asked to set up a new second factor where one is required.',
        ],
        advice: ASK_ADMIN,
      };
    case 'passkey_added':
      return {
        subject: 'A passkey was added to your Palisade account',
        what: ['A new passkey was registered for your Palisade account. It signs in by itself.'],
        advice: `${NOT_YOU} reset your password from the sign-in page, then remove the passkey under "Sign-in & security", and tell your administrator.`,
      };
    case 'passkey_removed':
      return { subject: 'A passkey was removed from your Palisade account', what: ['A passkey was removed from your Palisade account.'], advice: SECURE };
    case 'recovery_codes_regenerated':
      return {
        subject: 'New recovery codes were made for your Palisade account',
        what: ['New recovery codes were made for your Palisade account. The earlier ones no longer work.'],
        advice: SECURE,
      };
  }
}

const REASONS: Readonly<Record<Exclude<SignInReason, 'second_factor_failed'>, (n: { failures: number; days: number }) => string>> = Object.freeze({
  new_client: () => 'It came from a device and network your recent sign-ins did not come from.',
  after_failures: (n) => `It came after ${n.failures} failed attempts on your account since the sign-in before it.`,
  after_inactivity: (n) => `It was the first sign-in in ${n.days} days.`,
});

/** The text of a sign-in notice: one mail for every reason a sign-in looks suspicious. */
export function signInText(reasons: readonly SignInReason[], n: { failures: number; days: number }): NoticeText {
  if (reasons.includes('second_factor_failed'))
    return {
      subject: 'Someone has your Palisade password',
      what: ['Someone signed in to your Palisade account with the right password, then failed to give your second factor. The sign-in did not complete.'],
      advice:
        'If this was not you, someone knows your password: change it now under "My account" (or reset it from the sign-in page) and tell your administrator.',
    };
  return {
    subject: 'New sign-in to your Palisade account',
    what: ['Someone signed in to your Palisade account.', ...reasons.map((r) => REASONS[r as Exclude<SignInReason, 'second_factor_failed'>](n))],
    advice: `${NOT_YOU} reset your password from the sign-in page ("Forgot your password?"), end your other sessions under "My sessions", and tell your administrator at once.`,
  };
}
