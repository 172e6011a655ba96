// Bug class: recovery code reuse. Each recovery code works once, also when two requests race with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useApp, type TestApp } from '../../../helpers/app.js';
import { challenge, code, userWithTotp, verify } from '../world.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

test('a recovery code is refused the second time; another one of the set works [ASVS V6.5.1]', async () => {
  const u = await userWithTotp(t, admin, 'rec1');
  const a = await challenge(t, 'rec1');
  assert.equal((await verify(t, a.challengeToken, 'recovery', u.recoveryCodes[3]!)).statusCode, 200);
  const b = await challenge(t, 'rec1');
  assert.equal(code(await verify(t, b.challengeToken, 'recovery', u.recoveryCodes[3]!)), 'MFA_CODE_INVALID');
  assert.equal(code(await verify(t, b.challengeToken, 'recovery', u.recoveryCodes[3]!.replace(/-/g, ''))), 'MFA_CODE_INVALID');
  assert.equal((await verify(t, b.challengeToken, 'recovery', u.recoveryCodes[4]!)).statusCode, 200);
});

test('two requests racing with one recovery code: exactly one signs in [ASVS V6.5.1, V15.4.2]', async () => {
  const u = await userWithTotp(t, admin, 'rec2');
  const a = await challenge(t, 'rec2');
  const b = await challenge(t, 'rec2');
  const [x, y] = await Promise.all([
    verify(t, a.challengeToken, 'recovery', u.recoveryCodes[0]!),
    verify(t, b.challengeToken, 'recovery', u.recoveryCodes[0]!),
  ]);
  assert.deepEqual([x.statusCode, y.statusCode].sort(), [200, 401]);
});
