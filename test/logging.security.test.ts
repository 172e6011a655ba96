// Bug class: secrets in logs (AUDIT-2). A login, a renewal and authenticated calls leave
// no password, token, cookie or XSRF value in the JSON log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, bearer, cookies, ROOT } from './helpers/app.js';

test('no password, token, cookie or XSRF token reaches the log [ASVS V16.2.5]', async () => {
  const t = await makeApp({ env: { LOG_LEVEL: 'trace' } });
  try {
    const a = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password } });
    const token = a.json().token as string;
    await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
    const b = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password, mode: 'cookie' } });
    const cookie = cookies(b)['__Host-palisade_session']!.value;
    const xsrf = b.json().xsrfToken as string;
    t.clock.advance(16 * 60);
    const renewed = await t.app.inject({
      method: 'POST',
      url: '/api/auth/refresh',
      cookies: { '__Host-palisade_session': cookie },
      headers: { 'x-xsrf-token': xsrf },
    });
    const renewedCookie = cookies(renewed)['__Host-palisade_session']!.value;
    await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: 'Wrong-but-secret-123' } });
    await t.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(token),
      payload: { currentPassword: 'x'.repeat(3), newPassword: 'Another-secret-456' },
    });

    const log = t.logs.join('');
    assert.ok(t.logs.length > 6, 'requests were logged');
    assert.match(log, /"method":"POST","route":"\/api\/auth\/login"/, 'the sign-in requests were logged');
    for (const secret of [ROOT.password, 'Wrong-but-secret-123', 'Another-secret-456', token, token.split('.')[2]!, cookie, renewedCookie, xsrf]) {
      assert.equal(log.includes(secret), false, `a secret leaked into the log: ${secret.slice(0, 6)}...`);
    }
  } finally {
    await t.close();
  }
});
