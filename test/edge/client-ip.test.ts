// EDGE-1. Bug class: trusting spoofed forwarding headers (rate-limit and lockout evasion, forged
// audit trails).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveClientIp } from '../../src/edge/client-ip.js';
import { parseCidr } from '../../src/edge/ip.js';
import { makeApp, login, bearer, events } from '../helpers/app.js';

const proxies = (...c: string[]) => c.map((x) => parseCidr(x)!);
const none = { trustedProxies: [], header: null };

test('by default no proxy is trusted: a spoofed header changes nothing [ASVS V15.3.4]', () => {
  assert.equal(resolveClientIp('198.51.100.7', { 'x-forwarded-for': '203.0.113.1' }, none), '198.51.100.7');
  assert.equal(resolveClientIp('198.51.100.7', { forwarded: 'for=203.0.113.1' }, none), '198.51.100.7');
});

test('from a trusted proxy the client is the right-most untrusted address [ASVS V15.3.4]', () => {
  const o = { trustedProxies: proxies('10.0.0.0/8'), header: null };
  assert.equal(resolveClientIp('10.0.0.2', { 'x-forwarded-for': '203.0.113.1, 198.51.100.9, 10.0.0.5' }, o), '198.51.100.9');
  const rfc = { ...o, header: 'forwarded' };
  assert.equal(resolveClientIp('10.0.0.2', { forwarded: 'for=192.0.2.60;proto=http, for="[2001:db8::1]:4711", for=10.0.0.9' }, rfc), '2001:db8::1');
  assert.equal(resolveClientIp('10.0.0.2', {}, o), '10.0.0.2', 'no header: the proxy itself');
  assert.equal(resolveClientIp('10.0.0.2', { 'x-forwarded-for': '10.0.0.7, 10.0.0.5' }, o), '10.0.0.7', 'all trusted: the left-most');
});

test('only the configured header is read: a client-sent Forwarded next to X-Forwarded-For changes nothing', () => {
  const o = { trustedProxies: proxies('10.0.0.0/8'), header: null };
  assert.equal(resolveClientIp('10.0.0.2', { 'x-forwarded-for': '198.51.100.9', forwarded: 'for=10.9.9.9' }, o), '198.51.100.9');
  const rfc = { trustedProxies: proxies('10.0.0.0/8'), header: 'forwarded' };
  assert.equal(resolveClientIp('10.0.0.2', { 'x-forwarded-for': '10.9.9.9', forwarded: 'for=198.51.100.9' }, rfc), '198.51.100.9');
});

test('a malformed hop stops the walk; it can never become the client', () => {
  const o = { trustedProxies: proxies('10.0.0.0/8'), header: null };
  for (const bad of ['not-an-ip', 'fe80::1%eth0', '1.2.3', '999.1.1.1', '0x7f.0.0.1', '']) {
    assert.equal(resolveClientIp('10.0.0.2', { 'x-forwarded-for': `203.0.113.1, ${bad}` }, o), '10.0.0.2', bad);
  }
});

test('a configured single header is believed only from a trusted proxy [ASVS V4.1.3]', () => {
  const o = { trustedProxies: proxies('10.0.0.0/8'), header: 'cf-connecting-ip' };
  assert.equal(resolveClientIp('10.1.1.1', { 'cf-connecting-ip': '203.0.113.5', 'x-forwarded-for': '192.0.2.1' }, o), '203.0.113.5');
  assert.equal(resolveClientIp('198.51.100.1', { 'cf-connecting-ip': '203.0.113.5' }, o), '198.51.100.1');
  assert.equal(resolveClientIp('10.1.1.1', { 'cf-connecting-ip': 'garbage' }, o), '10.1.1.1');
});

test('IPv4-mapped IPv6 addresses are normalised', () => {
  assert.equal(resolveClientIp('::ffff:198.51.100.7', {}, none), '198.51.100.7');
  const o = { trustedProxies: proxies('::ffff:10.0.0.0/104'), header: null };
  assert.equal(resolveClientIp('10.0.0.3', { 'x-forwarded-for': '::ffff:203.0.113.8' }, o), '203.0.113.8');
});

test('through HTTP: the audit trail records the resolved client, not a spoofed one [ASVS V4.1.3, V15.3.4]', async () => {
  const plain = await makeApp();
  const proxied = await makeApp({ env: { TRUSTED_PROXIES: '127.0.0.1/32' } });
  try {
    for (const t of [plain, proxied]) {
      await t.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: 'root', password: 'Wrong-password-000' },
        headers: { 'x-forwarded-for': '203.0.113.50' },
      });
    }
    const a = (await events(plain, (await login(plain)).token, 'auth.login')).find((e) => e.outcome === 'failure');
    assert.equal(a!.ip, '127.0.0.1');
    const b = (await events(proxied, (await login(proxied)).token, 'auth.login')).find((e) => e.outcome === 'failure');
    assert.equal(b!.ip, '203.0.113.50');
    const sessions = await proxied.app.inject({
      method: 'GET',
      url: '/api/auth/sessions',
      headers: { ...bearer((await login(proxied)).token), 'x-forwarded-for': '198.51.100.1' },
    });
    assert.ok(
      sessions.json().sessions.every((x: { ip: string }) => x.ip === '127.0.0.1'),
      'logins without the header come from the proxy itself',
    );
  } finally {
    await plain.close();
    await proxied.close();
  }
});

test('invalid TRUSTED_PROXIES or a header without proxies fail at boot', async () => {
  await assert.rejects(makeApp({ env: { TRUSTED_PROXIES: '10.0.0.0/33' } }), /TRUSTED_PROXIES/);
  await assert.rejects(makeApp({ env: { CLIENT_IP_HEADER: 'cf-connecting-ip' } }), /CLIENT_IP_HEADER needs TRUSTED_PROXIES/);
});
