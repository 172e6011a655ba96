import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';

describe('admin UI: the shell, served by Palisade under a strict CSP', () => {
  let w: UiWorld;
  before(async () => {
    w = await startUi();
  });
  after(async () => w?.close());

  it('serves the app page with the page policy and its assets with long caching; the API keeps default-src none', async () => {
    const page = await fetch(`${w.base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    for (const d of [
      "script-src 'self'",
      "style-src 'self'",
      "require-trusted-types-for 'script'",
      "trusted-types 'none'",
      "frame-ancestors 'none'",
      "default-src 'none'",
    ]) {
      assert.ok(csp.includes(d), `page CSP has ${d}: ${csp}`);
    }
    assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), csp);
    const html = await page.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(html, /<style|style=/, 'no inline style');
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset);
    const js = await fetch(`${w.base}${asset}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    assert.equal((await fetch(`${w.base}/assets/nope.js`)).status, 404);
    // One representation per encoding, each with its own ETag; gzip only when asked for with a weight above 0.
    const get = (enc: string) => w.t.app.inject({ method: 'GET', url: asset, headers: { 'accept-encoding': enc } });
    const gz = await get('br, gzip');
    const plain = await get('gzip;q=0, br');
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.notEqual(gz.headers.etag, plain.headers.etag);
    assert.equal((await get('identity')).headers['content-encoding'], undefined);
    const revalidated = await w.t.app.inject({ method: 'GET', url: asset, headers: { 'accept-encoding': 'gzip', 'if-none-match': String(gz.headers.etag) } });
    assert.equal(revalidated.statusCode, 304);
    const api = await fetch(`${w.base}/api/auth/me`);
    assert.equal(api.headers.get('content-security-policy'), "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    // An address the app does not draw is not the app: the API's deny-by-default answer (401 signed out).
    const unknown = await fetch(`${w.base}/wp-admin`);
    assert.equal(unknown.status, 401);
    assert.match(unknown.headers.get('content-type') ?? '', /application\/json/);
  });

  it('signs the root user in from the sign-in page and shows the navigation; no CSP violation on the way', async () => {
    const page = await w.newPage();
    await page.goto(`${w.base}/admin/users`);
    // Signed out: to sign-in, and back to the asked page afterwards.
    await page.waitForURL(/\/sign-in\?next=%2Fadmin%2Fusers/);
    await shot(page, 'sign-in');
    await page.getByLabel('Username or email').fill(ROOT.username);
    await page.getByLabel('Password', { exact: true }).fill('wrong-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not right' }).waitFor();
    await page.getByLabel('Password', { exact: true }).fill(ROOT.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/admin\/users$/);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).waitFor();
    await page.getByRole('link', { name: 'Palisade' }).click();
    await page.getByRole('heading', { name: `Welcome, ${ROOT.username}` }).waitFor();
    await shot(page, 'home');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/sign-in$/);
    assertClean(w);
  });

  it('the recorder sees a Trusted Types refusal when a page writes HTML into a sink (so a clean run means something)', async () => {
    const page = await w.newPage();
    await page.goto(`${w.base}/sign-in`);
    await page.getByLabel('Username or email').waitFor();
    const before = w.problems.length;
    const threw = await page.evaluate(
      `(() => { try { document.body.insertAdjacentHTML('beforeend', '<img src=x>'); return false; } catch { return true; } })()`,
    );
    assert.equal(threw, true);
    await page.waitForTimeout(200);
    assert.ok(w.problems.length > before, 'a violation was recorded');
    w.problems.splice(before);
  });

  it('sign-out that the server refuses says so and keeps the user signed in; a planted unprefixed XSRF cookie is ignored', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    // A cookie planted by a sibling host or over plain HTTP (no __Host- prefix) is not read: writes go through.
    await page.evaluate(`document.cookie = 'palisade_xsrf=junk; path=/'`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/sign-in$/);
    // The server refuses the sign-out (a wrong XSRF token): the page stays, says so, and the session lives on.
    await signIn(page, w.base);
    const url = new URL(w.base);
    await page.context().addCookies([{ name: '__Host-palisade_xsrf', value: 'junk', domain: url.hostname, path: '/', secure: true }]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('alert').filter({ hasText: 'still signed in' }).waitFor();
    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/');
    assertClean(w);
  });

  it('lays out on a phone: the menu folds behind a button', async () => {
    const page = await w.newPage();
    await page.setViewportSize({ width: 390, height: 800 });
    await signIn(page, w.base);
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.isVisible(), false);
    await page.getByRole('button', { name: 'Menu' }).click();
    await nav.getByRole('link', { name: 'Users' }).waitFor();
    await shot(page, 'phone-menu');
    assertClean(w);
  });
});
