import { isLoopbackHost } from '../util/hosts.js';
import { parse as parsePg } from 'pg-connection-string';
import type { Env } from './env.js';
import { withoutCertFiles } from './client-certs.js';

/**
 * Connections to other hosts go over TLS (ASVS V12.3.1, V12.3.3, D433): a service reached in clear on another host is
 * a configuration problem (the server does not start) unless the operator names it in ALLOW_PLAINTEXT, on a network
 * they trust; it then starts with a warning. This host (loopback, a Unix socket) is never a network crossing.
 */
export const PLAINTEXT_SERVICES = ['database', 'redis', 'sms', 's3', 'syslog', 'clamd'] as const;
export type PlaintextService = (typeof PLAINTEXT_SERVICES)[number];

/** This host: a loopback host, or a Unix socket path (empty host). */
export function isThisHost(host: string): boolean {
  return host === '' || host.startsWith('/') || isLoopbackHost(host);
}

/** ALLOW_PLAINTEXT's service names; an unknown name is a problem. */
export function plaintextAllowed(env: Env, problems?: string[]): ReadonlySet<string> {
  const names = (env.ALLOW_PLAINTEXT ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(PLAINTEXT_SERVICES as readonly string[]).includes(n));
  if (problems && unknown.length > 0) problems.push(`ALLOW_PLAINTEXT names unknown services (${unknown.join(', ')}); known: ${PLAINTEXT_SERVICES.join(', ')}`);
  return new Set(names);
}

/**
 * A connection that crosses the network in clear: refused (a problem) unless ALLOW_PLAINTEXT names the service,
 * then a warning. `fix` says how to reach it over TLS.
 */
export function plainConnection(
  env: Env,
  service: PlaintextService,
  variable: string,
  host: string,
  fix: string,
  problems: string[],
  warnings: string[],
): void {
  if (isThisHost(host)) return;
  if (plaintextAllowed(env).has(service)) {
    warnings.push(`${variable} reaches ${host} without TLS (ALLOW_PLAINTEXT=${service}): its credentials and data cross the network in clear; ${fix}`);
  } else {
    problems.push(`${variable} reaches ${host} without TLS: ${fix}, or, on a network you trust, set ALLOW_PLAINTEXT=${service}`);
  }
}

/**
 * The host node-postgres connects to and whether it verifies TLS there, read by the driver's own parser (a `host`
 * in the query wins, the last `sslmode` counts, an empty host is PGHOST's): TLS means a certificate checked
 * (`sslmode` require or stricter, which pg-connection-string 2 reads as verify-full, or `ssl=true`), never
 * `uselibpqcompat` without verification. The certificate files are not read here (postgresClientFiles checks them).
 */
export function postgresTarget(url: string, env: Env): { host: string; tls: boolean } {
  let c: { host?: string | null; ssl?: unknown };
  try {
    c = parsePg(withoutCertFiles(url)) as { host?: string | null; ssl?: unknown };
  } catch {
    return { host: 'an unreadable URL', tls: false };
  }
  const ssl = c.ssl;
  const tls = ssl === true || (typeof ssl === 'object' && ssl !== null && (ssl as { rejectUnauthorized?: unknown }).rejectUnauthorized !== false);
  return { host: c.host || env.PGHOST || '', tls };
}
