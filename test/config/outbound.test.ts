// OUTBOUND_ALLOW (D435, ASVS V13.2.4, V13.2.5): the systems Palisade may connect to. Set, the environment's
// destinations must be on it (the start refuses otherwise), an administrator's (an SSO provider, the reCAPTCHA
// verifier) are refused when saved, and one saved before the list is never connected to.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig, ConfigError } from '../../src/app-config.js';
import { bearer, DIALECT, login, makeApp, ROOT, type TestApp } from '../helpers/app.js';
import { setBotCheck, SiteVerifyServer } from '../auth/bot-check/helpers.js';
import { OutboundAllowlist } from '../../src/config/outbound.js';

const TMP_ROOT = mkdtempSync(path.join(tmpdir(), 'palisade-out-'));
after(() => rmSync(TMP_ROOT, { recursive: true, force: true }));

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ DATA_DIR: mkdtempSync(path.join(TMP_ROOT, 'd-')), APP_KEY: randomBytes(32).toString('base64url'), ...env }, { generateKey: false });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
};

test('with OUTBOUND_ALLOW set, a destination of the environment off the list stops the start; on it, it starts [ASVS V13.2.4, V13.2.5]', () => {
  const env = {
    DATABASE_URL: 'postgres://app@db.internal/x?sslmode=verify-full',
    REDIS_URL: 'rediss://cache.internal:6380',
    LOG_DESTINATION: 'syslog+tls://10.1.2.3:6514',
  };
  assert.deepEqual(problemsOf({ ...env, OUTBOUND_ALLOW: 'db.internal, *.internal, 10.0.0.0/8' }), []);
  const refused = problemsOf({ ...env, OUTBOUND_ALLOW: 'db.internal' });
  assert.ok(refused.includes('REDIS_URL reaches cache.internal, which is not in OUTBOUND_ALLOW'), refused.join(' | '));
  assert.ok(refused.includes('LOG_DESTINATION reaches 10.1.2.3, which is not in OUTBOUND_ALLOW'), refused.join(' | '));
  assert.ok(!refused.some((p) => p.startsWith('DATABASE_URL')));
  // Loopback is listed like any other destination; a socket path has no host.
  assert.ok(problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379', OUTBOUND_ALLOW: 'db.internal' }).some((p) => p.startsWith('REDIS_URL reaches 127.0.0.1')));
  assert.deepEqual(problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379', OUTBOUND_ALLOW: '127.0.0.1' }), []);
  assert.deepEqual(problemsOf({ DATABASE_URL: 'postgres://app@%2Frun%2Fpostgresql/x', OUTBOUND_ALLOW: 'db.internal' }), []);
  // A suffix matches below it only; without a list nothing is checked; a malformed entry is named.
  assert.ok(problemsOf({ ...env, OUTBOUND_ALLOW: '*.internal,10.0.0.0/8,evilinternal' }).length === 0);
  assert.ok(problemsOf({ REDIS_URL: 'rediss://internal:6380', OUTBOUND_ALLOW: '*.internal' }).some((p) => p.startsWith('REDIS_URL reaches internal,')));
  assert.deepEqual(problemsOf(env), []);
  assert.ok(problemsOf({ OUTBOUND_ALLOW: 'ok.example,http://x/,10.0.0.0/99' }).filter((p) => p.startsWith('OUTBOUND_ALLOW:')).length === 2);
});

const verifier = new SiteVerifyServer('6LeTestSecretKey_abcdefghijklmnopqrstuv');
before(() => verifier.start());
after(() => verifier.stop());

// On PostgreSQL the test database is on 127.0.0.1, where the local verifier also is: a list that lets the first in
// lets the second in too. The rule does not depend on the dialect.
const sqliteOnly = { skip: DIALECT === 'postgres' ? 'the test database and the local verifier share 127.0.0.1' : false };

test("an administrator's destination off the list is refused when saved; one saved before the list is never reached [ASVS V13.2.4]", sqliteOnly, async () => {
  const open = await makeApp();
  let listed: TestApp | undefined;
  try {
    const admin = (await login(open)).token;
    // A second instance on the same storage, with a list that names the identity provider's domain only.
    listed = await makeApp({ peerOf: open, env: { OUTBOUND_ALLOW: 'idp.example.org,*.corp.example' } });
    const token = (await login(listed)).token;
    // Saved where no list is set: the verifier on loopback, and an OIDC provider.
    await setBotCheck(open, admin, {
      mode: 'recaptcha',
      when: 'always',
      recaptchaSiteKey: '6LeTestSiteKey_abcdefghijklmnopqrstuvwx',
      recaptchaSecretKey: '6LeTestSecretKey_abcdefghijklmnopqrstuv',
      recaptchaVerifyUrl: verifier.url,
      recaptchaTimeout: 1000,
    });
    const sso = (t: TestApp, token: string, slug: string, issuer: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/admin/sso/providers',
        headers: bearer(token),
        payload: { slug, type: 'oidc', displayName: slug, oidc: { issuer, clientId: 'palisade', clientSecret: 'a-client-secret-of-some-length' } },
      });
    assert.equal((await sso(open, admin, 'early', 'https://idp.elsewhere.example')).statusCode, 201);
    open.clock.advance(2); // past each instance's one-second settings cache
    const refused = await sso(listed, token, 'evil', 'https://idp.elsewhere.example');
    assert.equal(refused.statusCode, 400, refused.body);
    assert.equal(refused.json().error.code, 'OUTBOUND_NOT_ALLOWED');
    assert.match(refused.body, /idp\.elsewhere\.example is not in OUTBOUND_ALLOW/);
    assert.equal((await sso(listed, token, 'corp', 'https://login.corp.example')).statusCode, 201);
    const verifierUrl = await listed.app.inject({
      method: 'PATCH',
      url: '/api/admin/settings/bot-check',
      headers: bearer(token),
      payload: { recaptchaVerifyUrl: 'http://127.0.0.1:6379/siteverify' },
    });
    assert.equal(verifierUrl.json().error?.code, 'OUTBOUND_NOT_ALLOWED', verifierUrl.body);
    // The provider saved before is not started; the verifier saved before is never asked.
    const start = await listed.app.inject({ method: 'GET', url: '/api/auth/sso/early/start' });
    assert.equal(start.statusCode, 302, start.body);
    assert.equal(start.headers.location, '/sign-in#error=SSO_PROVIDER_UNAVAILABLE');
    // Which an unreachable provider also answers: the refusal is the list's, before any connection.
    const early = (await listed.s.sso.providers.get('early'))!;
    assert.throws(
      () => listed!.s.sso.providers.assertReachable(early),
      (e: { code?: string; internal?: string }) => e.code === 'SSO_PROVIDER_UNAVAILABLE' && /not in OUTBOUND_ALLOW/.test(e.internal ?? ''),
    );
    assert.doesNotThrow(() => open.s.sso.providers.assertReachable(early));
    const asked = verifier.requests.length;
    const signIn = await listed.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: ROOT.username, password: ROOT.password, botCheck: verifier.token('human', 0.9) },
    });
    assert.equal(signIn.statusCode, 503, signIn.body);
    assert.equal(signIn.json().error.code, 'BOT_CHECK_UNAVAILABLE');
    assert.equal(verifier.requests.length, asked, 'the verifier off the list was not asked');
    // The instance without a list reaches the same verifier.
    const ok = await open.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: ROOT.username, password: ROOT.password, botCheck: verifier.token('human-2', 0.9) },
    });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(verifier.requests.length, asked + 1);
    // The doctor says whether a list is set.
    const check = async (t: TestApp, tok: string) =>
      (await t.app.inject({ method: 'GET', url: '/api/admin/doctor', headers: bearer(tok) }))
        .json()
        .checks.find((c: { id: string }) => c.id === 'outbound-allowlist');
    assert.equal((await check(open, ok.json().token)).status, 'warn');
    assert.equal((await check(listed, token)).status, 'pass');
  } finally {
    await listed?.close();
    await open.close();
  }
});

test('host matching: names exactly (case and a final dot aside), *.domain below the domain only, addresses and ranges as addresses [ASVS V13.2.4]', () => {
  const problems: string[] = [];
  const list = OutboundAllowlist.fromEnv({ OUTBOUND_ALLOW: 'example.org, *.corp.example, 10.0.0.0/8, ::ffff:192.0.2.7, 127.0.0.1' }, problems)!;
  assert.deepEqual(problems, []);
  for (const h of [
    'example.org',
    'EXAMPLE.ORG',
    'example.org.',
    'a.corp.example',
    'b.a.corp.example',
    '10.2.3.4',
    '[::ffff:10.2.3.4]',
    '192.0.2.7',
    '127.0.0.1',
    '/run/clamav/clamd.ctl',
  ])
    assert.equal(list.allows(h), true, h);
  for (const h of [
    'badexample.org',
    'a.example.org',
    'example.org.evil.test',
    'corp.example',
    'evilcorp.example',
    '11.0.0.1',
    '127.0.0.2',
    'localhost',
    '[::1]',
  ])
    assert.equal(list.allows(h), false, h);
});
