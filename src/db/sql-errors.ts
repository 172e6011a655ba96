import { AppError, type ErrorCode } from '../http/errors.js';

/**
 * The one place that recognises database refusals on both dialects and names them as client errors.
 * A refusal caused by the request (a value taken, a schema object created or dropped by a concurrent
 * request, a value the column cannot hold) is a 4xx with a registered code, never a 500. Anything not
 * listed here stays an internal error.
 */
export type DbRefusal = 'unique' | 'exists' | 'missing' | 'value' | 'conflict';

/** PostgreSQL SQLSTATEs by refusal. Class 22 (data exception) is a bad value as a whole. */
const PG: Readonly<Record<string, DbRefusal>> = Object.freeze({
  '23505': 'unique', // unique_violation
  '23503': 'conflict', // foreign_key_violation: a referenced row went away meanwhile
  '42P07': 'exists', // duplicate_table
  '42701': 'exists', // duplicate_column
  '42710': 'exists', // duplicate_object (an index or constraint name)
  '42P01': 'missing', // undefined_table
  '42703': 'missing', // undefined_column
  '42704': 'missing', // undefined_object
  '40001': 'conflict', // serialization_failure
  '40P01': 'conflict', // deadlock_detected
  '54000': 'value', // program_limit_exceeded: an index row too large for a value
});

const CODES: Readonly<Record<DbRefusal, ErrorCode>> = Object.freeze({
  unique: 'CONFLICT', exists: 'CONFLICT', conflict: 'CONFLICT', missing: 'NOT_FOUND', value: 'INVALID_VALUE',
});

/** What kind of refusal a database error is, or null when it is not one the client caused. */
export function dbRefusal(e: unknown): DbRefusal | null {
  const err = e as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === 'string' ? err.code : '';
  const message = typeof err?.message === 'string' ? err.message : '';
  if (/^[0-9A-Z]{5}$/.test(code)) {
    if (PG[code]) return PG[code];
    if (code.startsWith('22')) return 'value'; // numeric out of range, invalid text, NUL byte, bad escape ...
    return null;
  }
  switch (code) {
    case 'SQLITE_CONSTRAINT_UNIQUE': case 'SQLITE_CONSTRAINT_PRIMARYKEY': return 'unique';
    case 'SQLITE_CONSTRAINT_FOREIGNKEY': return 'conflict';
    case 'SQLITE_TOOBIG': case 'SQLITE_MISMATCH': return 'value';
    case 'SQLITE_ERROR':
      if (/already exists|duplicate column name/.test(message)) return 'exists';
      if (/^no such (table|column|index)/.test(message)) return 'missing';
      if (/integer overflow/.test(message)) return 'value';
      return null;
    default: return null;
  }
}

/** A database refusal as a client-safe AppError (the SQLSTATE or SQLite code goes to the log only), or null. */
export function dbRefusalError(e: unknown): AppError | null {
  if (e instanceof AppError) return null;
  const kind = dbRefusal(e);
  if (kind === null) return null;
  return new AppError(CODES[kind], undefined, `database refusal ${String((e as { code?: unknown }).code)}`);
}

/** A unique index refused the value (SQLite or PostgreSQL). */
export const isUniqueViolation = (e: unknown): boolean => dbRefusal(e) === 'unique';
