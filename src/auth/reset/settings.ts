import Type from 'typebox';
import type { SettingsArea } from '../../config/settings.js';

/** Password links and who may set passwords (AUTH-8). Durations in seconds. */
export interface PasswordResetSettings {
  /** Lifetime of a link the user asked for (forgot password). */
  resetLinkValidity: number;
  /** Lifetime of a reset link an administrator sent. */
  adminResetLinkValidity: number;
  /** Lifetime of an invitation: a new user sets their first password. */
  invitationValidity: number;
  /** false: administrators can no longer set or import a password; they send a link instead. */
  adminMaySetPasswords: boolean;
  /** Reset mails per account per hour; further requests get the same answer and no mail. */
  forgotPerAccount: number;
  /** Forgot-password requests per client IP per hour; further ones answer RATE_LIMITED. */
  forgotPerIp: number;
}

export const PASSWORD_RESET_DEFAULTS: Readonly<PasswordResetSettings> = Object.freeze({
  resetLinkValidity: 30 * 60,
  adminResetLinkValidity: 24 * 3600,
  invitationValidity: 72 * 3600,
  adminMaySetPasswords: true,
  forgotPerAccount: 3,
  forgotPerIp: 20,
});

const MIN_LINK = 60;
const MAX_LINK = 30 * 86400;

export function checkPasswordReset(r: PasswordResetSettings): string[] {
  const out: string[] = [];
  for (const k of ['resetLinkValidity', 'adminResetLinkValidity', 'invitationValidity'] as const) {
    if (!Number.isInteger(r[k]) || r[k] < MIN_LINK || r[k] > MAX_LINK) out.push(`${k} must be from ${MIN_LINK} seconds to 30 days`);
  }
  if (!Number.isInteger(r.forgotPerAccount) || r.forgotPerAccount < 1 || r.forgotPerAccount > 100) out.push('forgotPerAccount must be from 1 to 100');
  if (!Number.isInteger(r.forgotPerIp) || r.forgotPerIp < 1 || r.forgotPerIp > 100_000) out.push('forgotPerIp must be from 1 to 100000');
  if (typeof r.adminMaySetPasswords !== 'boolean') out.push('adminMaySetPasswords must be true or false');
  return out;
}

export const passwordResetArea = (defaults: Readonly<PasswordResetSettings>): SettingsArea<PasswordResetSettings> => ({
  key: 'passwordReset', defaults, check: checkPasswordReset,
});

export const PasswordResetSchema = Type.Object({
  resetLinkValidity: Type.Integer({ minimum: MIN_LINK, maximum: MAX_LINK }),
  adminResetLinkValidity: Type.Integer({ minimum: MIN_LINK, maximum: MAX_LINK }),
  invitationValidity: Type.Integer({ minimum: MIN_LINK, maximum: MAX_LINK }),
  adminMaySetPasswords: Type.Boolean(),
  forgotPerAccount: Type.Integer({ minimum: 1, maximum: 100 }),
  forgotPerIp: Type.Integer({ minimum: 1, maximum: 100_000 }),
});
