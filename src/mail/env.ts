import { smtpClientTls, type ClientTls } from '../config/client-certs.js';
import { secretVar, type Env } from '../config/env.js';
import type { Config, ConfigSection } from '../config/index.js';
import { parseSender } from './address.js';

export interface MailConfig {
  /** smtp:// or smtps:// URL; null: mail goes to DATA_DIR/outbox. */
  readonly smtpUrl: string | null;
  readonly from: string;
  /** Base URL of the links in mails, without a trailing slash. */
  readonly publicUrl: string;
  /** SMTP_TLS_CA, SMTP_TLS_CERT, SMTP_TLS_KEY (D447): the server's CA and the client certificate; null: none given. */
  readonly tls: ClientTls | null;
}

/** SMTP_URL, MAIL_FROM and PUBLIC_URL (AUTH-8); links default to the listening address. */
export const mailEnv: ConfigSection<{ mail: MailConfig }> = {
  read: (env, problems, warnings, base) => ({ mail: readMail(env, problems, warnings, base) }),
};

/** What is wrong with an SMTP URL's form beyond its scheme: unreadable, or a query or fragment; null: nothing. */
function urlFormProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'SMTP_URL cannot be read as a URL';
  }
  return u.search !== '' || u.hash !== '' || url.includes('?') || url.includes('#')
    ? 'SMTP_URL must not carry a query or fragment: TLS settings come from SMTP_TLS_CA, SMTP_TLS_CERT and SMTP_TLS_KEY'
    : null;
}

function readMail(env: Env, problems: string[], warnings: string[], listen: Pick<Config, 'host' | 'port'>): MailConfig {
  const smtpUrl = secretVar(env, 'SMTP_URL', problems).value ?? null;
  if (smtpUrl !== null && !/^smtps?:\/\/[^\s]+$/.test(smtpUrl)) problems.push('SMTP_URL must be an smtp:// or smtps:// URL');
  // nodemailer reads settings from the URL's query after ours (requireTLS=false, ignoreTLS, tls.rejectUnauthorized):
  // none is taken, so that TLS and its verification stay as Palisade sets them.
  else if (smtpUrl !== null) {
    const form = urlFormProblem(smtpUrl);
    if (form !== null) problems.push(form);
  }
  const from = env.MAIL_FROM || 'Palisade <palisade@localhost>';
  if (!parseSender(from))
    problems.push('MAIL_FROM must be one address, alone or after a plain display name: "palisade@example.org" or "Palisade <palisade@example.org>"');
  if (smtpUrl !== null && !env.MAIL_FROM) problems.push('MAIL_FROM is required with SMTP_URL');
  const tls = smtpClientTls(env, smtpUrl, problems, warnings);
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  let publicUrl = `http://${host}:${listen.port}`;
  if (env.PUBLIC_URL) {
    let u: URL | null = null;
    try {
      u = new URL(env.PUBLIC_URL);
    } catch {
      /* reported below */
    }
    if (!u || !['http:', 'https:'].includes(u.protocol) || u.search || u.hash || u.username || u.password) {
      problems.push('PUBLIC_URL must be an http:// or https:// URL without credentials, query or fragment');
    } else {
      publicUrl = u.href.replace(/\/+$/, '');
    }
  } else if (smtpUrl !== null) {
    warnings.push(`PUBLIC_URL is not set: links in mails point to ${publicUrl}`);
  }
  return { smtpUrl, from, publicUrl, tls };
}
