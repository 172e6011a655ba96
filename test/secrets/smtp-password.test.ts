// The SMTP password in the secret store (DATA-1): `smtp.password`, looked up at each send, wins over the password
// in SMTP_URL, which keeps working while none is stored; an unreadable one sends nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { createMailer, SMTP_PASSWORD_SECRET, type StoredSecret } from '../../src/mail/index.js';
import { bearer, login, makeApp } from '../helpers/app.js';

/** An SMTP server that accepts AUTH PLAIN/LOGIN without TLS (loopback only) and records each login. */
const logins: { user: string; pass: string }[] = [];
let received = 0;
let server: SMTPServer;
let port = 0;
before(async () => {
  server = new SMTPServer({
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, cb) {
      logins.push({ user: auth.username ?? '', pass: auth.password ?? '' });
      cb(null, { user: auth.username });
    },
    onData(stream, _session, cb) {
      stream.resume();
      stream.on('end', () => {
        received++;
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.server.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const mail = { to: 'ann@example.org', subject: 'Hello', text: 'Hello', html: '<p>Hello</p>' };
const dataDir = () => mkdtempSync(path.join(tmpdir(), 'palisade-smtp-'));

test('the stored password wins over the one in SMTP_URL, which is used while none is stored', async () => {
  let stored: StoredSecret = { state: 'unset' };
  const m = createMailer({
    smtpUrl: `smtp://palisade:from-url@127.0.0.1:${port}`,
    from: 'noreply@example.org',
    dataDir: dataDir(),
    storedPassword: async () => stored,
  });
  try {
    await m.send(mail);
    assert.deepEqual(logins.at(-1), { user: 'palisade', pass: 'from-url' });
    stored = { state: 'set', value: 'from:the/store@%' };
    await m.send(mail);
    assert.deepEqual(logins.at(-1), { user: 'palisade', pass: 'from:the/store@%' });
    const sent = received;
    stored = { state: 'unreadable' };
    await assert.rejects(m.send(mail), /cannot be opened/);
    assert.equal(received, sent, 'nothing sent');
  } finally {
    m.close();
  }
  const noUser = createMailer({
    smtpUrl: `smtp://127.0.0.1:${port}`,
    from: 'noreply@example.org',
    dataDir: dataDir(),
    storedPassword: async () => ({ state: 'set', value: 'x' }),
  });
  await assert.rejects(noUser.send(mail), /names no user/);
  noUser.close();
});

test('with SMTP_URL set, smtp.password is listed on the Secrets screen and feeds the mailer', async () => {
  const t = await makeApp({ env: { SMTP_URL: `smtp://palisade@127.0.0.1:${port}`, MAIL_FROM: 'noreply@example.org' } });
  try {
    const admin = (await login(t)).token;
    const row = (await t.app.inject({ method: 'GET', url: '/api/admin/secrets', headers: bearer(admin) }))
      .json()
      .secrets.find((s: { name: string }) => s.name === SMTP_PASSWORD_SECRET);
    assert.equal(row.set, false);
    assert.match(row.usedBy, /SMTP/);
    const put = await t.app.inject({
      method: 'PUT',
      url: `/api/admin/secrets/${SMTP_PASSWORD_SECRET}`,
      headers: bearer(admin),
      payload: { value: 'relay-pw-in-store' },
    });
    assert.equal(put.statusCode, 200);
    await t.s.mailer.send(mail);
    assert.deepEqual(logins.at(-1), { user: 'palisade', pass: 'relay-pw-in-store' });
    assert.equal(t.logs.join('\n').includes('relay-pw-in-store'), false);
  } finally {
    await t.close();
  }
});
