// What the sign-in & security screen shares: the server's shapes, the one way its sections call the
// server, and the sentences for the refusals that matter here.
import { ApiError, describeError, request } from '../../../lib/api';
import { session } from '../../../lib/session.svelte';

export type FactorState = 'none' | 'pending' | 'confirmed';

/** GET /api/auth/mfa. */
export interface MfaStatus {
  required: boolean;
  totp: FactorState;
  email: { enabled: boolean; address: string | null };
  sms: { state: FactorState; phone: string | null };
  recoveryCodesRemaining: number;
  passkeys: number;
  methods: string[];
  available: { sms: boolean; passkeys: boolean; email: boolean };
}

export interface TotpEnrolment {
  otpauthUri: string;
  qrCode: string;
  secret: string;
}

export interface CodeSent {
  sentTo: string;
  expiresAt: string;
}

export interface Passkey {
  id: string;
  name: string;
  transports: string[];
  aaguid: string;
  backedUp: boolean;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface TrustedAddress {
  id: string;
  address: string;
  successes: number;
  firstAt: string;
  lastAt: string;
  trusted: boolean;
  windowEndsAt: string;
}

/** What a section asks of the page: a password or a yes, shown once recovery codes, a fresh status. */
export interface Ask {
  title: string;
  text?: string;
  confirmLabel: string;
  danger?: boolean;
  password?: boolean;
  run: (password: string) => Promise<void>;
}

export interface SectionProps {
  status: MfaStatus;
  ask: (a: Ask) => void;
  showCodes: (codes: string[] | null) => void;
  refresh: () => Promise<void>;
}

const SESSION_GONE = new Set(['AUTH_REQUIRED', 'TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_REUSED', 'SESSION_ENDED']);

/**
 * A call on the user's own factors. A wrong password or code answers 401 too, which must not look like
 * "signed out": the session is checked again only when the answer says it is gone.
 */
export async function call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  try {
    return await request<T>(method, path, { body, quiet401: true });
  } catch (e) {
    if (e instanceof ApiError && SESSION_GONE.has(e.code)) await session.load().catch(() => undefined);
    throw e;
  }
}

/**
 * Confirms a factor being set up with the user's code: `done` clears the section's form, the recovery codes the
 * server hands out with a first factor are shown, and the status is fetched again.
 */
export async function confirmFactor(path: string, code: string, section: Pick<SectionProps, 'showCodes' | 'refresh'>, done: () => void): Promise<void> {
  const r = await call<{ recoveryCodes: string[] | null }>('POST', path, { code });
  done();
  section.showCodes(r.recoveryCodes);
  await section.refresh();
}

const MESSAGES: Record<string, string> = {
  INVALID_CREDENTIALS: 'That password is not right.',
  ACCOUNT_LOCKED: 'Your account is locked after too many wrong attempts. Try again later.',
  MFA_CODE_INVALID: 'That code is not right or has expired. Check it and try again.',
  MFA_FACTOR_EXISTS: 'This is already set up. Remove it first to set it up again.',
  MFA_FACTOR_REQUIRED: 'Your account must keep a second factor. Set up another one before removing this one.',
  PASSKEYS_NOT_CONFIGURED: 'Passkeys are not configured on this server.',
  PASSKEY_CHALLENGE_INVALID: 'The passkey request expired. Try again.',
  PASSKEY_REGISTRATION_FAILED: 'The new passkey could not be verified. Try again.',
  PASSKEY_LIMIT_REACHED: 'You have the most passkeys allowed. Remove one first.',
  SMS_NOT_CONFIGURED: 'Text-message codes are not configured on this server.',
  MFA_EMAIL_DISABLED: 'Email codes are not accepted on this server. Set up an authenticator app or a passkey instead.',
  SMS_UNAVAILABLE: 'The text message could not be sent right now. Try again shortly.',
  RATE_LIMITED: 'Too many attempts. Wait a moment and try again.',
};

export function message(e: unknown): string {
  if (e instanceof ApiError) return MESSAGES[e.code] ?? describeError(e);
  // A refusal of the browser's own (a passkey ceremony), already in words.
  if (e instanceof Error && e.message) return e.message;
  return describeError(e);
}

/** A date and time in the reader's own words ("30 Nov 2026, 21:30"); empty for none. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
