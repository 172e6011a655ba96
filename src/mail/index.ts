import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Transporter } from 'nodemailer';
import { isPlainAddress, parseSender, type MailboxSpec } from './address.js';

/** nodemailer, loaded at the first mail (it is not needed to start: the server, each CLI command, each test file). */
let loaded: Promise<typeof import('nodemailer')> | undefined;
async function nodemailer(): Promise<typeof import('nodemailer').default> {
  if (!loaded) loaded = import('nodemailer');
  return (await loaded).default;
}

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Refused before anything is composed: the recipient is not one plain address. */
export class MailAddressError extends Error {
  readonly code = 'MAIL_ADDRESS_INVALID';
  constructor(what: 'recipient' | 'sender') {
    super(`the ${what} is not a single plain email address; nothing was sent`);
  }
}

/**
 * What nodemailer is given: explicit address objects and an explicit envelope, never a string it
 * would parse. A stored address with a display name or a list in it (written before validation was
 * strict, or by hand in the database) is refused here rather than mailed to the address it smuggles.
 */
function envelopeOf(from: MailboxSpec, msg: MailMessage) {
  if (!isPlainAddress(msg.to)) throw new MailAddressError('recipient');
  return {
    from,
    to: { name: '', address: msg.to },
    subject: msg.subject,
    text: msg.text,
    html: msg.html,
    envelope: { from: from.address, to: [msg.to] },
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

function sender(from: string): MailboxSpec {
  const s = parseSender(from);
  if (!s) throw new MailAddressError('sender');
  return s;
}

export interface MailSettings {
  /** smtp:// or smtps:// URL; null means the outbox folder. */
  smtpUrl: string | null;
  from: string;
  /** Where the outbox lives when there is no SMTP server. */
  dataDir: string;
  /**
   * The SMTP password in the secret store (`smtp.password`, DATA-1), looked up at each send: when stored it wins
   * over a password in SMTP_URL, which then needs only its user name. Given by services.ts: mail imports no store.
   */
  storedPassword?: () => Promise<StoredSecret>;
  /** SMTP_TLS_CA, SMTP_TLS_CERT, SMTP_TLS_KEY (PEM texts, D447): the server's CA and Palisade's client certificate. */
  tls?: { ca: string | null; cert: string | null; key: string | null } | null;
}

/** The secret store's name of the SMTP password. */
export const SMTP_PASSWORD_SECRET = 'smtp.password';

/** A secret as the secret store resolves it. */
export type StoredSecret = { state: 'set'; value: string } | { state: 'unset' } | { state: 'unreadable' };

export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  send(msg: MailMessage): Promise<void>;
  close(): void;
}

/**
 * smtp:// to another host must upgrade with STARTTLS: a server that does not offer it, or a man in the middle who
 * strips the offer, gets no password and no mail (ASVS V12.3.1, D392). On this host the connection never leaves it.
 */
function mustUpgrade(url: string): boolean {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return u.protocol === 'smtp:' && !(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host));
}

/** The server's CA (else the system's) and the client certificate, for both smtps:// and STARTTLS. */
function tlsOptions(t: NonNullable<MailSettings['tls']>): { rejectUnauthorized: true; ca?: string; cert?: string; key?: string } {
  return {
    rejectUnauthorized: true,
    ...(t.ca === null ? {} : { ca: t.ca }),
    ...(t.cert === null || t.key === null ? {} : { cert: t.cert, key: t.key }),
  };
}

/** Sends through an SMTP server with nodemailer (STARTTLS required off this host, or smtps://). */
class SmtpMailer implements Mailer {
  readonly kind = 'smtp' as const;
  private transport: { pass: string | null; t: Transporter } | null = null;
  private readonly from: MailboxSpec;
  constructor(
    private readonly url: string,
    from: string,
    private readonly stored?: () => Promise<StoredSecret>,
    private readonly tls: MailSettings['tls'] = null,
  ) {
    this.from = sender(from);
  }

  /** The transport for a password from the store (the URL's user with it), or for the URL as it is (null). */
  private async transportFor(pass: string | null): Promise<Transporter> {
    if (this.transport && this.transport.pass === pass) return this.transport.t;
    const { createTransport } = await nodemailer();
    if (this.transport && this.transport.pass === pass) return this.transport.t;
    this.transport?.t.close();
    const options = {
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
      logger: false,
      debug: false,
      // A client certificate is offered only inside TLS: with one, STARTTLS is required even on this host.
      requireTLS: mustUpgrade(this.url) || (this.tls?.cert ?? null) !== null,
      ...(this.tls ? { tls: tlsOptions(this.tls) } : {}),
    };
    let t: Transporter;
    if (pass === null) t = createTransport({ url: this.url, ...options });
    else {
      // The URL's own credentials would override an `auth` option: they are taken out, the user kept.
      const u = new URL(this.url);
      const user = decodeURIComponent(u.username);
      if (!user) throw new Error('smtp.password is stored but SMTP_URL names no user (smtp://user@host:587)');
      u.username = '';
      u.password = '';
      t = createTransport({ url: u.href, auth: { user, pass }, ...options });
    }
    this.transport = { pass, t };
    return t;
  }

  async send(msg: MailMessage): Promise<void> {
    const s = this.stored ? await this.stored() : ({ state: 'unset' } as const);
    if (s.state === 'unreadable') throw new Error('the stored SMTP password (smtp.password) cannot be opened; nothing was sent');
    await (await this.transportFor(s.state === 'set' ? s.value : null)).sendMail(envelopeOf(this.from, msg));
  }
  close(): void {
    this.transport?.t.close();
  }
}

/**
 * Without SMTP: each mail becomes one RFC 5322 file in DATA_DIR/outbox (folder 0700, files 0600),
 * for the operator to read or forward. Mail never goes to the log: it carries single-use links.
 */
class OutboxMailer implements Mailer {
  readonly kind = 'outbox' as const;
  private composer: Transporter | null = null;
  private readonly from: MailboxSpec;
  constructor(
    private readonly dir: string,
    from: string,
  ) {
    this.from = sender(from);
  }
  async send(msg: MailMessage): Promise<void> {
    this.composer ??= (await nodemailer()).createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
    const info = await this.composer.sendMail(envelopeOf(this.from, msg));
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    const file = path.join(this.dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(6).toString('hex')}.eml`);
    writeFileSync(file, info.message as Buffer, { mode: 0o600, flag: 'wx' });
  }
  close(): void {}
}

export const outboxDir = (dataDir: string): string => path.join(dataDir, 'outbox');

export function createMailer(s: MailSettings): Mailer {
  return s.smtpUrl ? new SmtpMailer(s.smtpUrl, s.from, s.storedPassword, s.tls ?? null) : new OutboxMailer(outboxDir(s.dataDir), s.from);
}
