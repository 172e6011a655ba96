// Bug class: a lock that leaves sessions alive, or one that anyone can use to end a user's sessions.
// An administrator's lock ends the user's sessions (AUTH-4); an automatic lock (failed attempts),
// which anyone can trigger, only suspends them until it expires or is lifted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, events, type TestApp, useApp } from '../../helpers/app.js';

let t: TestApp;
let admin: string;
let aliceId: string;
const PW = 'Guarded-secret-771';
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    aliceId = await createUser(t, admin, 'alice', PW);
  },
  { env: { LOCKOUT_MAX_ATTEMPTS: '3', LOCKOUT_INTERVAL: '10m', LOCKOUT_DURATION: '1m' } },
  true,
);

const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });

test("account lock sessions: an administrator's lock ends the user's sessions for good, also after the unlock", async () => {
  const alice = (await login(t, 'alice', PW)).token;
  assert.equal((await me(alice)).statusCode, 200);
  const lock = await t.app.inject({ method: 'POST', url: `/api/admin/users/${aliceId}/lock`, headers: bearer(admin), payload: { reason: 'stolen laptop' } });
  assert.equal(lock.statusCode, 204, lock.body);
  assert.equal((await me(alice)).statusCode, 401);
  assert.ok(
    (await events(t, admin, 'session.ended')).some((e) => e.details?.reason === 'account_locked'),
    'the ending is recorded',
  );
  assert.equal((await t.app.inject({ method: 'POST', url: `/api/admin/users/${aliceId}/unlock`, headers: bearer(admin) })).statusCode, 204);
  // The lock is lifted, but the session it ended stays ended.
  const after = await me(alice);
  assert.equal(after.statusCode, 401);
  assert.equal(after.json().error.code, 'SESSION_ENDED');
  // The legitimate user signs in again.
  assert.equal((await me((await login(t, 'alice', PW)).token)).statusCode, 200);
});

test('account lock sessions: an automatic lock (anyone can trigger it) only suspends the sessions; they work again when it expires', async () => {
  const alice = (await login(t, 'alice', PW)).token;
  for (let i = 0; i < 3; i++) {
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice', password: `guess-${i}` } })).statusCode, 401);
  }
  const locked = await me(alice);
  assert.equal(locked.statusCode, 401);
  assert.equal(locked.json().error.code, 'ACCOUNT_LOCKED');
  t.clock.advance(61);
  assert.equal((await me(alice)).statusCode, 200, 'the session survived the automatic lock');
});

test('account lock sessions: an automatic lock lifted by an administrator gives the sessions back', async () => {
  const alice = (await login(t, 'alice', PW)).token;
  for (let i = 0; i < 3; i++) await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice', password: `guess-${i}` } });
  assert.equal((await me(alice)).json().error.code, 'ACCOUNT_LOCKED');
  assert.equal((await t.app.inject({ method: 'POST', url: `/api/admin/users/${aliceId}/unlock`, headers: bearer(admin) })).statusCode, 204);
  assert.equal((await me(alice)).statusCode, 200);
});
