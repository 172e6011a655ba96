import Type, { type Static } from 'typebox';
import { boolEnv, defineSettingsArea, durationEnv, intEnv, listEnv } from '../../config/settings-area.js';
import { parseCidr } from '../../edge/ip.js';

/** The narrowest a trusted range may be wide: a wider one would switch the second factor off for a large part of the Internet. */
export const WIDEST = { ipv4: 8, ipv6: 32 } as const;

/** IP as a factor (AUTH-12): which addresses are trusted, and whether a trusted one may skip the second factor. */
export const MfaIpSchema = Type.Object({
  skipSecondFactor: Type.Boolean({
    default: false,
    description: 'A password sign-in from a trusted address passes without the second factor (audited). Off: trust is only recorded.',
  }),
  requiredUsersToo: Type.Boolean({
    default: false,
    description: 'Also for users the mfa policy requires to use a second factor (static ranges and adaptive trust only; a country never counts for them).',
  }),
  trustedRanges: Type.Array(Type.String({ minLength: 2, maxLength: 49, pattern: '^[0-9A-Fa-f.:/]+$' }), {
    maxItems: 100,
    uniqueItems: true,
    default: [],
    description: 'Static trusted ranges (CIDR or single addresses), e.g. the office network; at most /8 wide for IPv4, /32 for IPv6.',
  }),
  trustedCountries: Type.Array(Type.String({ pattern: '^[A-Z]{2}$' }), {
    maxItems: 250,
    uniqueItems: true,
    default: [],
    description:
      'ISO 3166 alpha-2 codes whose addresses are trusted (the offline GeoIP database); empty: no country trust. A weaker signal: never for required users.',
  }),
  adaptive: Type.Boolean({
    default: false,
    description:
      'Adaptive trust: an address (IPv6 by its /64) becomes trusted for a user after adaptiveSuccesses full sign-ins with the second factor from it.',
  }),
  adaptiveSuccesses: Type.Integer({
    minimum: 1,
    maximum: 100,
    default: 3,
    description: 'Full sign-ins (with the second factor) that make an address trusted.',
  }),
  adaptivePeriod: Type.Integer({
    minimum: 3600,
    maximum: 365 * 86400,
    default: 30 * 86400,
    description: 'Seconds: the successes must fall within this period, counted from the first; the trust ends with it.',
  }),
});
export type MfaIpSettings = Static<typeof MfaIpSchema>;

export const mfaIpArea = defineSettingsArea({
  key: 'mfaIp',
  label: 'IP as a factor',
  schema: MfaIpSchema,
  rules: (v) =>
    v.trustedRanges.flatMap((raw) => {
      const c = parseCidr(raw);
      if (!c) return [`trustedRanges: ${raw} is not an IPv4 or IPv6 address or CIDR range`];
      return c.bits < WIDEST[c.addr.kind()] ? [`trustedRanges: ${raw} is wider than /${WIDEST[c.addr.kind()]}`] : [];
    }),
  warnings: (v) =>
    v.skipSecondFactor && v.requiredUsersToo ? ['MFA_IP_REQUIRED_USERS_TOO: trusted addresses skip the second factor of required users too'] : [],
  env: [
    boolEnv('MFA_IP_SKIP_SECOND_FACTOR', 'skipSecondFactor'),
    boolEnv('MFA_IP_REQUIRED_USERS_TOO', 'requiredUsersToo'),
    listEnv('MFA_IP_TRUSTED_RANGES', 'trustedRanges'),
    listEnv('MFA_IP_TRUSTED_COUNTRIES', 'trustedCountries'),
    boolEnv('MFA_IP_ADAPTIVE', 'adaptive'),
    intEnv('MFA_IP_ADAPTIVE_SUCCESSES', 'adaptiveSuccesses'),
    durationEnv('MFA_IP_ADAPTIVE_PERIOD', 'adaptivePeriod'),
  ],
});
