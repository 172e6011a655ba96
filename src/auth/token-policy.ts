import Type, { type Static } from 'typebox';
import { defineSettingsArea, durationEnv, textEnv } from '../config/settings-area.js';

const DAYS_90 = 90 * 86400;
const Seconds = (min: number, max: number, def: number, description: string) => Type.Integer({ minimum: min, maximum: max, default: def, description });

/** The token policy (AUTH-2, AUTH-3): durations in seconds. */
export const TokenPolicySchema = Type.Object({
  sessionValidity: Seconds(60, DAYS_90, 8 * 3600, 'Absolute lifetime of a sign-in. Renewal never extends it.'),
  tokenValidity: Seconds(30, DAYS_90, 15 * 60, 'Lifetime of one token.'),
  refreshLimit: Seconds(0, DAYS_90, 15 * 60, 'How long after its expiry a token may still be renewed.'),
  rememberMeValidity: Seconds(60, DAYS_90, 7 * 86400, 'Absolute lifetime of a "remember me" sign-in.'),
  adminSessionBinding: Type.Union([Type.Literal('network'), Type.Literal('address'), Type.Literal('off')], {
    default: 'network',
    description:
      'Where an administrator route may be called from with a session: network, from the IPv4 /24 or IPv6 /48 it was signed in from; address, from the same address; off, anywhere. Elsewhere: 403 SESSION_CONTEXT_CHANGED, sign in again (D444).',
  }),
});

export type TokenPolicy = Static<typeof TokenPolicySchema>;

export const tokenPolicyArea = defineSettingsArea({
  key: 'tokenPolicy',
  label: 'token policy',
  schema: TokenPolicySchema,
  env: [
    durationEnv('SESSION_VALIDITY', 'sessionValidity'),
    durationEnv('TOKEN_VALIDITY', 'tokenValidity'),
    durationEnv('REFRESH_LIMIT', 'refreshLimit'),
    durationEnv('REMEMBER_ME_VALIDITY', 'rememberMeValidity'),
    textEnv('ADMIN_SESSION_BINDING', 'adminSessionBinding'),
  ],
  rules(p) {
    const out: string[] = [];
    if (p.tokenValidity > p.sessionValidity) out.push('token validity must not exceed session validity');
    if (p.rememberMeValidity < p.sessionValidity) out.push('remember-me validity must be at least the session validity');
    return out;
  },
});
