import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { boolVar, durationVar, intVar, type Env } from '../config/env.js';
import type { ConfigSection } from '../config/index.js';

/** Built-in TLS (EDGE-5): the certificate and key files, read again when they change or on SIGHUP. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface HttpsConfig {
  readonly tls: TlsFiles | null;
  /**
   * ADMIN_CLIENT_CA_FILE read at start: the CA (PEM) that issues certificates to the organisation's managed devices;
   * with it, built-in TLS asks each client for a certificate and a session reaches administrator routes only from a
   * device that presented one this CA signed (ASVS V8.4.2, D445). Null: no device check.
   */
  readonly adminClientCa: string | null;
  /**
   * Where plain-HTTP requests are sent (PUBLIC_URL's origin, https), or null when they are served as
   * they come. Health probes are never redirected.
   */
  readonly forceHttpsTo: string | null;
  /**
   * The Strict-Transport-Security value sent on HTTPS answers to requests for PUBLIC_URL's host, or null
   * when PUBLIC_URL is not https:// or names an IP address or localhost (HSTS there would pin every
   * port of that host in the browser).
   */
  readonly hsts: { readonly value: string; readonly host: string } | null;
  /**
   * A second, plain-HTTP port beside built-in TLS (HTTP_REDIRECT_PORT), or null: its requests go through the same
   * pipeline, which redirects them to PUBLIC_URL and answers only the health probes there.
   */
  readonly httpRedirectPort: number | null;
}

/** TLS protocol floor and the cipher suites offered with TLS 1.2 (AEAD with forward secrecy only); TLS 1.3 keeps its own. */
export const TLS_OPTIONS = Object.freeze({
  minVersion: 'TLSv1.2' as const,
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
    // OpenSSL security level 2: no RSA or DH key under 2048 bits, no SHA-1 signatures.
    '@SECLEVEL=2',
  ].join(':'),
  honorCipherOrder: true,
});

/** Reads a certificate and its key and checks that they make a TLS context; the problem, or the PEM texts. */
export function readTlsFiles(files: TlsFiles): { cert: string; key: string } | { problem: string } {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(files.certFile, 'utf8');
  } catch {
    return { problem: `TLS_CERT_FILE: cannot read ${files.certFile}` };
  }
  try {
    key = readFileSync(files.keyFile, 'utf8');
  } catch {
    return { problem: `TLS_KEY_FILE: cannot read ${files.keyFile}` };
  }
  try {
    createSecureContext({ ...TLS_OPTIONS, cert, key });
  } catch {
    // OpenSSL's message may quote the key file's content: never repeated.
    return { problem: 'TLS_CERT_FILE and TLS_KEY_FILE do not make a TLS context: not PEM, or the key does not match the certificate' };
  }
  return { cert, key };
}

const YEAR = 31_536_000;

/** The device CA's PEM: readable, and a CA certificate; otherwise a problem naming the variable. */
function readDeviceCa(file: string, problems: string[]): string | null {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch {
    problems.push(`ADMIN_CLIENT_CA_FILE: cannot read ${file}`);
    return null;
  }
  try {
    if (!new X509Certificate(pem).ca) problems.push('ADMIN_CLIENT_CA_FILE is not a CA certificate (basicConstraints CA:TRUE)');
  } catch {
    problems.push('ADMIN_CLIENT_CA_FILE is not a PEM certificate');
    return null;
  }
  return pem;
}

/** TLS_CERT_FILE, TLS_KEY_FILE, FORCE_HTTPS and HSTS_* (EDGE-5). */
export const httpsEnv: ConfigSection<HttpsConfig> = {
  read(env: Env, problems: string[], warnings: string[]): HttpsConfig {
    let tls: TlsFiles | null = null;
    const certFile = env.TLS_CERT_FILE || undefined;
    const keyFile = env.TLS_KEY_FILE || undefined;
    if ((certFile === undefined) !== (keyFile === undefined)) problems.push('TLS_CERT_FILE and TLS_KEY_FILE are set together or not at all');
    else if (certFile !== undefined && keyFile !== undefined) {
      const read = readTlsFiles({ certFile, keyFile });
      if ('problem' in read) problems.push(read.problem);
      else tls = { certFile, keyFile };
    }

    let publicHttps: string | null = null;
    let publicHost = '';
    try {
      const u = new URL(env.PUBLIC_URL ?? '');
      if (u.protocol === 'https:') {
        publicHttps = u.origin;
        publicHost = u.hostname.toLowerCase();
      }
    } catch {
      /* PUBLIC_URL's own problems are reported by the mail section */
    }
    // HTTPS is known from a TLS socket or from a trusted proxy's header: without either every request
    // looks plain, and forcing HTTPS would redirect forever.
    const canTell =
      tls !== null ||
      (env.TRUSTED_PROXIES ?? '')
        .split(',')
        .map((x) => x.trim())
        .some(Boolean);
    // Unset: on when PUBLIC_URL says the deployment is reached over HTTPS and requests can show it.
    const force = boolVar(env, 'FORCE_HTTPS', problems, publicHttps !== null && canTell);
    if (force && publicHttps === null) problems.push('FORCE_HTTPS needs PUBLIC_URL to be an https:// URL: plain-HTTP requests are redirected to it');
    else if (force && !canTell)
      problems.push(
        'FORCE_HTTPS needs TLS_CERT_FILE and TLS_KEY_FILE, or TRUSTED_PROXIES (the proxy that terminates TLS): otherwise no request is seen as HTTPS',
      );
    if (publicHttps !== null && !force) {
      if (env.FORCE_HTTPS !== undefined)
        warnings.push('FORCE_HTTPS is false although PUBLIC_URL is https://: plain-HTTP requests are served, credentials included');
      else if (!canTell)
        warnings.push(
          'PUBLIC_URL is https:// but Palisade cannot tell HTTPS requests: set TRUSTED_PROXIES to the proxy that terminates TLS (or TLS_CERT_FILE and TLS_KEY_FILE) to force HTTPS and send HSTS',
        );
    }

    const maxAge = durationVar(env, 'HSTS_MAX_AGE', YEAR, 0, problems, 2 * YEAR);
    const subdomains = boolVar(env, 'HSTS_INCLUDE_SUBDOMAINS', problems);
    const preload = boolVar(env, 'HSTS_PRELOAD', problems);
    if (preload && (!subdomains || maxAge < YEAR))
      problems.push('HSTS_PRELOAD needs HSTS_INCLUDE_SUBDOMAINS=true and HSTS_MAX_AGE of at least one year (365d)');
    if (maxAge === 0 && env.HSTS_MAX_AGE !== undefined) warnings.push('HSTS_MAX_AGE is 0: browsers are told to forget the HSTS policy of this host');
    // A name only: HSTS for an IP address or localhost would pin every port of it in the browser.
    const named = publicHost !== '' && isIP(publicHost.replace(/^\[|\]$/g, '')) === 0 && publicHost !== 'localhost' && !publicHost.endsWith('.localhost');
    const hsts = named ? { value: `max-age=${maxAge}${subdomains ? '; includeSubDomains' : ''}${preload ? '; preload' : ''}`, host: publicHost } : null;

    // The port 80 of a host that terminates TLS itself: it only redirects, so it needs TLS and forced HTTPS.
    let httpRedirectPort: number | null = null;
    if (env.HTTP_REDIRECT_PORT !== undefined && env.HTTP_REDIRECT_PORT !== '') {
      const port = intVar(env, 'HTTP_REDIRECT_PORT', 0, 1, 65535, problems);
      if (port !== 0) {
        if (tls === null) problems.push('HTTP_REDIRECT_PORT needs TLS_CERT_FILE and TLS_KEY_FILE: it is the plain-HTTP port beside built-in TLS');
        else if (!force) problems.push('HTTP_REDIRECT_PORT needs forced HTTPS (PUBLIC_URL https://, FORCE_HTTPS not false): the port only redirects');
        else if (String(port) === (env.PORT ?? '8080')) problems.push('HTTP_REDIRECT_PORT must differ from PORT');
        else httpRedirectPort = port;
      }
    }
    let adminClientCa: string | null = null;
    const caFile = env.ADMIN_CLIENT_CA_FILE || undefined;
    if (caFile !== undefined) {
      if (tls === null) problems.push('ADMIN_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE: device certificates are asked for in the TLS handshake');
      else adminClientCa = readDeviceCa(caFile, problems);
    }
    return { tls, adminClientCa, forceHttpsTo: force ? publicHttps : null, hsts, httpRedirectPort };
  },
};
