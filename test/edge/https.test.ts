import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate, randomBytes } from 'node:crypto';
import { ROOT, configProblems, makeApp, type TestApp } from '../helpers/app.js';
import { listen, rawRequest } from '../helpers/raw-http.js';
import { freePort, startServer } from '../helpers/cli.js';
import type { Env } from '../../src/app-config.js';

const PUBLIC = 'https://palisade.example.test';
const dir = mkdtempSync(path.join(tmpdir(), 'palisade-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed RSA certificate for localhost and 127.0.0.1, made by openssl. */
function makeCert(name: string, alg = 'rsa:2048'): { cert: string; key: string; pem: string; fingerprint: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      alg,
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const pem = readFileSync(cert, 'utf8');
  return { cert, key, pem, fingerprint: new X509Certificate(pem).fingerprint256 };
}

const problemsOf = configProblems;

async function withApp(env: Env, fn: (t: TestApp) => Promise<void>): Promise<void> {
  const t = await makeApp({ env });
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

// Behind a proxy that terminates TLS (10.0.0.0/8): a request from anywhere else, or from the proxy without its
// word for HTTPS, is plain HTTP. FORCE_HTTPS is on by default once PUBLIC_URL is https:// and HTTPS can be told.
const BEHIND_PROXY = { PUBLIC_URL: PUBLIC, TRUSTED_PROXIES: '10.0.0.0/8' };

test('forced HTTPS: a plain-HTTP page is redirected to PUBLIC_URL with its path and query (unsafe methods get 308), the API is refused, not redirected; probes stay [ASVS V12.2.1, V4.1.2]', async () => {
  await withApp(BEHIND_PROXY, async (t) => {
    // The API answers HTTPS_REQUIRED, with no Location (D384): a client that sends its requests in plain learns it.
    const get = await t.app.inject({ method: 'GET', url: '/api/auth/me?a=1&b=two%20words&b=3' });
    assert.equal(get.statusCode, 403);
    assert.equal(get.json().error.code, 'HTTPS_REQUIRED');
    assert.equal(get.headers.location, undefined);
    assert.equal(get.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
    const post = await t.app.inject({ method: 'POST', url: '/api/auth/login?next=%2Fadmin', payload: { username: 'root', password: 'x' } });
    assert.equal(post.json().error.code, 'HTTPS_REQUIRED');
    assert.equal(post.headers.location, undefined);
    for (const m of ['PUT', 'PATCH', 'DELETE'] as const)
      assert.equal((await t.app.inject({ method: m, url: '/api/collections/x/records/1' })).json().error.code, 'HTTPS_REQUIRED');
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/no-such-route' })).json().error.code, 'HTTPS_REQUIRED', 'an unknown API path too');
    // What a browser opens is redirected: the admin UI, single sign-on and signed download links.
    const page = await t.app.inject({ method: 'GET', url: '/admin/users?tab=2' });
    assert.equal(page.statusCode, 301);
    assert.equal(page.headers.location, `${PUBLIC}/admin/users?tab=2`);
    assert.equal(page.body, '');
    const sso = await t.app.inject({ method: 'GET', url: '/api/auth/sso/corp/start' });
    assert.equal(sso.statusCode, 301);
    assert.equal(sso.headers.location, `${PUBLIC}/api/auth/sso/corp/start`);
    const acs = await t.app.inject({
      method: 'POST',
      url: '/api/auth/sso/corp/acs',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'SAMLResponse=x',
    });
    assert.equal(acs.statusCode, 308, 'an unsafe method keeps its method and body');
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/sso/corp/saml/metadata' })).statusCode, 301);
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/files/signed/abc' })).statusCode, 301);
    // The single sign-on routes a client posts credentials or tokens to are API routes: refused, never carried along.
    for (const url of ['/api/auth/sso/corp/login', '/api/auth/sso/corp/link']) {
      const r = await t.app.inject({ method: 'POST', url, payload: { username: 'u', password: 'Plain-text-pass-1' } });
      assert.equal(r.statusCode, 403, url);
      assert.equal(r.json().error.code, 'HTTPS_REQUIRED', url);
      assert.equal(r.headers.location, undefined, url);
    }
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/sso/links' })).json().error.code, 'HTTPS_REQUIRED');
    // Health probes answer over plain HTTP (a load balancer's check).
    assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.equal((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  });
});

test('forced HTTPS: an absolute-form or odd request target cannot move the redirect off PUBLIC_URL', async () => {
  await withApp(BEHIND_PROXY, async (t) => {
    const port = await listen(t.app);
    const abs = await rawRequest(port, 'GET', 'http://evil.example/steal?x=1', { host: 'evil.example' });
    assert.equal(abs.status, 301);
    assert.equal(abs.headers.location, `${PUBLIC}/steal?x=1`);
    const slashes = await rawRequest(port, 'GET', '//evil.example/x', { host: 'evil.example' });
    assert.equal(slashes.status, 301);
    assert.ok(slashes.headers.location!.startsWith(`${PUBLIC}/`), slashes.headers.location);
    assert.equal(new URL(slashes.headers.location!).origin, PUBLIC);
    const hostOnly = await rawRequest(port, 'GET', '/admin/users', { host: 'evil.example', 'x-forwarded-host': 'evil.example' });
    assert.equal(new URL(hostOnly.headers.location!).origin, PUBLIC);
  });
});

test('HTTPS through a proxy: believed from a trusted proxy only, and only its own (last) value [ASVS V4.1.3]', async () => {
  await withApp(BEHIND_PROXY, async (t) => {
    const host = 'palisade.example.test';
    const proxied = await t.app.inject({ method: 'GET', url: '/api/auth/me', remoteAddress: '10.1.2.3', headers: { host, 'x-forwarded-proto': 'https' } });
    assert.equal(proxied.statusCode, 401, 'served, not redirected');
    assert.equal(proxied.headers['strict-transport-security'], 'max-age=31536000');
    // HSTS only for PUBLIC_URL's host: another name reaching the server is not pinned.
    const other = await t.app.inject({
      method: 'GET',
      url: '/api/auth/me',
      remoteAddress: '10.1.2.3',
      headers: { host: 'intranet.example.test', 'x-forwarded-proto': 'https' },
    });
    assert.equal(other.headers['strict-transport-security'], undefined);
    // An answer the router writes itself (a malformed URL) is judged the same, from the connection.
    const badUrl = await t.app.inject({
      method: 'GET',
      url: '/api/admin/users/%E0%A4%A',
      remoteAddress: '10.1.2.3',
      headers: { host, 'x-forwarded-proto': 'https' },
    });
    assert.equal(badUrl.statusCode, 400);
    assert.equal(badUrl.headers['strict-transport-security'], 'max-age=31536000');
    const badUrlPlain = await t.app.inject({
      method: 'GET',
      url: '/api/admin/users/%E0%A4%A',
      remoteAddress: '10.1.2.3',
      headers: { host, 'x-forwarded-proto': 'http' },
    });
    assert.equal(badUrlPlain.headers['strict-transport-security'], undefined);
    // A client that is not a trusted proxy cannot claim HTTPS.
    const spoof = await t.app.inject({ method: 'GET', url: '/api/auth/me', remoteAddress: '203.0.113.9', headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(spoof.statusCode, 403, 'judged plain HTTP: HTTPS_REQUIRED');
    assert.equal(spoof.headers['strict-transport-security'], undefined);
    // The client's own value comes first; the proxy's (http) is the last and counts.
    const chained = await t.app.inject({ method: 'GET', url: '/api/auth/me', remoteAddress: '10.1.2.3', headers: { 'x-forwarded-proto': 'https, http' } });
    assert.equal(chained.statusCode, 403);
    const plain = await t.app.inject({ method: 'GET', url: '/api/auth/me', remoteAddress: '10.1.2.3', headers: { 'x-forwarded-proto': 'http' } });
    assert.equal(plain.statusCode, 403);
    // A trusted proxy that says nothing: served (a redirect would loop), said once in the log.
    const silent = await t.app.inject({ method: 'GET', url: '/api/auth/me', remoteAddress: '10.1.2.3' });
    assert.equal(silent.statusCode, 401);
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', remoteAddress: '10.1.2.3' })).statusCode, 401);
    assert.equal(t.logs.filter((l) => l.includes('"event":"https.proto_missing"')).length, 1);
  });
  // With CLIENT_IP_HEADER=forwarded, the proto of Forwarded's last element.
  await withApp({ PUBLIC_URL: PUBLIC, TRUSTED_PROXIES: '10.0.0.0/8', CLIENT_IP_HEADER: 'forwarded' }, async (t) => {
    const ok = await t.app.inject({ method: 'GET', url: '/api/auth/me', remoteAddress: '10.1.2.3', headers: { forwarded: 'for=198.51.100.7;proto=https' } });
    assert.equal(ok.statusCode, 401);
    const spoofed = await t.app.inject({
      method: 'GET',
      url: '/api/auth/me',
      remoteAddress: '10.1.2.3',
      headers: { forwarded: 'for=1.2.3.4;proto=https, for=198.51.100.7;proto=http', 'x-forwarded-proto': 'https' },
    });
    assert.equal(spoofed.statusCode, 403);
  });
});

test('HSTS options, FORCE_HTTPS=false, and no redirect without an https PUBLIC_URL [ASVS V3.4.1]', async () => {
  await withApp(
    { PUBLIC_URL: PUBLIC, TRUSTED_PROXIES: '10.0.0.0/8', HSTS_MAX_AGE: '730d', HSTS_INCLUDE_SUBDOMAINS: 'true', HSTS_PRELOAD: 'true' },
    async (t) => {
      const r = await t.app.inject({
        method: 'GET',
        url: '/healthz',
        remoteAddress: '10.0.0.1',
        headers: { host: 'palisade.example.test', 'x-forwarded-proto': 'https' },
      });
      assert.equal(r.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains; preload');
    },
  );
  // HSTS_MAX_AGE=0 withdraws the policy (RFC 6797 6.1.1).
  await withApp({ ...BEHIND_PROXY, HSTS_MAX_AGE: '0' }, async (t) => {
    const r = await t.app.inject({
      method: 'GET',
      url: '/healthz',
      remoteAddress: '10.0.0.1',
      headers: { host: 'palisade.example.test', 'x-forwarded-proto': 'https' },
    });
    assert.equal(r.headers['strict-transport-security'], 'max-age=0');
  });
  await withApp({ ...BEHIND_PROXY, FORCE_HTTPS: 'false' }, async (t) => {
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me' })).statusCode, 401);
  });
  // PUBLIC_URL https:// alone (no proxy named, no TLS): nothing can be seen as HTTPS, so nothing is forced.
  await withApp({ PUBLIC_URL: PUBLIC }, async (t) => {
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me' })).statusCode, 401);
  });
  await withApp({}, async (t) => {
    const r = await t.app.inject({ method: 'GET', url: '/api/auth/me' });
    assert.equal(r.statusCode, 401, 'the local default serves plain HTTP');
    assert.equal(r.headers['strict-transport-security'], undefined);
  });
});

test('HTTPS configuration is checked at boot [ASVS V3.4.1, V12.1.2, V2.2.3]', () => {
  const a = makeCert('cfg-a');
  const b = makeCert('cfg-b');
  assert.deepEqual(problemsOf({ TLS_CERT_FILE: a.cert, TLS_KEY_FILE: a.key, PUBLIC_URL: PUBLIC }), []);
  assert.match(problemsOf({ TLS_CERT_FILE: a.cert }).join('\n'), /TLS_CERT_FILE and TLS_KEY_FILE are set together/);
  assert.match(problemsOf({ TLS_CERT_FILE: a.cert, TLS_KEY_FILE: path.join(dir, 'missing.key') }).join('\n'), /TLS_KEY_FILE: cannot read/);
  const mismatch = problemsOf({ TLS_CERT_FILE: a.cert, TLS_KEY_FILE: b.key }).join('\n');
  assert.match(mismatch, /do not make a TLS context/);
  assert.ok(!mismatch.includes('PRIVATE KEY'), 'the key is never quoted');
  assert.match(problemsOf({ TLS_CERT_FILE: a.key, TLS_KEY_FILE: a.key }).join('\n'), /do not make a TLS context/);
  assert.match(problemsOf({ FORCE_HTTPS: 'true' }).join('\n'), /FORCE_HTTPS needs PUBLIC_URL to be an https:\/\/ URL/);
  assert.match(problemsOf({ FORCE_HTTPS: 'true', PUBLIC_URL: PUBLIC }).join('\n'), /FORCE_HTTPS needs TLS_CERT_FILE and TLS_KEY_FILE, or TRUSTED_PROXIES/);
  assert.deepEqual(problemsOf({ FORCE_HTTPS: 'true', PUBLIC_URL: PUBLIC, TRUSTED_PROXIES: '10.0.0.1' }), []);
  // An empty list (a template's empty variable) names no proxy.
  assert.match(problemsOf({ FORCE_HTTPS: 'true', PUBLIC_URL: PUBLIC, TRUSTED_PROXIES: ' , ' }).join('\n'), /FORCE_HTTPS needs TLS_CERT_FILE/);
  // Keys under OpenSSL's security level 2 are refused.
  const weak = makeCert('cfg-weak', 'rsa:1024');
  assert.match(problemsOf({ TLS_CERT_FILE: weak.cert, TLS_KEY_FILE: weak.key }).join('\n'), /do not make a TLS context/);
  assert.match(problemsOf({ FORCE_HTTPS: 'true', PUBLIC_URL: 'http://palisade.example.test' }).join('\n'), /FORCE_HTTPS needs PUBLIC_URL/);
  assert.match(problemsOf({ PUBLIC_URL: PUBLIC, HSTS_PRELOAD: 'true' }).join('\n'), /HSTS_PRELOAD needs HSTS_INCLUDE_SUBDOMAINS=true/);
  assert.match(problemsOf({ PUBLIC_URL: PUBLIC, HSTS_PRELOAD: 'true', HSTS_INCLUDE_SUBDOMAINS: 'true', HSTS_MAX_AGE: '30d' }).join('\n'), /at least one year/);
  assert.match(problemsOf({ HSTS_MAX_AGE: 'forever' }).join('\n'), /HSTS_MAX_AGE must be a duration/);
});

/** One HTTPS GET; the certificate the server presented and the TLS socket used. */
function get(
  port: number,
  ca: string[],
  agent: https.Agent | false,
  host = 'palisade.example.test',
): Promise<{ status: number; headers: Record<string, unknown>; fingerprint: string; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/healthz', ca, servername: 'localhost', agent, headers: { host } }, (res) => {
      const socket = res.socket as tls.TLSSocket;
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, fingerprint, socket }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}

/** Whether a TLS handshake with these client options succeeds. */
function handshake(port: number, ca: string[], o: tls.ConnectionOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...o }, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(10_000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

test('built-in TLS: TLS 1.2 at least with AEAD suites, HSTS on its answers; the certificate is reloaded when its files change, open connections kept [ASVS V16.3.4, V3.4.1, V12.1.1, V12.1.2, V12.2.1]', async () => {
  const a = makeCert('tls-a');
  const b = makeCert('tls-b');
  const live = { cert: path.join(dir, 'live.crt'), key: path.join(dir, 'live.key') };
  writeFileSync(live.cert, readFileSync(a.cert));
  writeFileSync(live.key, readFileSync(a.key));
  await withApp({ TLS_CERT_FILE: live.cert, TLS_KEY_FILE: live.key, PUBLIC_URL: PUBLIC }, async (t) => {
    const port = await listen(t.app);
    const ca = [a.pem, b.pem];
    const first = await get(port, ca, false);
    assert.equal(first.status, 200);
    assert.equal(first.fingerprint, a.fingerprint);
    assert.equal(first.headers['strict-transport-security'], 'max-age=31536000');
    assert.equal((await get(port, ca, false, 'localhost')).headers['strict-transport-security'], undefined, 'not for another host name');
    // Old protocols and CBC suites are refused; a modern TLS 1.2 client gets through.
    assert.equal(await handshake(port, ca, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }), false);
    assert.equal(await handshake(port, ca, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA' }), false);
    assert.equal(await handshake(port, ca, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }), true);
    assert.equal(await handshake(port, ca, { minVersion: 'TLSv1.3' }), true);

    // A keep-alive connection opened before the renewal.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await get(port, ca, agent);
    assert.equal(before.fingerprint, a.fingerprint);
    // Renewal: both files replaced by rename, as certbot and friends do.
    writeFileSync(`${live.cert}.new`, readFileSync(b.cert));
    writeFileSync(`${live.key}.new`, readFileSync(b.key));
    renameSync(`${live.key}.new`, live.key);
    renameSync(`${live.cert}.new`, live.cert);
    let now = '';
    for (let i = 0; i < 100 && now !== b.fingerprint; i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = (await get(port, ca, false)).fingerprint;
    }
    assert.equal(now, b.fingerprint, 'new connections get the renewed certificate');
    const kept = await get(port, ca, agent);
    assert.equal(kept.socket, before.socket, 'the open connection was not dropped');
    assert.equal(kept.status, 200);
    agent.destroy();
    assert.ok(t.logs.some((l) => l.includes('"event":"tls.reloaded"')));

    // A broken renewal (key of another certificate) is refused and the current pair stays.
    writeFileSync(live.key, readFileSync(a.key));
    for (let i = 0; i < 60 && !t.logs.some((l) => l.includes('"event":"tls.reload_failed"')); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(t.logs.some((l) => l.includes('"event":"tls.reload_failed"')));
    assert.ok(!t.logs.some((l) => l.includes('PRIVATE KEY')), 'no key material in the log');
    assert.equal((await get(port, ca, false)).fingerprint, b.fingerprint);
    // SIGHUP's path: an explicit reload reads the files again (still the broken pair: refused).
    assert.equal(t.app.reloadTls?.(), false);
    writeFileSync(live.key, readFileSync(b.key));
    assert.equal(t.app.reloadTls?.(), true);
  });
});

/** One request over TLS as written (bytes as they are), SNI `servername`; the raw answer text once the server closes. */
function tlsRaw(port: number, ca: string[], servername: string, bytes: string, pause?: () => Promise<string>): Promise<string> {
  return new Promise((resolve, reject) => {
    // The certificate names localhost: the SNI asked for here may be another name, what the server reads.
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername, checkServerIdentity: () => undefined }, async () => {
      if (pause === undefined) return s.write(bytes);
      const [head, tail] = bytes.split('\u0000');
      s.write(head!);
      s.write(await pause());
      s.write(tail!);
    });
    let text = '';
    s.on('data', (c) => {
      text += String(c);
    });
    s.on('error', () => undefined);
    s.setTimeout(10_000, () => s.destroy(new Error('timeout')));
    s.on('close', () => (text ? resolve(text) : reject(new Error('no answer'))));
  });
}

/** One HTTPS request with a body; the status, headers and body. */
function send(
  port: number,
  ca: string[],
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, method, path: target, ca, servername: 'localhost', agent: false, headers: { host: 'palisade.example.test', ...headers } },
      (res) => {
        let text = '';
        res.on('data', (c) => {
          text += String(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

const HSTS = 'max-age=31536000';
const headerOf = (raw: string, name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(raw.slice(0, raw.indexOf('\r\n\r\n')))?.[1];

test('built-in TLS: every answer carries HSTS, the error answers too: malformed JSON, an unknown route, an oversize body, and those the router and Node write themselves [ASVS V3.4.1]', async () => {
  const c = makeCert('tls-errors');
  await withApp({ TLS_CERT_FILE: c.cert, TLS_KEY_FILE: c.key, PUBLIC_URL: PUBLIC, BODY_LIMIT: '4096' }, async (t) => {
    const port = await listen(t.app);
    const ca = [c.pem];
    const json = { 'content-type': 'application/json' };
    const signedIn = await send(port, ca, 'POST', '/api/auth/login', json, JSON.stringify({ username: ROOT.username, password: ROOT.password }));
    assert.equal(signedIn.status, 200, signedIn.body);
    const auth = { authorization: `Bearer ${JSON.parse(signedIn.body).token}` };
    const answers = {
      'malformed JSON': [await send(port, ca, 'POST', '/api/auth/login', json, '{"username": "root", '), 400, 'INVALID_JSON'],
      'unknown route': [await send(port, ca, 'GET', '/api/no/such/route', auth), 404, 'NOT_FOUND'],
      'oversize body': [await send(port, ca, 'POST', '/api/auth/login', json, JSON.stringify({ username: 'x'.repeat(8000) })), 413, 'PAYLOAD_TOO_LARGE'],
      // Answered by the router before any hook runs (framework-errors.ts).
      'malformed URL': [await send(port, ca, 'GET', '/api/admin/users/%E0%A4%A'), 400, 'URL_INVALID'],
      'over-long parameter': [await send(port, ca, 'GET', `/api/admin/users/${'a'.repeat(500)}`), 414, 'URL_TOO_LONG'],
    } as const;
    for (const [what, [r, status, code]] of Object.entries(answers)) {
      assert.equal(r.status, status, `${what}: ${r.body}`);
      assert.equal(JSON.parse(r.body).error.code, code, what);
      assert.equal(r.headers['strict-transport-security'], HSTS, what);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', what);
    }
    // Not for another host name, on these paths either.
    assert.equal((await send(port, ca, 'GET', '/api/admin/users/%E0%A4%A', { host: 'localhost' })).headers['strict-transport-security'], undefined);
    // Written by Node straight to the socket (the request could not be parsed): the host is the one asked for in the handshake.
    const overflow = `GET /api/auth/me HTTP/1.1\r\nhost: palisade.example.test\r\nx-big: ${'b'.repeat(20_000)}\r\n\r\n`;
    const raw = await tlsRaw(port, ca, 'palisade.example.test', overflow);
    assert.match(raw, /^HTTP\/1\.1 431 /);
    assert.equal(headerOf(raw, 'strict-transport-security'), HSTS);
    assert.equal(headerOf(await tlsRaw(port, ca, 'localhost', overflow), 'strict-transport-security'), undefined, 'another name in the handshake');
  });
});

test('built-in TLS: a request that arrives while the server drains answers 503 with HSTS (before the edge hook has run) [ASVS V3.4.1]', async () => {
  const c = makeCert('tls-drain');
  const t = await makeApp({ env: { TLS_CERT_FILE: c.cert, TLS_KEY_FILE: c.key, PUBLIC_URL: PUBLIC } });
  let closed = false;
  try {
    const port = await listen(t.app);
    const body = JSON.stringify({ username: 'root', password: 'not-the-password-1' });
    // The first request's headers go now and its body later, once closing has started; the second follows it.
    const text = await tlsRaw(
      port,
      [c.pem],
      'palisade.example.test',
      `POST /api/auth/login HTTP/1.1\r\nhost: palisade.example.test\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n\u0000GET /api/auth/me HTTP/1.1\r\nhost: palisade.example.test\r\nconnection: close\r\n\r\n`,
      async () => {
        await new Promise((r) => setTimeout(r, 100));
        void t.app.close().then(() => {
          closed = true;
        });
        await new Promise((r) => setTimeout(r, 100));
        return body;
      },
    );
    assert.match(text, /^HTTP\/1\.1 401/, 'the in-flight request completed');
    const second = text.slice(text.indexOf('HTTP/1.1', 10));
    assert.match(second, /^HTTP\/1\.1 503/, second.slice(0, 300));
    assert.match(second, /"code":"SHUTTING_DOWN"/);
    assert.equal(headerOf(second, 'strict-transport-security'), HSTS);
    assert.equal(headerOf(text, 'strict-transport-security'), HSTS, 'the first answer too');
  } finally {
    if (!closed) await t.app.close();
    await t.close();
  }
});

test('HTTP_REDIRECT_PORT: beside built-in TLS, a plain-HTTP port that only redirects to PUBLIC_URL and answers the probes; checked at boot [ASVS V12.2.1]', async () => {
  const c = makeCert('redirect');
  const tlsEnv = { TLS_CERT_FILE: c.cert, TLS_KEY_FILE: c.key, PUBLIC_URL: PUBLIC };
  assert.deepEqual(problemsOf({ ...tlsEnv, HTTP_REDIRECT_PORT: '8081' }), []);
  assert.match(
    problemsOf({ PUBLIC_URL: PUBLIC, TRUSTED_PROXIES: '10.0.0.1', HTTP_REDIRECT_PORT: '8081' }).join('\n'),
    /HTTP_REDIRECT_PORT needs TLS_CERT_FILE/,
  );
  assert.match(problemsOf({ ...tlsEnv, FORCE_HTTPS: 'false', HTTP_REDIRECT_PORT: '8081' }).join('\n'), /HTTP_REDIRECT_PORT needs forced HTTPS/);
  assert.match(problemsOf({ ...tlsEnv, HTTP_REDIRECT_PORT: '8080' }).join('\n'), /must differ from PORT/);
  assert.match(problemsOf({ ...tlsEnv, HTTP_REDIRECT_PORT: '0' }).join('\n'), /HTTP_REDIRECT_PORT must be an integer from 1 to 65535/);

  // The real server (`palisade start`): HTTPS on PORT, plain HTTP on HTTP_REDIRECT_PORT.
  const dataDir = mkdtempSync(path.join(dir, 'data-'));
  const [port, plain] = [await freePort(), await freePort()];
  const server = await startServer({
    ...tlsEnv,
    DATA_DIR: dataDir,
    APP_KEY: randomBytes(32).toString('base64url'),
    INIT_ROOT_PASSWORD: ROOT.password,
    HOST: '127.0.0.1',
    PORT: String(port),
    HTTP_REDIRECT_PORT: String(plain),
  });
  try {
    const get = await rawRequest(plain, 'GET', '/admin/users?limit=5&q=a%20b');
    assert.equal(get.status, 301);
    assert.equal(get.headers.location, `${PUBLIC}/admin/users?limit=5&q=a%20b`);
    assert.equal(get.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP (RFC 6797)');
    const post = await rawRequest(plain, 'POST', '/api/auth/sso/corp/acs', { 'content-type': 'application/x-www-form-urlencoded' }, 'SAMLResponse=x');
    assert.equal(post.status, 308, 'an unsafe method is redirected with its method and body kept');
    assert.equal(post.headers.location, `${PUBLIC}/api/auth/sso/corp/acs`);
    // The API is refused there, not redirected (D384).
    const api = await rawRequest(plain, 'POST', '/api/auth/login', { 'content-type': 'application/json' }, '{"username":"root","password":"x"}');
    assert.equal(api.status, 403);
    assert.equal(api.json().error.code, 'HTTPS_REQUIRED');
    assert.equal(api.headers.location, undefined);
    const ui = await rawRequest(plain, 'GET', '/');
    assert.equal(ui.status, 301, 'the admin UI is not served over plain HTTP either');
    // The probes answer there, for a load balancer.
    assert.equal((await rawRequest(plain, 'GET', '/healthz')).status, 200);
    // Malformed HTTP on the plain port: our envelope, no crash.
    const bad = await rawRequest(plain, 'GET', '/x y');
    assert.equal(bad.status, 400);
    // The HTTPS port is unchanged: it answers, with HSTS.
    const secure = await get443(port, c.pem);
    assert.equal(secure.status, 200);
    assert.match(String(secure.headers['strict-transport-security']), /max-age=/);
  } finally {
    await server.stop();
  }
  // Stopped with the server: nothing listens on the plain port any more.
  await assert.rejects(rawRequest(plain, 'GET', '/healthz'));
});

/** One HTTPS GET of /healthz for PUBLIC_URL's host. */
function get443(port: number, ca: string): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/healthz', ca: [ca], servername: 'localhost', agent: false, headers: { host: 'palisade.example.test' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}
