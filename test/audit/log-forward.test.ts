// Forwarding the JSON log to a SIEM (AUDIT-2, LOG_DESTINATION): RFC 5424 messages framed by octet
// counting (RFC 6587) over TCP and TLS, to real receivers started here. A collector that is down or
// that never reads must not block nor crash the server: a bounded queue, reconnection, drops counted
// and reported. Bug classes: log forwarding as a denial of service; logs to an unverified collector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createLogger } from '../../src/logger.js';
import { FACILITIES, SyslogStream, frame, openLogDestination, parseLogDestination, severityOf } from '../../src/log-forward.js';
import { loadConfig } from '../../src/app-config.js';
import { createServices, ensureRootUser } from '../../src/services.js';
import { buildApp } from '../../src/http/app.js';
import { configProblems, DIALECT, PG_URL, ROOT } from '../helpers/app.js';
import { certDir, issueClientTestSet } from '../helpers/certs.js';
import { CLI_ENTRY, freePort } from '../helpers/cli.js';
import { spawn, type ChildProcess } from 'node:child_process';

interface Syslog {
  pri: number;
  version: string;
  timestamp: string;
  hostname: string;
  app: string;
  procId: string;
  msgId: string;
  sd: string;
  msg: string;
}

/** Splits an octet-counted stream into messages; throws when a count does not match its message. */
function parseFrames(buf: Buffer): { messages: Syslog[]; rest: Buffer } {
  const messages: Syslog[] = [];
  let at = 0;
  while (at < buf.length) {
    const sp = buf.indexOf(0x20, at);
    if (sp === -1) break;
    const lenText = buf.subarray(at, sp).toString('ascii');
    assert.match(lenText, /^[1-9]\d*$/, 'MSG-LEN is a positive number');
    const len = Number(lenText);
    if (sp + 1 + len > buf.length) break;
    const text = buf.subarray(sp + 1, sp + 1 + len).toString('utf8');
    const m = /^<(\d{1,3})>(1) (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) (.*)$/s.exec(text);
    assert.ok(m, `an RFC 5424 message: ${text.slice(0, 120)}`);
    messages.push({ pri: Number(m[1]), version: m[2]!, timestamp: m[3]!, hostname: m[4]!, app: m[5]!, procId: m[6]!, msgId: m[7]!, sd: m[8]!, msg: m[9]! });
    at = sp + 1 + len;
  }
  return { messages, rest: buf.subarray(at) };
}

interface Receiver {
  port: number;
  messages: Syslog[];
  sockets: Set<Socket>;
  handshakeErrors: number;
  close(): Promise<void>;
}

/** A syslog collector on a spare port: plain TCP, TLS with the given key and certificate, or one that never reads. */
async function receiver(o: { tls?: { key: Buffer; cert: Buffer; clientCa?: string }; port?: number; neverRead?: boolean } = {}): Promise<Receiver> {
  const r: Receiver = { port: 0, messages: [], sockets: new Set(), handshakeErrors: 0, close: async () => undefined };
  const onSocket = (sock: Socket) => {
    r.sockets.add(sock);
    sock.on('close', () => r.sockets.delete(sock));
    sock.on('error', () => undefined);
    if (o.neverRead) {
      sock.pause();
      return;
    }
    let pending = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      const { messages, rest } = parseFrames(Buffer.concat([pending, d]));
      r.messages.push(...messages);
      pending = rest;
    });
  };
  // With `clientCa`: a collector that admits only senders with a certificate of that CA (RFC 5425 mutual authentication).
  const clientAuth = o.tls?.clientCa ? { requestCert: true, rejectUnauthorized: true, ca: o.tls.clientCa } : {};
  const server: Server = o.tls ? createTlsServer({ key: o.tls.key, cert: o.tls.cert, ...clientAuth }, onSocket) : createServer(onSocket);
  server.on('tlsClientError', () => r.handshakeErrors++);
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, '127.0.0.1', resolve));
  r.port = (server.address() as { port: number }).port;
  r.close = () =>
    new Promise<void>((resolve) => {
      for (const s of r.sockets) s.destroy();
      server.close(() => resolve());
    });
  return r;
}

async function waitFor(what: string, pred: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const json = (m: Syslog) => JSON.parse(m.msg) as Record<string, any>;

test('frame: octet count in bytes, PRI from facility and pino level, APP-NAME palisade, the JSON line as MSG [ASVS V16.2.2, V16.2.4, V16.4.1]', () => {
  const line = `${JSON.stringify({ level: 50, time: Date.UTC(2026, 0, 2, 3, 4, 5, 6), msg: 'naïve € failure' })}\n`;
  const buf = frame(line, { facility: FACILITIES.local0!, hostname: 'web 1\n', appName: 'palisade', procId: '42' });
  const { messages, rest } = parseFrames(buf);
  assert.equal(rest.length, 0, 'the count covers the message exactly, multi-byte characters included');
  const [m] = messages;
  assert.equal(m!.pri, 16 * 8 + 3, 'local0.err');
  assert.equal(m!.timestamp, '2026-01-02T03:04:05.006Z');
  assert.equal(m!.hostname, 'web1', 'header fields hold printable ASCII only');
  assert.equal(m!.app, 'palisade');
  assert.equal(m!.procId, '42');
  assert.equal(json(m!).msg, 'naïve € failure');
  assert.deepEqual([60, 50, 40, 30, 20, 10].map(severityOf), [2, 3, 4, 6, 7, 7]);
  assert.deepEqual(parseLogDestination('syslog+tls://logs.example.org:6514'), { kind: 'syslog', tls: true, host: 'logs.example.org', port: 6514 });
  assert.equal(typeof parseLogDestination('syslog+udp://h:514'), 'string', 'UDP (lossy, unauthenticated) is not offered');
});

test('file: JSON lines appended to a private file, reopened after rotation [ASVS V16.2.3, V16.4.2]', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-logfile-'));
  try {
    const file = path.join(dir, 'sub', 'palisade.log');
    const d = openLogDestination({ kind: 'file', path: file });
    const log = createLogger('info', d.stream as never);
    log.info({ event: 'test.file' }, 'one');
    await new Promise((r) => setTimeout(r, 100));
    renameSync(file, `${file}.1`); // logrotate moves it, then sends SIGHUP
    d.reopen();
    await new Promise((r) => setTimeout(r, 100)); // lines written during the reopen may land in either file
    log.info({ event: 'test.file' }, 'two');
    await d.close();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(JSON.parse(readFileSync(`${file}.1`, 'utf8')).msg, 'one');
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).msg, 'two');
    assert.equal(statSync(file).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TCP: the logger forwards framed JSON lines, redaction included, to a real receiver [ASVS V16.2.4, V16.2.5]', async () => {
  const r = await receiver();
  const stream = new SyslogStream({ host: '127.0.0.1', port: r.port, tls: false, report: () => undefined });
  try {
    const log = createLogger('info', stream);
    log.info({ event: 'test.one', body: { password: 'Hunter-2-secret' } }, 'first');
    log.error({ event: 'test.two' }, 'second');
    log.debug('below the level');
    await waitFor('two messages', () => r.messages.length >= 2);
    const [a, b] = r.messages;
    assert.equal(a!.pri, 16 * 8 + 6, 'local0.info');
    assert.equal(b!.pri, 16 * 8 + 3, 'local0.err');
    assert.equal(a!.app, 'palisade');
    assert.equal(a!.procId, String(process.pid));
    assert.equal(json(a!).event, 'test.one');
    assert.equal(json(a!).body.password, '[redacted]');
    assert.equal(json(b!).msg, 'second');
    assert.equal(r.messages.length, 2);
    assert.equal(stream.stats().sent, 2);
  } finally {
    await stream.close();
    await r.close();
  }
});

test('TLS: the collector certificate is verified: accepted with LOG_SYSLOG_CA_FILE, refused without [ASVS V16.3.4, V16.4.3, V12.3.1, V12.3.2, V12.3.4]', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const tls = { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) };
    const r = await receiver({ tls });
    // The legitimate collector, its CA given: messages arrive and parse.
    const ok = new SyslogStream({
      host: '127.0.0.1',
      port: r.port,
      tls: true,
      caFile: path.join(dir, 'cert.pem'),
      facility: FACILITIES.auth,
      report: () => undefined,
    });
    const log = createLogger('info', ok);
    log.warn({ event: 'test.tls' }, 'over tls');
    await waitFor('the TLS message', () => r.messages.length >= 1);
    assert.equal(r.messages[0]!.pri, 4 * 8 + 4, 'auth.warning');
    assert.equal(json(r.messages[0]!).event, 'test.tls');
    await ok.close();
    // A certificate no trusted CA signed (an impostor, or no CA configured): nothing is sent.
    const said: string[] = [];
    const refused = new SyslogStream({ host: '127.0.0.1', port: r.port, tls: true, report: (m) => said.push(m), backoffMinMs: 50, backoffMaxMs: 100 });
    createLogger('info', refused).info({ event: 'test.secret' }, 'must not reach an unverified peer');
    await waitFor('a refused handshake', () => r.handshakeErrors >= 1);
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(r.messages.length, 1, 'nothing more arrived');
    assert.equal(refused.stats().connected, false);
    assert.equal(refused.stats().sent, 0);
    assert.ok(
      said.some((m) => /failed/.test(m)),
      'the failure is reported on stderr',
    );
    await refused.close();
    await r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("TLS with client certificates: a collector that admits only its CA's senders receives Palisade's lines with LOG_SYSLOG_CERT_FILE, and none without or with another CA's [ASVS V13.2.1]", async () => {
  const certs = certDir('palisade-syslog-certs-');
  try {
    issueClientTestSet(certs, 'collector', 'palisade-logs');
    const r = await receiver({
      tls: { key: readFileSync(certs.file('collector.key')), cert: readFileSync(certs.file('collector.crt')), clientCa: certs.readPem('ca.crt') },
    });
    const stream = (cert: string | null) =>
      new SyslogStream({
        host: '127.0.0.1',
        port: r.port,
        tls: true,
        caFile: certs.file('ca.crt'),
        clientCert: cert === null ? null : { cert: certs.readPem(`${cert}.crt`), key: certs.readPem(`${cert}.key`) },
        report: () => undefined,
        backoffMinMs: 50,
        backoffMaxMs: 100,
      });
    // The configuration as the server reads it: both files, checked; syslog+tls only.
    const env = { APP_KEY: 'YtVyPMwVz4BU1_dtN2pejrg7moSkrWrUlN3bL8IR', DATA_DIR: certs.dir, LOG_DESTINATION: `syslog+tls://127.0.0.1:${r.port}` };
    const { config } = loadConfig({ ...env, LOG_SYSLOG_CERT_FILE: certs.file('app.crt'), LOG_SYSLOG_KEY_FILE: certs.file('app.key') }, { generateKey: false });
    assert.deepEqual(config.logging.syslogClientCert, { cert: certs.readPem('app.crt'), key: certs.readPem('app.key') });
    assert.match(
      configProblems({ LOG_SYSLOG_CERT_FILE: certs.file('app.crt'), LOG_SYSLOG_KEY_FILE: certs.file('app.key') }).join('\n'),
      /need LOG_DESTINATION=syslog\+tls/,
    );
    assert.match(
      configProblems({ ...env, LOG_SYSLOG_CERT_FILE: certs.file('app.crt') }).join('\n'),
      /LOG_SYSLOG_CERT_FILE and LOG_SYSLOG_KEY_FILE are set together/,
    );

    const good = stream('app');
    createLogger('info', good).info({ event: 'test.mtls' }, 'with a certificate');
    await waitFor('the line sent with a certificate', () => r.messages.length >= 1);
    assert.equal(json(r.messages[0]!).event, 'test.mtls');
    await good.close();
    for (const cert of [null, 'rogue']) {
      const before = r.handshakeErrors;
      const s = stream(cert);
      createLogger('info', s).info({ event: 'test.refused' }, 'must not be admitted');
      await waitFor(`the collector refusing ${cert ?? 'no certificate'}`, () => r.handshakeErrors > before);
      await new Promise((res) => setTimeout(res, 200));
      // (In TLS 1.3 the sender's handshake ends before the collector has judged its certificate: the line may leave
      // the sender, never reaching the collector's reader.)
      assert.equal(r.messages.length, 1, `${cert ?? 'no certificate'}: nothing received`);
      await s.close();
    }
    assert.equal(r.messages.length, 1, 'only the certified sender got through');
    await r.close();
  } finally {
    certs.remove();
  }
});

test('a collector that is down: writes never block, the queue is bounded, drops are counted, then reported after reconnecting', async () => {
  const port = await freePort();
  const said: string[] = [];
  const stream = new SyslogStream({ host: '127.0.0.1', port, tls: false, queueMax: 100, backoffMinMs: 20, backoffMaxMs: 100, report: (m) => said.push(m) });
  const log = createLogger('info', stream);
  let r: Receiver | undefined;
  try {
    const t0 = performance.now();
    for (let i = 0; i < 5000; i++) log.info({ event: 'test.flood', i }, 'while down');
    assert.ok(performance.now() - t0 < 2000, 'logging did not wait for the collector');
    const st = stream.stats();
    assert.equal(st.connected, false);
    assert.equal(st.queued, 100, 'the queue holds at most LOG_QUEUE_MAX lines');
    assert.equal(st.dropped, 4900);
    r = await receiver({ port });
    await waitFor('the queued lines and the drop report', () => r!.messages.some((m) => json(m).event === 'log.dropped'));
    const first = r.messages.filter((m) => json(m).event === 'test.flood');
    assert.deepEqual(
      first.map((m) => json(m).i),
      Array.from({ length: 100 }, (_, i) => i),
      'the first lines were kept, in order',
    );
    const report = r.messages.find((m) => json(m).event === 'log.dropped')!;
    assert.equal(json(report).dropped, 4900);
    assert.equal(report.pri, 16 * 8 + 4, 'reported as a warning');
    assert.ok(said.some((m) => /dropped 4900/.test(m)));
    log.info({ event: 'test.after' }, 'after');
    await waitFor('a line after the reconnection', () => r!.messages.some((m) => json(m).event === 'test.after'));
  } finally {
    await stream.close(500);
    await r?.close();
  }
});

test('a collector that accepts but never reads: writes never block, lines are dropped and counted, the stalled connection is dropped', async () => {
  const r = await receiver({ neverRead: true });
  const said: string[] = [];
  const stream = new SyslogStream({ host: '127.0.0.1', port: r.port, tls: false, queueMax: 100, stallMs: 300, backoffMinMs: 50, report: (m) => said.push(m) });
  try {
    await waitFor('the connection', () => stream.stats().connected);
    const log = createLogger('info', stream);
    const big = 'x'.repeat(4096);
    const t0 = performance.now();
    for (let i = 0; i < 8000; i++) log.info({ event: 'test.flood', i, big }, 'into a collector that does not read');
    assert.ok(performance.now() - t0 < 5000, 'logging did not wait for the collector');
    const st = stream.stats();
    assert.ok(st.dropped > 0, 'lines were dropped once the socket and the queue were full');
    assert.ok(st.queued <= 100);
    await waitFor('the stall to be noticed', () => said.some((m) => /stalled/.test(m)), 3000);
  } finally {
    await stream.close(200);
    await r.close();
  }
});

/** In-process services and app whose log goes to `stream` (the dialect under test). */
async function appWithLog(stream: SyslogStream) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-fwd-'));
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const { config } = loadConfig(
    {
      DATA_DIR: dataDir,
      APP_KEY: randomBytes(32).toString('base64url'),
      INIT_ROOT_PASSWORD: ROOT.password,
      ...(DIALECT === 'postgres' ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema } : {}),
    },
    { generateKey: false },
  );
  const s = await createServices({ config, logStream: stream });
  await ensureRootUser(s);
  const app = await buildApp(s);
  await app.ready();
  return {
    app,
    async close() {
      await app.close();
      await s.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (DIALECT === 'postgres') {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
    },
  };
}

test('the server keeps answering while its collector accepts but never reads [ASVS V16.5.2]', async () => {
  const r = await receiver({ neverRead: true });
  const stream = new SyslogStream({ host: '127.0.0.1', port: r.port, tls: false, queueMax: 100, report: () => undefined });
  const a = await appWithLog(stream);
  try {
    await waitFor('the connection', () => stream.stats().connected);
    // Fill the socket's buffers and the queue, as a burst of logging would.
    const big = `${JSON.stringify({ level: 30, time: Date.now(), msg: 'x'.repeat(8192) })}\n`;
    for (let i = 0; i < 4000; i++) stream.write(big);
    assert.ok(stream.stats().dropped > 0, 'the queue is full');
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) {
      const res = await a.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(res.statusCode, 200);
    }
    const login = await a.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password } });
    assert.equal(login.statusCode, 200, 'the server does its work');
    assert.ok(performance.now() - t0 < 10_000);
  } finally {
    await a.close();
    await r.close();
  }
});

/**
 * `palisade start` with its log going elsewhere: ready once it says so on stderr (test/helpers/cli.ts
 * waits for Fastify's listening line, which now goes to the collector).
 */
function startCli(env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string; stop: () => Promise<void> }> {
  const root = path.resolve(import.meta.dirname, '../..');
  const child = spawn(process.execPath, [...CLI_ENTRY, 'start'], {
    env: { PATH: process.env.PATH, ...env },
    cwd: root,
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${out}`));
    }, 20_000);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('palisade: ready')) {
        clearTimeout(timer);
        resolve({
          child,
          output: () => out,
          stop: () =>
            new Promise((r) => {
              child.once('close', () => r());
              child.kill('SIGTERM');
            }),
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited ${code}: ${out}`));
    });
  });
}

test('palisade start with its collector down answers requests; once the collector is up the lines arrive', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-fwd-cli-'));
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const port = await freePort();
  const syslogPort = await freePort();
  let r: Receiver | undefined;
  const srv = await startCli({
    DATA_DIR: dataDir,
    APP_KEY: randomBytes(32).toString('base64url'),
    PORT: String(port),
    INIT_ROOT_PASSWORD: ROOT.password,
    LOG_DESTINATION: `syslog+tcp://127.0.0.1:${syslogPort}`,
    ...(DIALECT === 'postgres' ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema } : {}),
  });
  try {
    // Connection refused: the server serves all the same.
    for (let i = 0; i < 20; i++) assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    r = await receiver({ port: syslogPort });
    await waitFor('the queued start line', () => r!.messages.some((m) => json(m).event === 'system.start'), 15_000);
    await waitFor('request lines', () => r!.messages.filter((m) => json(m).event === 'http.request').length >= 20, 5000);
    const reqLine = json(r.messages.find((m) => json(m).event === 'http.request')!);
    assert.equal(reqLine.route, '/healthz');
    assert.ok(srv.output().includes('log forwarding'), 'the outage was said on stderr');
    await srv.stop();
    await waitFor('the stop line', () => r!.messages.some((m) => json(m).event === 'system.stop'), 5000);
  } finally {
    srv.child.kill('SIGKILL');
    await r?.close();
    rmSync(dataDir, { recursive: true, force: true });
    if (DIALECT === 'postgres') {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }
});
