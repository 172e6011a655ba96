// GET /api/auth/mfa tells what this server offers to set up (`available`): SMS codes only with a gateway,
// passkeys only with an RP ID, email codes only when the `mfa` setting `emailCodes` offers them (off by default).
// The sign-in & security screen shows or hides its sections by it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, login, makeApp } from '../../helpers/app.js';

async function availableWith(env: Record<string, string>) {
  const t = await makeApp({ env });
  try {
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/auth/mfa' });
    assert.equal(anonymous.statusCode, 401, 'signed out: refused');
    const { token } = await login(t);
    const res = await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(token) });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().available;
  } finally {
    await t.close();
  }
}

test('without an SMS gateway or an RP ID neither is offered', async () => {
  assert.deepEqual(await availableWith({}), { sms: false, passkeys: false, email: false });
});

test('with a gateway and an RP ID both are offered', async () => {
  const env = {
    SMS_KANNEL_URL: 'http://127.0.0.1:9/cgi-bin/sendsms',
    SMS_KANNEL_USER: 'palisade',
    SMS_KANNEL_PASSWORD: 'Kannel-secret-1234',
    WEBAUTHN_RP_ID: 'localhost',
    WEBAUTHN_ORIGINS: 'http://localhost:3000',
  };
  assert.deepEqual(await availableWith(env), { sms: true, passkeys: true, email: false });
});
