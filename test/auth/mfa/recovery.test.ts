// AUTH-12 recovery codes: a sign-in with one (any spelling: case, spaces, dashes), each works once,
// regenerating needs the password and voids the old set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, events, useApp, type TestApp } from '../../helpers/app.js';
import { PW, challenge, code, post, userWithTotp, verify } from './world.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

const status = async (token: string) => (await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(token) })).json();

test('a recovery code completes a sign-in, in any spelling, and counts down', async () => {
  const ivy = await userWithTotp(t, admin, 'ivy');
  const d = await challenge(t, 'ivy');
  const typed = ` ${ivy.recoveryCodes[0]!.toUpperCase().replace(/-/g, ' ')} `;
  const r = await verify(t, d.challengeToken, 'recovery', typed);
  assert.equal(r.statusCode, 200, r.body);
  assert.equal((await status(ivy.token)).recoveryCodesRemaining, 9);
  const ev = (await events(t, admin, 'mfa.verified')).find((x) => x.subjectId === ivy.id && x.outcome === 'success');
  assert.equal(ev!.details.method, 'recovery');
  // Not a code of this user's set: refused.
  const e = await challenge(t, 'ivy');
  assert.equal(code(await verify(t, e.challengeToken, 'recovery', 'aaaa-bbbb-cccc-dddd')), 'MFA_CODE_INVALID');
});

test('regenerating needs the password, shows ten new codes once and voids the old ones', async () => {
  const jo = await userWithTotp(t, admin, 'jo');
  const regen = (password: string) => post(t, '/api/auth/mfa/recovery-codes', { password }, bearer(jo.token));
  assert.equal(code(await regen('Wrong-password-0000')), 'INVALID_CREDENTIALS');
  const r = await regen(PW);
  assert.equal(r.statusCode, 200, r.body);
  const fresh: string[] = r.json().recoveryCodes;
  assert.equal(fresh.length, 10);
  assert.equal(fresh.filter((c) => jo.recoveryCodes.includes(c)).length, 0);
  const d = await challenge(t, 'jo');
  assert.equal(code(await verify(t, d.challengeToken, 'recovery', jo.recoveryCodes[1]!)), 'MFA_CODE_INVALID');
  assert.equal((await verify(t, d.challengeToken, 'recovery', fresh[1]!)).statusCode, 200);
  assert.equal((await status(jo.token)).recoveryCodesRemaining, 9);
  const evs = (await events(t, admin, 'mfa.recovery_codes_created')).filter((x) => x.subjectId === jo.id);
  assert.deepEqual(
    evs.map((x) => x.outcome),
    ['success', 'failure'],
  );
});

test('no factor, no recovery codes to regenerate', async () => {
  const r = await post(t, '/api/auth/mfa/recovery-codes', { password: 'Correct-horse-battery-9' }, bearer(admin));
  assert.equal(code(r), 'MFA_METHOD_UNAVAILABLE');
});
