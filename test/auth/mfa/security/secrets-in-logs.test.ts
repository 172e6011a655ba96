// Bug class: second-factor secrets in the log. The TOTP secret, codes, recovery codes and the challenge
// and enrolment tokens never reach a log line, whatever the outcome of the request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, useApp, type TestApp } from '../../../helpers/app.js';
import { challenge, post, totp, userWithTotp, verify } from '../world.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

test('no secret, code or token of the second factor is logged', async () => {
  const u = await userWithTotp(t, admin, 'quiet');
  const a = await challenge(t, 'quiet');
  await verify(t, a.challengeToken, 'totp', '000000');
  await verify(t, a.challengeToken, 'recovery', u.recoveryCodes[0]!);
  const b = await challenge(t, 'quiet');
  const c = totp(t, u.secret);
  assert.equal((await verify(t, b.challengeToken, 'totp', c)).statusCode, 200);
  await post(t, '/api/auth/mfa/recovery-codes', { password: 'Quarterly-report-4411' }, bearer(u.token));
  const logs = t.logs.join('\n');
  assert.ok(logs.length > 0);
  for (const secret of [u.secret, a.challengeToken, b.challengeToken, ...u.recoveryCodes]) {
    assert.ok(!logs.includes(secret), `logged: ${secret.slice(0, 4)}…`);
  }
  // Six digits may occur inside any long number (log times): look for the code as a value.
  assert.ok(!logs.includes(`"${c}"`) && !logs.includes('"000000"'), 'a code was logged');
});
