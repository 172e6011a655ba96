// Bug class: cross-site request forgery against cookie sessions, and token-mode confusion.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, login, bearer, cookies, ROOT, type TestApp } from '../helpers/app.js';

let t: TestApp;
before(async () => {
  t = await makeApp();
});
after(() => t.close());

const COOKIE = '__Host-palisade_session';

async function browserLogin() {
  const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password, mode: 'cookie' } });
  return { cookie: cookies(res)[COOKIE]!.value, xsrf: res.json().xsrfToken as string };
}
const me = (cookie: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', cookies: { [COOKIE]: cookie } });

test('an unsafe cookie request without the XSRF token is refused and changes nothing [ASVS V3.5.1, V3.5.2]', async () => {
  const b = await browserLogin();
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/logout', cookies: { [COOKIE]: b.cookie } });
  assert.equal(r.statusCode, 403);
  assert.equal(r.json().error.code, 'XSRF_TOKEN_INVALID');
  assert.equal((await me(b.cookie)).statusCode, 200, 'the session was not ended');
});

test("another session's XSRF token or a wrong one is refused [ASVS V3.5.1]", async () => {
  const a = await browserLogin();
  const b = await browserLogin();
  for (const x of [b.xsrf, 'x', a.xsrf.slice(0, -1) + (a.xsrf.endsWith('A') ? 'B' : 'A')]) {
    const r = await t.app.inject({ method: 'POST', url: '/api/auth/logout', cookies: { [COOKIE]: a.cookie }, headers: { 'x-xsrf-token': x } });
    assert.equal(r.statusCode, 403);
  }
  assert.equal((await me(a.cookie)).statusCode, 200);
});

test('the right XSRF token lets the browser through; safe methods need none [ASVS V3.5.1]', async () => {
  const b = await browserLogin();
  assert.equal((await me(b.cookie)).statusCode, 200);
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/logout', cookies: { [COOKIE]: b.cookie }, headers: { 'x-xsrf-token': b.xsrf } });
  assert.equal(r.statusCode, 204);
  assert.equal((await me(b.cookie)).statusCode, 401);
});

test('the XSRF check runs before renewal: a forged request on an expired cookie renews nothing [ASVS V3.5.1]', async () => {
  const b = await browserLogin();
  t.clock.advance(16 * 60);
  const forged = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', cookies: { [COOKIE]: b.cookie } });
  assert.equal(forged.statusCode, 403);
  assert.equal(cookies(forged)[COOKIE], undefined);
  const ok = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', cookies: { [COOKIE]: b.cookie }, headers: { 'x-xsrf-token': b.xsrf } });
  assert.equal(ok.statusCode, 200);
  assert.ok(cookies(ok)[COOKIE]);
  assert.equal(ok.json().token, undefined, 'cookie mode never puts the token in a body');
});

test('bearer requests need no XSRF token', async () => {
  const { token } = await login(t);
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(token) });
  assert.equal(r.statusCode, 204);
});

test('a cookie-session token presented as a bearer token, or the reverse, is refused [ASVS V9.2.2]', async () => {
  const b = await browserLogin();
  const asBearer = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(b.cookie) });
  assert.equal(asBearer.statusCode, 401);
  assert.equal(asBearer.json().error.code, 'TOKEN_INVALID');
  const { token } = await login(t);
  const asCookie = await me(token);
  assert.equal(asCookie.statusCode, 401);
  assert.equal(asCookie.json().error.code, 'TOKEN_INVALID');
});

test('COOKIE_INSECURE_DEV drops Secure and the __Host- prefix, and only on loopback [ASVS V3.3.1, V13.4.2]', async () => {
  const dev = await makeApp({ env: { COOKIE_INSECURE_DEV: 'true' } });
  try {
    const res = await dev.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password, mode: 'cookie' } });
    const c = cookies(res);
    assert.ok(c.palisade_session);
    assert.doesNotMatch(c.palisade_session.attrs, /Secure/);
    assert.match(c.palisade_session.attrs, /HttpOnly/);
  } finally {
    await dev.close();
  }
  await assert.rejects(makeApp({ env: { COOKIE_INSECURE_DEV: 'true', HOST: '0.0.0.0' } }), /loopback/);
});

// Bug class: a state change behind a safe method. A GET or HEAD is what an <img>, a link or a prefetch sends with the
// cookie and without any XSRF token; none of them may sign out, renew or end sessions.
test('state changes answer only unsafe methods: a GET or HEAD to them, cookie and XSRF token included, changes nothing [ASVS V3.5.3]', async () => {
  const b = await browserLogin();
  for (const method of ['GET', 'HEAD'] as const) {
    for (const url of ['/api/auth/logout', '/api/auth/logout-all', '/api/auth/refresh', '/api/admin/keys/rotate']) {
      const r = await t.app.inject({ method, url, cookies: { [COOKIE]: b.cookie }, headers: { 'x-xsrf-token': b.xsrf } });
      assert.ok([404, 405].includes(r.statusCode), `${method} ${url}: ${r.statusCode}`);
      assert.equal(cookies(r)[COOKIE], undefined, `${method} ${url} wrote no session cookie`);
    }
  }
  assert.equal((await me(b.cookie)).statusCode, 200, 'the session lives on');
  // The same change by POST, as the browser's app sends it, goes through.
  const out = await t.app.inject({ method: 'POST', url: '/api/auth/logout-all', cookies: { [COOKIE]: b.cookie }, headers: { 'x-xsrf-token': b.xsrf } });
  assert.equal(out.statusCode, 204, out.body);
  assert.equal((await me(b.cookie)).statusCode, 401);
});
