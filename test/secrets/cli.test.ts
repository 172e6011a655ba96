// `palisade secrets list|set|delete|rotate-key` against the running app's storage: values from stdin only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { cliEnv, makeApp, useApp, type TestApp } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';

const VALUE = 'sso-client-secret-Vb93-never-printed';

let t: TestApp;
useApp((app) => {
  t = app;
});

test('set reads the value from stdin; list shows it set, never the value; delete; argv values refused', async () => {
  const set = await cli(['secrets', 'set', 'sso.clientSecret'], cliEnv(t), `${VALUE}\n`);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /created secret sso\.clientSecret/);
  assert.deepEqual(await t.s.secrets.resolve('sso.clientSecret'), { state: 'set', value: VALUE });
  const listed = await cli(['secrets', 'list'], cliEnv(t));
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /sso\.clientSecret {2}set {2}updated \S+ by cli/);
  assert.match(listed.stdout, /botCheck\.recaptchaSecretKey {2}not set .*used by settings botCheck\.recaptchaSecretKey/);
  assert.equal((set.stdout + set.stderr + listed.stdout + listed.stderr).includes(VALUE), false);

  const argv = await cli(['secrets', 'set', 'x', 'the-value'], cliEnv(t));
  assert.equal(argv.code, 2);
  assert.match(argv.stderr, /never from the command line/);
  const badName = await cli(['secrets', 'set', '9bad'], cliEnv(t), 'v');
  assert.equal(badName.code, 1);
  assert.match(badName.stderr, /VALIDATION_FAILED/);
  const empty = await cli(['secrets', 'set', 'x'], cliEnv(t), '');
  assert.equal(empty.code, 1);

  const del = await cli(['secrets', 'delete', 'sso.clientSecret'], cliEnv(t));
  assert.equal(del.code, 0, del.stderr);
  assert.equal((await cli(['secrets', 'delete', 'sso.clientSecret'], cliEnv(t))).code, 1);
  assert.equal((await t.s.secrets.resolve('sso.clientSecret')).state, 'unset');
});

test('rotate-key: a new key file (0600), the secrets re-encrypted; the running server follows', async () => {
  await t.s.secrets.set('s3.secretKey', VALUE, { actor: { id: null, name: 'test' } });
  const file = path.join(t.shared.dataDir, 'secrets.key');
  const before = readFileSync(file, 'utf8');
  const r = await cli(['secrets', 'rotate-key'], cliEnv(t));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /re-encrypted 1 secret\(s\) under the new data key/);
  assert.notEqual(readFileSync(file, 'utf8'), before);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(r.stdout.includes(readFileSync(file, 'utf8').trim()), false, 'a kept key is never printed');
  assert.deepEqual(await t.s.secrets.resolve('s3.secretKey'), { state: 'set', value: VALUE });
});

test('rotate-key with SECRETS_KEY: the new key comes from --new-key-file (0600) before anything commits; never printed', async () => {
  const key = randomBytes(32).toString('base64url');
  const app = await makeApp({ env: { SECRETS_KEY: key } });
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-newkey-'));
  try {
    const env = { ...cliEnv(app), SECRETS_KEY: key };
    assert.equal((await cli(['secrets', 'set', 'smtp.password'], env, VALUE)).code, 0);
    const missing = await cli(['secrets', 'rotate-key'], env);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /--new-key-file/);
    const newKey = randomBytes(32).toString('base64url');
    const file = path.join(dir, 'new.key');
    writeFileSync(file, `${newKey}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    const open = await cli(['secrets', 'rotate-key', '--new-key-file', file], env);
    assert.equal(open.code, 2, open.stderr);
    assert.match(open.stderr, /chmod 600/);
    assert.equal((await app.s.secrets.resolve('smtp.password')).state, 'set', 'nothing rotated');
    chmodSync(file, 0o600);
    const r = await cli(['secrets', 'rotate-key', '--new-key-file', file], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /install the key in .*new\.key/);
    assert.equal(r.stdout.includes(newKey), false, 'the key is never printed');
    const stale = await cli(['secrets', 'list'], env);
    assert.match(stale.stdout, /smtp\.password {2}UNREADABLE/);
    assert.equal((await app.s.secrets.resolve('smtp.password')).state, 'unreadable', 'a server with the old key fails closed');
    const fresh = await cli(['secrets', 'list'], { ...env, SECRETS_KEY: newKey });
    assert.match(fresh.stdout, /smtp\.password {2}set/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await app.close();
  }
});
