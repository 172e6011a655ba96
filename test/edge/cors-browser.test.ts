// CORS in a real browser: Debian's Chromium on pages served from two other origins, one listed in
// CORS_ORIGINS and one not, calling the API on its own port with credentials: 'include'.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { login, makeApp, ROOT, type TestApp } from '../helpers/app.js';
import { openBrowser, type TestBrowser } from '../helpers/browser.js';

/** A second origin: one tiny page and nothing else. */
async function pageServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>caller</title><p>caller</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

type Answer = { status: number; body: Record<string, any>; requestId: string | null } | { blocked: string };

/** A fetch made by the page itself (a plain string: tsx would wrap a compiled function with helpers the page lacks). */
function pageFetch(page: Page, url: string, init: Record<string, unknown>): Promise<Answer> {
  return page.evaluate(`(async () => {
    try {
      const r = await fetch(${JSON.stringify(url)}, ${JSON.stringify(init)});
      return { status: r.status, body: await r.json(), requestId: r.headers.get('x-request-id') };
    } catch (e) {
      return { blocked: String(e) };
    }
  })()`) as Promise<Answer>;
}

describe('CORS in Chromium: a listed origin reads the API with credentials, an unlisted one is blocked', () => {
  let t: TestApp;
  let api: string;
  let listed: { server: Server; origin: string };
  let unlisted: { server: Server; origin: string };
  let browser: TestBrowser;
  let token: string;

  before(async () => {
    listed = await pageServer();
    unlisted = await pageServer();
    // Plain http on loopback: the session cookie without Secure, so Chromium keeps it.
    t = await makeApp({ env: { CORS_ORIGINS: listed.origin, COOKIE_INSECURE_DEV: 'true' } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    api = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    token = (await login(t)).token;
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    listed?.server.close();
    unlisted?.server.close();
  });

  const signIn = { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' } };
  const body = JSON.stringify({ username: ROOT.username, password: ROOT.password, mode: 'cookie' });

  it('the listed origin signs in with a cookie, reads /api/auth/me with it, and reads with a bearer token [ASVS V3.4.2]', async () => {
    const page = browser.page;
    await page.goto(`${listed.origin}/`);
    // JSON content type: a preflight first, answered without credentials.
    const signedIn = await pageFetch(page, `${api}/api/auth/login`, { ...signIn, body });
    assert.ok('status' in signedIn, JSON.stringify(signedIn));
    assert.equal(signedIn.status, 200);
    assert.match(signedIn.requestId ?? '', /^[0-9a-f-]{36}$/, 'x-request-id is exposed to the page');
    // The session cookie alone (no Authorization header): sent because the page asked for credentials
    // and the API is same-site (SameSite=Lax), readable because the answer allows credentials for this origin.
    const me = await pageFetch(page, `${api}/api/auth/me`, { credentials: 'include' });
    assert.ok('status' in me, JSON.stringify(me));
    assert.equal(me.status, 200);
    assert.equal(me.body.user.username, ROOT.username);
    const withBearer = await pageFetch(page, `${api}/api/auth/me`, { credentials: 'include', headers: { authorization: `Bearer ${token}` } });
    assert.ok('status' in withBearer, JSON.stringify(withBearer));
    assert.equal(withBearer.body.user.username, ROOT.username);
  });

  it('the unlisted origin cannot read anything, though the browser holds the same session cookie [ASVS V3.4.2]', async () => {
    // The session cookie from the listed origin's sign-in is in this browser, for the API's host.
    assert.ok((await browser.context.cookies(api)).some((c) => c.name === 'palisade_session'));
    const page = await browser.context.newPage();
    await page.goto(`${unlisted.origin}/`);
    for (const [url, init] of [
      [`${api}/api/auth/me`, { credentials: 'include' }],
      [`${api}/api/auth/me`, { credentials: 'include', headers: { authorization: `Bearer ${token}` } }],
      [`${api}/api/auth/login`, { ...signIn, body }],
    ] as const) {
      const answer = await pageFetch(page, url, init);
      assert.ok('blocked' in answer, `${url} was readable from ${unlisted.origin}: ${JSON.stringify(answer)}`);
      assert.match(answer.blocked, /TypeError/);
    }
    // Same page, same browser: a same-origin read still works (the page is not simply broken).
    const own = await page.evaluate(`fetch('/').then((r) => r.status)`);
    assert.equal(own, 200);
  });
});
