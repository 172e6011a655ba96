import { smsClientTls, type ClientTls } from '../config/client-certs.js';
import { intVar, secretVar, type Env } from '../config/env.js';
import type { ConfigSection } from '../config/index.js';
import { plainConnection } from '../config/plaintext.js';

/** A Kannel smsbox's sendsms interface and the sendsms-user Palisade sends as. */
export interface KannelConfig {
  /** The full sendsms URL, http(s)://host:sendsms-port/cgi-bin/sendsms; never carries credentials. */
  readonly url: string;
  readonly username: string;
  /** From SMS_KANNEL_PASSWORD(_FILE); '' when it is kept in the secret store as `sms.kannelPassword` instead. */
  readonly password: string;
  /** SMS_KANNEL_TLS_CA, SMS_KANNEL_TLS_CERT, SMS_KANNEL_TLS_KEY (D448): the gateway's CA and Palisade's client certificate. */
  readonly tls: ClientTls | null;
}

/** The SMS channel (AUTH-12, SMS codes); `sms: null` in the config means no channel: SMS codes are off. */
export interface SmsConfig {
  readonly kannel: KannelConfig;
  /** The sender shown on the phone; null leaves it to the gateway (the sendsms-user's default-sender). */
  readonly from: string | null;
  /** How long a send may wait for the gateway, ms. */
  readonly timeoutMs: number;
}

const SENDER = /^(\+[1-9]\d{6,14}|\d{3,15}|(?=[A-Za-z0-9 .-]*[A-Za-z])[A-Za-z0-9 .-]{1,11})$/;

/** SMS_KANNEL_URL, SMS_KANNEL_USER, SMS_KANNEL_PASSWORD (or _FILE), SMS_FROM and SMS_TIMEOUT_MS. */
export const smsEnv: ConfigSection<{ sms: SmsConfig | null }> = {
  read: (env, problems, warnings) => ({ sms: readSms(env, problems, warnings) }),
};

function readSms(env: Env, problems: string[], warnings: string[]): SmsConfig | null {
  const rawUrl = env.SMS_KANNEL_URL || '';
  const username = env.SMS_KANNEL_USER || '';
  const password = secretVar(env, 'SMS_KANNEL_PASSWORD', problems).value ?? '';
  const from = env.SMS_FROM || null;
  const timeoutMs = intVar(env, 'SMS_TIMEOUT_MS', 3000, 200, 10_000, problems);
  if (rawUrl === '') {
    if (username || password || from) problems.push('SMS_KANNEL_USER, SMS_KANNEL_PASSWORD and SMS_FROM need SMS_KANNEL_URL');
    smsClientTls(env, null, problems, warnings); // SMS_KANNEL_TLS_* alone: a problem
    return null;
  }
  const url = sendsmsUrl(env, rawUrl, problems, warnings);
  if (!username) problems.push('SMS_KANNEL_USER is required with SMS_KANNEL_URL (a sendsms-user of the smsbox)');
  // Without it, the password is the secret store's `sms.kannelPassword` (DATA-1), looked up at each send.
  for (const [name, v] of [
    ['SMS_KANNEL_USER', username],
    ['SMS_KANNEL_PASSWORD', password],
  ] as const) {
    if (v.length > 256 || [...v].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f))
      problems.push(`${name} must be at most 256 characters without control characters`);
  }
  if (from !== null && !SENDER.test(from))
    problems.push('SMS_FROM must be an E.164 number (+4512345678), a short code of digits, or 1 to 11 letters, digits, spaces, dots and dashes');
  const tls = smsClientTls(env, url ?? rawUrl, problems, warnings);
  if (url === null) return null;
  return { kannel: { url, username, password, tls }, from, timeoutMs };
}

/** The sendsms URL: http(s), no credentials, query or fragment; a bare host gets Kannel's /cgi-bin/sendsms. */
function sendsmsUrl(env: Env, raw: string, problems: string[], warnings: string[]): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    problems.push('SMS_KANNEL_URL must be an http:// or https:// URL such as http://127.0.0.1:13013/cgi-bin/sendsms');
    return null;
  }
  if (!['http:', 'https:'].includes(u.protocol) || u.username || u.password || u.search || u.hash) {
    problems.push(
      'SMS_KANNEL_URL must be an http:// or https:// URL without credentials, query or fragment (the credentials go in SMS_KANNEL_USER and SMS_KANNEL_PASSWORD)',
    );
    return null;
  }
  if (u.pathname === '/') u.pathname = '/cgi-bin/sendsms';
  if (u.protocol === 'http:') plainConnection(env, 'sms', 'SMS_KANNEL_URL', u.hostname, "use https (Kannel's sendsms-port-ssl)", problems, warnings);
  return u.href;
}
