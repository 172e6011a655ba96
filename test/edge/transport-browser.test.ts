// The admin UI with TRANSPORT_ENCRYPTION=required (EDGE-6): Debian's Chromium signs in and lists records
// through ui/src/lib/api.ts, which seals every API call with the shared client helper (src/client/transport.ts)
// under the pages' strict CSP. Every API request the page makes is checked on the wire.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JOSE, keyDocument, seal, type TransportKey } from '../../src/client/transport.js';
import { bearer, Clock, ROOT, type TestApp } from '../helpers/app.js';
import { assertClean, signIn, startUi, type UiWorld } from '../helpers/ui.js';

interface Seen {
  method: string;
  path: string;
  contentType: string | undefined;
  accept: string | undefined;
  answerType: string | undefined;
  body: string | null;
  status: number;
}

describe('admin UI with TRANSPORT_ENCRYPTION=required', () => {
  let w: UiWorld;
  let t: TestApp;
  let key: TransportKey;

  /** One sealed call from the test itself, through the same helper. */
  async function call(method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}) {
    const sealed = await seal(key, method, url, body);
    const res = await t.app.inject({ method, url, headers: { ...sealed.headers, ...headers }, ...(sealed.body ? { payload: sealed.body } : {}) });
    const opened = await sealed.open({ status: res.statusCode, contentType: res.headers['content-type'] ?? null, body: res.body });
    assert.ok(res.statusCode < 300, opened.text);
    return JSON.parse(opened.text);
  }

  before(async () => {
    // The browser seals with its own clock: the server's must be the real one (the test clock is frozen).
    const clock = new Clock();
    clock.now = () => Date.now();
    w = await startUi({ env: { TRANSPORT_ENCRYPTION: 'required' }, clock });
    t = w.t;
    key = keyDocument((await t.app.inject({ method: 'GET', url: '/api/transport/key' })).json()).keys[0]!;
    const token: string = (await call('POST', '/api/auth/login', { username: ROOT.username, password: ROOT.password })).token;
    await call('POST', '/api/admin/collections', { name: 'letters', fields: [{ name: 'title', type: 'string', required: true }] }, bearer(token));
    for (const title of ['alpha-letter', 'beta-letter', 'gamma-letter']) await call('POST', '/api/collections/letters/records', { title }, bearer(token));
  });
  after(async () => w?.close());

  it('signs in and lists records, every API call sealed both ways', async () => {
    // A plain call is refused: the UI cannot be working by accident in plain.
    const plain = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password } });
    assert.equal(plain.json().error.code, 'TRANSPORT_ENCRYPTION_REQUIRED');

    const page = await w.newPage();
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
        body: req.postData(),
        status: res.status(),
      });
    });
    await signIn(page, w.base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Data' }).click();
    await page.getByRole('link', { name: 'letters' }).click();
    await page.getByRole('status').filter({ hasText: '3 records' }).waitFor();
    for (const title of ['alpha-letter', 'beta-letter', 'gamma-letter']) await page.getByRole('cell', { name: title, exact: true }).waitFor();

    // On the wire: the key is fetched plain; every other API call asks a sealed answer and gets one,
    // and a body goes only as a JWE (the password never in the clear).
    const api = seen.filter((s) => s.path !== '/api/transport/key');
    assert.ok(seen.some((s) => s.path === '/api/transport/key'));
    assert.ok(api.some((s) => s.path === '/api/auth/login'));
    assert.ok(api.some((s) => s.path === '/api/collections/letters/records'));
    for (const s of api) {
      assert.equal(s.accept, JOSE, `${s.method} ${s.path}`);
      if (s.status !== 204) assert.equal(s.answerType, JOSE, `${s.method} ${s.path} answered ${s.status}`);
      if (s.body !== null) {
        assert.equal(s.contentType, JOSE, `${s.method} ${s.path}`);
        assert.ok(!s.body.includes(ROOT.password));
        assert.equal(s.body.split('.').length, 5);
      }
    }
    assertClean(w);
  });
});
