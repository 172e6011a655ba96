// AUTH-12: an administrator (users.manage) resets a user's factors: every factor and recovery code goes,
// the user's sessions end, all in one transaction with its `mfa.reset` event. The CLI does the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, cliEnv, createUser, events, login, ROOT, useApp, type TestApp } from '../../helpers/app.js';
import { cli } from '../../helpers/cli.js';
import { PW, code, liveSessions, post, signIn, userWithTotp } from './world.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

const reset = (id: string, token: string) => post(t, `/api/admin/users/${id}/mfa/reset`, {}, bearer(token));

test('an administrator resets a user: factors and recovery codes gone, sessions ended, audited; the password signs in again [ASVS V7.4.3, V6.5.6]', async () => {
  const kim = await userWithTotp(t, admin, 'kim');
  assert.equal(await liveSessions(t, kim.id), 1);
  const r = await reset(kim.id, admin);
  assert.equal(r.statusCode, 200, r.body);
  assert.deepEqual(r.json(), { sessionsEnded: 1 });
  assert.equal(await liveSessions(t, kim.id), 0);
  assert.equal(code(await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(kim.token) })), 'SESSION_ENDED');
  for (const table of ['mfa_totp', 'mfa_recovery_codes', 'mfa_challenges'] as const) {
    assert.equal((await t.s.db.selectFrom(table).select('user_id').where('user_id', '=', kim.id).execute()).length, 0, table);
  }
  const ev = (await events(t, admin, 'mfa.reset')).find((x) => x.subjectId === kim.id);
  assert.ok(ev);
  assert.equal(ev.actor.name, ROOT.username);
  assert.deepEqual([ev.details.totp, ev.details.recoveryCodes, ev.details.sessionsEnded], ['confirmed', 10, 1]);
  const ended = (await events(t, admin, 'session.ended')).filter((x) => x.subjectId === kim.id);
  assert.equal(ended[0]!.details.reason, 'mfa_reset');
  assert.equal((await signIn(t, 'kim')).statusCode, 200);
});

test('only with users.manage, not on oneself, not on an unknown user', async () => {
  const lee = await userWithTotp(t, admin, 'lee');
  await createUser(t, admin, 'mo', PW);
  const mo = (await login(t, 'mo', PW)).token;
  assert.equal(code(await reset(lee.id, mo)), 'FORBIDDEN');
  const rootId = (await t.s.users.findByName(ROOT.username))!.id;
  assert.equal(code(await reset(rootId, admin)), 'CANNOT_MODIFY_SELF');
  assert.equal(code(await reset('no-such-user', admin)), 'NOT_FOUND');
  assert.equal(code(await signIn(t, 'lee')), 'MFA_REQUIRED', 'nothing changed');
  assert.equal((await events(t, admin, 'mfa.reset')).filter((x) => x.subjectId === lee.id).length, 0);
});

test('palisade user mfa reset --username U', async () => {
  const ned = await userWithTotp(t, admin, 'ned');
  const r = await cli(['user', 'mfa', 'reset', '--username', 'ned'], cliEnv(t));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /second factors of ned were reset; 1 session\(s\) ended/);
  assert.equal(await liveSessions(t, ned.id), 0);
  assert.equal((await signIn(t, 'ned')).statusCode, 200);
  const ev = (await events(t, admin, 'mfa.reset')).find((x) => x.subjectId === ned.id);
  assert.equal(ev!.actor.name, 'cli');
  const missing = await cli(['user', 'mfa', 'reset', '--username', 'nobody'], cliEnv(t));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no such user: nobody/);
});
