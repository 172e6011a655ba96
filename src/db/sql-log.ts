import type { LogEvent } from 'kysely';

/** Where SQL log lines go (the process logger's `info` and `warn`). */
export interface SqlLogSink {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const MAX_SQL = 4000;

/**
 * The SQL log (LOG_SQL, AUDIT-2) as Kysely's `log` option: each statement's text, its number of
 * parameters and its duration. Every value is a parameter (never inlined), so the text holds none; the
 * parameters themselves are never logged, nor a failed statement's database message, which may quote
 * one (`invalid input syntax for type integer: "..."`): only its code.
 */
export function sqlLogger(sink: SqlLogSink): (e: LogEvent) => void {
  return (e) => {
    const text = e.query.sql.length > MAX_SQL ? `${e.query.sql.slice(0, MAX_SQL)}...` : e.query.sql;
    const line = { event: 'sql', sql: text, params: e.query.parameters.length, ms: Math.round(e.queryDurationMillis * 10) / 10 };
    if (e.level === 'query') sink.info(line, 'sql');
    else {
      const err = e.error as { code?: unknown; name?: unknown };
      sink.warn(
        { ...line, error: { name: typeof err?.name === 'string' ? err.name : undefined, code: typeof err?.code === 'string' ? err.code : undefined } },
        'sql failed',
      );
    }
  };
}
