// File fields in the admin UI with TRANSPORT_ENCRYPTION=required (DATA-3 over EDGE-6, D260-D263): Debian's Chromium
// uploads a file on a record's page (sealed as its bytes) and downloads it (a sealed GET saved from a Blob, no signed
// link), under the pages' strict CSP; every files call is checked on the wire, and the bytes that arrive are the file's.
// A file over 8 MiB cannot be downloaded sealed, and the page says so in words.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { JOSE, keyDocument, seal, type TransportKey } from '../../src/client/transport.js';
import { bearer, Clock, ROOT, type TestApp } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { pngCarrying } from '../files/samples.js';
import { rateLimitArea } from '../../src/edge/rate-limit.js';

interface Seen {
  method: string;
  path: string;
  contentType: string | undefined;
  accept: string | undefined;
  answerType: string | undefined;
  body: Buffer | null;
  status: number;
}

describe('admin UI: files with TRANSPORT_ENCRYPTION=required', () => {
  let w: UiWorld;
  let t: TestApp;
  let key: TransportKey;
  let token = '';
  let recordId = '';

  /** One sealed call from the test itself, through the same helper. */
  async function call(method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}) {
    const sealed = await seal(key, method, url, body);
    const res = await t.app.inject({ method, url, headers: { ...sealed.headers, ...headers }, ...(sealed.body ? { payload: sealed.body } : {}) });
    const opened = await sealed.open({ status: res.statusCode, contentType: (res.headers['content-type'] as string | undefined) ?? null, body: res.body });
    assert.ok(res.statusCode < 300, opened.text);
    return JSON.parse(opened.text);
  }

  before(async () => {
    // The browser seals with its own clock: the server's must be the real one.
    const clock = new Clock();
    clock.now = () => Date.now();
    w = await startUi({ env: { TRANSPORT_ENCRYPTION: 'required' }, clock });
    t = w.t;
    // A 9 MiB upload is over the byte budget the tests lift to: lift it further, this test is not about it.
    const c = await t.s.settings.get(rateLimitArea);
    await t.s.settings.update(rateLimitArea, { ...c, uploadBytesPerUser: 1e12, uploadBytesPerIp: 1e12 }, null, t.clock.now());
    key = keyDocument((await t.app.inject({ method: 'GET', url: '/api/transport/key' })).json()).keys[0]!;
    token = (await call('POST', '/api/auth/login', { username: ROOT.username, password: ROOT.password })).token;
    await call(
      'POST',
      '/api/admin/collections',
      {
        name: 'albums',
        fields: [
          { name: 'title', type: 'string', required: true },
          { name: 'photo', type: 'file', multiple: true, accept: ['image/png'] },
        ],
      },
      bearer(token),
    );
    recordId = (await call('POST', '/api/collections/albums/records', { title: 'Sealed holidays' }, bearer(token))).id;
  });
  after(async () => w?.close());

  it('uploads a file sealed and downloads it sealed; the bytes that arrive are the file', async () => {
    const page = await w.newPage();
    await page.setViewportSize({ width: 1100, height: 800 });
    const seen: Seen[] = [];
    page.on('response', async (res) => {
      const req = res.request();
      const url = new URL(req.url());
      if (!url.pathname.startsWith('/api/')) return;
      const h = await req.allHeaders();
      seen.push({
        method: req.method(),
        path: url.pathname,
        contentType: h['content-type'],
        accept: h.accept,
        answerType: (await res.allHeaders())['content-type'],
        body: req.postDataBuffer(),
        status: res.status(),
      });
    });
    await signIn(page, w.base);
    await page.goto(`${w.base}/data/albums/${recordId}`);
    const files = page.getByRole('group', { name: 'Files of photo' });
    await files.getByText('No file.').waitFor();

    // A PNG whose bytes are not text: a text round trip anywhere would change them.
    const photo = pngCarrying(6, 4, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37 + 11) & 0xff)));
    await files.getByLabel('Upload a file to photo').setInputFiles({ name: 'sealed-beach.png', mimeType: 'image/png', buffer: photo });
    await files.getByRole('status').filter({ hasText: 'sealed-beach.png uploaded (not scanned).' }).waitFor();
    const current = files.getByRole('list', { name: 'Current files of photo' });
    await current.getByText('sealed-beach.png').waitFor();

    const [download] = await Promise.all([page.waitForEvent('download'), current.getByRole('button', { name: 'Download sealed-beach.png' }).click()]);
    assert.equal(download.suggestedFilename(), 'sealed-beach.png');
    assert.deepEqual(readFileSync((await download.path())!), photo);
    await files.getByRole('status').filter({ hasText: 'sealed-beach.png downloaded.' }).waitFor();
    assert.ok(page.url().endsWith(`/data/albums/${recordId}`), 'the page stays');

    // On the wire: the upload went as a JWE (no byte of the file in the clear), the download came sealed, and no
    // signed link was asked for or followed.
    const upload = seen.find((s) => s.method === 'POST' && s.path.endsWith('/files/photo'));
    assert.ok(upload, 'the upload was sent');
    assert.equal(upload.status, 201);
    assert.equal(upload.contentType, JOSE);
    assert.equal(upload.accept, JOSE);
    assert.equal(upload.answerType, JOSE);
    assert.equal(upload.body?.toString('latin1').split('.').length, 5);
    assert.equal(upload.body?.includes(photo.subarray(0, 16)), false);
    const down = seen.find((s) => s.method === 'GET' && /\/files\/photo\/[0-9a-f-]{36}$/.test(s.path));
    assert.ok(down, 'the download was asked through the API');
    assert.equal(down.status, 200);
    assert.equal(down.accept, JOSE);
    assert.equal(down.answerType, JOSE);
    assert.deepEqual(
      seen.filter((s) => s.path.includes('/api/files/signed/') || s.path.endsWith('/link')),
      [],
    );
    for (const s of seen.filter((x) => x.path !== '/api/transport/key')) assert.equal(s.accept, JOSE, `${s.method} ${s.path}`);
    await page.mouse.move(0, 0);
    await shot(page, 'data-record-files-sealed');
    assertClean(w);
  });

  it('says in words that a file over 8 MiB cannot be downloaded sealed', async () => {
    const big = pngCarrying(2, 2, Buffer.alloc(9 * 1024 * 1024, 3));
    const meta = await call('POST', `/api/collections/albums/records/${recordId}/files/photo?name=big-scan.png`, big, bearer(token));
    assert.equal(meta.size, big.length);
    const page = await w.newPage();
    await page.setViewportSize({ width: 1100, height: 800 });
    await signIn(page, w.base);
    await page.goto(`${w.base}/data/albums/${recordId}`);
    const files = page.getByRole('group', { name: 'Files of photo' });
    await files.getByRole('button', { name: 'Download big-scan.png' }).click();
    await files.getByRole('alert').filter({ hasText: 'big-scan.png: This file is larger than 8 MiB, the most this server sends encrypted' }).waitFor();
    await page.mouse.move(0, 0);
    await shot(page, 'data-record-files-sealed-too-large');
    assertClean(w);
  });
});
