import Type, { type Static } from 'typebox';
import { boolEnv, customEnv, defineSettingsArea, durationEnv, intEnv, listEnv, textEnv } from '../../config/settings-area.js';
import { checkCustomRule, CustomRuleSchema, type CustomRule } from './regex.js';

/** The hard upper bound: nothing longer is ever hashed, whatever the policy says. */
export const HARD_MAX_LENGTH = 1024;
export const MAX_HISTORY = 24;
export const DEFAULT_SYMBOLS = '!@#$%^&*';
const YEARS_5 = 5 * 365 * 86400;

export { CustomRuleSchema, type CustomRule } from './regex.js';

/**
 * The password policy (AUTH-7); durations in seconds. Defaults after NIST SP 800-63B-4 (section
 * 3.1.1.2) and OWASP ASVS 5.0 level 2 (V6.2): 15 characters minimum for a password that is the only
 * factor, at least 64 allowed, no composition rules, no periodic expiry, a blocklist with context
 * words. The other options are there for policies that need them (seeds 000-004).
 */
export const PasswordPolicySchema = Type.Object({
  minLength: Type.Integer({ minimum: 8, maximum: 256, default: 15, description: 'At least this many characters (Unicode code points); at most maxLength.' }),
  maxLength: Type.Integer({ minimum: 64, maximum: HARD_MAX_LENGTH, default: 128, description: 'At most this many; longer is refused, never truncated.' }),
  requireLowercase: Type.Boolean({ default: false }),
  requireUppercase: Type.Boolean({ default: false }),
  requireDigit: Type.Boolean({ default: false }),
  requireSymbol: Type.Boolean({ default: false }),
  symbols: Type.String({ minLength: 1, maxLength: 64, default: DEFAULT_SYMBOLS, description: 'The characters that count as symbols.' }),
  forbidUserInfo: Type.Boolean({ default: true, description: "Refuse passwords containing the username or the email's local part (case-insensitive)." }),
  history: Type.Integer({ minimum: 0, maximum: MAX_HISTORY, default: 5, description: 'The last N passwords may not be used again (0 = no history).' }),
  blocklist: Type.Boolean({ default: true, description: 'Refuse common and breached passwords and context words.' }),
  contextWords: Type.Array(Type.String({ minLength: 3, maxLength: 64 }), {
    maxItems: 100,
    default: [],
    description: "Extra context words (the organisation's name...), refused inside a password; the product name always is.",
  }),
  customRules: Type.Array(CustomRuleSchema, { maxItems: 20, default: [], description: "Each rule's pattern must match the password." }),
  validity: Type.Integer({ minimum: 0, maximum: YEARS_5, default: 0, description: 'Seconds a password stays valid; 0 = never expires.' }),
  reminder: Type.Integer({ minimum: 0, maximum: YEARS_5, default: 10 * 86400, description: 'Seconds before expiry during which sign-ins carry a reminder.' }),
});
export type PasswordPolicy = Static<typeof PasswordPolicySchema>;

const GROUPS = ['lower', 'upper', 'digit', 'symbol'] as const;

/** PASSWORD_REQUIRE: the character groups a password must contain, comma-separated. */
function requireEnv(raw: string, problems: string[]): Partial<PasswordPolicy> {
  const require = raw
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean);
  for (const g of require)
    if (!(GROUPS as readonly string[]).includes(g)) problems.push(`PASSWORD_REQUIRE: "${g.slice(0, 20)}" is not one of ${GROUPS.join(', ')}`);
  return {
    requireLowercase: require.includes('lower'),
    requireUppercase: require.includes('upper'),
    requireDigit: require.includes('digit'),
    requireSymbol: require.includes('symbol'),
  };
}

/** PASSWORD_CUSTOM_RULES: a JSON array of rules; the rules themselves are checked with the policy. */
function customRulesEnv(raw: string, problems: string[]): Partial<PasswordPolicy> {
  try {
    const v = JSON.parse(raw) as unknown;
    if (Array.isArray(v) && v.every((r) => r && typeof r === 'object' && Object.keys(r).every((k) => ['pattern', 'flags', 'message'].includes(k)))) {
      return { customRules: v as CustomRule[] };
    }
  } catch {
    /* reported below */
  }
  problems.push('PASSWORD_CUSTOM_RULES must be a JSON array of {"pattern", "message", "flags"?} objects');
  return {};
}

export const passwordPolicyArea = defineSettingsArea({
  key: 'passwordPolicy',
  label: 'password policy',
  schema: PasswordPolicySchema,
  env: [
    intEnv('PASSWORD_MIN_LENGTH', 'minLength'),
    intEnv('PASSWORD_MAX_LENGTH', 'maxLength'),
    customEnv('PASSWORD_REQUIRE', requireEnv),
    textEnv('PASSWORD_SYMBOLS', 'symbols'),
    boolEnv('PASSWORD_FORBID_USER_INFO', 'forbidUserInfo'),
    intEnv('PASSWORD_HISTORY', 'history'),
    boolEnv('PASSWORD_BLOCKLIST', 'blocklist'),
    listEnv('PASSWORD_CONTEXT_WORDS', 'contextWords'),
    customEnv('PASSWORD_CUSTOM_RULES', customRulesEnv),
    durationEnv('PASSWORD_VALIDITY', 'validity'),
    durationEnv('PASSWORD_REMINDER', 'reminder'),
  ],
  rules(p) {
    const out: string[] = [];
    if (p.minLength > p.maxLength) out.push('minLength must be from 8 to the smaller of maxLength and 256');
    if (p.validity > 0 && p.reminder >= p.validity) out.push('reminder must be shorter than validity');
    if (/[\p{L}\p{N}\p{Cc}\s]/u.test(p.symbols)) out.push('symbols must not contain letters, digits, spaces or control characters');
    p.customRules.forEach((r, i) => {
      for (const m of checkCustomRule(r)) out.push(`customRules[${i}]: ${m}`);
    });
    return out;
  },
  warnings: (p) => (p.blocklist ? [] : ['PASSWORD_BLOCKLIST=false: common and breached passwords are accepted']),
});

export const PASSWORD_POLICY_DEFAULTS: Readonly<PasswordPolicy> = passwordPolicyArea.defaults;

/** What anyone may read (GET /api/auth/password/policy): no context words. */
export const PublicPasswordPolicySchema = Type.Object({
  minLength: Type.Integer(),
  maxLength: Type.Integer(),
  requireLowercase: Type.Boolean(),
  requireUppercase: Type.Boolean(),
  requireDigit: Type.Boolean(),
  requireSymbol: Type.Boolean(),
  symbols: Type.String(),
  forbidUserInfo: Type.Boolean(),
  history: Type.Integer(),
  blocklist: Type.Boolean(),
  customRules: Type.Array(CustomRuleSchema),
  validity: Type.Integer(),
  reminder: Type.Integer(),
});

export function publicPolicy(p: PasswordPolicy): Omit<PasswordPolicy, 'contextWords'> {
  const { contextWords: _hidden, ...rest } = p;
  return rest;
}
