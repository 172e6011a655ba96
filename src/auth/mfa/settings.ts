import Type, { type Static } from 'typebox';
import { defineSettingsArea, durationEnv, listEnv, textEnv } from '../../config/settings-area.js';

const Seconds = (min: number, max: number, def: number, description: string) => Type.Integer({ minimum: min, maximum: max, default: def, description });

/** Second factor (AUTH-12): who must use one, and how long its steps live; durations in seconds. */
export const MfaSchema = Type.Object({
  required: Type.Union([Type.Literal('optional'), Type.Literal('admins'), Type.Literal('everyone')], {
    default: 'optional',
    description:
      'optional: users choose; admins: administrators must use a second factor; everyone: every user must. A user who must and has none gets an enrolment-only token at sign-in.',
  }),
  requiredRoles: Type.Array(Type.String({ minLength: 1, maxLength: 41, pattern: '^[a-z][a-z0-9_-]*$' }), {
    maxItems: 100,
    default: [],
    description: 'Roles whose holders (directly or through a department) must use a second factor, whatever `required` says.',
  }),
  challengeValidity: Seconds(60, 1800, 300, 'Lifetime of the sign-in challenge token and of the enrolment-only token.'),
  emailCodes: Type.Boolean({
    default: false,
    description:
      'Offer one-time codes by email as a second factor. Off (ASVS V6.3.6: a mailbox is no factor of its own): nobody may set it up, and a user who has it is not offered it at sign-in and signs in with another factor or a recovery code.',
  }),
  emailCodeValidity: Seconds(60, 3600, 300, 'Lifetime of an emailed one-time code.'),
  smsCodeValidity: Seconds(60, 1800, 300, 'Lifetime of a one-time code sent by SMS.'),
  issuer: Type.String({
    minLength: 1,
    maxLength: 64,
    pattern: '^[^:\\u0000-\\u001f\\u007f]+$',
    default: 'Palisade',
    description: 'The issuer an authenticator app shows beside the account (in the otpauth:// URI).',
  }),
});
export type MfaSettings = Static<typeof MfaSchema>;

export const mfaArea = defineSettingsArea({
  key: 'mfa',
  label: 'second factor',
  schema: MfaSchema,
  env: [
    textEnv('MFA_REQUIRED', 'required'),
    listEnv('MFA_REQUIRED_ROLES', 'requiredRoles'),
    durationEnv('MFA_CHALLENGE_VALIDITY', 'challengeValidity'),
    durationEnv('MFA_EMAIL_CODE_VALIDITY', 'emailCodeValidity'),
    durationEnv('MFA_SMS_CODE_VALIDITY', 'smsCodeValidity'),
    textEnv('MFA_TOTP_ISSUER', 'issuer'),
  ],
});
