// AUTH-12: an administrator (users.manage) resets a user's factors: every factor and recovery code goes,
// the user's sessions end, all in one transaction with its `mfa.reset` event. The CLI does the same. The reset rests
// on an identity check the administrator names, kept with the event (D436).
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

const CHECK = { method: 'video_call', reference: 'Helpdesk ticket 4711' };
const reset = (id: string, token: string, identityCheck: unknown = CHECK) => post(t, `/api/admin/users/${id}/mfa/reset`, { identityCheck }, bearer(token));

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
  assert.deepEqual(ev.details.identityCheck, CHECK);
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

test('a lost factor is replaced only on a named identity check: none, an unknown method or an empty reference is refused and nothing changes [ASVS V6.4.4]', async () => {
  const pia = await userWithTotp(t, admin, 'pia');
  const raw = (payload: unknown) => post(t, `/api/admin/users/${pia.id}/mfa/reset`, payload as object, bearer(admin));
  assert.equal(code(await raw({})), 'VALIDATION_FAILED', 'no identity check');
  assert.equal(code(await reset(pia.id, admin, { method: 'asked_nicely', reference: 'ticket 1' })), 'VALIDATION_FAILED', 'an unknown method');
  assert.equal(code(await reset(pia.id, admin, { method: 'in_person', reference: '' })), 'VALIDATION_FAILED', 'no reference');
  assert.equal(code(await reset(pia.id, admin, { method: 'in_person', reference: 'a\nb c' })), 'VALIDATION_FAILED', 'a control character');
  assert.equal(code(await reset(pia.id, admin, { method: 'in_person', reference: 'case \u202e88' })), 'VALIDATION_FAILED', 'a right-to-left override');
  assert.equal(code(await reset(pia.id, admin, { method: 'in_person', reference: '    ' })), 'IDENTITY_CHECK_REQUIRED', 'blank');
  assert.equal(code(await reset(pia.id, admin, { ...CHECK, extra: 1 })), 'VALIDATION_FAILED', 'an unknown key');
  assert.equal(code(await signIn(t, 'pia')), 'MFA_REQUIRED', 'the factor is still there');
  assert.equal(await liveSessions(t, pia.id), 1, 'her session is still there');
  assert.equal((await events(t, admin, 'mfa.reset')).filter((x) => x.subjectId === pia.id).length, 0);
  // With the check named, the reset goes through, the check is kept, and she proves her password to enrol anew.
  assert.equal((await reset(pia.id, admin, { method: 'identity_document', reference: '  Passport seen, case 88  ' })).statusCode, 200);
  const ev = (await events(t, admin, 'mfa.reset')).find((x) => x.subjectId === pia.id);
  assert.deepEqual(ev?.details.identityCheck, { method: 'identity_document', reference: 'Passport seen, case 88' });
  assert.equal(code(await post(t, '/api/auth/login', { username: 'pia', password: 'not-her-password-1' })), 'INVALID_CREDENTIALS');
  assert.equal((await signIn(t, 'pia')).statusCode, 200);
});

test('palisade user mfa reset --username U --checked-by M --reference TEXT', async () => {
  const ned = await userWithTotp(t, admin, 'ned');
  const unchecked = await cli(['user', 'mfa', 'reset', '--username', 'ned'], cliEnv(t));
  assert.equal(unchecked.code, 2);
  assert.match(unchecked.stderr, /say how you checked who asks: --checked-by in_person\|video_call/);
  assert.equal(await liveSessions(t, ned.id), 1, 'nothing changed');
  const r = await cli(['user', 'mfa', 'reset', '--username', 'ned', '--checked-by', 'call_back', '--reference', 'INC-12'], cliEnv(t));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /second factors of ned were reset; 1 session\(s\) and every API key ended/);
  assert.equal(await liveSessions(t, ned.id), 0);
  assert.equal((await signIn(t, 'ned')).statusCode, 200);
  const ev = (await events(t, admin, 'mfa.reset')).find((x) => x.subjectId === ned.id);
  assert.equal(ev!.actor.name, 'cli');
  assert.deepEqual(ev!.details.identityCheck, { method: 'call_back', reference: 'INC-12' });
  const missing = await cli(['user', 'mfa', 'reset', '--username', 'nobody', '--checked-by', 'in_person', '--reference', 'x-1'], cliEnv(t));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no such user: nobody/);
});
