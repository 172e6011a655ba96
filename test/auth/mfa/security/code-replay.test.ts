// Bug class: one-time code replay. A TOTP code is valid for a whole 30 s window (and the drift window
// around it): an observed or phished code must not open a second session. The step a code matched is
// spent; that step and every earlier one are refused afterwards, for sign-in and after enrolment alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useApp, type TestApp } from '../../../helpers/app.js';
import { challenge, code, totp, userWithTotp, verify } from '../world.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

test('a TOTP code that signed in is refused for a second sign-in within its window; the next step signs in [ASVS V6.5.1]', async () => {
  const u = await userWithTotp(t, admin, 'replay1');
  const used = totp(t, u.secret);
  const a = await challenge(t, 'replay1');
  assert.equal((await verify(t, a.challengeToken, 'totp', used)).statusCode, 200);
  const b = await challenge(t, 'replay1');
  assert.equal(code(await verify(t, b.challengeToken, 'totp', used)), 'MFA_CODE_INVALID', 'same code, same window');
  t.clock.advance(15);
  assert.equal(code(await verify(t, b.challengeToken, 'totp', used)), 'MFA_CODE_INVALID', 'still within the drift window');
  // An earlier step's code, still inside the drift window, is refused too.
  assert.equal(code(await verify(t, b.challengeToken, 'totp', totp(t, u.secret, -1))), 'MFA_CODE_INVALID');
  t.clock.advance(30);
  assert.equal((await verify(t, b.challengeToken, 'totp', totp(t, u.secret))).statusCode, 200, 'a new step works');
});

test('the code that confirmed the enrolment cannot also sign in [ASVS V6.5.1]', async () => {
  const u = await userWithTotp(t, admin, 'replay2');
  t.clock.advance(-30); // back to the step the enrolment was confirmed in
  const a = await challenge(t, 'replay2');
  assert.equal(code(await verify(t, a.challengeToken, 'totp', totp(t, u.secret))), 'MFA_CODE_INVALID');
  t.clock.advance(30);
  assert.equal((await verify(t, a.challengeToken, 'totp', totp(t, u.secret))).statusCode, 200);
});

test('two requests racing with the same code: exactly one signs in [ASVS V6.5.1, V15.4.2]', async () => {
  const u = await userWithTotp(t, admin, 'replay3');
  const a = await challenge(t, 'replay3');
  const b = await challenge(t, 'replay3');
  const c = totp(t, u.secret);
  const [x, y] = await Promise.all([verify(t, a.challengeToken, 'totp', c), verify(t, b.challengeToken, 'totp', c)]);
  assert.deepEqual([x.statusCode, y.statusCode].sort(), [200, 401]);
});
