/**
 * The password policy as a checklist that ticks while the user types (PasswordPolicy.svelte). Only what
 * the browser can check is ticked here: length, character groups, the user's own names, custom rules.
 * The blocklist and the history need the server: they are shown as "checked when you submit", and the
 * server's PASSWORD_REJECTED details (`failed`) are turned into sentences by `ruleSentence`. The server
 * decides: this only spares a round trip for the obvious cases.
 */

/** GET /api/auth/password/policy. */
export interface PublicPolicy {
  minLength: number;
  maxLength: number;
  requireLowercase: boolean;
  requireUppercase: boolean;
  requireDigit: boolean;
  requireSymbol: boolean;
  symbols: string;
  forbidUserInfo: boolean;
  history: number;
  blocklist: boolean;
  customRules: Array<{ pattern: string; flags?: string; message: string }>;
  validity: number;
  reminder: number;
}

/** One failed rule as PASSWORD_REJECTED's details.failed gives it. */
export interface RuleFailure {
  code: string;
  min?: number;
  max?: number;
  symbols?: string;
  rule?: number;
  message?: string;
  history?: number;
}

/** ok: met; fail: not met; server: only the server can tell (shown, never ticked). */
export type CheckState = 'ok' | 'fail' | 'server';

export interface CheckItem {
  key: string;
  label: string;
  state: CheckState;
}

export interface Who {
  username?: string | null;
  email?: string | null;
}

const MIN_INFO_LENGTH = 3;

/** The checklist for a typed password; `confirm` (when given) adds "both entries match". */
export function checklist(policy: PublicPolicy, typed: string, who: Who = {}, confirm?: string): CheckItem[] {
  const password = typed.normalize('NFKC');
  const length = [...password].length;
  const lower = password.toLowerCase();
  const items: CheckItem[] = [];
  const add = (key: string, label: string, ok: boolean) => items.push({ key, label, state: ok ? 'ok' : 'fail' });

  add('min', `At least ${policy.minLength} characters`, length >= policy.minLength);
  // Shown only when broken: a limit nobody reaches is noise.
  if (length > policy.maxLength) add('max', `At most ${policy.maxLength} characters`, false);
  if (/\p{Cc}/u.test(password)) add('control', 'No control characters', false);
  if (policy.requireLowercase) add('lower', 'A lowercase letter', /\p{Ll}/u.test(password));
  if (policy.requireUppercase) add('upper', 'An uppercase letter', /\p{Lu}/u.test(password));
  if (policy.requireDigit) add('digit', 'A digit', /\p{Nd}/u.test(password));
  if (policy.requireSymbol)
    add(
      'symbol',
      `A symbol (one of ${policy.symbols})`,
      [...password].some((ch) => policy.symbols.includes(ch)),
    );
  if (policy.forbidUserInfo) {
    const username = who.username?.toLowerCase() ?? '';
    if (username.length >= MIN_INFO_LENGTH) add('username', 'Does not contain your username', !lower.includes(username));
    const at = who.email ? who.email.lastIndexOf('@') : -1;
    const local = who.email && at > 0 ? who.email.slice(0, at).toLowerCase() : '';
    if (local.length >= MIN_INFO_LENGTH && local !== username) add('email', 'Does not contain your email name', !lower.includes(local));
  }
  policy.customRules.forEach((r, i) => {
    let ok = false;
    try {
      ok = new RegExp(r.pattern, r.flags ?? '').test(password);
    } catch {
      ok = false; // a rule this browser cannot run: the server decides
    }
    add(`custom-${i}`, r.message, ok);
  });
  if (policy.blocklist || policy.history > 0) {
    const parts = [policy.blocklist ? 'not a common or leaked password' : '', policy.history > 0 ? `not one of your last ${policy.history}` : '']
      .filter(Boolean)
      .join(', ');
    items.push({ key: 'server', label: `${parts[0]!.toUpperCase()}${parts.slice(1)} (checked when you submit)`, state: 'server' });
  }
  if (confirm !== undefined) add('match', 'Both entries match', typed.length > 0 && typed === confirm);
  return items;
}

/** Whether every rule the browser can check is met. */
export function checklistOk(items: readonly CheckItem[]): boolean {
  return items.every((i) => i.state !== 'fail');
}

/** A sentence for a rule the server refused (PASSWORD_REJECTED details.failed). */
export function ruleSentence(f: RuleFailure): string {
  switch (f.code) {
    case 'PASSWORD_TOO_SHORT':
      return `It must have at least ${f.min ?? 'more'} characters.`;
    case 'PASSWORD_TOO_LONG':
      return `It must have at most ${f.max ?? 'fewer'} characters.`;
    case 'PASSWORD_CONTROL_CHARACTERS':
      return 'It must not contain control characters.';
    case 'PASSWORD_INVALID_UNICODE':
      return 'It contains characters that cannot be used.';
    case 'PASSWORD_MISSING_LOWERCASE':
      return 'It needs a lowercase letter.';
    case 'PASSWORD_MISSING_UPPERCASE':
      return 'It needs an uppercase letter.';
    case 'PASSWORD_MISSING_DIGIT':
      return 'It needs a digit.';
    case 'PASSWORD_MISSING_SYMBOL':
      return `It needs a symbol${f.symbols ? ` (one of ${f.symbols})` : ''}.`;
    case 'PASSWORD_CONTAINS_USERNAME':
      return 'It must not contain your username.';
    case 'PASSWORD_CONTAINS_EMAIL':
      return 'It must not contain the name part of your email address.';
    case 'PASSWORD_BLOCKLISTED':
      return 'It is a common or leaked password (or one with a few characters changed), easy to guess.';
    case 'PASSWORD_CONTEXT_WORD':
      return 'It contains the name of this service, a word of this organisation, or is your own name or address.';
    case 'PASSWORD_REUSED':
      return f.history ? `It is your current password or one of your last ${f.history}.` : 'You used this password before.';
    case 'PASSWORD_CUSTOM_RULE':
      return f.message ? `${f.message}.`.replace(/\.\.$/, '.') : 'It does not meet a rule of this organisation.';
    default:
      return 'It does not meet the password policy.';
  }
}

/** The failed rules of a PASSWORD_REJECTED error's details, or an empty list. */
export function failedRules(details: unknown): RuleFailure[] {
  const failed = (details as { failed?: unknown } | undefined)?.failed;
  return Array.isArray(failed) ? (failed.filter((f) => f && typeof f.code === 'string') as RuleFailure[]) : [];
}
