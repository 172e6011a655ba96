// Step-up (D432, ASVS V7.5.1-V7.5.3): a sensitive operation needs a session signed in within the last ten minutes.
// An older session gets 403 REAUTH_REQUIRED, changes nothing, and is recorded as a refused authorisation; the user
// signs in again through the one sign-in funnel (password and every second factor held) and the same call passes.
// A renewal keeps the sign-in time, so a stolen session that keeps itself alive never becomes fresh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, events, login, ROOT, type TestApp, useApp } from '../helpers/app.js';

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

const STALE = 10 * 60 + 1;
const PW = 'Step-up-user-pass-41';
const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, token: string, payload?: unknown) =>
  t.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
const refusedStale = (res: { statusCode: number; json(): any; body: string }, what: string) => {
  assert.equal(res.statusCode, 403, `${what}: ${res.body}`);
  assert.equal(res.json().error.code, 'REAUTH_REQUIRED', what);
  assert.equal(res.json().error.details.freshSeconds, 600, what);
};

test("an administrator's change to another user needs a sign-in within 10 minutes; signing in again lets the same change through [ASVS V7.5.1, V7.5.3]", async () => {
  const id = await createUser(t, admin, 'uma', PW, { email: 'uma@example.test' });
  // Fresh: the change passes.
  assert.equal((await call('PATCH', `/api/admin/users/${id}`, admin, { email: 'uma2@example.test' })).statusCode, 200);
  t.clock.advance(STALE);
  // Stale: the recovery address, the password, the factors, the account itself: every write on the user is refused.
  refusedStale(await call('PATCH', `/api/admin/users/${id}`, admin, { email: 'attacker@example.test' }), 'email change');
  refusedStale(await call('PUT', `/api/admin/users/${id}/password`, admin, { password: 'Attacker-chosen-pass-1' }), 'password set');
  refusedStale(
    await call('POST', `/api/admin/users/${id}/mfa/reset`, admin, { identityCheck: { method: 'in_person', reference: 'ticket 1' } }),
    'factor reset',
  );
  refusedStale(await call('DELETE', `/api/admin/users/${id}`, admin), 'deletion');
  refusedStale(await call('POST', `/api/admin/users/${id}/sso-links`, admin, { provider: 'corp', subject: 'attacker' }), 'linking an identity');
  refusedStale(await call('POST', '/api/admin/users', admin, { username: 'mallory', password: PW, isAdmin: true }), 'a new administrator');
  // Reads stay open, and nothing was changed.
  const view = await call('GET', `/api/admin/users/${id}`, admin);
  assert.equal(view.statusCode, 200);
  assert.equal(view.json().user.email, 'uma2@example.test');
  assert.equal((await call('GET', '/api/admin/users?q=mallory', admin)).json().users.length, 0);
  // The refusal is a security event naming the administrator and the route.
  const refused = (await events(t, admin, 'access.refused')).filter((e) => e.details.reason === 'REAUTH_REQUIRED');
  assert.ok(refused.length >= 1, 'a refused step-up is recorded');
  assert.equal(refused[0]!.actor.name, ROOT.username);
  // A sign-in again (the one funnel): the same change passes.
  const again = (await login(t)).token;
  assert.equal((await call('PATCH', `/api/admin/users/${id}`, again, { email: 'uma3@example.test' })).statusCode, 200);
});

test('renewing a token keeps the sign-in time: a session kept alive by renewals is not fresh [ASVS V7.5.3]', async () => {
  const id = await createUser(t, admin, 'vera', PW);
  const signedIn = await login(t, 'vera', PW);
  t.clock.advance(STALE);
  const renewed = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(signedIn.token) });
  assert.equal(renewed.statusCode, 200, renewed.body);
  const token = renewed.json().token as string;
  assert.equal((await call('GET', '/api/auth/me', token)).statusCode, 200, 'the renewed token works');
  refusedStale(await call('POST', '/api/auth/mfa/recovery-codes', token, { password: PW }), 'recovery codes from a renewed session');
  assert.ok(id);
});

test('a user ends another session or all of them only after a recent sign-in; signing out the current one needs none [ASVS V7.5.2]', async () => {
  await createUser(t, admin, 'wim', PW);
  const a = await login(t, 'wim', PW);
  const b = await login(t, 'wim', PW);
  t.clock.advance(STALE);
  // A stolen session (a) cannot sign the real user (b) out.
  refusedStale(await call('DELETE', `/api/auth/sessions/${b.sessionId}`, a.token), 'ending another session');
  refusedStale(await call('POST', '/api/auth/logout-all', a.token), 'ending every session');
  assert.equal((await call('GET', '/api/auth/me', b.token)).statusCode, 200, 'b is still live');
  // Signing out the current session is always allowed.
  assert.equal((await call('DELETE', `/api/auth/sessions/${a.sessionId}`, a.token)).statusCode, 204);
  assert.equal((await call('GET', '/api/auth/me', a.token)).statusCode, 401);
  // The real user signs in again: now they end the other one, and every one.
  const c = await login(t, 'wim', PW);
  assert.equal((await call('GET', '/api/auth/sessions', c.token)).json().sessions.length, 2);
  assert.equal((await call('DELETE', `/api/auth/sessions/${b.sessionId}`, c.token)).statusCode, 204);
  assert.equal((await call('GET', '/api/auth/me', b.token)).statusCode, 401);
  assert.equal((await call('POST', '/api/auth/logout-all', c.token)).statusCode, 204);
  assert.equal((await call('GET', '/api/auth/me', c.token)).statusCode, 401);
});

test("one's own second factors and credentials change only after a recent sign-in, even with the password [ASVS V7.5.1, V7.5.3]", async () => {
  await createUser(t, admin, 'xena', PW);
  const stale = (await login(t, 'xena', PW)).token;
  t.clock.advance(STALE);
  refusedStale(await call('POST', '/api/auth/mfa/totp', stale, { password: PW }), 'TOTP enrolment');
  refusedStale(await call('POST', '/api/auth/mfa/recovery-codes', stale, { password: PW }), 'recovery codes');
  refusedStale(await call('POST', '/api/auth/api-keys', stale, { name: 'late', role: 'user' }), 'a new API key');
  refusedStale(await call('POST', '/api/auth/api-keys/some-key/rotate', stale, {}), 'a rotated API key');
  refusedStale(await call('POST', '/api/auth/sso/corp/link', stale, { password: PW }), 'a linked identity');
  refusedStale(await call('DELETE', '/api/auth/sso/links/corp/xena-at-corp', stale), 'an unlinked identity');
  const again = (await login(t, 'xena', PW)).token;
  assert.equal((await call('POST', '/api/auth/mfa/totp', again, { password: PW })).statusCode, 200);
  // Fresh, the unlink reaches its handler (no such link here).
  assert.equal((await call('DELETE', '/api/auth/sso/links/corp/xena-at-corp', again)).statusCode, 404);
});

test("an administrator's highly sensitive operations (secrets, signing keys, SSO providers, OIDC clients, sign-in settings, backups, configuration import, audit prune, erasure) need a recent sign-in [ASVS V7.5.3]", async () => {
  t.clock.advance(STALE);
  const stale: Array<[string, Promise<{ statusCode: number; json(): any; body: string }>]> = [
    ['secret', call('PUT', '/api/admin/secrets/smtp.password', admin, { value: 'x' })],
    ['key rotation', call('POST', '/api/admin/keys/rotate', admin)],
    ['SSO provider', call('POST', '/api/admin/sso/providers', admin, { slug: 'evil', type: 'oidc' })],
    ['second-factor policy', call('PATCH', '/api/admin/settings/mfa', admin, { required: 'optional' })],
    ['IP as a factor', call('PATCH', '/api/admin/settings/mfa-ip', admin, {})],
    ['lockout', call('PATCH', '/api/admin/settings/lockout', admin, {})],
    ['token policy', call('PATCH', '/api/admin/settings/token-policy', admin, {})],
    ['basic authentication', call('PATCH', '/api/admin/settings/api-keys', admin, { basicAuth: true })],
    ['password links', call('PATCH', '/api/admin/settings/password-reset', admin, {})],
    ['audit prune', call('POST', '/api/admin/audit/prune', admin, {})],
    ['erasure', call('POST', '/api/admin/privacy/erasure', admin, {})],
    ['OIDC client', call('POST', '/api/admin/oidc/clients', admin, { name: 'late', redirectUris: ['https://app.example/cb'] })],
    ['backup', call('POST', '/api/admin/backups', admin)],
    ['configuration import', call('POST', '/api/admin/config/import', admin, { document: '{}', dryRun: true })],
  ];
  for (const [what, res] of stale) refusedStale(await res, what);
  // Fresh: the same calls are no longer refused for it (each may still answer its own way).
  const again = (await login(t)).token;
  const rotated = await call('POST', '/api/admin/keys/rotate', again);
  assert.equal(rotated.statusCode, 200, rotated.body);
  const imported = await call('POST', '/api/admin/config/import', again, { document: '{}', dryRun: true });
  assert.notEqual(imported.json().error?.code, 'REAUTH_REQUIRED', imported.body);
  const policy = await call('PATCH', '/api/admin/settings/lockout', again, { maxAttempts: 10 });
  assert.equal(policy.statusCode, 200, policy.body);
  // Settings that do not decide how people sign in stay open to an older session.
  const limits = await call('PATCH', '/api/admin/settings/rate-limits', admin, { readPerIp: 300 });
  assert.equal(limits.statusCode, 200, limits.body);
});
