import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.js';
import { textProblem } from '../../util/text.js';

/**
 * Bounds every request's input before any handler sees it, whatever the route: no text with a
 * NUL character (PostgreSQL cannot store one, and C-string consumers truncate at it) and no text
 * that is not well-formed UTF-16 (a lone surrogate: no database stores it as sent, and a URI or XML
 * encoder throws on it, D466) in the path, the query string or the JSON body, keys included; JSON
 * bodies nest at most BODY_MAX_DEPTH levels. Checked once here, so no route and no value type can
 * forget it.
 */
export const BODY_MAX_DEPTH = 32;

/** Throws the code for text that no route may take: a NUL character, or a lone surrogate. */
function checkText(s: string): void {
  const p = textProblem(s);
  if (p) throw new AppError(p === 'nul' ? 'NUL_CHARACTER' : 'MALFORMED_TEXT');
}

/** Walks a parsed JSON body iteratively (any depth is safe to check). */
export function checkJsonBody(value: unknown): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'string') {
      checkText(v);
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= BODY_MAX_DEPTH) throw new AppError('NESTING_TOO_DEEP', { maxDepth: BODY_MAX_DEPTH });
    if (Array.isArray(v)) {
      for (const c of v) stack.push([c, depth + 1]);
    } else {
      for (const [k, c] of Object.entries(v)) {
        checkText(k);
        stack.push([c, depth + 1]);
      }
    }
  }
}

function checkStrings(record: unknown): void {
  if (typeof record !== 'object' || record === null) return;
  for (const [k, v] of Object.entries(record)) {
    checkText(k);
    for (const s of Array.isArray(v) ? v : [v]) if (typeof s === 'string') checkText(s);
  }
}

/** Path parameters and query values of every route, before validation and the handler. */
export function inputBounds(app: FastifyInstance): void {
  app.addHook('preValidation', (req, _reply, done) => {
    try {
      checkStrings(req.params);
      checkStrings(req.query);
    } catch (e) {
      return done(e as Error);
    }
    done();
  });
}
