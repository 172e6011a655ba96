import { AppError, type ErrorCode } from '../errors.js';
import { BreakerOpenError } from '../util/circuit-breaker.js';

/**
 * The one place that recognises database errors on both dialects (SQLite, PostgreSQL) and names them:
 * - an outage: the database cannot be reached, is busy or overloaded (503 SERVICE_UNAVAILABLE), or cannot
 *   write for a full or read-only disk (503 STORAGE_UNAVAILABLE); retryable, with Retry-After;
 * - a refusal the request caused: a value taken, a schema object that a concurrent request created or
 *   dropped, a value the column cannot hold (409 CONFLICT, 404 NOT_FOUND, 400 INVALID_VALUE).
 * Anything else stays an internal error. `dbErrorOf` is what the HTTP error handler asks.
 */

export type OutageCode = 'SERVICE_UNAVAILABLE' | 'STORAGE_UNAVAILABLE';

/** Seconds a client is told to wait (Retry-After) on an outage answer. */
export const OUTAGE_RETRY_AFTER = 2;

/** The disk is full, read-only or failing: the database answers, but cannot write. */
const STORAGE_CODES = /^(SQLITE_FULL|SQLITE_READONLY(_\w+)?|SQLITE_IOERR(_\w+)?|SQLITE_CANTOPEN(_\w+)?|53100|25006|58030)$/;
/** The database cannot be reached, is shutting down, overloaded or timed out. */
const SERVICE_CODES =
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|57P0[123]|57014|53000|53200|53300|53400|08\d\d\d|08P01|SQLITE_BUSY(_\w+)?|SQLITE_NOMEM)$/;
/** node-postgres errors that carry no code. */
const PG_CONNECTION_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout|Cannot use a pool after calling end)/;

export interface Outage {
  code: OutageCode;
  /** For the log only. */
  reason: string;
}

/** Classifies a raw driver error; null when it is not an outage (a bug, a constraint, bad input). */
export function outageOf(err: unknown): Outage | null {
  if (err instanceof BreakerOpenError) return { code: 'SERVICE_UNAVAILABLE', reason: 'database circuit open' };
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return null;
  const code = typeof e.code === 'string' ? e.code : '';
  if (STORAGE_CODES.test(code)) return { code: 'STORAGE_UNAVAILABLE', reason: code };
  if (SERVICE_CODES.test(code)) return { code: 'SERVICE_UNAVAILABLE', reason: code };
  if (code === '' && typeof e.message === 'string' && PG_CONNECTION_MESSAGES.test(e.message)) {
    return { code: 'SERVICE_UNAVAILABLE', reason: e.message.slice(0, 80) };
  }
  return null;
}

/** A connection-level failure: counts against the PostgreSQL circuit breaker (pool saturation does not). */
export function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|57P0[123]|08\d\d\d)$/.test(code)) return true;
  return code === '' && typeof e?.message === 'string' && /^Connection terminated/.test(e.message);
}

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
  unique: 'CONFLICT',
  exists: 'CONFLICT',
  conflict: 'CONFLICT',
  missing: 'NOT_FOUND',
  value: 'INVALID_VALUE',
});

/**
 * A PostgreSQL abort that running the same transaction again may pass: a deadlock, a serialization failure, or a row
 * the write refers to deleted by a transaction that committed while the write waited for it (the run again checks the
 * reference from the start and refuses it as the client's mistake).
 */
export const isRetryableAbort = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001' || code === '23503';
};

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
    case 'SQLITE_CONSTRAINT_UNIQUE':
    case 'SQLITE_CONSTRAINT_PRIMARYKEY':
      return 'unique';
    case 'SQLITE_CONSTRAINT_FOREIGNKEY':
      return 'conflict';
    case 'SQLITE_TOOBIG':
    case 'SQLITE_MISMATCH':
      return 'value';
    case 'SQLITE_ERROR':
      if (/already exists|duplicate column name/.test(message)) return 'exists';
      // A write naming a column a concurrent schema change removed: `no such column` (reads), `has no column named` (inserts).
      if (/^no such (table|column|index)|has no column named/.test(message)) return 'missing';
      if (/integer overflow/.test(message)) return 'value';
      return null;
    default:
      return null;
  }
}

/** A database refusal as a client-safe AppError (the SQLSTATE or SQLite code goes to the log only), or null. */
function refusalError(e: unknown): AppError | null {
  if (e instanceof AppError) return null;
  const kind = dbRefusal(e);
  if (kind === null) return null;
  return new AppError(CODES[kind], undefined, `database refusal ${String((e as { code?: unknown }).code)}`);
}

/** A unique index refused the value (SQLite or PostgreSQL). */
export const isUniqueViolation = (e: unknown): boolean => dbRefusal(e) === 'unique';

/** A database error as the client-safe AppError it stands for, or null when it is a bug (500). */
export function dbErrorOf(err: unknown): AppError | null {
  if (err instanceof AppError) return null;
  const outage = outageOf(err);
  if (outage) return new AppError(outage.code, undefined, outage.reason, { 'retry-after': String(OUTAGE_RETRY_AFTER) });
  return refusalError(err);
}

/** Node's TLS and OpenSSL codes: a handshake refused or a certificate not trusted, on either side. */
const TLS_CODES = /^(ERR_SSL_|ERR_OSSL_|ERR_TLS_|UNABLE_TO_|CERT_|SELF_SIGNED_|DEPTH_ZERO_)/;

/**
 * The first connection of a PostgreSQL pool failed (at start, `migrate`, a restore): the error the CLI prints, naming
 * the variable the URL came from and the kind of refusal, never the URL (it may hold a password). A TLS failure is
 * named by its code only: OpenSSL's text is noise, and may quote a file.
 */
export function connectFailure(variable: string, e: unknown): Error {
  const err = e as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === 'string' ? err.code : '';
  const message = typeof err?.message === 'string' ? err.message.split('\n')[0]!.slice(0, 200) : 'failed';
  let why: string;
  if (TLS_CODES.test(code)) why = `the TLS handshake failed (${code}): check sslrootcert, sslcert and sslkey, and the server's ssl_ca_file`;
  else if (code.startsWith('28')) why = `the server refused the sign-in (${code}: ${message})`;
  else why = message;
  return new Error(`${variable}: cannot connect to PostgreSQL: ${why}`);
}
