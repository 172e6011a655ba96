/// <reference lib="es2024.string" />
/**
 * Text that no stored or encoded value may hold: a NUL character (PostgreSQL cannot store one, C-string consumers cut
 * at it) or text that is not well-formed UTF-16 (a lone surrogate: no database stores it as sent, and a URI or XML
 * encoder throws on it, D466). One test for every place that takes text from outside: the request's path, query and
 * body, a filter's JSON, an imported configuration or schema file.
 */
export type TextProblem = 'nul' | 'malformed';

export function textProblem(s: string): TextProblem | null {
  if (s.includes('\u0000')) return 'nul';
  return s.isWellFormed() ? null : 'malformed';
}

/** The first problem of any string or key in a parsed JSON or YAML value (walked iteratively, any depth). */
export function deepTextProblem(value: unknown): TextProblem | null {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      const p = textProblem(v);
      if (p) return p;
    } else if (Array.isArray(v)) stack.push(...v);
    else if (typeof v === 'object' && v !== null)
      for (const [k, c] of Object.entries(v)) {
        const p = textProblem(k);
        if (p) return p;
        stack.push(c);
      }
  }
  return null;
}
