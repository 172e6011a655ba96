// AUTH-9 lockout. Bug classes: online guessing, lock bypass through other methods, user enumeration
// through lock answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { login, bearer, createUser, events, type TestApp, useApp } from '../helpers/app.js';
import { ROOT_DIR } from '../helpers/cli.js';
import { lockoutArea, spreadArea } from '../../src/auth/lockout-settings.js';
import { rateLimitArea } from '../../src/edge/rate-limit.js';
import { passwordResetArea } from '../../src/auth/reset/settings.js';
import { botCheckArea } from '../../src/auth/bot-check/settings.js';

let t: TestApp;
let admin: string;
const PW = 'Guarded-secret-771';
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    await createUser(t, admin, 'alice', PW, { email: 'alice@example.org' });
  },
  { env: { LOCKOUT_MAX_ATTEMPTS: '3', LOCKOUT_INTERVAL: '10m', LOCKOUT_DURATION: '15m' } },
  true,
);

const attempt = (username: string, password: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
const byEmail = (email: string, password: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password } });

test('N failed attempts lock the account; then even the right password gets the bad-credentials answer [ASVS V2.3.2, V6.3.1]', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await attempt('alice', `wrong-guess-${i}`)).statusCode, 401);
  const locked = await attempt('alice', PW);
  assert.equal(locked.statusCode, 401);
  assert.deepEqual(locked.json(), { error: { code: 'INVALID_CREDENTIALS', message: 'Invalid username or password.' } });
  const ev = await events(t, admin, 'account.locked');
  assert.equal(ev.length, 1);
  assert.equal(ev[0]!.details.reason, 'too_many_failed_attempts');
  const list = (await t.app.inject({ method: 'GET', url: '/api/admin/locked-accounts', headers: bearer(admin) })).json().accounts;
  assert.equal(list.length, 1);
  assert.equal(list[0].username, 'alice');
});

test('fewer failures than the limit, then the right password: signed in and the count starts over [ASVS V6.3.1]', async () => {
  await attempt('alice', 'wrong-1');
  await attempt('alice', 'wrong-2');
  assert.equal((await attempt('alice', PW)).statusCode, 200);
  await attempt('alice', 'wrong-3');
  await attempt('alice', 'wrong-4');
  assert.equal((await attempt('alice', PW)).statusCode, 200);
});

test('username case, Unicode compatibility forms and the email all count against one account', async () => {
  await attempt('ALICE', 'wrong-1');
  // A compatibility form is not a plain address: refused before any password check (no free attempt).
  assert.equal((await byEmail('ａｌｉｃｅ@example.org', 'wrong-2')).statusCode, 400);
  await byEmail('alice@EXAMPLE.ORG', 'wrong-2');
  await byEmail('Alice@Example.org', 'wrong-3');
  assert.equal((await attempt('alice', PW)).statusCode, 401);
  t.clock.advance(0);
  assert.equal((await attempt('alice', PW)).statusCode, 401);
});

test('a lock refuses existing sessions and renewals too', async () => {
  const session = (await login(t, 'alice', PW)).token;
  for (let i = 0; i < 3; i++) await attempt('alice', `wrong-${i}`);
  const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(session) });
  assert.equal(me.statusCode, 401);
  assert.equal(me.json().error.code, 'ACCOUNT_LOCKED');
  const refresh = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(session) });
  assert.equal(refresh.json().error.code, 'ACCOUNT_LOCKED');
});

test('the lock ends after the lock time', async () => {
  for (let i = 0; i < 3; i++) await attempt('alice', `wrong-${i}`);
  t.clock.advance(14 * 60);
  assert.equal((await attempt('alice', PW)).statusCode, 401);
  t.clock.advance(2 * 60);
  assert.equal((await attempt('alice', PW)).statusCode, 200);
});

test('lock time 0 holds until an administrator unlocks', async () => {
  await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/lockout', headers: bearer(admin), payload: { lockDuration: 0 } });
  for (let i = 0; i < 3; i++) await attempt('alice', `wrong-${i}`);
  t.clock.advance(30 * 86400);
  assert.equal((await attempt('alice', PW)).statusCode, 401);
  admin = (await login(t)).token;
  const id = (await t.app.inject({ method: 'GET', url: '/api/admin/locked-accounts', headers: bearer(admin) })).json().accounts[0].userId;
  assert.equal((await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/unlock`, headers: bearer(admin) })).statusCode, 204);
  assert.equal((await attempt('alice', PW)).statusCode, 200);
  assert.equal((await events(t, admin, 'account.unlocked')).length, 1);
});

test('administrators lock by hand with a reason; not themselves; non-administrators cannot unlock', async () => {
  const id = (await t.app.inject({ method: 'GET', url: '/api/admin/users', headers: bearer(admin) }))
    .json()
    .users.find((u: { username: string }) => u.username === 'alice').id;
  const self = (await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) })).json().user.id;
  assert.equal(
    (await t.app.inject({ method: 'POST', url: `/api/admin/users/${self}/lock`, headers: bearer(admin), payload: { reason: 'oops' } })).statusCode,
    403,
  );
  const session = (await login(t, 'alice', PW)).token;
  assert.equal(
    (await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/lock`, headers: bearer(admin), payload: { reason: 'laptop stolen' } })).statusCode,
    204,
  );
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(session) })).statusCode, 401);
  assert.equal((await attempt('alice', PW)).statusCode, 401);
  const ev = (await events(t, admin, 'account.locked'))[0]!;
  assert.equal(ev.details.reason, 'laptop stolen');
  assert.equal(ev.actor.name, 'root');
  await createUser(t, admin, 'mallory', 'Sneaky-helper-552');
  const m = (await login(t, 'mallory', 'Sneaky-helper-552')).token;
  assert.equal((await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/unlock`, headers: bearer(m) })).statusCode, 403);
  assert.equal((await attempt('alice', PW)).statusCode, 401, 'still locked');
});

test('unknown accounts lock the same way, so locks reveal nothing [ASVS V6.3.8]', async () => {
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await attempt('ghost', `wrong-${i}`));
  for (let i = 0; i < 4; i++) answers.push(await attempt('alice', `wrong-${i}`));
  for (const a of answers) assert.deepEqual(a.json(), { error: { code: 'INVALID_CREDENTIALS', message: 'Invalid username or password.' } });
  const failures = (await events(t, admin, 'auth.login')).filter((e) => e.outcome === 'failure');
  assert.equal(failures.filter((e) => e.details.reason === 'locked').length, 2, 'the 4th attempt on each is refused unhashed');
});

test('a wrong current password on the change-password route counts too [ASVS V6.2.3]', async () => {
  const session = (await login(t, 'alice', PW)).token;
  for (let i = 0; i < 3; i++) {
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(session),
      payload: { currentPassword: `wrong-${i}`, newPassword: 'Another-valid-pw-88' },
    });
    assert.equal(r.statusCode, 401);
  }
  assert.equal((await attempt('alice', PW)).statusCode, 401);
});

test('a lock shorter than the interval: once it ends, the user signs in (counting starts afresh)', async () => {
  await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/lockout', headers: bearer(admin), payload: { lockDuration: 60, interval: 3600 } });
  for (let i = 0; i < 3; i++) await attempt('alice', `wrong-${i}`);
  assert.equal((await attempt('alice', PW)).statusCode, 401);
  t.clock.advance(61);
  assert.equal((await attempt('alice', PW)).statusCode, 200);
});

test('refusals of a locked account are logged once a minute, not once per attempt [ASVS V16.3.3]', async () => {
  for (let i = 0; i < 3; i++) await attempt('alice', `wrong-${i}`);
  for (let i = 0; i < 20; i++) await attempt('alice', `again-${i}`);
  const locked = (await events(t, admin, 'auth.login')).filter((e) => e.details?.reason === 'locked');
  assert.equal(locked.length, 1);
});

test('docs/authentication.md states how rate limits, the bot check, the lockout and the spread pause are set, with the defaults the code has, and how a malicious lockout is kept short [ASVS V6.1.1]', () => {
  const doc = readFileSync(path.join(ROOT_DIR, 'docs/authentication.md'), 'utf8');
  const defaults: Record<string, Record<string, unknown>> = {
    rateLimits: rateLimitArea.defaults,
    passwordReset: passwordResetArea.defaults,
    botCheck: botCheckArea.defaults,
    lockout: lockoutArea.defaults,
    spread: spreadArea.defaults,
  };
  const rows = [...doc.matchAll(/^\| `(\w+)\.(\w+)` \| ([^|]+?) \|/gm)].map((m) => ({ area: m[1]!, key: m[2]!, value: m[3]! }));
  for (const r of rows) {
    assert.ok(r.area in defaults, `${r.area} is a settings area`);
    assert.equal(r.value, String(defaults[r.area]![r.key]), `${r.area}.${r.key}`);
  }
  const named = new Set(rows.map((r) => `${r.area}.${r.key}`));
  for (const must of [
    'rateLimits.authPerIp',
    'botCheck.mode',
    'lockout.maxAttempts',
    'lockout.interval',
    'lockout.lockDuration',
    'spread.threshold',
    'spread.pause',
  ]) {
    assert.ok(named.has(must), `${must} is documented`);
  }
  // The documented lock ends by itself: a malicious lockout costs the user minutes, not an administrator's visit.
  assert.ok(lockoutArea.defaults.lockDuration > 0 && lockoutArea.defaults.lockDuration <= 3600);
  assert.match(doc, /^Malicious lockout: /m);
});
