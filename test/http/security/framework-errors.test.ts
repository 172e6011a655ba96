// Bug class: framework error bodies. Every answer, including those that Fastify or Node's HTTP
// parser produce before any route runs (malformed URLs, over-long path parameters, malformed
// HTTP, oversized headers, the drain while closing), has our envelope with a registered code,
// the security headers, and echoes nothing of the request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeApp, login, bearer } from '../../helpers/app.js';
import { listen, rawRequest, type RawResponse } from '../../helpers/raw-http.js';
import { ERRORS } from '../../../src/errors.js';

function enveloped(r: RawResponse, code: string, what: string, echo?: string): void {
  assert.equal(r.json().error.code, code, `${what}: ${r.body.slice(0, 200)}`);
  assert.equal(r.status, ERRORS[code as keyof typeof ERRORS].status, what);
  assert.equal(r.json().error.message, ERRORS[code as keyof typeof ERRORS].message);
  assert.equal(r.headers['x-content-type-options'], 'nosniff', `${what}: security headers`);
  assert.equal(r.headers['cache-control'], 'no-store', what);
  assert.doesNotMatch(r.body, /FST_|statusCode|not a valid url|Client Error/, what);
  if (echo) assert.equal(r.body.includes(echo), false, `${what} echoes the request`);
}

test('framework error bodies: malformed URLs, long parameters, malformed HTTP and large headers answer in our envelope [ASVS V16.5.1, V3.4.4]', async () => {
  const t = await makeApp();
  try {
    const admin = (await login(t)).token;
    const port = await listen(t.app);
    for (const target of ['/api/admin/users/%', '/api/admin/users/%ZZ<script>', '/api/collections/%E0%A4%A/records', '/api/%']) {
      enveloped(await rawRequest(port, 'GET', target, bearer(admin)), 'URL_INVALID', `GET ${target}`, target);
      enveloped(await rawRequest(port, 'GET', target), 'URL_INVALID', `anonymous GET ${target}`, target);
    }
    const long = `/api/admin/users/${'a'.repeat(500)}`;
    enveloped(await rawRequest(port, 'GET', long, bearer(admin)), 'URL_TOO_LONG', 'long parameter', 'aaaaaaaaaa');
    enveloped(await rawRequest(port, 'GET', '/api/auth/me', { 'x-big': 'b'.repeat(20_000) }), 'HEADERS_TOO_LARGE', 'header overflow');
    for (const line of ['GARBAGE', 'GET /api/auth/me HTTP/9.9', 'GET /a b c HTTP/1.1']) {
      const r = await rawLine(port, `${line}\r\nhost: x\r\n\r\n`);
      enveloped(r, 'BAD_REQUEST', `request line ${line}`);
    }
    // Legitimate requests are unaffected.
    assert.equal((await rawRequest(port, 'GET', '/api/admin/users', bearer(admin))).status, 200);
    assert.equal((await rawRequest(port, 'GET', '/api/admin/users/%61', bearer(admin))).status, 404);
  } finally {
    await t.close();
  }
});

test('framework error bodies: a request that arrives while the server drains answers 503 SHUTTING_DOWN in our envelope', async () => {
  const t = await makeApp();
  let closed = false;
  try {
    const port = await listen(t.app);
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    let text = '';
    sock.on('data', (c) => {
      text += String(c);
    });
    const body = JSON.stringify({ username: 'root', password: 'not-the-password-1' });
    // The first request's headers go now and its body later: it is in flight when closing starts.
    sock.write(`POST /api/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 100));
    const closing = t.app.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    sock.write(`${body}GET /api/auth/me HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
    await new Promise((r) => sock.once('close', r));
    await closing;
    const second = text.slice(text.indexOf('HTTP/1.1', 10));
    assert.match(text, /^HTTP\/1\.1 401/, 'the in-flight request completed');
    assert.match(second, /^HTTP\/1\.1 503/, second.slice(0, 200));
    assert.match(second, /"code":"SHUTTING_DOWN"/);
    assert.match(second, /retry-after: 1/i);
    assert.doesNotMatch(second, /"statusCode"/);
  } finally {
    if (!closed) await t.app.close();
    await t.close();
  }
});

test('a request whose body trickles in past REQUEST_TIMEOUT gets 408 REQUEST_TIMEOUT and its connection closes [ASVS V15.2.2]', async () => {
  const t = await makeApp({ env: { REQUEST_TIMEOUT: '1' } });
  try {
    const port = await listen(t.app);
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    let text = '';
    sock.on('data', (c) => {
      text += String(c);
    });
    sock.on('error', () => undefined);
    // Headers promise 100 bytes; a byte goes every 200 ms, so the body would take 20 s.
    sock.write('POST /api/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n');
    const drip = setInterval(() => sock.writable && sock.write(' '), 200);
    const closed = new Promise((r) => sock.once('close', r));
    const guard = new Promise((_, reject) => setTimeout(() => reject(new Error(`still open after 8 s: ${text}`)), 8000).unref());
    try {
      await Promise.race([closed, guard]);
    } finally {
      clearInterval(drip);
    }
    assert.match(text, /^HTTP\/1\.1 408/, text.slice(0, 200));
    assert.match(text, /"code":"REQUEST_TIMEOUT"/);
    // A request that arrives in time is served as usual.
    const r = await rawRequest(port, 'GET', '/api/auth/me');
    assert.equal(r.status, 401);
  } finally {
    await t.close();
  }
});

test('a client that closes its connection while its body is read is no server error: nothing logged as one, the server serves on', async () => {
  const t = await makeApp();
  try {
    const port = await listen(t.app);
    const before = t.logs.length;
    for (let i = 0; i < 3; i++) {
      const sock = net.connect(port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.write('POST /api/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"username":"ro');
      await new Promise((r) => setTimeout(r, 100));
      const closed = new Promise((r) => sock.once('close', r));
      sock.destroy();
      await closed;
    }
    // Bounded wait for the server to have read the closes (each is an error the handler sees).
    for (let i = 0; i < 50 && !t.logs.slice(before).some((l) => l.includes('the client closed the request')); i++) await new Promise((r) => setTimeout(r, 20));
    const lines = t.logs.slice(before);
    assert.ok(
      lines.some((l) => l.includes('the client closed the request')),
      lines.join('\n'),
    );
    assert.equal(lines.filter((l) => l.includes('"system.error"')).length, 0, lines.join('\n'));
    assert.equal((await rawRequest(port, 'GET', '/api/auth/me')).status, 401);
  } finally {
    await t.close();
  }
});

test('web tier leakage: TRACE is not served and echoes nothing; no header or probe names the server, framework or versions [ASVS V13.4.4, V13.4.6, V4.1.4]', async () => {
  const t = await makeApp();
  try {
    const admin = (await login(t)).token;
    const port = await listen(t.app);
    const secret = 'trace-echo-probe-4711';
    for (const [who, headers] of [
      ['anonymous', { cookie: `palisade_session=${secret}`, 'x-probe': secret }],
      ['signed in', { ...bearer(admin), 'x-probe': secret }],
    ] as const) {
      for (const target of ['/', '/api/auth/me', '/api/admin/users', '/healthz', '*']) {
        const r = await rawRequest(port, 'TRACE', target, headers);
        assert.ok(r.status >= 400 && r.status < 500, `${who} TRACE ${target}: ${r.status}`);
        assert.equal(r.body.includes(secret) || r.body.includes('x-probe') || r.body.includes('TRACE'), false, `${who} TRACE ${target} echoes the request`);
        assert.doesNotMatch(r.headers['content-type'] ?? '', /message\/http/, `${who} TRACE ${target}`);
      }
    }
    // The legitimate requests, and what they show of the server: no Server or X-Powered-By header, no version of
    // Node.js, Fastify, SQLite, PostgreSQL or Redis in the probes or in an error.
    const answers = [
      await rawRequest(port, 'GET', '/healthz'),
      await rawRequest(port, 'GET', '/readyz'),
      await rawRequest(port, 'GET', '/api/auth/me'),
      await rawRequest(port, 'GET', '/api/auth/me', bearer(admin)),
      await rawRequest(port, 'GET', '/api/admin/users/%ZZ', bearer(admin)),
    ];
    assert.deepEqual(
      answers.map((r) => r.status),
      [200, 200, 401, 200, 400],
    );
    assert.deepEqual(answers[0]!.json(), { status: 'ok' });
    for (const r of answers) {
      for (const h of ['server', 'x-powered-by', 'x-aspnet-version', 'x-runtime', 'via']) assert.equal(r.headers[h], undefined, `${h} header`);
      assert.doesNotMatch(
        r.body,
        /fastify|node\.?js|\bv\d+\.\d+|sqlite|postgres|redis|pino|version/i,
        `a version or component name in ${r.body.slice(0, 200)}`,
      );
    }
  } finally {
    await t.close();
  }
});

test('web tier leakage: the UI serves only its built files of the listed types; no listing, dotfile, .git, source, map or config file [ASVS V13.4.1, V13.4.3, V13.4.7, V15.2.3]', async () => {
  // A UI build with everything a careless copy could leave beside it; each file names itself so a leak shows.
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-ui-'));
  const files: Record<string, string> = {
    'index.html': '<!doctype html><title>Palisade</title><script type="module" src="/assets/app-1a2b.js"></script>',
    'favicon.svg': '<svg xmlns="http://www.w3.org/2000/svg"><!-- LEAK favicon ok --></svg>',
    'robots.txt': 'User-agent: *',
    'assets/app-1a2b.js': 'console.log("app")',
    'assets/style-3c4d.css': 'body{}',
    'assets/app-1a2b.js.map': '{"LEAK":"source map"}',
    'assets/.env': 'LEAK=assets-env',
    'assets/config.yaml': 'LEAK: config',
    'assets/app.ts': '// LEAK source',
    'assets/sub/inner.js': '// LEAK nested',
    'server.ts': '// LEAK server source',
    'settings.toml': 'LEAK = "toml"',
    '.env': 'LEAK=root-env',
    '.git/config': '[core] LEAK=git',
    '.git/HEAD': 'ref: refs/heads/LEAK',
  };
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), body);
  }
  const before = process.env.PALISADE_UI_DIR;
  process.env.PALISADE_UI_DIR = dir;
  const t = await makeApp();
  try {
    const admin = (await login(t)).token;
    for (const [url, type] of [
      ['/', /text\/html/],
      ['/favicon.svg', /image\/svg\+xml/],
      ['/robots.txt', /text\/plain/],
      ['/assets/app-1a2b.js', /text\/javascript/],
      ['/assets/style-3c4d.css', /text\/css/],
    ] as const) {
      const r = await t.app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 200, `${url}: ${r.body.slice(0, 200)}`);
      assert.match(String(r.headers['content-type']), type, url);
    }
    const refused = [
      '/assets/app-1a2b.js.map',
      '/assets/.env',
      '/assets/config.yaml',
      '/assets/app.ts',
      '/assets/sub/inner.js',
      '/assets/sub/',
      '/assets/sub',
      '/assets/',
      '/assets',
      '/server.ts',
      '/settings.toml',
      '/.env',
      '/.git/config',
      '/.git/HEAD',
      '/.git/',
      '/.git',
      '/assets/..%2f.git%2fconfig',
      '/assets/%2e%2e%2fserver.ts',
      '/index.html/..%2f.env',
    ];
    for (const url of refused) {
      for (const headers of [{}, bearer(admin)]) {
        const r = await t.app.inject({ method: 'GET', url, headers });
        assert.ok(r.statusCode >= 400 && r.statusCode < 500, `GET ${url}: ${r.statusCode}`);
        assert.doesNotMatch(r.body, /LEAK/, `GET ${url} shows a file`);
        assert.doesNotMatch(r.body, /app-1a2b|style-3c4d|inner\.js/, `GET ${url} lists a directory`);
      }
    }
  } finally {
    await t.close();
    if (before === undefined) delete process.env.PALISADE_UI_DIR;
    else process.env.PALISADE_UI_DIR = before;
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Sends bytes as they are and parses the one answer. */
function rawLine(port: number, bytes: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    let text = '';
    sock.on('data', (c) => {
      text += String(c);
    });
    sock.on('error', () => undefined);
    sock.setTimeout(5000, () => sock.destroy(new Error('timeout')));
    sock.on('close', () => {
      const i = text.indexOf('\r\n\r\n');
      const hs: Record<string, string> = {};
      for (const h of text.slice(0, i).split('\r\n').slice(1)) {
        const k = h.indexOf(':');
        hs[h.slice(0, k).toLowerCase()] = h.slice(k + 1).trim();
      }
      const body = text.slice(i + 4);
      if (i === -1) return reject(new Error(`no answer: ${text}`));
      resolve({ status: Number(text.slice(9, 12)), headers: hs, body, json: () => JSON.parse(body) });
    });
  });
}

/** Writes bytes on one connection and gives back everything the server sent until it closed the connection. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    let text = '';
    sock.on('data', (c) => {
      text += String(c);
    });
    sock.on('error', () => undefined);
    sock.setTimeout(5000, () => sock.destroy(new Error(`still open: ${text.slice(0, 200)}`)));
    sock.on('close', (hadError) => (hadError && !text ? reject(new Error('no answer')) : resolve(text)));
  });
}

test('request smuggling: Content-Length beside Transfer-Encoding, two lengths or an odd coding is a 400 that closes the connection; the tail is never a request [ASVS V4.2.1, V4.2.2]', async () => {
  const t = await makeApp();
  try {
    const port = await listen(t.app);
    const login = JSON.stringify({ username: 'root', password: 'not-the-password-1' });
    const head = 'POST /api/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n';
    const smuggled = 'GET /api/auth/me HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n';
    const chunked = `${login.length.toString(16)}\r\n${login}\r\n0\r\n\r\n`;
    for (const [what, headers, body] of [
      ['Content-Length and Transfer-Encoding', `content-length: ${chunked.length}\r\ntransfer-encoding: chunked\r\n`, chunked],
      ['two Content-Lengths', `content-length: ${login.length}\r\ncontent-length: 0\r\n`, login],
      ['a coding that is not chunked last', `transfer-encoding: chunked, identity\r\n`, chunked],
      ['an obfuscated Transfer-Encoding', `transfer-encoding : chunked\r\n`, chunked],
      ['a space in the chunk size', `transfer-encoding: chunked\r\n`, `${login.length.toString(16)} x\r\n${login}\r\n0\r\n\r\n`],
    ] as const) {
      const text = await rawExchange(port, `${head}${headers}\r\n${body}${smuggled}`);
      assert.match(text, /^HTTP\/1\.1 400 /, `${what}: ${text.slice(0, 200)}`);
      assert.equal(text.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, `${what}: one answer only, the tail was not read as a request: ${text}`);
      assert.match(text, /"code":"BAD_REQUEST"/, what);
    }
    // The legitimate framings: a length, a chunked body, and two requests in a row on one connection, each answered
    // with a Content-Length that is exactly its body.
    const pipelined = await rawExchange(
      port,
      `${head}content-length: ${login.length}\r\n\r\n${login}${head}transfer-encoding: chunked\r\n\r\n${chunked}${smuggled}`,
    );
    const answers = pipelined.split(/(?=HTTP\/1\.1 \d{3} )/);
    assert.deepEqual(
      answers.map((a) => Number(a.slice(9, 12))),
      [401, 401, 401],
      pipelined,
    );
    for (const a of answers) {
      const [h, body] = [a.slice(0, a.indexOf('\r\n\r\n')), a.slice(a.indexOf('\r\n\r\n') + 4)];
      assert.equal(Number(/content-length: (\d+)/i.exec(h)?.[1]), Buffer.byteLength(body), a);
      assert.doesNotMatch(h, /transfer-encoding/i);
    }
    assert.match(answers[0]!, /"code":"INVALID_CREDENTIALS"/);
  } finally {
    await t.close();
  }
});
