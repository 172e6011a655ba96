import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Env } from './env.js';

/**
 * Certificate authentication to the backend services (ASVS V13.2.1, D437): PostgreSQL reads its client certificate
 * from DATABASE_URL (`sslcert`, `sslkey`, `sslrootcert`, read by node-postgres at each new connection), Redis from
 * REDIS_TLS_CA, REDIS_TLS_CERT and REDIS_TLS_KEY (read here, once, at start). Both are checked at start: a file that
 * cannot be read, is not PEM, or a key that does not match its certificate is a configuration problem naming the
 * variable and the path, never the file's content.
 */

/** The PEM texts of a client certificate and its key, and of the CAs that sign the server's certificate (null: not given). */
export interface ClientTls {
  readonly ca: string | null;
  readonly cert: string | null;
  readonly key: string | null;
}

/** A file's text, or a problem naming `what` and the path (with the system's code, never the content). */
function readText(what: string, file: string, problems: string[]): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    problems.push(`${what}: cannot read ${file}${typeof code === 'string' ? ` (${code})` : ''}`);
    return null;
  }
}

/**
 * A private key that other users can read, or that belongs to another user, is a warning. libpq's rule: the
 * process's own file with mode 0600 or less, or root's with 0640 or less. node-postgres and Node's TLS check neither.
 */
function keyFileWarning(what: string, file: string, warnings: string[]): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch {
    return; // its read reported the problem
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) warnings.push(`${what}: ${file} belongs to another user; give it to the user Palisade runs as`);
  else if ((st.mode & (st.uid === 0 && uid !== 0 ? 0o037 : 0o077)) !== 0)
    warnings.push(`${what}: the private key ${file} is readable by other users; chmod 600 it`);
}

/** Whether `pem` holds a certificate (OpenSSL would take any text as an empty CA list). */
function isCertificate(pem: string): boolean {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}

/** Reads and checks the three files; `names` are how problems name each (a variable, or a URL parameter). */
function readClientFiles(
  files: { ca?: string; cert?: string; key?: string },
  names: { ca: string; cert: string; key: string },
  problems: string[],
  warnings: string[],
): ClientTls | null {
  const before = problems.length;
  if ((files.cert === undefined) !== (files.key === undefined)) {
    problems.push(`${names.cert} and ${names.key} are set together or not at all`);
    return null;
  }
  const ca = files.ca === undefined ? null : readText(names.ca, files.ca, problems);
  if (ca !== null && !isCertificate(ca)) problems.push(`${names.ca}: ${files.ca} holds no PEM certificate`);
  const cert = files.cert === undefined ? null : readText(names.cert, files.cert, problems);
  const key = files.key === undefined ? null : readText(names.key, files.key, problems);
  if (cert !== null && key !== null) {
    if (!isCertificate(cert)) problems.push(`${names.cert}: ${files.cert} holds no PEM certificate`);
    else
      try {
        createSecureContext({ cert, key });
      } catch {
        // OpenSSL's message may quote the key file's content: never repeated.
        problems.push(
          `${names.cert} and ${names.key} do not make a TLS client certificate: the key is not PEM, is encrypted, or does not match the certificate`,
        );
      }
    keyFileWarning(names.key, files.key!, warnings);
  }
  return problems.length > before ? null : { ca, cert, key };
}

/**
 * `<prefix>_TLS_CA`, `<prefix>_TLS_CERT` and `<prefix>_TLS_KEY` (file paths) of a service reached at `url`: the CA
 * that signs its certificate (else the system's), and the client certificate with its key. Null when none is set;
 * a problem when they are set without the service's URL, or with a URL that `tlsUrl` says is not TLS.
 */
function serviceClientTls(
  prefix: string,
  env: Env,
  url: string | null,
  tlsUrl: { test: (url: string) => boolean; need: string; urlVar?: string },
  problems: string[],
  warnings: string[],
): ClientTls | null {
  const vars = { ca: `${prefix}_TLS_CA`, cert: `${prefix}_TLS_CERT`, key: `${prefix}_TLS_KEY` } as const;
  const files = { ca: env[vars.ca] || undefined, cert: env[vars.cert] || undefined, key: env[vars.key] || undefined };
  const set = (Object.keys(vars) as Array<keyof typeof vars>).filter((k) => files[k] !== undefined).map((k) => vars[k]);
  if (set.length === 0) return null;
  const need = `${set.join(', ')} ${set.length === 1 ? 'needs' : 'need'}`;
  if (url === null) {
    problems.push(`${need} ${tlsUrl.urlVar ?? `${prefix}_URL`}`);
    return null;
  }
  if (!tlsUrl.test(url)) {
    problems.push(`${need} ${tlsUrl.need}`);
    return null;
  }
  return readClientFiles(files, vars, problems, warnings);
}

/** REDIS_TLS_CA, REDIS_TLS_CERT and REDIS_TLS_KEY, for a Redis with `tls-auth-clients yes` (rediss:// only). */
export function redisClientTls(env: Env, redisUrl: string | null, problems: string[], warnings: string[]): ClientTls | null {
  return serviceClientTls('REDIS', env, redisUrl, { test: (u) => u.startsWith('rediss://'), need: 'a rediss:// REDIS_URL (TLS)' }, problems, warnings);
}

/**
 * SMTP_TLS_CA, SMTP_TLS_CERT and SMTP_TLS_KEY, for an SMTP server that authenticates its clients by certificate
 * (Postfix `permit_tls_clientcerts`, D447): smtps://, or smtp:// with STARTTLS, which a client certificate then requires.
 */
export function smtpClientTls(env: Env, smtpUrl: string | null, problems: string[], warnings: string[]): ClientTls | null {
  return serviceClientTls('SMTP', env, smtpUrl, { test: (u) => /^smtps?:\/\//.test(u), need: 'an smtp:// or smtps:// SMTP_URL' }, problems, warnings);
}

/**
 * SMS_KANNEL_TLS_CA, SMS_KANNEL_TLS_CERT and SMS_KANNEL_TLS_KEY, for an SMS gateway whose https:// sendsms interface
 * admits only clients with a certificate (a TLS front such as stunnel before Kannel's smsbox, D448).
 */
export function smsClientTls(env: Env, url: string | null, problems: string[], warnings: string[]): ClientTls | null {
  return serviceClientTls('SMS_KANNEL', env, url, { test: (u) => /^https:\/\//i.test(u), need: 'an https:// SMS_KANNEL_URL' }, problems, warnings);
}

/**
 * `<prefix>_S3_TLS_CA`, `<prefix>_S3_TLS_CERT` and `<prefix>_S3_TLS_KEY` (BACKUP, FILES), for an S3-compatible
 * endpoint that admits only clients with a certificate (MinIO's mTLS, or a TLS front, D448); https:// only.
 */
export function s3ClientTls(prefix: 'BACKUP' | 'FILES', env: Env, endpoint: string | null, problems: string[], warnings: string[]): ClientTls | null {
  return serviceClientTls(
    `${prefix}_S3`,
    env,
    endpoint,
    { test: (u) => /^https:\/\//i.test(u), need: `an https:// ${prefix}_S3_ENDPOINT`, urlVar: `${prefix}_S3_ENDPOINT` },
    problems,
    warnings,
  );
}

/**
 * LOG_SYSLOG_CERT_FILE and LOG_SYSLOG_KEY_FILE: Palisade's client certificate for a syslog collector that admits
 * senders by certificate (RFC 5425's mutual authentication, D448); syslog+tls only. The collector's CA stays
 * LOG_SYSLOG_CA_FILE, read by the log forwarder.
 */
export function syslogClientCert(env: Env, tls: boolean, problems: string[], warnings: string[]): { cert: string; key: string } | null {
  const cert = env.LOG_SYSLOG_CERT_FILE || undefined;
  const key = env.LOG_SYSLOG_KEY_FILE || undefined;
  if (cert === undefined && key === undefined) return null;
  if (!tls) {
    problems.push('LOG_SYSLOG_CERT_FILE and LOG_SYSLOG_KEY_FILE need LOG_DESTINATION=syslog+tls://host:port');
    return null;
  }
  const read = readClientFiles({ cert, key }, { ca: 'LOG_SYSLOG_CA_FILE', cert: 'LOG_SYSLOG_CERT_FILE', key: 'LOG_SYSLOG_KEY_FILE' }, problems, warnings);
  return read?.cert && read.key ? { cert: read.cert, key: read.key } : null;
}

const PG_FILES = ['sslcert', 'sslkey', 'sslrootcert'] as const;

/** A URL's query parameters as node-postgres reads them (the last of a repeated name counts). */
function pgParams(url: string): Map<string, string> {
  const q = url.indexOf('?');
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1).split('#')[0]);
  return new Map(params.entries());
}

/**
 * The certificate files a PostgreSQL URL names (`sslcert`, `sslkey`, `sslrootcert`), checked as node-postgres will
 * read them; problems name the variable and the parameter, never the URL (it may hold a password).
 */
export function postgresClientFiles(variable: string, url: string, problems: string[], warnings: string[]): void {
  const p = pgParams(url);
  const file = (name: string) => p.get(name) || undefined;
  readClientFiles(
    { ca: file('sslrootcert'), cert: file('sslcert'), key: file('sslkey') },
    { ca: `${variable} sslrootcert`, cert: `${variable} sslcert`, key: `${variable} sslkey` },
    problems,
    warnings,
  );
}

/** The URL with its certificate paths replaced by /dev/null: parsed as node-postgres does, without reading a file. */
export function withoutCertFiles(url: string): string {
  return url.replace(new RegExp(`([?&](?:${PG_FILES.join('|')})=)[^&#]+`, 'g'), '$1%2Fdev%2Fnull');
}

/** How a PostgreSQL URL signs in (for the doctor): a client certificate, a password (in the URL or PGPASSWORD), or neither. */
export function postgresAuthKind(url: string, env: Env): 'certificate' | 'password' | 'none' {
  const p = pgParams(url);
  if (p.get('sslcert')) return 'certificate';
  let password = p.get('password') ?? '';
  try {
    password ||= new URL(url).password;
  } catch {
    /* unreadable: its own check reports it */
  }
  return password !== '' || env.PGPASSWORD ? 'password' : 'none';
}
