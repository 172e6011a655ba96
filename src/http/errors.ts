import { ERRORS, type ErrorCode } from '../errors.js';

/** The response body of every error: the code, its fixed message, and public details where the code has them. */
export function errorBody(code: ErrorCode, details?: unknown): { error: { code: string; message: string; details?: unknown } } {
  return details === undefined ? { error: { code, message: ERRORS[code].message } } : { error: { code, message: ERRORS[code].message, details } };
}
