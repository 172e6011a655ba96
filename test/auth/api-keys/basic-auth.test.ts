// HTTP basic authentication for API clients (AUTH-14): off by default; over HTTPS or from loopback only;
// each request is a password sign-in (lockout, sign-in rate limit, sign-in gates) and opens no session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, events, login, makeApp, useApp, type TestApp } from '../../helpers/app.js';
import { ANN_PW, code, list, notesWorld } from './world.js';

let t: TestApp;
let admin: string;
let annId: string;
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    ({ annId } = await notesWorld(t, admin));
  },
  { env: { TRUSTED_PROXIES: '192.0.2.10' } },
  true,
);

const basic = (user: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });
const enable = async (on = true) => {
  const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/api-keys', headers: bearer(admin), payload: { basicAuth: on } });
  assert.equal(r.statusCode, 200, r.body);
};

test('off by default: basic credentials are refused even when right, as any unknown Authorization scheme', async () => {
  assert.equal(code(await list(t, basic('ann', ANN_PW))), 'TOKEN_INVALID');
});

test('on: right credentials from loopback reach what the user may reach; wrong ones are refused; no session is opened', async () => {
  await enable();
  const ok = await list(t, basic('ann', ANN_PW));
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(code(await list(t, basic('ann', 'wrong-password-1'))), 'INVALID_CREDENTIALS');
  assert.equal(code(await list(t, basic('nobody', ANN_PW))), 'INVALID_CREDENTIALS');
  assert.equal(code(await list(t, { authorization: 'Basic !!!' })), 'INVALID_CREDENTIALS');
  assert.equal(code(await list(t, { authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` })), 'INVALID_CREDENTIALS');
  const sessions = (await t.app.inject({ method: 'GET', url: `/api/admin/users/${annId}/sessions`, headers: bearer(admin) })).json().sessions;
  assert.equal(sessions.length, 1, 'only the session the world signed ann in with');
  assert.equal(code(await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: basic('ann', ANN_PW) })), 'SESSION_REQUIRED');
});

test('only over HTTPS or from loopback: plain HTTP from elsewhere is refused before the password is checked', async () => {
  await enable();
  const far = await t.app.inject({ method: 'GET', url: '/api/collections/notes/records', headers: basic('ann', ANN_PW), remoteAddress: '203.0.113.5' });
  assert.equal(code(far), 'INSECURE_TRANSPORT');
  // A forwarded protocol is believed only from a trusted proxy.
  const spoofed = await t.app.inject({
    method: 'GET',
    url: '/api/collections/notes/records',
    headers: { ...basic('ann', ANN_PW), 'x-forwarded-proto': 'https' },
    remoteAddress: '203.0.113.5',
  });
  assert.equal(code(spoofed), 'INSECURE_TRANSPORT');
  const proxied = await t.app.inject({
    method: 'GET',
    url: '/api/collections/notes/records',
    headers: { ...basic('ann', ANN_PW), 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.5' },
    remoteAddress: '192.0.2.10',
  });
  assert.equal(proxied.statusCode, 200, proxied.body);
});

test('brute force over basic auth hits the lockout: after the limit even the right password is refused [ASVS V6.3.1, V6.3.4]', async () => {
  await enable();
  // The lockout's default: 10 invalid attempts within the interval.
  for (let i = 0; i < 10; i++) assert.equal(code(await list(t, basic('ann', `wrong-${i}-password`))), 'INVALID_CREDENTIALS');
  assert.equal(code(await list(t, basic('ann', ANN_PW))), 'INVALID_CREDENTIALS', 'locked: the right password is refused too');
  const locked = await events(t, admin, 'account.locked');
  assert.equal(locked.length, 1);
  assert.equal(locked[0]!.subjectId, annId);
});

test('a user whose password must change is refused by the sign-in gates, as at sign-in', async () => {
  await enable();
  await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${annId}`, headers: bearer(admin), payload: { mustChangePassword: true } });
  assert.equal(code(await list(t, basic('ann', ANN_PW))), 'PASSWORD_CHANGE_REQUIRED');
});

test('each basic-authenticated request spends the sign-in budget of its address, like a password sign-in', async () => {
  const r = await makeApp({ realRateLimits: true });
  try {
    const root = (await login(r)).token;
    await r.app.inject({ method: 'PATCH', url: '/api/admin/settings/api-keys', headers: bearer(root), payload: { basicAuth: true } });
    await r.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(root), payload: { authPerIp: 3 } });
    const me = () => r.app.inject({ method: 'GET', url: '/api/admin/security-events', headers: basic('root', 'Correct-horse-battery-9') });
    for (let i = 0; i < 2; i++) assert.equal((await me()).statusCode, 200);
    assert.equal(code(await me()), 'RATE_LIMITED', 'the login above and two requests spent the budget of 3');
    assert.equal(
      (await r.app.inject({ method: 'GET', url: '/api/admin/security-events', headers: bearer(root) })).statusCode,
      200,
      'a session is not affected',
    );
  } finally {
    await r.close();
  }
});

test('a reverse proxy on the same host is not loopback: plain HTTP through it is refused', async () => {
  const r = await makeApp({ env: { TRUSTED_PROXIES: '127.0.0.1' } });
  try {
    const root = (await login(r)).token;
    await r.app.inject({ method: 'PATCH', url: '/api/admin/settings/api-keys', headers: bearer(root), payload: { basicAuth: true } });
    const headers = { ...basic('root', 'Correct-horse-battery-9'), 'x-forwarded-for': '203.0.113.5' };
    const plain = await r.app.inject({
      method: 'GET',
      url: '/api/admin/security-events',
      headers: { ...headers, 'x-forwarded-proto': 'http' },
      remoteAddress: '127.0.0.1',
    });
    assert.equal(code(plain), 'INSECURE_TRANSPORT');
    const tls = await r.app.inject({
      method: 'GET',
      url: '/api/admin/security-events',
      headers: { ...headers, 'x-forwarded-proto': 'https' },
      remoteAddress: '127.0.0.1',
    });
    assert.equal(tls.statusCode, 200, 'HTTPS as the proxy saw it');
  } finally {
    await r.close();
  }
});
