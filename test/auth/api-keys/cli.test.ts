// `palisade apikey create|list|revoke`: an operator's path to API keys, against the running app's storage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cliEnv, login, useApp, type TestApp } from '../../helpers/app.js';
import { cli } from '../../helpers/cli.js';
import { ANN_PW, code, createKey, list, notesWorld } from './world.js';

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

test("a stored name reaches the operator's terminal with its control characters escaped; the API refuses them in new names (terminal escape injection)", async () => {
  const ann = (await login(t, 'ann', ANN_PW)).token;
  // A C1 control (CSI) acts on many terminals as ESC [ does; C0 and DEL were refused already.
  for (const name of ['ok\u009b2Jfake', 'ok\u001b[2J', 'ok\u007f']) {
    const r = await createKey(t, ann, { name });
    assert.equal(r.statusCode, 400, r.body);
    assert.equal(code(r), 'VALIDATION_FAILED');
  }
  // One written before the API refused it (or by hand in the database): the CLI escapes it.
  const made = await createKey(t, ann, { name: 'older' });
  assert.equal(made.statusCode, 201, made.body);
  await t.s.db.updateTable('api_keys').set({ name: 'ok\u001b[2J\u001b]0;owned\u0007\r\u009b31mfake' }).where('name', '=', 'older').execute();
  const listed = await cli(['apikey', 'list', '--username', 'ann'], cliEnv(t));
  assert.equal(listed.code, 0, listed.stderr);
  assert.ok(listed.stdout.includes('ok\\u001b[2J\\u001b]0;owned\\u0007\\u000d\\u009b31mfake'), listed.stdout);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not be printed
  assert.doesNotMatch(listed.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
});
