// The token policy (AUTH-2): renewal within the refresh limit, never past the absolute
// session validity, each token renewed once, a grace window for racing requests, and
// reuse detection that ends the whole session.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { makeApp, login, bearer, events, cookies, ROOT, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeEach(async () => {
  t = await makeApp();
});
afterEach(() => t.close());

const refresh = (token: string) => t.app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(token) });
const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });

test('a token past its validity but inside the refresh limit is renewed once; the new one works [ASVS V7.3.1]', async () => {
  const { token } = await login(t);
  t.clock.advance(16 * 60);
  assert.equal((await me(token)).json().error.code, 'TOKEN_EXPIRED');
  const r = await refresh(token);
  assert.equal(r.statusCode, 200);
  const next = r.json().token;
  assert.notEqual(next, token);
  assert.equal((await me(next)).statusCode, 200);
  assert.equal(Date.parse(r.json().tokenExpiresAt), t.clock.now() + 15 * 60 * 1000);
});

test('an idle user is signed out after token validity + refresh limit [ASVS V7.3.1]', async () => {
  const { token } = await login(t);
  t.clock.advance(30 * 60 + 1);
  const r = await refresh(token);
  assert.equal(r.statusCode, 401);
  assert.equal(r.json().error.code, 'TOKEN_EXPIRED');
});

test('an active user is never signed out before the session validity, and always at it [ASVS V7.3.2]', async () => {
  let { token } = await login(t);
  const start = t.clock.now();
  // Renew every 14 minutes for 8 hours.
  while (t.clock.now() - start < 8 * 3600 * 1000 - 14 * 60 * 1000) {
    t.clock.advance(14 * 60);
    const r = await refresh(token);
    assert.equal(r.statusCode, 200, `renewal at +${(t.clock.now() - start) / 60000} min`);
    token = r.json().token;
    assert.ok(Date.parse(r.json().tokenExpiresAt) <= start + 8 * 3600 * 1000, 'a token never outlives the session');
    assert.equal(Date.parse(r.json().sessionExpiresAt), start + 8 * 3600 * 1000, 'renewal never extends the session');
  }
  t.clock.t = start + 8 * 3600 * 1000;
  const end = await refresh(token);
  assert.equal(end.statusCode, 401);
  assert.equal(end.json().error.code, 'SESSION_ENDED');
});

test('renewing the same token twice inside the grace window hands out the same new token', async () => {
  const { token } = await login(t);
  t.clock.advance(16 * 60);
  const a = (await refresh(token)).json().token;
  t.clock.advance(5);
  const b = await refresh(token);
  assert.equal(b.statusCode, 200);
  assert.equal(b.json().token, a);
});

test('renewing an already-renewed token after the grace window ends the session and logs reuse [ASVS V16.3.3]', async () => {
  const { token, userId } = await login(t);
  t.clock.advance(16 * 60);
  const next = (await refresh(token)).json().token;
  t.clock.advance(11);
  const replay = await refresh(token);
  assert.equal(replay.statusCode, 401);
  assert.equal(replay.json().error.code, 'TOKEN_REUSED');
  // The whole session is gone: the legitimately renewed token too.
  assert.equal((await me(next)).json().error.code, 'SESSION_ENDED');
  const admin = (await login(t)).token;
  const reuse = await events(t, admin, 'token.reuse_detected');
  assert.equal(reuse.length, 1);
  assert.equal(reuse[0]!.subjectId, userId);
});

test('20 concurrent renewals of one token produce exactly one new token [ASVS V2.3.4]', async () => {
  const { token } = await login(t);
  t.clock.advance(16 * 60);
  const results = await Promise.all(Array.from({ length: 20 }, () => refresh(token)));
  assert.ok(results.every((r) => r.statusCode === 200));
  assert.equal(new Set(results.map((r) => r.json().token)).size, 1);
  const admin = (await login(t)).token;
  assert.equal((await events(t, admin, 'token.renewed')).length, 1);
});

test('browser sessions renew automatically with a new cookie; the XSRF token stays valid', async () => {
  const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password, mode: 'cookie' } });
  const c = cookies(res)['__Host-palisade_session']!.value;
  const xsrf = res.json().xsrfToken;
  t.clock.advance(16 * 60);
  const r = await t.app.inject({ method: 'GET', url: '/api/auth/me', cookies: { '__Host-palisade_session': c } });
  assert.equal(r.statusCode, 200);
  const renewed = cookies(r)['__Host-palisade_session'];
  assert.ok(renewed && renewed.value !== c, 'a new session cookie is set');
  const s2 = await t.app.inject({ method: 'GET', url: '/api/auth/sessions', cookies: { '__Host-palisade_session': renewed.value } });
  assert.equal(s2.statusCode, 200);
  const out = await t.app.inject({
    method: 'POST',
    url: '/api/auth/logout',
    cookies: { '__Host-palisade_session': renewed.value },
    headers: { 'x-xsrf-token': xsrf },
  });
  assert.equal(out.statusCode, 204);
});

test('browser sessions also sign out when idle [ASVS V7.3.1]', async () => {
  const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password, mode: 'cookie' } });
  const c = cookies(res)['__Host-palisade_session']!.value;
  t.clock.advance(31 * 60);
  const r = await t.app.inject({ method: 'GET', url: '/api/auth/me', cookies: { '__Host-palisade_session': c } });
  assert.equal(r.statusCode, 401);
  assert.equal(r.json().error.code, 'TOKEN_EXPIRED');
});

/** The README's "Session limits" section, and the default of an env var in its configuration table, in seconds. */
const README = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
const sessionLimits = (): string => {
  const at = README.indexOf('\n### Session limits\n');
  assert.ok(at > 0, 'the README has a "Session limits" section');
  const end = README.indexOf('\n#', at + 5);
  return README.slice(at, end < 0 ? undefined : end);
};
const documentedDefault = (env: string): number => {
  const m = new RegExp(`^\\| \`${env}\` \\| \`(\\d+)([smhd])\` \\|`, 'm').exec(README);
  assert.ok(m, `${env} is in the README's table with its default`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
};

test('the README documents the inactivity timeout and the absolute lifetimes the server enforces, and its deviation from NIST SP 800-63B with the reason [ASVS V7.1.1]', async () => {
  const admin = (await login(t)).token;
  const policy = (await t.app.inject({ method: 'GET', url: '/api/admin/settings/token-policy', headers: bearer(admin) })).json();
  assert.equal(documentedDefault('SESSION_VALIDITY'), policy.sessionValidity);
  assert.equal(documentedDefault('TOKEN_VALIDITY'), policy.tokenValidity);
  assert.equal(documentedDefault('REFRESH_LIMIT'), policy.refreshLimit);
  assert.equal(documentedDefault('REMEMBER_ME_VALIDITY'), policy.rememberMeValidity);
  const doc = sessionLimits();
  const idleMin = (policy.tokenValidity + policy.refreshLimit) / 60;
  assert.match(doc, new RegExp(`\\*\\*Inactivity timeout\\*\\*[\\s\\S]*\\(${idleMin} min by default\\)`));
  assert.match(doc, new RegExp(`\\*\\*Absolute lifetime\\*\\*: \`SESSION_VALIDITY\` \\(${policy.sessionValidity / 3600} h by default\\)`));
  assert.match(doc, new RegExp(`\`REMEMBER_ME_VALIDITY\` \\(${policy.rememberMeValidity / 86400} days\\)`));
  assert.match(doc, /\*\*Against NIST SP 800-63B\*\*[\s\S]*One deviation: [\s\S]*It is the user's choice/);
  // The documented inactivity timeout is the one enforced: a token renews just before it, and not after it.
  const { token } = await login(t);
  t.clock.advance(idleMin * 60 - 1);
  const renewed = await refresh(token);
  assert.equal(renewed.statusCode, 200);
  t.clock.advance(idleMin * 60 + 1);
  assert.equal((await refresh(renewed.json().token)).json().error.code, 'TOKEN_EXPIRED');
});

test('the README says how sessions of single sign-on are bounded and ended, and points at the guides that hold the details [ASVS V7.1.3]', () => {
  const doc = sessionLimits();
  const sso = /\*\*Single sign-on\*\*[\s\S]*/.exec(doc)?.[0] ?? '';
  for (const words of [
    'OIDC, SAML, CAS, LDAP',
    'under the\n  same limits',
    'back-channel',
    'SAML LogoutRequest',
    'CAS and OIDC front-channel logout are not built',
    '`prompt=login`',
    '`max_age`',
  ]) {
    assert.ok(sso.replaceAll('\n  ', ' ').includes(words.replaceAll('\n  ', ' ')), words);
  }
  const guide = (f: string) => readFileSync(path.resolve(import.meta.dirname, '../../docs', f), 'utf8');
  assert.match(sso, /\(docs\/sso\.md\)/);
  assert.match(sso, /\(docs\/oidc-provider\.md\)/);
  assert.match(guide('sso.md'), /^### Back-channel logout \(OIDC\)$/m);
  assert.match(guide('sso.md'), /^### Single logout \(SAML\)$/m);
  assert.match(guide('oidc-provider.md'), /\*\*Sign-out\*\*: the provider session never signs anyone in by itself/);
});

test('the token policy is editable at runtime by an administrator, validated and audited', async () => {
  const admin = (await login(t)).token;
  const get = await t.app.inject({ method: 'GET', url: '/api/admin/settings/token-policy', headers: bearer(admin) });
  assert.deepEqual(get.json(), { sessionValidity: 28800, tokenValidity: 900, refreshLimit: 900, rememberMeValidity: 604800, adminSessionBinding: 'network' });
  const bad = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/token-policy', headers: bearer(admin), payload: { tokenValidity: 100000 } });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'SETTINGS_INVALID');
  const unknown = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/token-policy', headers: bearer(admin), payload: { idle: 5 } });
  assert.equal(unknown.json().error.code, 'VALIDATION_FAILED');
  const ok = await t.app.inject({
    method: 'PATCH',
    url: '/api/admin/settings/token-policy',
    headers: bearer(admin),
    payload: { tokenValidity: 60, refreshLimit: 0 },
  });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.json().tokenValidity, 60);
  const { token } = await login(t);
  t.clock.advance(61);
  assert.equal((await refresh(token)).json().error.code, 'TOKEN_EXPIRED', 'the new policy applies at once');
  const changed = await events(t, (await login(t)).token, 'settings.changed');
  assert.equal(changed.length, 1);
  assert.equal(changed[0]!.details.before.tokenValidity, 900);
  assert.equal(changed[0]!.details.after.tokenValidity, 60);
});

test('a user who is not an administrator cannot read or change the token policy', async () => {
  const admin = (await login(t)).token;
  await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'plain', password: 'Ordinary-user-pw-1' },
  });
  const user = (await login(t, 'plain', 'Ordinary-user-pw-1')).token;
  const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/token-policy', headers: bearer(user), payload: { tokenValidity: 60 } });
  assert.equal(r.statusCode, 403);
  assert.equal(r.json().error.code, 'FORBIDDEN');
  const after = await t.app.inject({ method: 'GET', url: '/api/admin/settings/token-policy', headers: bearer(admin) });
  assert.equal(after.json().tokenValidity, 900, 'nothing changed');
});

test('a stored policy that changed env defaults make inconsistent falls back to the env policy', async () => {
  const admin = (await login(t)).token;
  const ok = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/token-policy', headers: bearer(admin), payload: { tokenValidity: 3600 } });
  assert.equal(ok.statusCode, 200);
  const peer = await makeApp({ peerOf: t, env: { SESSION_VALIDITY: '30m' } });
  try {
    const p = await peer.app.inject({ method: 'GET', url: '/api/admin/settings/token-policy', headers: bearer(admin) });
    assert.deepEqual(p.json(), { sessionValidity: 1800, tokenValidity: 900, refreshLimit: 900, rememberMeValidity: 604800, adminSessionBinding: 'network' });
  } finally {
    await peer.close();
  }
});
