import type { PasswordPolicy } from './schema.js';
import { HARD_MAX_LENGTH } from './schema.js';
import { compileRule, runRule } from './regex.js';
import { blocklist as defaultBlocklist, type Blocklist } from './blocklist.js';
import { commonWordCheck } from './common-words.js';

/** Always a context word: a password naming the product is easy to guess. */
export const PRODUCT_NAME = 'palisade';

/** Stable codes of the password rules; a refusal lists every rule that failed. */
export type RuleCode =
  | 'PASSWORD_TOO_SHORT'
  | 'PASSWORD_TOO_LONG'
  | 'PASSWORD_CONTROL_CHARACTERS'
  | 'PASSWORD_INVALID_UNICODE'
  | 'PASSWORD_MISSING_LOWERCASE'
  | 'PASSWORD_MISSING_UPPERCASE'
  | 'PASSWORD_MISSING_DIGIT'
  | 'PASSWORD_MISSING_SYMBOL'
  | 'PASSWORD_CONTAINS_USERNAME'
  | 'PASSWORD_CONTAINS_EMAIL'
  | 'PASSWORD_BLOCKLISTED'
  | 'PASSWORD_CONTEXT_WORD'
  | 'PASSWORD_REUSED'
  | 'PASSWORD_CUSTOM_RULE';

export interface RuleFailure {
  code: RuleCode;
  /** Parameters a UI needs to explain the rule (limits, symbol set, custom message). */
  min?: number;
  max?: number;
  symbols?: string;
  rule?: number;
  message?: string;
  history?: number;
}

/** Who the password is for: the rules about user info and context words need it. */
export interface PasswordSubject {
  username: string;
  email?: string | null;
}

// Control characters (C0, DEL, C1) and malformed UTF-16 (lone surrogates) or noncharacters.
const CONTROL = /\p{Cc}/u;
const INVALID = /[\uD800-\uDFFF\uFFFE\uFFFF]/u;
/** Minimum length of a username or email local part for the "contains" rules: shorter ones match by chance. */
const MIN_INFO_LENGTH = 3;

function emailLocal(email: string | null | undefined): string | null {
  if (!email) return null;
  const at = email.lastIndexOf('@');
  return (at > 0 ? email.slice(0, at) : email).toLowerCase();
}

/**
 * Every rule that needs no stored state, in a fixed order. The caller adds PASSWORD_REUSED from the
 * history. Nothing here hashes: an overlong password is refused before any hashing work.
 */
export function evaluatePassword(typed: string, policy: PasswordPolicy, who: PasswordSubject, list: Blocklist = defaultBlocklist): RuleFailure[] {
  // Past the hard bound (1024 code points take at most 2048 UTF-16 units) nothing else is examined:
  // the work must not grow with hostile input.
  if (typed.length > HARD_MAX_LENGTH * 2) return [{ code: 'PASSWORD_TOO_LONG', max: policy.maxLength }];
  // Every rule looks at the NFKC form: a fullwidth, ligature or other compatibility spelling of a
  // character counts as that character ("Ｐａｓｓｗｏｒｄ" is "Password"). NFKC can lengthen a string, so the
  // hard bound is checked again.
  const password = typed.normalize('NFKC');
  if (password.length > HARD_MAX_LENGTH * 2) return [{ code: 'PASSWORD_TOO_LONG', max: policy.maxLength }];
  const out: RuleFailure[] = [];
  const length = [...password].length;
  if (length < policy.minLength) out.push({ code: 'PASSWORD_TOO_SHORT', min: policy.minLength });
  if (length > policy.maxLength) out.push({ code: 'PASSWORD_TOO_LONG', max: policy.maxLength });
  if (CONTROL.test(password)) out.push({ code: 'PASSWORD_CONTROL_CHARACTERS' });
  if (INVALID.test(password)) out.push({ code: 'PASSWORD_INVALID_UNICODE' });

  if (policy.requireLowercase && !/\p{Ll}/u.test(password)) out.push({ code: 'PASSWORD_MISSING_LOWERCASE' });
  if (policy.requireUppercase && !/\p{Lu}/u.test(password)) out.push({ code: 'PASSWORD_MISSING_UPPERCASE' });
  if (policy.requireDigit && !/\p{Nd}/u.test(password)) out.push({ code: 'PASSWORD_MISSING_DIGIT' });
  if (policy.requireSymbol && ![...password].some((ch) => policy.symbols.includes(ch))) out.push({ code: 'PASSWORD_MISSING_SYMBOL', symbols: policy.symbols });

  const lower = password.toLowerCase();
  const username = who.username.toLowerCase();
  const local = emailLocal(who.email);
  if (policy.forbidUserInfo) {
    if (username.length >= MIN_INFO_LENGTH && lower.includes(username)) out.push({ code: 'PASSWORD_CONTAINS_USERNAME' });
    if (local !== null && local.length >= MIN_INFO_LENGTH && local !== username && lower.includes(local)) out.push({ code: 'PASSWORD_CONTAINS_EMAIL' });
  }

  if (policy.blocklist) {
    const { blocked, variants } = commonWordCheck(password, list);
    if (blocked) out.push({ code: 'PASSWORD_BLOCKLISTED' });
    // Context words: the product and the configured words anywhere in it; the user's own names as the whole password.
    const words = [PRODUCT_NAME, ...policy.contextWords.map((w) => w.toLowerCase())];
    const own = [username, who.email?.toLowerCase(), local].filter((x): x is string => !!x);
    if (variants.some((v) => words.some((w) => v.includes(w)) || own.includes(v))) out.push({ code: 'PASSWORD_CONTEXT_WORD' });
  }

  policy.customRules.forEach((r, i) => {
    let ok: boolean | null;
    try {
      ok = runRule(compileRule(r), password);
    } catch {
      ok = null;
    }
    // A rule that cannot be run or runs out of time fails closed.
    if (ok !== true) out.push({ code: 'PASSWORD_CUSTOM_RULE', rule: i, message: r.message });
  });
  return out;
}
