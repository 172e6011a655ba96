import { isLoopbackHost } from '../util/hosts.js';

/**
 * How Palisade is admitted by the services it reaches over the network besides its database (ASVS V13.2.1, D447,
 * D448): the SMTP server, the SMS gateway and the S3 endpoints. A client certificate passes; a password or access key
 * alone warns, as an unchanging credential. Only the variables' names are ever reported, never a value.
 */
export interface AuthVerdict {
  status: 'pass' | 'warn';
  detail: string;
  fix: string;
}

const UNCHANGING = 'a credential that does not change by itself';
const DOC = 'docs/connections.md#certificate-authentication';

export function smtpAuthVerdict(o: { smtpUrl: string; certificate: boolean; storedPassword: boolean }): AuthVerdict {
  let inUrl = false;
  let host = '';
  try {
    const u = new URL(o.smtpUrl);
    inUrl = u.password !== '';
    host = u.hostname.replace(/^\[|\]$/g, '');
  } catch {
    /* its own check reports it */
  }
  const fix = `Give Palisade a client certificate the relay accepts (SMTP_TLS_CERT, SMTP_TLS_KEY; Postfix permit_tls_clientcerts) and remove any password (${DOC}).`;
  const password = [...(inUrl ? ['SMTP_URL'] : []), ...(o.storedPassword ? ['the stored smtp.password'] : [])];
  if (password.length > 0) return { status: 'warn', detail: `${password.join(' and ')}: signs in with a password, ${UNCHANGING}`, fix };
  if (o.certificate) return { status: 'pass', detail: 'a client certificate (SMTP_TLS_CERT)', fix: '' };
  if (isLoopbackHost(host)) return { status: 'pass', detail: 'a relay on this host, reached without a password or certificate', fix: '' };
  return { status: 'warn', detail: 'no password or certificate: the relay on another host admits Palisade by its address alone', fix };
}

export function smsAuthVerdict(certificate: boolean): AuthVerdict {
  if (certificate) return { status: 'pass', detail: 'a client certificate (SMS_KANNEL_TLS_CERT); the sendsms password travels inside it', fix: '' };
  return {
    status: 'warn',
    detail: `the gateway admits Palisade by the sendsms password alone, ${UNCHANGING}`,
    fix: `Put a TLS front that requires client certificates before Kannel's sendsms port (stunnel, \`requireCert = yes\`) and give Palisade SMS_KANNEL_TLS_CERT and SMS_KANNEL_TLS_KEY (${DOC}).`,
  };
}

/** `targets`: each S3 variable prefix in use (BACKUP_S3, FILES_S3) with whether it offers a client certificate. */
export function s3AuthVerdict(targets: ReadonlyArray<readonly [string, boolean]>): AuthVerdict {
  const keyOnly = targets.filter(([, certificate]) => !certificate).map(([v]) => v);
  if (keyOnly.length === 0) return { status: 'pass', detail: `a client certificate (${targets.map(([v]) => `${v}_TLS_CERT`).join(', ')})`, fix: '' };
  return {
    status: 'warn',
    detail: `${keyOnly.join(', ')}: the endpoint admits Palisade by the access key alone, ${UNCHANGING}`,
    fix: `Reach an S3-compatible store that requires client certificates (MinIO mTLS, or a TLS front) with <prefix>_TLS_CERT and <prefix>_TLS_KEY; on AWS, rotate the access key on schedule (${DOC}).`,
  };
}
