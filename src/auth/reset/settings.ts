import Type, { type Static } from 'typebox';
import { boolEnv, defineSettingsArea, durationEnv, intEnv } from '../../config/settings-area.js';

const MIN_LINK = 60;
const MAX_LINK = 30 * 86400;
const Link = (def: number, description: string) => Type.Integer({ minimum: MIN_LINK, maximum: MAX_LINK, default: def, description });

/** Password links and who may set passwords (AUTH-8); durations in seconds. */
export const PasswordResetSchema = Type.Object({
  resetLinkValidity: Link(30 * 60, 'Lifetime of a link the user asked for (forgot password).'),
  adminResetLinkValidity: Link(24 * 3600, 'Lifetime of a reset link an administrator sent.'),
  invitationValidity: Link(72 * 3600, 'Lifetime of an invitation: a new user sets their first password.'),
  adminMaySetPasswords: Type.Boolean({ default: true, description: 'false: administrators can no longer set or import a password; they send a link instead.' }),
  forgotPerAccount: Type.Integer({
    minimum: 1,
    maximum: 100,
    default: 3,
    description: 'Reset mails per account per hour; further requests get the same answer and no mail.',
  }),
  forgotPerIp: Type.Integer({
    minimum: 1,
    maximum: 100_000,
    default: 20,
    description: 'Forgot-password requests per client IP per hour; further ones answer RATE_LIMITED.',
  }),
});
export type PasswordResetSettings = Static<typeof PasswordResetSchema>;

export const passwordResetArea = defineSettingsArea({
  key: 'passwordReset',
  label: 'password reset',
  schema: PasswordResetSchema,
  env: [
    durationEnv('RESET_LINK_VALIDITY', 'resetLinkValidity'),
    durationEnv('ADMIN_RESET_LINK_VALIDITY', 'adminResetLinkValidity'),
    durationEnv('INVITATION_LINK_VALIDITY', 'invitationValidity'),
    boolEnv('ADMIN_MAY_SET_PASSWORDS', 'adminMaySetPasswords'),
    intEnv('FORGOT_PER_ACCOUNT', 'forgotPerAccount'),
    intEnv('FORGOT_PER_IP', 'forgotPerIp'),
  ],
});
