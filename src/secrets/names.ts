/** A secret's name: a letter, then letters, digits, `.`, `_` and `-`; at most 100 characters (`botCheck.recaptchaSecretKey`). */
export const SECRET_NAME_PATTERN = '^[A-Za-z][A-Za-z0-9._-]{0,99}$';
export const SECRET_NAME_MAX = 100;
/** A value: 1 to 16384 characters (a service-account JSON fits), no NUL. */
export const SECRET_VALUE_MAX = 16384;

const NAME = new RegExp(SECRET_NAME_PATTERN);

export function nameProblem(name: string): string | null {
  return NAME.test(name) ? null : 'a secret name is a letter, then up to 99 letters, digits, ".", "_" or "-"';
}

export function valueProblem(value: string): string | null {
  if (value.length === 0) return 'the value is empty';
  if (value.length > SECRET_VALUE_MAX) return `the value is longer than ${SECRET_VALUE_MAX} characters`;
  if (value.includes('\u0000')) return 'the value holds a NUL character';
  return null;
}
