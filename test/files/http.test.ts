// DATA-3 uploads over a real socket: a refused upload still gets its answer (the request is drained, not cut),
// with a declared length and chunked alike, and a browser-style `fetch(url, {method: 'POST', body})` works.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { rateLimitArea } from '../../src/edge/rate-limit.js';
import { gzip, png } from './samples.js';
import { filesWorld, type FilesWorld } from './world.js';

let w: FilesWorld;
let base: string;
before(async () => {
  w = await filesWorld();
  // A chunked upload is charged the whole FILES_MAX_BYTES: lift the byte budgets, this test is not about them.
  const c = await w.t.s.settings.get(rateLimitArea);
  await w.t.s.settings.update(rateLimitArea, { ...c, uploadBytesPerUser: 1e12, uploadBytesPerIp: 1e12 }, null, w.t.clock.now());
  base = await w.t.app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  // The refused uploads leave the client's keep-alive sockets (and a body stream the server never read) open; closing
  // them from the server's side lets the file's process exit at once (once, on a loaded machine, it held for a minute).
  w?.t.app.server.closeAllConnections();
  await w?.t.close();
});

test('over HTTP a too large upload gets its 413, declared or chunked, and a plain fetch body uploads [ASVS V5.2.1]', async () => {
  const id = await w.record(w.tok.ed!, 'http');
  const url = (field: string, name: string) => `${base}/api/collections/docs/records/${id}/files/${field}?name=${name}`;
  const headers = { authorization: `Bearer ${w.tok.ed}` };
  const body = gzip(randomBytes(50_000));
  const declared = await fetch(url('attachments', 'a.gz'), { method: 'POST', headers, body });
  assert.equal(declared.status, 413);
  assert.equal((await declared.json()).error.code, 'FILE_TOO_LARGE');
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(body.subarray(0, 30_000));
      c.enqueue(body.subarray(30_000));
      c.close();
    },
  });
  const chunked = await fetch(url('attachments', 'a.gz'), { method: 'POST', headers, body: stream, duplex: 'half' } as RequestInit);
  assert.equal(chunked.status, 413);
  assert.equal((await chunked.json()).error.code, 'FILE_TOO_LARGE');
  const up = await fetch(url('photo', 'p.png'), { method: 'POST', headers, body: new Blob([png()], { type: 'image/png' }) });
  assert.equal(up.status, 201, await up.clone().text());
  const meta = await up.json();
  const down = await fetch(`${base}/api/collections/docs/records/${id}/files/photo/${meta.id}`, { headers });
  assert.equal(down.status, 200);
  assert.ok(Buffer.from(await down.arrayBuffer()).equals(png()));
  assert.equal(down.headers.get('content-security-policy'), "sandbox; default-src 'none'");
});
