import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.js';

/**
 * Bounds every request's input before any handler sees it, whatever the route: no text with a
 * NUL character (PostgreSQL cannot store one, and C-string consumers truncate at it) in the
 * path, the query string or the JSON body, keys included; JSON bodies nest at most
 * BODY_MAX_DEPTH levels. Checked once here, so no route and no value type can forget it.
 */
export const BODY_MAX_DEPTH = 32;

const hasNul = (s: string): boolean => s.includes('\u0000');

/** Walks a parsed JSON body iteratively (any depth is safe to check). */
export function checkJsonBody(value: unknown): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'string') {
      if (hasNul(v)) throw new AppError('NUL_CHARACTER');
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= BODY_MAX_DEPTH) throw new AppError('NESTING_TOO_DEEP', { maxDepth: BODY_MAX_DEPTH });
    if (Array.isArray(v)) {
      for (const c of v) stack.push([c, depth + 1]);
    } else {
      for (const [k, c] of Object.entries(v)) {
        if (hasNul(k)) throw new AppError('NUL_CHARACTER');
        stack.push([c, depth + 1]);
      }
    }
  }
}

function checkStrings(record: unknown): void {
  if (typeof record !== 'object' || record === null) return;
  for (const [k, v] of Object.entries(record)) {
    if (hasNul(k)) throw new AppError('NUL_CHARACTER');
    for (const s of Array.isArray(v) ? v : [v]) if (typeof s === 'string' && hasNul(s)) throw new AppError('NUL_CHARACTER');
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
