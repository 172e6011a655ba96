// Issue 18, ASVS V6.4.1: a one-time password (generated, or set by an administrator with a required change) must be
// changed at the first sign-in and signs in for 72 hours only (D366); after that it is refused with a stable code and
// no change token, and an administrator issues a new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, events, makeApp, ROOT, type TestApp, useApp } from '../helpers/app.js';

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

const HOURS_72 = 72 * 3600;
const PW = 'One-time-given-pass-58';
const signIn = (username: string, password: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
const userView = async (id: string) => (await t.app.inject({ method: 'GET', url: `/api/admin/users/${id}`, headers: bearer(admin) })).json().user;
/** The clock moved past the administrator's session: sign in again. */
const adminAgain = async () => {
  admin = (await login(t)).token;
};

test('an administrator-set one-time password is changed at the first sign-in within its 72 hours [ASVS V6.4.1]', async () => {
  const id = await createUser(t, admin, 'olga', PW, { mustChangePassword: true });
  const u = await userView(id);
  assert.equal(u.mustChangePassword, true);
  assert.equal(Date.parse(u.mustChangeBy), t.clock.now() + HOURS_72 * 1000);
  t.clock.advance(HOURS_72 - 60);
  const res = await signIn('olga', PW);
  assert.equal(res.statusCode, 403);
  assert.equal(res.json().error.code, 'PASSWORD_CHANGE_REQUIRED');
  const changed = await t.app.inject({
    method: 'POST',
    url: '/api/auth/password/reset',
    payload: { token: res.json().error.details.changeToken, newPassword: 'Chosen-by-herself-77' },
  });
  assert.equal(changed.statusCode, 204, changed.body);
  assert.equal((await signIn('olga', 'Chosen-by-herself-77')).statusCode, 200);
  await adminAgain();
  const after = await userView(id);
  assert.deepEqual([after.mustChangePassword, after.mustChangeBy], [false, null]);
});

test('past its 72 hours a one-time password is refused with INITIAL_PASSWORD_EXPIRED and no change token; an administrator issues a new one [ASVS V6.4.1]', async () => {
  const id = await createUser(t, admin, 'pia', PW, { mustChangePassword: true });
  t.clock.advance(HOURS_72);
  const res = await signIn('pia', PW);
  assert.equal(res.statusCode, 403);
  assert.equal(res.json().error.code, 'INITIAL_PASSWORD_EXPIRED');
  assert.equal(res.json().error.details, undefined, 'no change token for an expired one-time password');
  assert.doesNotMatch(res.body, /changeToken|"token"/);
  // A wrong password still answers as a wrong password: the expiry tells nothing to someone who does not know it.
  const wrong = await signIn('pia', 'Not-her-password-99');
  assert.equal(wrong.json().error.code, 'INVALID_CREDENTIALS');
  await adminAgain();
  const ev = (await events(t, admin, 'auth.login')).filter((e) => e.subjectId === id && e.outcome === 'failure');
  assert.ok(ev.some((e) => e.details.reason === 'initial_password_expired'));
  // The administrator sets a new one-time password: a new 72 hours.
  const set = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${id}/password`,
    headers: bearer(admin),
    payload: { password: 'Second-one-time-pass-61', mustChangePassword: true },
  });
  assert.equal(set.statusCode, 204, set.body);
  assert.equal(Date.parse((await userView(id)).mustChangeBy), t.clock.now() + HOURS_72 * 1000);
  const again = await signIn('pia', 'Second-one-time-pass-61');
  assert.equal(again.json().error.code, 'PASSWORD_CHANGE_REQUIRED');
  // That one expires in its turn.
  t.clock.advance(HOURS_72 + 1);
  assert.equal((await signIn('pia', 'Second-one-time-pass-61')).json().error.code, 'INITIAL_PASSWORD_EXPIRED');
});

test("a required change of the user's own password has no deadline; a password the administrator sets as final does not expire [ASVS V6.4.1]", async () => {
  const id = await createUser(t, admin, 'quinn', PW);
  const patch = await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(admin), payload: { mustChangePassword: true } });
  assert.equal(patch.statusCode, 200);
  assert.equal(patch.json().user.mustChangeBy, null);
  t.clock.advance(HOURS_72 * 2);
  const res = await signIn('quinn', PW);
  assert.equal(res.json().error.code, 'PASSWORD_CHANGE_REQUIRED');
  assert.ok(res.json().error.details.changeToken);
  await adminAgain();
  const rita = await createUser(t, admin, 'rita', PW);
  assert.equal((await userView(rita)).mustChangeBy, null);
  t.clock.advance(HOURS_72 * 2);
  assert.equal((await signIn('rita', PW)).statusCode, 200);
});

test('a password an administrator sets without saying it is final is one-time, at creation and when set again (D430) [ASVS V6.4.1]', async () => {
  const created = await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: bearer(admin), payload: { username: 'sven', password: PW } });
  assert.equal(created.statusCode, 201, created.body);
  assert.equal(created.json().user.mustChangePassword, true);
  assert.equal(Date.parse(created.json().user.mustChangeBy), t.clock.now() + HOURS_72 * 1000);
  assert.equal((await signIn('sven', PW)).json().error.code, 'PASSWORD_CHANGE_REQUIRED');
  const id = created.json().user.id;
  const set = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${id}/password`,
    headers: bearer(admin),
    payload: { password: 'Set-again-by-admin-62' },
  });
  assert.equal(set.statusCode, 204, set.body);
  assert.equal((await userView(id)).mustChangePassword, true);
  assert.equal((await signIn('sven', 'Set-again-by-admin-62')).json().error.code, 'PASSWORD_CHANGE_REQUIRED');
  // Said to be final, it signs in; an imported hash (the user's own password) is never one-time.
  const final = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${id}/password`,
    headers: bearer(admin),
    payload: { password: 'Final-by-admin-63', mustChangePassword: false },
  });
  assert.equal(final.statusCode, 204, final.body);
  assert.equal((await signIn('sven', 'Final-by-admin-63')).statusCode, 200);
  await adminAgain();
  const imported = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { username: 'tove', passwordHash: '$2b$10$CwTycUXWue0Thq9StjUM0uJ8.QXvkiYbYwQ8ZrFq4uBqjiYw4i9Rm' },
  });
  assert.equal(imported.statusCode, 201, imported.body);
  assert.equal(imported.json().user.mustChangePassword, false);
});

test('the root password generated at the first start is a one-time password with the same deadline [ASVS V6.4.1]', async () => {
  const g = await makeApp({ env: { INIT_ROOT_PASSWORD: undefined } });
  try {
    const root = (await g.s.users.findByName(ROOT.username))!;
    assert.equal(root.must_change_password, 1);
    assert.equal(Number(root.must_change_by), g.clock.now() + HOURS_72 * 1000);
    // The operator's own password (INIT_ROOT_PASSWORD) is not generated: no change required.
    const given = (await t.s.users.findByName(ROOT.username))!;
    assert.deepEqual([given.must_change_password, given.must_change_by], [0, null]);
  } finally {
    await g.close();
  }
});

test('an expired one-time password never reaches a second factor: no enrolment token for it, where a live one gets one [ASVS V6.4.1]', async () => {
  const as = (method: string, url: string, payload: object) => t.app.inject({ method: method as 'POST', url, headers: bearer(admin), payload });
  assert.equal((await as('POST', '/api/admin/roles', { name: 'interns', description: 'second factor required' })).statusCode, 201);
  const id = await createUser(t, admin, 'quin', PW, { mustChangePassword: true });
  assert.equal((await as('PUT', `/api/admin/users/${id}/roles`, { roles: ['interns'] })).statusCode, 204);
  assert.equal((await as('PATCH', '/api/admin/settings/mfa', { requiredRoles: ['interns'] })).statusCode, 200);
  try {
    const live = await signIn('quin', PW);
    assert.equal(live.json().error.code, 'MFA_ENROLMENT_REQUIRED', live.body);
    t.clock.advance(HOURS_72);
    const late = await signIn('quin', PW);
    assert.equal(late.statusCode, 403, late.body);
    assert.equal(late.json().error.code, 'INITIAL_PASSWORD_EXPIRED');
    assert.doesNotMatch(late.body, /enrolmentToken|changeToken/);
  } finally {
    await adminAgain();
    assert.equal((await as('PATCH', '/api/admin/settings/mfa', { requiredRoles: [] })).statusCode, 200);
  }
});
