// AUTH-12 policy: the `mfa` settings area (env-seeded, admin GET/PATCH, audited); a user the policy
// requires to use a second factor and who has none gets an enrolment-only token instead of a session,
// and completing the enrolment with it signs them in; required users keep their last factor; basic
// authentication is refused for users who must use a second factor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, events, ROOT, useApp, type TestApp } from '../../helpers/app.js';
import { loadConfig, ConfigError } from '../../../src/app-config.js';
import { PW, code, liveSessions, post, signIn, totp, userWithTotp } from './world.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  { env: { MFA_CHALLENGE_VALIDITY: '2m' } },
  true,
);

const policy = async (patch: object) => {
  const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa', headers: bearer(admin), payload: patch });
  assert.equal(r.statusCode, 200, r.body);
  return r.json();
};

test('the mfa area: seeded from the environment, read and changed by an administrator, audited, bounded', async () => {
  const got = await t.app.inject({ method: 'GET', url: '/api/admin/settings/mfa', headers: bearer(admin) });
  assert.deepEqual(got.json(), {
    required: 'optional',
    requiredRoles: [],
    challengeValidity: 120,
    emailCodes: false,
    emailCodeValidity: 300,
    smsCodeValidity: 300,
    issuer: 'Palisade',
  });
  const changed = await policy({ required: 'admins', requiredRoles: ['auditors'] });
  assert.equal(changed.required, 'admins');
  const ev = (await events(t, admin, 'settings.changed')).find((x) => x.details.area === 'mfa');
  assert.ok(ev, 'settings.changed for the mfa area');
  for (const bad of [{ required: 'always' }, { requiredRoles: ['Not A Role'] }, { challengeValidity: 5 }, { issuer: 'a:b' }, { other: 1 }]) {
    const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa', headers: bearer(admin), payload: bad });
    assert.equal(code(r), 'VALIDATION_FAILED', JSON.stringify(bad));
  }
  const env = { DATA_DIR: '/tmp/x', APP_KEY: 'Zq3v9LmXw2Rt7YpB4nHc6JdKs8Ge1UaFw5Ex', INIT_ROOT_PASSWORD: ROOT.password };
  const seeded = loadConfig({ ...env, MFA_REQUIRED: 'everyone', MFA_REQUIRED_ROLES: 'ops, finance' }, { generateKey: false }).config;
  assert.deepEqual([seeded.mfa.required, seeded.mfa.requiredRoles], ['everyone', ['ops', 'finance']]);
  assert.throws(() => loadConfig({ ...env, MFA_REQUIRED: 'sometimes' }, { generateKey: false }), ConfigError);
});

test('required for administrators: one without a factor gets an enrolment-only token; enrolling with it signs in [ASVS V6.3.3, V8.4.2]', async () => {
  await policy({ required: 'admins' });
  const rootId = (await t.s.users.findByName(ROOT.username))!.id;
  const before = await liveSessions(t, rootId);
  const first = await signIn(t, ROOT.username, ROOT.password, { mode: 'bearer', rememberMe: true });
  assert.equal(first.statusCode, 403, first.body);
  assert.equal(code(first), 'MFA_ENROLMENT_REQUIRED');
  const { enrolmentToken, expiresAt, offered } = first.json().error.details;
  assert.equal(expiresAt, new Date(t.clock.t + 120_000).toISOString());
  assert.deepEqual(offered, ['totp'], 'what may be set up here: no email codes (off by default), no SMS gateway');
  assert.equal(await liveSessions(t, rootId), before, 'no session before the enrolment');
  // Others are not concerned.
  await createUser(t, admin, 'plain', PW);
  assert.equal((await signIn(t, 'plain')).statusCode, 200);
  const started = await post(t, '/api/auth/mfa/enrolment/totp', { enrolmentToken });
  assert.equal(started.statusCode, 200, started.body);
  const { secret } = started.json();
  assert.equal(code(await post(t, '/api/auth/mfa/enrolment/totp/confirm', { enrolmentToken, code: totp(t, secret, 4) })), 'MFA_CODE_INVALID');
  const done = await post(t, '/api/auth/mfa/enrolment/totp/confirm', { enrolmentToken, code: totp(t, secret) });
  assert.equal(done.statusCode, 200, done.body);
  const b = done.json();
  assert.equal(b.recoveryCodes.length, 10);
  assert.equal(b.user.username, ROOT.username);
  const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(b.token) });
  assert.equal(me.statusCode, 200);
  assert.equal(me.json().session.rememberMe, true, 'the session the first step asked for');
  // The token is spent with the confirmation.
  assert.equal(code(await post(t, '/api/auth/mfa/enrolment/totp', { enrolmentToken })), 'MFA_TOKEN_INVALID');
  assert.equal(code(await post(t, '/api/auth/mfa/enrolment/totp/confirm', { enrolmentToken, code: totp(t, secret, 1) })), 'MFA_TOKEN_INVALID');
  // From now on root has a factor: a sign-in asks for it.
  assert.equal(code(await signIn(t, ROOT.username, ROOT.password)), 'MFA_REQUIRED');
  const login = (await events(t, admin, 'auth.login')).find((x) => x.subjectId === rootId && x.details.secondFactor === 'totp');
  assert.ok(login, 'the enrolment sign-in is recorded with its factor');
});

test('required roles: holders of a listed role, directly or through a department, must enrol; others need not [ASVS V6.3.3]', async () => {
  const put = async (method: 'POST' | 'PUT', url: string, payload: object, status: number) =>
    assert.equal((await t.app.inject({ method, url, headers: bearer(admin), payload })).statusCode, status, url);
  await put('POST', '/api/admin/roles', { name: 'auditors' }, 201);
  await put('PUT', '/api/admin/departments/finance', { roles: ['auditors'] }, 200);
  const direct = await createUser(t, admin, 'direct', PW);
  const member = await createUser(t, admin, 'member', PW);
  await createUser(t, admin, 'other', PW);
  await put('PUT', `/api/admin/users/${direct}/roles`, { roles: ['auditors'] }, 204);
  await put('PUT', `/api/admin/users/${member}/departments`, { departments: ['finance'] }, 204);
  for (const u of ['direct', 'member', 'other']) assert.equal((await signIn(t, u)).statusCode, 200, u);
  await policy({ requiredRoles: ['auditors'] });
  assert.equal(code(await signIn(t, 'direct')), 'MFA_ENROLMENT_REQUIRED');
  assert.equal(code(await signIn(t, 'member')), 'MFA_ENROLMENT_REQUIRED');
  assert.equal((await signIn(t, 'other')).statusCode, 200);
  await policy({ requiredRoles: [], required: 'everyone' });
  assert.equal(code(await signIn(t, 'other')), 'MFA_ENROLMENT_REQUIRED');
});

test('a user who must use a second factor cannot remove the last one; the status says required', async () => {
  const fay = await userWithTotp(t, admin, 'fay');
  await policy({ required: 'everyone' });
  const st = (await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(fay.token) })).json();
  assert.equal(st.required, true);
  const del = await t.app.inject({ method: 'DELETE', url: '/api/auth/mfa/totp', headers: bearer(fay.token), payload: { password: PW } });
  assert.equal(code(del), 'MFA_FACTOR_REQUIRED');
  assert.equal(code(await signIn(t, 'fay')), 'MFA_REQUIRED');
  await policy({ required: 'optional' });
  const ok = await t.app.inject({ method: 'DELETE', url: '/api/auth/mfa/totp', headers: bearer(fay.token), payload: { password: PW } });
  assert.equal(ok.statusCode, 204);
});

test('basic authentication, which has no second step, is refused for a user with a factor or required to have one [ASVS V6.3.3, V6.3.4]', async () => {
  const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/api-keys', headers: bearer(admin), payload: { basicAuth: true } });
  assert.equal(r.statusCode, 200, r.body);
  const basic = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${PW}`).toString('base64')}` });
  const notes = { name: 'notes', fields: [{ name: 'title', type: 'string' }] };
  assert.equal((await t.app.inject({ method: 'POST', url: '/api/admin/collections', headers: bearer(admin), payload: notes })).statusCode, 201);
  const get = (user: string) => t.app.inject({ method: 'GET', url: '/api/collections/notes/records', headers: basic(user) });
  await userWithTotp(t, admin, 'gus');
  await createUser(t, admin, 'hal', PW, { isAdmin: true });
  assert.equal(code(await get('gus')), 'MFA_REQUIRED');
  const halOk = await get('hal');
  assert.equal(halOk.statusCode, 200, halOk.body);
  await policy({ required: 'admins' });
  const refused = await get('hal');
  assert.equal(code(refused), 'MFA_REQUIRED');
  assert.equal(refused.json().error.details, undefined, 'no challenge: basic has no second step');
  const evs = (await events(t, admin, 'auth.login')).filter((x) => x.details.reason === 'second_factor_required');
  assert.equal(evs.length, 2);
});
