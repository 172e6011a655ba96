/**
 * Phone numbers in E.164 form (ITU-T E.164): a `+`, a country code that does not start with 0, and at
 * most 15 digits in all. Seven digits is the shortest full international number in use.
 */
const E164 = /^\+[1-9]\d{6,14}$/;

/** True for a number in strict E.164 form, such as +4512345678 (no spaces, no punctuation). */
export function isE164(value: unknown): value is string {
  return typeof value === 'string' && E164.test(value);
}

/**
 * The E.164 form of a number as people type it: spaces, dots, dashes and parentheses dropped, a
 * leading international `00` read as `+`. Null when the result is not E.164: a national number
 * without its country code is refused, never guessed.
 */
export function normalisePhone(input: string): string | null {
  if (input.length > 40) return null;
  let n = input.replace(/[\s().-]/g, '');
  if (n.startsWith('00')) n = `+${n.slice(2)}`;
  return isE164(n) ? n : null;
}

/** The number as shown back to its owner and in events: the `+`, two digits and the last two, `+45******78`. */
export function maskPhone(e164: string): string {
  if (!isE164(e164)) return '***';
  return `${e164.slice(0, 3)}${'*'.repeat(e164.length - 5)}${e164.slice(-2)}`;
}
