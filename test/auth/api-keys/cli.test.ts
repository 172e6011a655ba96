// `palisade apikey create|list|revoke`: an operator's path to API keys, against the running app's storage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cliEnv, useApp, type TestApp } from '../../helpers/app.js';
import { cli } from '../../helpers/cli.js';
import { code, list, notesWorld } from './world.js';

let t: TestApp;
useApp(async (app, admin) => {
  t = app;
  await notesWorld(t, admin);
});

test('apikey create prints the key once; list shows it without the key; revoke refuses it at once', async () => {
  const made = await cli(['apikey', 'create', '--username', 'ann', '--name', 'deploy', '--role', 'writer', '--expires-in', '30d', '--read-only'], cliEnv(t));
  assert.equal(made.code, 0, made.stderr);
  const secret = /shown once: (pal_[0-9a-f]{64})/.exec(made.stdout)?.[1];
  const id = /created API key (\S+)/.exec(made.stdout)?.[1];
  assert.ok(secret && id, made.stdout);
  assert.equal((await list(t, { 'x-api-key': secret })).statusCode, 200);

  const listed = await cli(['apikey', 'list', '--username', 'ann'], cliEnv(t));
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`${id}\\s+live .*deploy .*role writer \\(read-only\\)`));
  assert.ok(!listed.stdout.includes(secret.slice(4, 60)), 'the key itself is never listed');

  const revoked = await cli(['apikey', 'revoke', '--id', id], cliEnv(t));
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(code(await list(t, { 'x-api-key': secret })), 'API_KEY_INVALID');
});

test('apikey create refuses a role the user does not hold, a "never" the settings forbid, and bad usage', async () => {
  const role = await cli(['apikey', 'create', '--username', 'ann', '--name', 'x', '--role', 'nope'], cliEnv(t));
  assert.equal(role.code, 1);
  assert.match(role.stderr, /VALIDATION_FAILED/);
  const never = await cli(['apikey', 'create', '--username', 'ann', '--name', 'x', '--role', 'writer', '--expires-in', 'never'], cliEnv(t));
  assert.equal(never.code, 1);
  assert.match(never.stderr, /API_KEY_EXPIRY_REQUIRED/);
  const usage = await cli(['apikey', 'create', '--username', 'ann'], cliEnv(t));
  assert.equal(usage.code, 2);
});
