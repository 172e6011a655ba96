import Type from 'typebox';
import { checkCustomRule } from './regex.js';

/** The password policy (AUTH-7). Durations in seconds. */
export interface PasswordPolicy {
  /** At least this many characters (Unicode code points). */
  minLength: number;
  /** At most this many; longer is refused, never truncated. */
  maxLength: number;
  requireLowercase: boolean;
  requireUppercase: boolean;
  requireDigit: boolean;
  requireSymbol: boolean;
  /** The characters that count as symbols. */
  symbols: string;
  /** Refuse passwords containing the username or the email's local part (case-insensitive). */
  forbidUserInfo: boolean;
  /** The last N passwords may not be used again (0 = no history). */
  history: number;
  /** Refuse common and breached passwords and context words. */
  blocklist: boolean;
  /** Extra context words (the organisation's name...), refused inside a password; the product name always is. */
  contextWords: string[];
  /** Each rule's pattern must match the password. */
  customRules: CustomRule[];
  /** Seconds a password stays valid; 0 = never expires. */
  validity: number;
  /** Seconds before expiry during which sign-ins carry a reminder. */
  reminder: number;
}

export interface CustomRule {
  pattern: string;
  /** Subset of "imsu". */
  flags?: string;
  message: string;
}

/** The hard upper bound: nothing longer is ever hashed, whatever the policy says. */
export const HARD_MAX_LENGTH = 1024;
export const MAX_HISTORY = 24;
export const DEFAULT_SYMBOLS = '!@#$%^&*';

/**
 * Defaults after NIST SP 800-63B-4 (section 3.1.1.2) and OWASP ASVS 5.0 level 2 (V6.2): 15 characters
 * minimum for a password that is the only factor, at least 64 allowed, no composition rules, no
 * periodic expiry, a blocklist with context words. The other options are there for policies that
 * need them (seeds 000-004).
 */
export const PASSWORD_POLICY_DEFAULTS: Readonly<PasswordPolicy> = Object.freeze({
  minLength: 15,
  maxLength: 128,
  requireLowercase: false,
  requireUppercase: false,
  requireDigit: false,
  requireSymbol: false,
  symbols: DEFAULT_SYMBOLS,
  forbidUserInfo: true,
  history: 5,
  blocklist: true,
  contextWords: [],
  customRules: [],
  validity: 0,
  reminder: 10 * 86400,
});

/** Problems with a complete policy; empty when consistent. */
export function checkPasswordPolicy(p: PasswordPolicy): string[] {
  const out: string[] = [];
  const int = (v: unknown) => Number.isInteger(v);
  if (!int(p.maxLength) || p.maxLength < 64 || p.maxLength > HARD_MAX_LENGTH) out.push(`maxLength must be from 64 to ${HARD_MAX_LENGTH}`);
  if (!int(p.minLength) || p.minLength < 8 || p.minLength > Math.min(p.maxLength, 256)) out.push('minLength must be from 8 to the smaller of maxLength and 256');
  if (!int(p.history) || p.history < 0 || p.history > MAX_HISTORY) out.push(`history must be from 0 to ${MAX_HISTORY}`);
  if (!int(p.validity) || p.validity < 0 || p.validity > 5 * 365 * 86400) out.push('validity must be from 0 (never) to 5 years');
  if (!int(p.reminder) || p.reminder < 0) out.push('reminder must not be negative');
  else if (p.validity > 0 && p.reminder >= p.validity) out.push('reminder must be shorter than validity');
  if (typeof p.symbols !== 'string' || p.symbols.length < 1 || [...p.symbols].length > 64) out.push('symbols must hold 1 to 64 characters');
  else if (/[\p{L}\p{N}\p{Cc}\s]/u.test(p.symbols)) out.push('symbols must not contain letters, digits, spaces or control characters');
  if (!Array.isArray(p.contextWords) || p.contextWords.length > 100) out.push('contextWords may hold at most 100 words');
  else if (p.contextWords.some((w) => typeof w !== 'string' || [...w].length < 3 || [...w].length > 64)) out.push('each context word must have 3 to 64 characters');
  if (!Array.isArray(p.customRules) || p.customRules.length > 20) out.push('customRules may hold at most 20 rules');
  else p.customRules.forEach((r, i) => { for (const m of checkCustomRule(r)) out.push(`customRules[${i}]: ${m}`); });
  return out;
}

const Seconds = (max: number) => Type.Integer({ minimum: 0, maximum: max });

export const CustomRuleSchema = Type.Object({
  pattern: Type.String({ minLength: 1, maxLength: 200, description: 'A JavaScript regular expression the password must match. Checked for catastrophic backtracking.' }),
  flags: Type.Optional(Type.String({ maxLength: 4, pattern: '^[imsu]*$' })),
  message: Type.String({ minLength: 1, maxLength: 200, description: 'Shown to the user when the password does not match.' }),
}, { additionalProperties: false });

/** The admin settings body (every field). PATCH takes any subset. */
export const PasswordPolicySchema = Type.Object({
  minLength: Type.Integer({ minimum: 8, maximum: 256 }),
  maxLength: Type.Integer({ minimum: 64, maximum: HARD_MAX_LENGTH }),
  requireLowercase: Type.Boolean(),
  requireUppercase: Type.Boolean(),
  requireDigit: Type.Boolean(),
  requireSymbol: Type.Boolean(),
  symbols: Type.String({ minLength: 1, maxLength: 64 }),
  forbidUserInfo: Type.Boolean(),
  history: Type.Integer({ minimum: 0, maximum: MAX_HISTORY }),
  blocklist: Type.Boolean(),
  contextWords: Type.Array(Type.String({ minLength: 3, maxLength: 64 }), { maxItems: 100 }),
  customRules: Type.Array(CustomRuleSchema, { maxItems: 20 }),
  validity: Seconds(5 * 365 * 86400),
  reminder: Seconds(5 * 365 * 86400),
});

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
