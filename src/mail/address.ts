/**
 * The one definition of an email address Palisade accepts (API bodies, the CLI, INIT_ROOT_EMAIL,
 * MAIL_FROM's address, and the mailer itself): a plain RFC 5322 addr-spec in dot-atom form, ASCII
 * only. No display name, no angle brackets, no list, no quoted local part, no comments, no domain
 * literal, no whitespace or control characters: every one of those lets a mail library read a
 * different recipient than the one that was checked. Internationalised domains go in punycode (xn--).
 */

// RFC 5322 atext, without the characters that any mail header or shell gives a meaning to.
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';

/** The same rule as a JSON-schema `pattern` (the local part at most 64 characters; the whole: EMAIL_MAX_LENGTH). */
export const EMAIL_PATTERN = `^(?=[^@]{1,64}@)${ATOM}(?:\\.${ATOM})*@${LABEL}(?:\\.${LABEL})*$`;
export const EMAIL_MAX_LENGTH = 254;
const LOCAL_MAX_LENGTH = 64;
const RE = new RegExp(EMAIL_PATTERN);

/** True only for a single plain address such as `alice@example.org`. Never throws. */
export function isPlainAddress(v: unknown): v is string {
  if (typeof v !== 'string' || v.length < 3 || v.length > EMAIL_MAX_LENGTH || !RE.test(v)) return false;
  return v.indexOf('@') <= LOCAL_MAX_LENGTH;
}

/** A sender: a display name (letters, digits, spaces and . ' & _ - only) and a plain address. */
export interface MailboxSpec {
  name: string;
  address: string;
}

/**
 * Parses MAIL_FROM, written as `address` or `Display Name <address>`. Null when it is anything else.
 * The result goes to nodemailer as an object, so the name is encoded and never parsed for addresses.
 */
export function parseSender(v: string): MailboxSpec | null {
  if (isPlainAddress(v)) return { name: '', address: v };
  const m = /^([\p{L}\p{N} .'&_-]{1,100}?) ?<([^<>]+)>$/u.exec(v);
  if (!m || !isPlainAddress(m[2])) return null;
  const name = m[1]!.trim();
  return name.length > 0 ? { name, address: m[2]! } : null;
}
