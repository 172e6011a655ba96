/**
 * CSV formula injection: a cell a spreadsheet would evaluate gets a leading quote (every CSV export). Evaluated are a
 * cell that starts with `=`, `+`, `-` or `@` (or their full-width forms, which some spreadsheets fold to ASCII), after
 * any leading blanks, and one that starts with a tab or a line break (OWASP's list, with the blanks and line feed that
 * spreadsheets skip before a formula).
 */
const FORMULA = /^(?:[\t\r\n]|[\s\u3000]*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20])/;

export function neutralise(v: unknown): unknown {
  return typeof v === 'string' && FORMULA.test(v) ? `'${v}` : v;
}
