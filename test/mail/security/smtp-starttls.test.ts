import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { createMailer } from '../../../src/mail/index.js';

/**
 * Bug class: STARTTLS stripping. With opportunistic STARTTLS a server that does not offer it, or a man in the middle
 * who deletes the offer from its greeting, gets the SMTP password and the mail (reset links) in clear. Off this host,
 * smtp:// must upgrade or send nothing.
 */

/** The machine's first non-loopback IPv4 address: what an SMTP server on another host looks like to the mailer. */
const ADDR = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;

test('smtp:// to another host that offers no STARTTLS gets neither the password nor the mail; on this host it is sent [ASVS V12.3.1]', {
  skip: ADDR === undefined && 'this machine has no non-loopback IPv4 address',
}, async () => {
  const logins: string[] = [];
  const mails: string[] = [];
  // A server that never offers STARTTLS but takes a password in clear: what a downgrading man in the middle shows.
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth: (auth, _session, done) => {
      logins.push(`${auth.username}:${auth.password}`);
      done(null, { user: auth.username });
    },
    onData: (stream, _session, done) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push(Buffer.concat(chunks).toString('utf8'));
        done();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  const port = (server.server.address() as AddressInfo).port;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-mail-'));
  const msg = { to: 'alice@example.org', subject: 'Reset', text: 'https://palisade.example.test/reset#token=secret-link', html: '<p>link</p>' };
  try {
    const remote = createMailer({ smtpUrl: `smtp://mailer:smtp-secret@${ADDR}:${port}`, from: 'noreply@example.org', dataDir });
    try {
      await assert.rejects(remote.send(msg), /STARTTLS|TLS/i);
    } finally {
      remote.close();
    }
    assert.deepEqual(logins, [], 'no password crossed in clear');
    assert.deepEqual(mails, [], 'no mail crossed in clear');

    // The same server on this host (a local relay): the connection never leaves the machine, and the mail goes.
    const local = createMailer({ smtpUrl: `smtp://mailer:smtp-secret@127.0.0.1:${port}`, from: 'noreply@example.org', dataDir });
    try {
      await local.send(msg);
    } finally {
      local.close();
    }
    assert.deepEqual(logins, ['mailer:smtp-secret']);
    assert.equal(mails.length, 1);
    assert.match(mails[0]!, /secret-link/);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dataDir, { recursive: true, force: true });
  }
});
