import type { Env } from './env.js';

/**
 * Connections to other hosts go over TLS (ASVS V12.3.1, V12.3.3, D433): a service reached in clear on another host is
 * a configuration problem (the server does not start) unless the operator names it in ALLOW_PLAINTEXT, on a network
 * they trust; it then starts with a warning. This host (loopback, a Unix socket) is never a network crossing.
 */
export const PLAINTEXT_SERVICES = ['database', 'redis', 'sms', 's3', 'syslog', 'clamd'] as const;
export type PlaintextService = (typeof PLAINTEXT_SERVICES)[number];

const LOOPBACK = new Set(['localhost', '::1', '[::1]']);

/** This host: loopback names and addresses, or a Unix socket path (empty host). */
export function isThisHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === '' || h.startsWith('/') || LOOPBACK.has(h) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
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

/** Whether a PostgreSQL URL asks for TLS that cannot fall back to clear text (sslmode require or stricter, or ssl=true). */
export function postgresUsesTls(url: URL): boolean {
  const mode = url.searchParams.get('sslmode');
  // node-postgres reads prefer, require and verify-ca as verify-full (pg-connection-string 2); disable and allow are clear.
  if (mode !== null) return ['prefer', 'require', 'verify-ca', 'verify-full'].includes(mode);
  const ssl = url.searchParams.get('ssl');
  return ssl === 'true' || ssl === '1';
}
