import { accessSync, constants } from 'node:fs';
import { boolVar, intVar } from './config/env.js';
import type { ConfigSection } from './config/index.js';
import { plainConnection } from './config/plaintext.js';
import { syslogClientCert } from './config/client-certs.js';
import { FACILITIES, parseLogDestination, type LogDestination } from './log-forward.js';

/** Application logs (AUDIT-2): the SQL log switch and where the JSON lines go. */
export interface LoggingConfig {
  /** LOG_SQL: one line per SQL statement (text, parameter count, duration; never the values). */
  readonly sql: boolean;
  readonly destination: LogDestination;
  /** LOG_SYSLOG_CA_FILE: the CA that signs the collector's certificate (syslog+tls). */
  readonly syslogCaFile: string | null;
  /** LOG_SYSLOG_CERT_FILE, LOG_SYSLOG_KEY_FILE (D448): the client certificate the collector may require (PEM texts). */
  readonly syslogClientCert: { cert: string; key: string } | null;
  /** LOG_SYSLOG_FACILITY, as its number. */
  readonly syslogFacility: number;
  /** LOG_QUEUE_MAX: lines kept while the collector is away. */
  readonly queueMax: number;
}

/** LOG_SQL, LOG_DESTINATION, LOG_SYSLOG_CA_FILE, LOG_SYSLOG_CERT_FILE, LOG_SYSLOG_KEY_FILE, LOG_SYSLOG_FACILITY, LOG_QUEUE_MAX. */
export const logEnv: ConfigSection<{ logging: LoggingConfig }> = {
  read(env, problems, warnings) {
    const sql = boolVar(env, 'LOG_SQL', problems);
    const parsed = parseLogDestination(env.LOG_DESTINATION);
    const destination: LogDestination = typeof parsed === 'string' ? { kind: 'stdout' } : parsed;
    if (typeof parsed === 'string') problems.push(parsed);
    const caFile = env.LOG_SYSLOG_CA_FILE || null;
    const syslog = destination.kind === 'syslog';
    if (caFile !== null) {
      if (!(syslog && destination.tls)) problems.push('LOG_SYSLOG_CA_FILE needs LOG_DESTINATION=syslog+tls://host:port');
      try {
        accessSync(caFile, constants.R_OK);
      } catch {
        problems.push(`LOG_SYSLOG_CA_FILE: cannot read ${caFile}`);
      }
    }
    const facilityName = env.LOG_SYSLOG_FACILITY || 'local0';
    const facility = FACILITIES[facilityName];
    if (facility === undefined) problems.push(`LOG_SYSLOG_FACILITY must be one of ${Object.keys(FACILITIES).join(', ')}`);
    if (env.LOG_SYSLOG_FACILITY && !syslog) problems.push('LOG_SYSLOG_FACILITY needs a syslog LOG_DESTINATION');
    const queueMax = intVar(env, 'LOG_QUEUE_MAX', 10_000, 100, 1_000_000, problems);
    if (syslog && !destination.tls) plainConnection(env, 'syslog', 'LOG_DESTINATION', destination.host, 'use syslog+tls://', problems, warnings);
    const clientCert = syslogClientCert(env, syslog && destination.tls, problems, warnings);
    return { logging: { sql, destination, syslogCaFile: caFile, syslogClientCert: clientCert, syslogFacility: facility ?? FACILITIES.local0!, queueMax } };
  },
};
