import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createUser, login, ROOT } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';

describe('admin UI: the shell, served by Palisade under a strict CSP', () => {
  let w: UiWorld;
  before(async () => {
    w = await startUi();
  });
  after(async () => w?.close());

  it('serves the app page with the page policy and its assets with long caching; the API keeps default-src none [ASVS V3.4.3, V3.4.6]', async () => {
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

  it('every page behind sign-in shows Sign out in its header; used from a deep page it ends the session on the server [ASVS V7.4.4]', async () => {
    const { NAV } = await import('../../ui/src/lib/nav.js');
    const page = await w.newPage();
    await signIn(page, w.base);
    const rootId = ((await page.evaluate(`fetch('/api/auth/me').then((r) => r.json())`)) as { user: { id: string } }).user.id;
    // Every page of the menus (root sees them all) and a page reached from a list.
    for (const href of [...NAV.map((n) => n.href), `/admin/users/${rootId}`]) {
      await page.goto(`${w.base}${href}`);
      const out = page.getByRole('banner').getByRole('button', { name: 'Sign out' });
      await out.waitFor();
      assert.ok(await out.isVisible(), href);
      assert.equal(new URL(page.url()).pathname, href, `${href} stays (no redirect to sign-in)`);
    }
    const cookies = await page.context().cookies(w.base);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/sign-in$/);
    // Signed out: the sign-in page has nothing to sign out of.
    assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
    // The session the browser held is ended on the server, not only forgotten by the page.
    const held = cookies.find((c) => c.name.endsWith('palisade_session'));
    assert.ok(held, 'the session cookie was set');
    const after = await w.t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: `${held.name}=${held.value}` } });
    assert.equal(after.statusCode, 401);
    assert.equal(after.json().error.code, 'SESSION_ENDED');
    assertClean(w);
  });

  it('signing out leaves nothing of the account in the page or the browser: not in the DOM, a cookie or web storage, nor behind Back [ASVS V14.3.1, V14.3.3]', async () => {
    await createUser(w.t, (await login(w.t)).token, 'dora', 'Signout-leaves-nothing-5', { email: 'dora.private@example.org' });
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/users`);
    await page.getByText('dora.private@example.org').first().waitFor();
    const storage = () =>
      page.evaluate(`(async () => ({
        local: localStorage.length,
        session: sessionStorage.length,
        idb: (await indexedDB.databases()).length,
        caches: (await caches.keys()).length,
      }))()`);
    // Signed in, the browser keeps the session cookie and the XSRF token, nothing else.
    assert.deepEqual(await storage(), { local: 0, session: 0, idb: 0, caches: 0 });
    assert.deepEqual((await page.context().cookies()).map((c) => c.name).sort(), ['__Host-palisade_session', '__Host-palisade_xsrf']);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/sign-in$/);
    assert.equal(await page.evaluate(`document.documentElement.outerHTML.includes('dora.private')`), false);
    assert.deepEqual(
      (await page.context().cookies()).map((c) => c.name).filter((n) => n.includes('session')),
      [],
      'the session cookie is gone',
    );
    assert.deepEqual(await storage(), { local: 0, session: 0, idb: 0, caches: 0 });
    await page.goBack();
    await page.waitForURL(/\/sign-in/);
    await page.getByLabel('Username or email').waitFor();
    assert.equal(await page.evaluate(`document.documentElement.outerHTML.includes('dora.private')`), false);
    assertClean(w);
  });

  it('an API address with a static-looking ending is still the API: 400 or 404, JSON and no-store, never a cacheable page or asset [ASVS V14.2.5]', async () => {
    const token = (await login(w.t)).token;
    for (const url of ['/api/auth/me.css', '/api/auth/me/x.css', '/api/admin/users/profile.js', '/api/auth/me;x.png']) {
      const res = await w.t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
      assert.ok([400, 404].includes(res.statusCode), `${url}: ${res.statusCode}`);
      assert.match(String(res.headers['content-type']), /application\/json/, url);
      assert.equal(res.headers['cache-control'], 'no-store', url);
    }
    // A missing asset is a 404, not the app page or another file; a real one is cached with its own type.
    const missing = await fetch(`${w.base}/assets/missing.css`);
    assert.equal(missing.status, 404);
    assert.doesNotMatch(missing.headers.get('content-type') ?? '', /text\/(html|css)/);
    const html = await (await fetch(`${w.base}/`)).text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${w.base}${asset}`);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    const me = await w.t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.statusCode, 200);
    assert.equal(me.headers['cache-control'], 'no-store');
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

  it('a violation in the browser reaches the server as a report, logged as csp.violation [ASVS V3.4.7]', async () => {
    const page = await w.newPage();
    // Another page than the recorder's test above: the same violation of the same page is logged once a minute.
    await page.goto(`${w.base}/forgot-password`);
    await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
    const before = w.problems.length;
    const logged = () => w.t.logs.filter((l) => l.includes('"event":"csp.violation"') && l.includes('require-trusted-types-for'));
    const already = logged().length;
    await page.evaluate(`(() => { try { document.body.insertAdjacentHTML('beforeend', '<b>x</b>'); } catch {} })()`);
    const recorded = () => w.problems.slice(before).some((p) => p.startsWith('CSP violation'));
    for (let i = 0; i < 100 && (logged().length === already || !recorded()); i++) await page.waitForTimeout(100);
    assert.ok(logged().length > already, 'the report arrived and was logged');
    const entry = JSON.parse(logged().at(-1)!);
    assert.match(String(entry.document), /\/forgot-password$/);
    w.problems.splice(before);
    // The app still works after reporting: it signs in.
    await page.goto(`${w.base}/sign-in`);
    await page.getByLabel('Username or email').fill(ROOT.username);
    await page.getByLabel('Password', { exact: true }).fill(ROOT.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    assertClean(w);
  });

  it('sign-out that the server refuses says so and keeps the user signed in; a planted unprefixed XSRF cookie is ignored [ASVS V3.3.3]', async () => {
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
