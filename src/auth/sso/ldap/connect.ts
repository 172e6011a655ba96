import { isLoopbackHost as isLoopback } from '../../../util/hosts.js';
import { readFile } from 'node:fs/promises';
import { connect as netConnect, isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Client, ResultCodeError } from 'ldapts';
import { AppError } from '../../../errors.js';
import type { LdapSettings } from '../types.js';

const hostOf = (u: URL) => u.hostname.replace(/^\[(.*)\]$/, '$1');

/** What is wrong with an LDAP URL, or null: ldap:// or ldaps://, a host, an optional port, nothing else. */
export function urlProblem(raw: string, startTls: boolean): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'the url is not a URL';
  }
  if (u.protocol !== 'ldap:' && u.protocol !== 'ldaps:') return 'the url must be ldap:// or ldaps://';
  if (!u.hostname) return 'the url needs a host';
  if (u.username || u.password || (u.pathname && u.pathname !== '/') || u.search || u.hash) return 'the url is a scheme, a host and a port only';
  if (u.protocol === 'ldaps:' && startTls) return 'StartTLS is for ldap:// (ldaps:// is TLS from the start)';
  // A password must not cross the network in the clear: plain ldap:// only to this machine.
  if (u.protocol === 'ldap:' && !startTls && !isLoopback(hostOf(u))) return 'plain ldap:// is allowed on loopback only: use ldaps:// or StartTLS';
  return null;
}

/** A connection failure or a timeout: the provider cannot be reached (503), with the detail kept for the event. */
export const unavailable = (detail: string) => new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, detail.slice(0, 300));

/** An error of the directory's own (a result code) as against the network's. */
export const isResultCode = (e: unknown): e is ResultCodeError => e instanceof ResultCodeError;

export function describe(e: unknown): string {
  if (e instanceof ResultCodeError) return `${e.name} (${e.code})`;
  if (e instanceof AppError) return `${e.code}: ${e.internal ?? ''}`;
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${typeof code === 'string' ? `${code}: ` : ''}${e.message}`.slice(0, 300);
  }
  return 'unknown error';
}

/**
 * A connected client: TLS (ldaps:// or StartTLS) with the certificate always verified against the
 * system's CAs or the configured CA file, and the host name checked; every operation under a timeout.
 */
export async function connect(s: LdapSettings): Promise<Client> {
  const u = new URL(s.url);
  const host = hostOf(u);
  const tls: ConnectionOptions = { rejectUnauthorized: true, host, ...(isIP(host) ? {} : { servername: host }), minVersion: 'TLSv1.2' };
  if (s.tlsCaFile) {
    try {
      tls.ca = await readFile(s.tlsCaFile);
    } catch (e) {
      throw unavailable(`tls CA file: ${describe(e)}`);
    }
  }
  const secure = u.protocol === 'ldaps:';
  const client = new Client({
    url: s.url,
    connectTimeout: s.connectTimeoutMs,
    timeout: s.operationTimeoutMs,
    strictDN: true,
    // One connection per sign-in, never re-opened: ldapts reconnects a dropped connection by itself, and after
    // StartTLS that reconnect would be plain TCP carrying the next bind's password in the clear.
    createConnection: once(netConnect as (...a: unknown[]) => ReturnType<typeof netConnect>) as typeof netConnect,
    createSecureConnection: once(tlsConnect as (...a: unknown[]) => ReturnType<typeof tlsConnect>) as typeof tlsConnect,
    ...(secure ? { tlsOptions: tls } : {}),
  });
  try {
    if (s.startTls) await client.startTLS(tls);
  } catch (e) {
    await close(client);
    throw unavailable(`starttls: ${describe(e)}`);
  }
  return client;
}

/** A connection factory that works once; a second call (a silent reconnect) throws. */
function once<T>(f: (...a: unknown[]) => T): (...a: unknown[]) => T {
  let used = false;
  return (...a) => {
    if (used) throw new Error('reconnect refused');
    used = true;
    return f(...a);
  };
}

/** Ends a connection, whatever its state. */
export async function close(client: Client): Promise<void> {
  try {
    await client.unbind();
  } catch {
    // already closed
  }
}
