// ASVS V8.4.2 (D444): administrator routes have layers beyond the live session, its permission and the admin IP
// list: a session calls them only from where it was signed in (by default the same IPv4 /24 or IPv6 /48 and the same
// browser, versions aside). Elsewhere the answer is 403 SESSION_CONTEXT_CHANGED, an access.refused event, and the
// administrator signs in again from the new place. Ordinary routes are not bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, events, login, makeApp, ROOT, useApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
useApp((app) => {
  t = app;
});

const FIREFOX = (v: string) => `Mozilla/5.0 (X11; Linux x86_64; rv:${v}) Gecko/20100101 Firefox/${v}`;
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

async function signInFrom(ip: string, ua: string): Promise<string> {
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, headers: { 'user-agent': ua }, payload: ROOT });
  assert.equal(r.statusCode, 200, r.body);
  return r.json().token;
}
const call = (url: string, token: string, ip: string, ua: string) =>
  t.app.inject({ method: 'GET', url, remoteAddress: ip, headers: { ...bearer(token), 'user-agent': ua } });
const codeOf = (r: { statusCode: number; json(): any }) => (r.statusCode === 200 ? 200 : r.json().error.code);

async function setBinding(binding: string): Promise<void> {
  const r = await t.app.inject({
    method: 'PATCH',
    url: '/api/admin/settings/token-policy',
    headers: bearer((await login(t)).token),
    payload: { adminSessionBinding: binding },
  });
  assert.equal(r.statusCode, 200, r.body);
}

test('an administrator session calls admin routes from its own network only; elsewhere SESSION_CONTEXT_CHANGED, recorded; signing in again there works [ASVS V8.4.2]', async () => {
  const token = await signInFrom('198.51.100.7', FIREFOX('130.0'));
  assert.equal(codeOf(await call('/api/admin/users', token, '198.51.100.7', FIREFOX('130.0'))), 200);
  assert.equal(codeOf(await call('/api/admin/users', token, '198.51.100.200', FIREFOX('130.0'))), 200, 'the same /24');
  assert.equal(codeOf(await call('/api/admin/users', token, '198.51.100.7', CHROME)), 200, 'the user agent is not compared: any client sends any');
  // The attack: a stolen session token replayed from another network.
  const moved = await call('/api/admin/users', token, '203.0.113.9', FIREFOX('130.0'));
  assert.equal(moved.statusCode, 403);
  assert.equal(moved.json().error.code, 'SESSION_CONTEXT_CHANGED');
  assert.deepEqual(moved.json().error.details, { changed: 'network' });
  assert.equal(codeOf(await call('/api/admin/security-events', token, '203.0.113.9', CHROME)), 'SESSION_CONTEXT_CHANGED');
  // Not an admin route: the same session reads its own account from anywhere, and it is not ended.
  assert.equal(codeOf(await call('/api/auth/me', token, '203.0.113.9', CHROME)), 200);
  assert.equal(codeOf(await call('/api/admin/users', token, '198.51.100.7', FIREFOX('130.0'))), 200, 'back home it works');
  const refused = (await events(t, (await login(t)).token, 'access.refused')).filter((e) => e.details.reason === 'SESSION_CONTEXT_CHANGED');
  assert.ok(refused.length >= 1, JSON.stringify(refused));
  assert.equal(refused[0]!.actor.name, ROOT.username);
  // Signing in again from the new place binds the new session there.
  const there = await signInFrom('203.0.113.9', CHROME);
  assert.equal(codeOf(await call('/api/admin/users', there, '203.0.113.9', CHROME)), 200);
  assert.equal(codeOf(await call('/api/admin/users', there, '198.51.100.7', FIREFOX('130.0'))), 'SESSION_CONTEXT_CHANGED');
});

test('IPv6 by its /48; the binding can be the exact address, or off [ASVS V8.4.2]', async () => {
  const v6 = await signInFrom('2001:db8:aa:1::5', CHROME);
  assert.equal(codeOf(await call('/api/admin/users', v6, '2001:db8:aa:2::9', CHROME)), 200, 'another /64 of the same /48');
  assert.equal(codeOf(await call('/api/admin/users', v6, '2001:db8:bb::5', CHROME)), 'SESSION_CONTEXT_CHANGED');

  await setBinding('address');
  const exact = await signInFrom('198.51.100.7', CHROME);
  assert.equal(codeOf(await call('/api/admin/users', exact, '198.51.100.7', CHROME)), 200);
  const next = await call('/api/admin/users', exact, '198.51.100.8', CHROME);
  assert.equal(codeOf(next), 'SESSION_CONTEXT_CHANGED', 'the next address');
  assert.deepEqual(next.json().error.details, { changed: 'address' });

  await setBinding('off');
  assert.equal(codeOf(await call('/api/admin/users', exact, '203.0.113.9', FIREFOX('130.0'))), 200);
  const bad = await t.app.inject({
    method: 'PATCH',
    url: '/api/admin/settings/token-policy',
    headers: bearer((await login(t)).token),
    payload: { adminSessionBinding: 'anywhere' },
  });
  assert.equal(bad.json().error.code, 'VALIDATION_FAILED');
  await setBinding('network');
});

test('every administration is bound: admin routes outside /api/admin and, for a holder of power, a key minted by a fresh session; a plain user is not [ASVS V8.4.2]', async () => {
  const token = await signInFrom('198.51.100.7', CHROME);
  assert.equal(codeOf(await call('/api/access/explain?user=x&collection=y', token, '203.0.113.9', CHROME)), 'SESSION_CONTEXT_CHANGED', 'auth: admin');
  // A fresh administrator session used from elsewhere cannot mint an API key that would carry its power past the binding.
  const mint = (tok: string, ip: string) =>
    t.app.inject({ method: 'POST', url: '/api/auth/api-keys', remoteAddress: ip, headers: { ...bearer(tok), 'user-agent': CHROME }, payload: { name: 'x' } });
  assert.equal(codeOf(await mint(token, '203.0.113.9')), 'SESSION_CONTEXT_CHANGED');
  assert.notEqual(codeOf(await mint(token, '198.51.100.7')), 'SESSION_CONTEXT_CHANGED', 'from its own network the request reaches the route');
  // A user with no system permission is not bound: their phone changes networks.
  await createUser(t, (await login(t)).token, 'pat', 'Plain-user-pass-4417');
  const pat = (
    await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      remoteAddress: '198.51.100.7',
      payload: { username: 'pat', password: 'Plain-user-pass-4417' },
    })
  ).json().token;
  assert.notEqual(codeOf(await mint(pat, '203.0.113.9')), 'SESSION_CONTEXT_CHANGED');
  assert.equal(codeOf(await call('/api/auth/me', pat, '203.0.113.9', CHROME)), 200);
});

test('behind a trusted proxy the binding reads the client the proxy names, not the proxy [ASVS V8.4.2]', async () => {
  const p = await makeApp({ env: { TRUSTED_PROXIES: '10.0.0.1/32' } });
  try {
    const via = (client: string, extra: Record<string, unknown> = {}) => ({ remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': client }, ...extra });
    const signIn = await p.app.inject({ method: 'POST', url: '/api/auth/login', payload: ROOT, ...via('198.51.100.7') });
    assert.equal(signIn.statusCode, 200, signIn.body);
    const token = signIn.json().token as string;
    const get = (client: string) =>
      p.app.inject({ method: 'GET', url: '/api/admin/users', ...via(client), headers: { 'x-forwarded-for': client, ...bearer(token) } });
    assert.equal((await get('198.51.100.20')).statusCode, 200, 'the same client network through the proxy');
    const moved = await get('203.0.113.9');
    assert.equal(moved.statusCode, 403);
    assert.equal(moved.json().error.code, 'SESSION_CONTEXT_CHANGED', 'another client through the same proxy');
  } finally {
    await p.close();
  }
});
