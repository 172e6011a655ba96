// Attacks on IP as a factor (AUTH-12): basic authentication never skips the second factor, whatever the
// address; a forged X-Forwarded-For (no trusted proxy) does not make an address trusted; a sign-in that
// skipped the factor does not count towards adaptive trust (trust cannot renew itself without the factor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, useApp, type TestApp } from '../../../helpers/app.js';
import { PW, code, totp, userWithTotp } from '../world.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  {},
  true,
);

const ipSettings = async (patch: object) => {
  const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa-ip', headers: bearer(admin), payload: patch });
  assert.equal(r.statusCode, 200, r.body);
};
const signInFrom = (ip: string, username: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password: PW }, remoteAddress: ip, headers });

test('basic authentication never skips the second factor, even from a trusted address; the password sign-in there does', async () => {
  await userWithTotp(t, admin, 'gus');
  await ipSettings({ skipSecondFactor: true, trustedRanges: ['127.0.0.0/8'], adaptive: true, adaptiveSuccesses: 1 });
  const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/api-keys', headers: bearer(admin), payload: { basicAuth: true } });
  assert.equal(r.statusCode, 200, r.body);
  const basic = { authorization: `Basic ${Buffer.from(`gus:${PW}`).toString('base64')}` };
  const refused = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: basic, remoteAddress: '127.0.0.1' });
  assert.equal(code(refused), 'MFA_REQUIRED', refused.body);
  const records = await t.app.inject({ method: 'GET', url: '/api/collections', headers: basic, remoteAddress: '127.0.0.1' });
  assert.equal(code(records), 'MFA_REQUIRED', records.body);
  const ok = await signInFrom('127.0.0.1', 'gus');
  assert.equal(ok.statusCode, 200, ok.body);
});

test('a forged X-Forwarded-For is not the sign-in address: no skip', async () => {
  await userWithTotp(t, admin, 'ida');
  await ipSettings({ skipSecondFactor: true, trustedRanges: ['10.0.0.0/8'] });
  assert.equal(code(await signInFrom('203.0.113.50', 'ida', { 'x-forwarded-for': '10.1.2.3', 'x-real-ip': '10.1.2.3' })), 'MFA_REQUIRED');
  assert.equal((await signInFrom('10.1.2.3', 'ida')).statusCode, 200, 'from the range itself');
});

test('sign-ins that skipped the factor do not renew adaptive trust: after the period the factor is asked again', async () => {
  const { secret } = await userWithTotp(t, admin, 'jo');
  await ipSettings({ skipSecondFactor: true, adaptive: true, adaptiveSuccesses: 1, adaptivePeriod: 3600 });
  const first = await signInFrom('198.51.100.20', 'jo');
  t.clock.advance(30);
  const done = await t.app.inject({
    method: 'POST',
    url: '/api/auth/mfa/verify',
    payload: { challengeToken: first.json().error.details.challengeToken, method: 'totp', code: totp(t, secret) },
    remoteAddress: '198.51.100.20',
  });
  assert.equal(done.statusCode, 200, done.body);
  for (let i = 0; i < 5; i++) {
    t.clock.advance(600);
    assert.equal((await signInFrom('198.51.100.20', 'jo')).statusCode, 200);
  }
  t.clock.advance(601);
  assert.equal(code(await signInFrom('198.51.100.20', 'jo')), 'MFA_REQUIRED', 'an hour and a second after the one full sign-in');
});
