import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { useApp, type TestApp } from './app.js';

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The raw message as received. */
  raw: string;
  /** The message with quoted-printable soft breaks and escapes undone, for searching. */
  decoded: string;
  subject: string;
}

/** Undoes quoted-printable encoding (soft line breaks, =XX escapes) well enough to search a message. */
function decodeQp(raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** A real SMTP server (the smtp-server package) on a free loopback port that keeps what it receives. */
export class TestSmtp {
  readonly mails: ReceivedMail[] = [];
  private server!: SMTPServer;
  url = '';

  async start(): Promise<this> {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const decoded = decodeQp(raw);
          this.mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
            decoded,
            subject: /^Subject: (.*)$/m.exec(raw)?.[1]?.trim() ?? '',
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `smtp://127.0.0.1:${(this.server.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Mails sent to an address. */
  to(address: string): ReceivedMail[] {
    return this.mails.filter((m) => m.to.includes(address));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The link token in a mail (it travels in the URL fragment). */
export function linkToken(mail: ReceivedMail): string {
  const m = /#token=([A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})/.exec(mail.decoded);
  if (!m) throw new Error(`no link token in mail: ${mail.subject}`);
  return m[1]!;
}

/**
 * A test app whose mail goes to a real SMTP server started for the file: `set` gets the app, the root token and the
 * server; `env` adds variables. The server stops after the file's tests.
 */
export function useMailApp(set: (t: TestApp, admin: string, smtp: TestSmtp) => void, env: Record<string, string> = {}): void {
  let smtp: TestSmtp | undefined;
  useApp(
    (app, token) => set(app, token, smtp!),
    async () => {
      smtp = await new TestSmtp().start();
      return { env: { SMTP_URL: smtp.url, MAIL_FROM: 'Palisade <noreply@example.org>', ...env } };
    },
  );
  after(() => smtp?.stop());
}
