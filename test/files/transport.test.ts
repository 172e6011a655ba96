// DATA-3 uploads and downloads under encrypted API bodies (EDGE-6, D260-D262), through the public HTTP surface with
// the shipped client helper: a file sealed as its bytes is opened by the transport stage and meets every check of a
// plain upload (type, size, access); the JWE's own checks (binding, replay) still apply; a download comes sealed,
// byte for byte; signed links are not offered when encryption is required.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { JOSE, keyDocument, seal, type TransportKey } from '../../src/client/transport.js';
import { MAX_CONCURRENT_SEALED_UPLOADS } from '../../src/http/pipeline/transport.js';
import { sealedLength } from '../../src/edge/transport.js';
import { bearer, makeApp, type TestApp } from '../helpers/app.js';
import { listen } from '../helpers/raw-http.js';
import { elf, png, pngCarrying } from './samples.js';
import { codeOf, filesWorld, settle, type FilesWorld } from './world.js';

const MAX = 65_536;
const ENV = { FILES_MAX_BYTES: String(MAX) };

async function keyOf(t: TestApp): Promise<TransportKey> {
  return keyDocument((await t.app.inject({ method: 'GET', url: '/api/transport/key' })).json()).keys[0]!;
}

/** One sealed call through the helper, on `t`: the raw answer and the opened one. */
async function sealedCall(t: TestApp, token: string, method: 'GET' | 'POST', url: string, body?: unknown) {
  const sealed = await seal(await keyOf(t), method, url, body, { now: t.clock.now });
  const res = await t.app.inject({
    method,
    url,
    headers: { ...sealed.headers, ...bearer(token) },
    ...(sealed.body !== undefined ? { payload: sealed.body } : {}),
  });
  const opened = await sealed.open({ status: res.statusCode, contentType: (res.headers['content-type'] as string | undefined) ?? null, body: res.body });
  const json = opened.contentType.startsWith('application/json') ? JSON.parse(opened.text) : undefined;
  return { res, opened, json, code: json?.error?.code as string | undefined, sent: sealed.body ?? '' };
}

let w: FilesWorld;
/** A second instance on the same storage and key, with TRANSPORT_ENCRYPTION=required. */
let req: TestApp;
before(async () => {
  w = await filesWorld({ env: ENV });
  req = await makeApp({ peerOf: w.t, env: { ...ENV, TRANSPORT_ENCRYPTION: 'required' } });
});
after(async () => {
  await req?.close();
  await w?.t.close();
});

const upUrl = (id: string, field: string, name: string) => `${w.filesUrl(id, field)}?name=${encodeURIComponent(name)}`;

describe('file uploads with TRANSPORT_ENCRYPTION=required', () => {
  it('a sealed PNG is stored as image/png, and its sealed download gives the same bytes', async () => {
    const id = await w.record(w.tok.ed!, 'sealed');
    // Larger than FILES_MAX_BYTES on the wire (the JWE, about 4/3), within it as a file: accepted.
    const file = pngCarrying(4, 3, Buffer.alloc(MAX - 500, 7));
    const up = await sealedCall(req, w.tok.ed!, 'POST', upUrl(id, 'photo', 'holiday.png'), file);
    assert.equal(up.res.statusCode, 201, up.opened.text);
    assert.ok(up.sent.length > MAX, 'the JWE is longer than FILES_MAX_BYTES');
    assert.equal(up.res.headers['content-type'], JOSE);
    assert.equal(up.opened.sealed, true);
    assert.equal(up.json.type, 'image/png');
    assert.equal(up.json.name, 'holiday.png');
    assert.equal(up.json.size, file.length);
    const rows = (await w.rows()).filter((r) => r.id === up.json.id);
    assert.equal(rows.length, 1);
    assert.equal(Number(rows[0]!.size), file.length);

    const down = await sealedCall(req, w.tok.ed!, 'GET', `${w.filesUrl(id, 'photo')}/${up.json.id}`);
    assert.equal(down.res.statusCode, 200);
    assert.equal(down.res.headers['content-type'], JOSE);
    assert.equal(down.opened.sealed, true);
    assert.equal(down.opened.contentType, 'image/png');
    assert.ok(Buffer.from(down.opened.bytes).equals(file), 'the same bytes');
    // The download's own headers stay as they are.
    assert.match(String(down.res.headers['content-disposition']), /^attachment; filename="holiday\.png"/);
    assert.equal(down.res.headers['content-security-policy'], "sandbox; default-src 'none'");
    // The same file read plain on the optional instance.
    const plain = await w.download(w.tok.ed!, id, 'photo', up.json.id);
    assert.ok(plain.rawPayload.equals(file));
  });

  it('a plain upload is refused before anything is read, and nothing is stored', async () => {
    const id = await w.record(w.tok.ed!, 'plain');
    const before = (await w.rows()).length;
    const res = await req.app.inject({
      method: 'POST',
      url: upUrl(id, 'photo', 'p.png'),
      headers: { ...bearer(w.tok.ed!), 'content-type': 'image/png' },
      payload: png(),
    });
    assert.equal(res.statusCode, 403);
    assert.equal(codeOf(res), 'TRANSPORT_ENCRYPTION_REQUIRED');
    assert.equal((await w.rows()).length, before);
  });

  it('a replayed upload body is refused (TRANSPORT_BODY_REPLAYED) and stores nothing', async () => {
    const id = await w.record(w.tok.ed!, 'replay');
    const url = upUrl(id, 'attachments', 'r.png');
    const sealed = await seal(await keyOf(req), 'POST', url, png(), { now: req.clock.now });
    const send = () => req.app.inject({ method: 'POST', url, headers: { ...sealed.headers, ...bearer(w.tok.ed!) }, payload: sealed.body });
    const first = await send();
    assert.equal(first.statusCode, 201);
    const rows = (await w.rows()).length;
    const again = await send();
    assert.equal(again.statusCode, 409);
    const opened = await sealed.open({
      status: again.statusCode,
      contentType: (again.headers['content-type'] as string | undefined) ?? null,
      body: again.body,
    });
    assert.equal(JSON.parse(opened.text).error.code, 'TRANSPORT_BODY_REPLAYED');
    assert.equal((await w.rows()).length, rows);
  });

  it('a body sealed for another record or another name is refused (TRANSPORT_BODY_MISMATCH)', async () => {
    const a = await w.record(w.tok.ed!, 'bound-a');
    const b = await w.record(w.tok.ed!, 'bound-b');
    const rows = (await w.rows()).length;
    const sealed = await seal(await keyOf(req), 'POST', upUrl(a, 'photo', 'a.png'), png(), { now: req.clock.now });
    for (const url of [upUrl(b, 'photo', 'a.png'), upUrl(a, 'photo', 'b.png'), upUrl(a, 'attachments', 'a.png')]) {
      const res = await req.app.inject({ method: 'POST', url, headers: { ...sealed.headers, ...bearer(w.tok.ed!) }, payload: sealed.body });
      assert.equal(res.statusCode, 400, url);
      assert.equal(codeOf(res), 'TRANSPORT_BODY_MISMATCH');
      assert.equal(res.json().error.details.reason, 'target');
    }
    assert.equal((await w.rows()).length, rows);
  });

  it('a file over FILES_MAX_BYTES is FILE_TOO_LARGE once opened, a JWE over the sealed limit PAYLOAD_TOO_LARGE; nothing stored', async () => {
    const id = await w.record(w.tok.ed!, 'large');
    const rows = (await w.rows()).length;
    const files = w.stored().length;
    // The JWE fits the route's limit (the header is shorter than the longest allowed): opened, then counted.
    const over = await sealedCall(req, w.tok.ed!, 'POST', upUrl(id, 'any', 'big.png'), png(2, 2, Buffer.alloc(MAX + 1 - png().length, 1)));
    assert.equal(over.res.statusCode, 413, over.opened.text);
    assert.equal(over.opened.sealed, true);
    assert.equal(over.code, 'FILE_TOO_LARGE');
    // The field's own lower limit (attachments: 2000 bytes) applies the same way.
    const field = await sealedCall(req, w.tok.ed!, 'POST', upUrl(id, 'attachments', 'a.png'), png(2, 2, Buffer.alloc(3000)));
    assert.equal(field.res.statusCode, 413);
    assert.equal(field.code, 'FILE_TOO_LARGE');
    // Far over: the JWE is refused before it is read, in plain (its key is not known yet).
    const huge = await sealedCall(req, w.tok.ed!, 'POST', upUrl(id, 'any', 'huge.png'), png(2, 2, Buffer.alloc(MAX + 8000)));
    assert.equal(huge.res.statusCode, 413);
    assert.equal(huge.opened.sealed, false);
    assert.equal(huge.code, 'PAYLOAD_TOO_LARGE');
    await settle(w.t);
    assert.equal((await w.rows()).length, rows);
    assert.equal(w.stored().length, files);
  });

  it('a disguised upload (an executable named .png) is refused by its type, as it is in plain', async () => {
    const id = await w.record(w.tok.ed!, 'disguised');
    const rows = (await w.rows()).length;
    const sealed = await sealedCall(req, w.tok.ed!, 'POST', upUrl(id, 'photo', 'cat.png'), elf());
    const plain = await w.upload(w.tok.ed!, id, 'photo', elf(), 'cat.png', 'image/png');
    assert.equal(sealed.res.statusCode, 415, sealed.opened.text);
    assert.equal(sealed.opened.sealed, true);
    assert.equal(sealed.code, 'FILE_TYPE_NOT_ALLOWED');
    assert.equal(plain.statusCode, 415);
    assert.equal(codeOf(plain), 'FILE_TYPE_NOT_ALLOWED');
    assert.equal((await w.rows()).length, rows);
  });

  it('access is checked as for a plain upload: a reader may not upload, sealed or not', async () => {
    const id = await w.record(w.tok.ed!, 'not-yours');
    const rows = (await w.rows()).length;
    const res = await sealedCall(req, w.tok.rd!, 'POST', upUrl(id, 'photo', 'x.png'), png());
    assert.equal(res.res.statusCode, 403, res.opened.text);
    assert.equal(res.opened.sealed, true);
    assert.equal((await w.rows()).length, rows);
  });

  it('signed links are not offered (FILE_LINK_UNAVAILABLE), and a link made before is not spent', async () => {
    const id = await w.record(w.tok.ed!, 'links');
    const up = await w.upload(w.tok.ed!, id, 'photo', png(), 'l.png');
    assert.equal(up.statusCode, 201, up.body);
    const fileId = up.json().id as string;
    const ask = await sealedCall(req, w.tok.ed!, 'POST', `${w.filesUrl(id, 'photo')}/${fileId}/link`);
    assert.equal(ask.res.statusCode, 403);
    assert.equal(ask.opened.sealed, true);
    assert.equal(ask.code, 'FILE_LINK_UNAVAILABLE');
    // A link from the optional instance: plain, refused by the mode; sealed, refused by the route, not spent.
    const link = await w.t.app.inject({ method: 'POST', url: `${w.filesUrl(id, 'photo')}/${fileId}/link`, headers: bearer(w.tok.ed!) });
    assert.equal(link.statusCode, 200, link.body);
    const { url } = link.json() as { url: string };
    const plain = await req.app.inject({ method: 'GET', url });
    assert.equal(plain.statusCode, 403);
    assert.equal(codeOf(plain), 'TRANSPORT_ENCRYPTION_REQUIRED');
    const sealed = await seal(await keyOf(req), 'GET', url, undefined, { now: req.clock.now });
    const res = await req.app.inject({ method: 'GET', url, headers: sealed.headers });
    const opened = await sealed.open({ status: res.statusCode, contentType: (res.headers['content-type'] as string | undefined) ?? null, body: res.body });
    assert.equal(res.statusCode, 403);
    assert.equal(JSON.parse(opened.text).error.code, 'FILE_LINK_UNAVAILABLE');
    const used = await w.t.app.inject({ method: 'GET', url });
    assert.equal(used.statusCode, 200);
    assert.ok(used.rawPayload.equals(png()));
  });

  it(`holds at most ${MAX_CONCURRENT_SEALED_UPLOADS} of the largest sealed uploads in reading at once (SERVER_BUSY), and frees the room when they end`, async () => {
    const id = await w.record(w.tok.ed!, 'busy');
    const port = await listen(req.app);
    const url = upUrl(id, 'any', 'slow.png');
    // The route's own limit: a JWE of a FILES_MAX_BYTES file.
    const limit = sealedLength(MAX);
    // Four uploads that declare a large JWE and send only its first bytes: they wait in the body parser.
    const slow: net.Socket[] = [];
    for (let i = 0; i < MAX_CONCURRENT_SEALED_UPLOADS; i++) {
      const sock = net.connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => sock.once('connect', resolve));
      sock.on('error', () => {});
      const head = [`POST ${url} HTTP/1.1`, 'host: 127.0.0.1', `authorization: Bearer ${w.tok.ed}`, `content-type: ${JOSE}`, `content-length: ${limit}`];
      sock.write(`${head.join('\r\n')}\r\n\r\neyJ`);
      slow.push(sock);
    }
    await new Promise((r) => setTimeout(r, 200));
    const sealedNow = await seal(await keyOf(req), 'POST', url, png(), { now: req.clock.now });
    const busy = await fetch(`http://127.0.0.1:${port}${url}`, {
      method: 'POST',
      headers: { ...sealedNow.headers, ...bearer(w.tok.ed!) },
      body: sealedNow.body,
    });
    assert.equal(busy.status, 503);
    assert.equal((await busy.json()).error.code, 'SERVER_BUSY');
    for (const s of slow) s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const ok = await sealedCall(req, w.tok.ed!, 'POST', url, png());
    assert.equal(ok.res.statusCode, 201, ok.opened.text);
  });
});

describe('file uploads with TRANSPORT_ENCRYPTION=optional', () => {
  it('takes plain and sealed uploads alike, and a sealed download of either', async () => {
    const id = await w.record(w.tok.ed!, 'optional');
    const plain = await w.upload(w.tok.ed!, id, 'attachments', png(3, 3), 'plain.png');
    assert.equal(plain.statusCode, 201, plain.body);
    const sealed = await sealedCall(w.t, w.tok.ed!, 'POST', upUrl(id, 'attachments', 'sealed.png'), png(5, 5));
    assert.equal(sealed.res.statusCode, 201, sealed.opened.text);
    assert.equal(sealed.json.type, 'image/png');
    for (const [fileId, bytes] of [
      [plain.json().id as string, png(3, 3)],
      [sealed.json.id as string, png(5, 5)],
    ] as const) {
      const down = await sealedCall(w.t, w.tok.ed!, 'GET', `${w.filesUrl(id, 'attachments')}/${fileId}`);
      assert.equal(down.res.statusCode, 200);
      assert.ok(Buffer.from(down.opened.bytes).equals(bytes));
      assert.ok((await w.download(w.tok.ed!, id, 'attachments', fileId)).rawPayload.equals(bytes));
    }
    // A plain body declared over FILES_MAX_BYTES is still refused before it is read.
    const big = await w.upload(w.tok.ed!, id, 'any', Buffer.alloc(MAX + 1), 'big.bin');
    assert.equal(big.statusCode, 413);
    assert.equal(codeOf(big), 'FILE_TOO_LARGE');
  });
});
