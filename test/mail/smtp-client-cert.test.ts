// ASVS V13.2.1 (D447): Palisade signs in to the SMTP server with a TLS client certificate, no password. The server is
// a real SMTP server (smtp-server) that asks every client for a certificate and admits only those its CA signed, over
// implicit TLS and over STARTTLS. Bug classes: the certificate not offered on one of the two paths, a server of another
// CA trusted, a mail sent in clear when STARTTLS is missing, a refused handshake that hangs or reaches the client, a
// key's content in a message.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { configProblems, createUser, login, makeApp, type TestApp } from '../helpers/app.js';
import { certDir, issueClientTestSet } from '../helpers/certs.js';

const certs = certDir('palisade-smtp-certs-');
const { file, readPem } = certs;

/** What each server saw: the certificate subject of every client that completed TLS, and the mails. */
interface Seen {
  clients: string[];
  mails: string[];
}

async function startSmtp(o: Partial<SMTPServerOptions>): Promise<{ server: SMTPServer; port: number; seen: Seen }> {
  const seen: Seen = { clients: [], mails: [] };
  const server = new SMTPServer({
    key: readPem('server.key'),
    cert: readPem('server.crt'),
    ca: readPem('ca.crt'),
    requestCert: true,
    rejectUnauthorized: true,
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    onSecure(socket, _session, done) {
      const peer = (socket as TLSSocket).getPeerCertificate();
      seen.clients.push(String(peer?.subject?.CN ?? ''));
      done();
    },
    onData(stream, _session, done) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        seen.mails.push(Buffer.concat(chunks).toString('utf8'));
        done();
      });
    },
    ...o,
  });
  server.on('error', () => {}); // a refused handshake is the test's subject, not a failure of the server
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.server.address() as AddressInfo).port, seen };
}

let implicit: Awaited<ReturnType<typeof startSmtp>>;
let starttls: Awaited<ReturnType<typeof startSmtp>>;
let plain: Awaited<ReturnType<typeof startSmtp>>;

before(async () => {
  issueClientTestSet(certs, 'server', 'palisade-mailer');
  implicit = await startSmtp({ secure: true });
  starttls = await startSmtp({ secure: false });
  // A relay on this host that offers no STARTTLS: a client certificate must never become a mail in clear.
  plain = await startSmtp({ secure: false, disabledCommands: ['AUTH', 'STARTTLS'] });
});
after(async () => {
  for (const s of [implicit, starttls, plain]) if (s) await new Promise<void>((r) => s.server.close(() => r()));
  certs.remove();
});

const tlsEnv = (cert = 'app', ca = 'ca') => ({
  MAIL_FROM: 'noreply@example.org',
  SMTP_TLS_CA: file(`${ca}.crt`),
  SMTP_TLS_CERT: file(`${cert}.crt`),
  SMTP_TLS_KEY: file(`${cert}.key`),
});

/** A forgotten-password request for a user with an address: 202 at once, the mail sent in the background. */
async function forgot(t: TestApp): Promise<void> {
  const admin = (await login(t)).token;
  await createUser(t, admin, 'ann', 'Quiet-harbour-lantern-4', { email: 'ann@example.org' });
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { username: 'ann' } });
  assert.equal(r.statusCode, 202, r.body);
  await t.s.tasks.drain();
}

async function withApp<T>(env: Record<string, string>, fn: (t: TestApp) => Promise<T>): Promise<T> {
  const t = await makeApp({ env });
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

test('SMTP by client certificate over smtps:// and over STARTTLS: the mail goes with no password, the server saw the certificate; the doctor passes it [ASVS V13.2.1]', async () => {
  for (const s of [implicit, starttls]) {
    const scheme = s === implicit ? 'smtps' : 'smtp';
    await withApp({ ...tlsEnv(), SMTP_URL: `${scheme}://127.0.0.1:${s.port}` }, async (t) => {
      await forgot(t);
      assert.equal(s.seen.mails.length, 1, `${scheme}: one mail delivered`);
      assert.match(s.seen.mails[0]!, /To: ann@example\.org/);
      assert.deepEqual(s.seen.clients, ['palisade-mailer'], `${scheme}: the client presented its certificate`);
      const check = (await t.s.doctor.run()).checks.find((c) => c.id === 'smtp-auth')!;
      assert.equal(check.status, 'pass', check.detail);
      assert.match(check.detail, /client certificate \(SMTP_TLS_CERT\)/);
    });
  }
});

test('the SMTP server refuses Palisade without a certificate or with one of another CA, and Palisade refuses a server of another CA: nothing is sent, the failure is logged without a stack or key [ASVS V13.2.1]', async () => {
  // Why each failed, as the log says it: the server's refusal (a TLS alert, or the connection closed at the handshake
  // with no client admitted), or Palisade's own refusal of a server certificate it cannot verify.
  const cases: Array<[string, Record<string, string>, Awaited<ReturnType<typeof startSmtp>>, RegExp]> = [
    [
      'no certificate',
      { MAIL_FROM: 'noreply@example.org', SMTP_TLS_CA: file('ca.crt') },
      implicit,
      /certificate required|ECONNRESET|Connection closed unexpectedly/,
    ],
    ['a certificate of another CA', tlsEnv('rogue'), implicit, /unknown ca|Connection closed unexpectedly/],
    ['a server certificate Palisade does not trust', tlsEnv('app', 'rogue-ca'), starttls, /self-signed certificate in certificate chain/],
  ];
  for (const [what, env, s, why] of cases) {
    const before = s.seen.mails.length;
    const admitted = s.seen.clients.length;
    const scheme = s === implicit ? 'smtps' : 'smtp';
    await withApp({ ...env, SMTP_URL: `${scheme}://127.0.0.1:${s.port}` }, async (t) => {
      const t0 = performance.now();
      await forgot(t);
      assert.ok(performance.now() - t0 < 20_000, `${what}: no hang`);
      assert.equal(s.seen.mails.length, before, `${what}: nothing delivered`);
      const failed = t.logs.filter((l) => l.includes('background task failed'));
      assert.equal(failed.length, 1, `${what}: ${t.logs.join('')}`);
      assert.doesNotMatch(failed[0]!, /BEGIN|PRIVATE KEY|\n\s+at /, 'no key, no stack');
      assert.match(failed[0]!, why, what);
      if (s === implicit) assert.equal(s.seen.clients.length, admitted, `${what}: the server admitted no client`);
    });
  }
  // A relay on another host with neither a password nor a certificate admits by address alone: the doctor warns.
  await withApp({ MAIL_FROM: 'noreply@example.org', SMTP_URL: 'smtps://mail.example.org:465' }, async (t) => {
    const check = (await t.s.doctor.run()).checks.find((c) => c.id === 'smtp-auth')!;
    assert.equal(check.status, 'warn');
    assert.match(check.detail, /by its address alone/);
  });
  // A password, in SMTP_URL or stored as smtp.password, warns, never showing it.
  await withApp({ MAIL_FROM: 'noreply@example.org', SMTP_URL: `smtp://mailer:pw-in-url@127.0.0.1:${plain.port}` }, async (t) => {
    const check = (await t.s.doctor.run()).checks.find((c) => c.id === 'smtp-auth')!;
    assert.equal(check.status, 'warn');
    assert.match(check.detail, /^SMTP_URL: signs in with a password/);
    assert.doesNotMatch(check.detail, /pw-in-url/);
  });
  await withApp({ MAIL_FROM: 'noreply@example.org', SMTP_URL: `smtp://mailer@127.0.0.1:${plain.port}` }, async (t) => {
    await t.s.secrets.set('smtp.password', 'stored-smtp-secret', { actor: { id: null, name: 'test' } });
    const check = (await t.s.doctor.run()).checks.find((c) => c.id === 'smtp-auth')!;
    assert.equal(check.status, 'warn');
    assert.match(check.detail, /^the stored smtp\.password: signs in with a password/);
    assert.doesNotMatch(check.detail, /stored-smtp-secret/);
  });
});

test('with a client certificate STARTTLS is required even on this host: a relay that does not offer it gets no mail [ASVS V13.2.1, V12.3.1]', async () => {
  await withApp({ ...tlsEnv(), SMTP_URL: `smtp://127.0.0.1:${plain.port}` }, async (t) => {
    await forgot(t);
    assert.deepEqual(plain.seen.mails, []);
    assert.match(t.logs.filter((l) => l.includes('background task failed')).join(''), /STARTTLS|TLS/i);
  });
});

test('SMTP_TLS_* are checked at start: half a pair, no SMTP_URL, a file that is not PEM or a key of another certificate is a problem naming the variable, never the content [ASVS V13.2.1]', () => {
  const url = { SMTP_URL: 'smtps://mail.example.org:465', MAIL_FROM: 'noreply@example.org' };
  assert.deepEqual(configProblems({ ...url, ...tlsEnv() }), []);
  assert.match(configProblems({ ...url, SMTP_TLS_CERT: file('app.crt') }).join('\n'), /SMTP_TLS_CERT and SMTP_TLS_KEY are set together or not at all/);
  // nodemailer would take TLS settings from the URL's query over Palisade's: none is accepted.
  for (const q of ['?requireTLS=false&ignoreTLS=true', '?tls.rejectUnauthorized=false', '#x'])
    assert.match(
      configProblems({ ...url, ...tlsEnv(), SMTP_URL: `smtp://mail.example.org:587${q}` }).join('\n'),
      /SMTP_URL must not carry a query or fragment/,
      q,
    );
  assert.match(configProblems({ MAIL_FROM: 'noreply@example.org', ...tlsEnv() }).join('\n'), /SMTP_TLS_CA, SMTP_TLS_CERT, SMTP_TLS_KEY need SMTP_URL/);
  const scratch = mkdtempSync(path.join(certs.dir, 'bad-'));
  const notPem = path.join(scratch, 'not.pem');
  writeFileSync(notPem, 'not a certificate');
  assert.match(configProblems({ ...url, SMTP_TLS_CA: notPem }).join('\n'), /SMTP_TLS_CA: .*not\.pem holds no PEM certificate/);
  const mismatch = configProblems({ ...url, SMTP_TLS_CERT: file('app.crt'), SMTP_TLS_KEY: file('rogue.key') }).join('\n');
  assert.match(mismatch, /SMTP_TLS_CERT and SMTP_TLS_KEY do not make a TLS client certificate/);
  assert.ok(!mismatch.includes(readFileSync(file('rogue.key'), 'utf8').split('\n')[1]!), 'no line of the key');
  assert.match(
    configProblems({ ...url, SMTP_TLS_CERT: path.join(scratch, 'missing.crt'), SMTP_TLS_KEY: file('app.key') }).join('\n'),
    /SMTP_TLS_CERT: cannot read .*missing\.crt \(ENOENT\)/,
  );
});
