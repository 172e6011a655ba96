// Bug class: an enrolment-only token used as a session. A user the policy requires to enrol gets a
// token that reaches the enrolment routes only: not /api/auth/me, not records, not the signed-in
// user's factor routes, not the second step; it is spent by the confirmation and expires.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, useApp, type TestApp } from '../../../helpers/app.js';
import { PW, code, liveSessions, post, signIn, totp } from '../world.js';

let t: TestApp;
let admin: string;
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa', headers: bearer(admin), payload: { required: 'everyone' } });
    assert.equal(r.statusCode, 200, r.body);
    const c = await t.app.inject({
      method: 'POST',
      url: '/api/admin/collections',
      headers: bearer(admin),
      payload: { name: 'notes', fields: [{ name: 'title', type: 'string' }] },
    });
    assert.equal(c.statusCode, 201, c.body);
  },
  {},
  true,
);

async function enrolmentToken(username: string): Promise<string> {
  const r = await signIn(t, username);
  assert.equal(code(r), 'MFA_ENROLMENT_REQUIRED');
  return r.json().error.details.enrolmentToken;
}

test('the enrolment-only token opens nothing but the enrolment routes [ASVS V9.2.2]', async () => {
  const id = await createUser(t, admin, 'newbie', PW);
  const token = await enrolmentToken('newbie');
  assert.equal(await liveSessions(t, id), 0);
  for (const url of ['/api/auth/me', '/api/collections/notes/records', '/api/auth/mfa', '/api/auth/sessions']) {
    assert.equal(code(await t.app.inject({ method: 'GET', url, headers: bearer(token) })), 'TOKEN_INVALID', url);
  }
  assert.equal(code(await post(t, '/api/auth/mfa/totp', { password: PW }, bearer(token))), 'TOKEN_INVALID');
  assert.equal(
    code(await post(t, '/api/auth/mfa/verify', { challengeToken: token, method: 'totp', code: '123456' })),
    'MFA_TOKEN_INVALID',
    'not a sign-in challenge',
  );
  // The legitimate path: enrol with it, and be signed in.
  const { secret } = (await post(t, '/api/auth/mfa/enrolment/totp', { enrolmentToken: token })).json();
  const done = await post(t, '/api/auth/mfa/enrolment/totp/confirm', { enrolmentToken: token, code: totp(t, secret) });
  assert.equal(done.statusCode, 200, done.body);
  const records = await t.app.inject({ method: 'GET', url: '/api/collections/notes/records', headers: bearer(done.json().token) });
  assert.equal(code(records), 'NOT_FOUND', 'signed in now: past authentication, and newbie holds no grant on notes');
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(done.json().token) })).statusCode, 200);
});

test('spent by the confirmation, and short-lived', async () => {
  await createUser(t, admin, 'late', PW);
  const token = await enrolmentToken('late');
  t.clock.advance(301);
  assert.equal(code(await post(t, '/api/auth/mfa/enrolment/totp', { enrolmentToken: token })), 'MFA_TOKEN_INVALID');
  const fresh = await enrolmentToken('late');
  const { secret } = (await post(t, '/api/auth/mfa/enrolment/totp', { enrolmentToken: fresh })).json();
  const c = totp(t, secret);
  const [x, y] = await Promise.all([
    post(t, '/api/auth/mfa/enrolment/totp/confirm', { enrolmentToken: fresh, code: c }),
    post(t, '/api/auth/mfa/enrolment/totp/confirm', { enrolmentToken: fresh, code: c }),
  ]);
  assert.deepEqual([x.statusCode, y.statusCode].sort(), [200, 401], 'one confirmation, one session');
  t.clock.advance(30);
  assert.equal(code(await post(t, '/api/auth/mfa/enrolment/totp/confirm', { enrolmentToken: fresh, code: totp(t, secret) })), 'MFA_TOKEN_INVALID');
});

test('a user who has a factor never gets an enrolment token, and a wrong password gets neither', async () => {
  await createUser(t, admin, 'pat', PW);
  const token = await enrolmentToken('pat');
  const { secret } = (await post(t, '/api/auth/mfa/enrolment/totp', { enrolmentToken: token })).json();
  assert.equal((await post(t, '/api/auth/mfa/enrolment/totp/confirm', { enrolmentToken: token, code: totp(t, secret) })).statusCode, 200);
  assert.equal(code(await signIn(t, 'pat')), 'MFA_REQUIRED');
  const wrong = await signIn(t, 'pat', 'Not-the-password-1');
  assert.equal(code(wrong), 'INVALID_CREDENTIALS');
  assert.equal(wrong.json().error.details, undefined);
});
