/** CSV formula injection: a cell a spreadsheet would evaluate gets a leading quote (every CSV export). */
export function neutralise(v: unknown): unknown {
  return typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
}
