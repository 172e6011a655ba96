// Bug class: framework error bodies. Every answer, including those that Fastify or Node's HTTP
// parser produce before any route runs (malformed URLs, over-long path parameters, malformed
// HTTP, oversized headers, the drain while closing), has our envelope with a registered code,
// the security headers, and echoes nothing of the request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
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

test('framework error bodies: malformed URLs, long parameters, malformed HTTP and large headers answer in our envelope', async () => {
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

test('a request whose body trickles in past REQUEST_TIMEOUT gets 408 REQUEST_TIMEOUT and its connection closes', async () => {
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
