// The data key (DATA-1): generated 0600 at the first start, refused when others can read it, given by env,
// and a rotation that a crash interrupted settled at the next start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { bearer, cliEnv, configProblems, login, makeApp } from '../helpers/app.js';
import { Writable } from 'node:stream';
import { ConfigError, loadConfig } from '../../src/app-config.js';
import { createServices } from '../../src/services.js';
import { encrypt } from '../../src/secrets/cipher.js';
import { dataKey, formatKey, newDataKey, readKeyFile } from '../../src/secrets/key.js';

const VALUE = 'kannel-gateway-password-Zx81';

test('generated at the first start with mode 0600; a key file readable by others is refused at start [ASVS V13.3.2]', async () => {
  const t = await makeApp();
  try {
    const file = path.join(t.shared.dataDir, 'secrets.key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, 'utf8'), /^[A-Za-z0-9_-]{43}\n$/);
    assert.notEqual(readFileSync(file, 'utf8').trim(), t.shared.appKey, 'its own key, not APP_KEY');
    await t.s.secrets.set('a', VALUE, { actor: { id: null, name: 'test' } });
    const env = { ...cliEnv(t), DATA_DIR: t.shared.dataDir };
    const { config } = loadConfig(env, { generateKey: false });
    chmodSync(file, 0o644);
    const problems = configProblems({ DATA_DIR: t.shared.dataDir });
    assert.ok(
      problems.some((p) => p.includes('secrets.key') && p.includes('chmod 600')),
      problems.join('; '),
    );
    // Made readable between config loading and the start: the start refuses too.
    await assert.rejects(
      createServices({ config, env, logStream: new Writable({ write: (_c, _e, cb) => cb() }) }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.includes('mode 0644')),
    );
    chmodSync(file, 0o640);
    assert.ok(configProblems({ DATA_DIR: t.shared.dataDir }).some((p) => p.includes('mode 0640')));
    chmodSync(file, 0o600);
    const peer = await makeApp({ peerOf: t });
    assert.deepEqual(await peer.s.secrets.resolve('a'), { state: 'set', value: VALUE });
    await peer.close();
  } finally {
    await t.close();
  }
});

test('SECRETS_KEY from the environment: no key file, the API refuses to rotate it; bad values are config problems', async () => {
  const key = randomBytes(32);
  const t = await makeApp({ env: { SECRETS_KEY: key.toString('hex') } });
  try {
    assert.equal(existsSync(path.join(t.shared.dataDir, 'secrets.key')), false);
    const admin = (await login(t)).token;
    const put = await t.app.inject({ method: 'PUT', url: '/api/admin/secrets/s3.key', headers: bearer(admin), payload: { value: VALUE } });
    assert.equal(put.statusCode, 200);
    const row = await t.s.db.selectFrom('secrets').selectAll().executeTakeFirstOrThrow();
    assert.equal(row.key_id, dataKey(key).id);
    const r = await t.app.inject({ method: 'POST', url: '/api/admin/secrets/rotate-key', headers: bearer(admin) });
    assert.equal(r.json().error.code, 'SECRETS_KEY_EXTERNAL');
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/secrets', headers: bearer(admin) })).json().keySource, 'env');
  } finally {
    await t.close();
  }
  // base64 and base64url forms are the same key.
  assert.deepEqual(configProblems({ SECRETS_KEY: key.toString('base64') }), []);
  assert.deepEqual(configProblems({ SECRETS_KEY: key.toString('base64url') }), []);
  for (const bad of ['short', 'z'.repeat(64), randomBytes(16).toString('hex'), randomBytes(48).toString('base64')]) {
    assert.ok(
      configProblems({ SECRETS_KEY: bad }).some((p) => p.startsWith('SECRETS_KEY must be 32 random bytes')),
      bad,
    );
  }
  assert.ok(configProblems({ SECRETS_KEY: key.toString('hex'), SECRETS_KEY_FILE: '/nonexistent' }).some((p) => p.includes('both set')));
  assert.ok(configProblems({ SECRETS_KEY_FILE: '/nonexistent/secrets' }).some((p) => p.includes('SECRETS_KEY_FILE')));
});

test('a rotation a crash interrupted: before its commit the next key is dropped, after it the next key is installed', async () => {
  const t = await makeApp();
  try {
    const file = path.join(t.shared.dataDir, 'secrets.key');
    const next = `${file}.next`;
    await t.s.secrets.set('a', VALUE, { actor: { id: null, name: 'test' } });
    const old = readKeyFile(file);

    // Crash before the commit: the next key file exists, the secrets are still under the old key.
    writeFileSync(next, `${formatKey(newDataKey().key)}\n`, { mode: 0o600 });
    // A write meanwhile is refused: it would seal under a key about to go.
    await assert.rejects(t.s.secrets.set('b', VALUE, { actor: { id: null, name: 'test' } }), /rotated/);
    const p1 = await makeApp({ peerOf: t });
    assert.equal(existsSync(next), false, 'dropped');
    assert.equal(readKeyFile(file).id, old.id);
    assert.deepEqual(await p1.s.secrets.resolve('a'), { state: 'set', value: VALUE });
    await p1.close();

    // Crash after the commit, before the rename: the secrets are under the next key.
    const k2 = newDataKey();
    writeFileSync(next, `${formatKey(k2.key)}\n`, { mode: 0o600 });
    await t.s.db
      .updateTable('secrets')
      .set({ ciphertext: encrypt(k2, 'a', VALUE), key_id: k2.id })
      .where('name', '=', 'a')
      .execute();
    // A running instance opens it already, with the next key.
    assert.deepEqual(await t.s.secrets.resolve('a'), { state: 'set', value: VALUE });
    const p2 = await makeApp({ peerOf: t });
    assert.equal(existsSync(next), false, 'renamed');
    assert.equal(readKeyFile(file).id, k2.id);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(await p2.s.secrets.resolve('a'), { state: 'set', value: VALUE });
    await p2.close();
  } finally {
    await t.close();
  }
});

test('a rotation by another instance on the same data directory: the first follows the key file [ASVS V15.4.1]', async () => {
  const t = await makeApp();
  const peer = await makeApp({ peerOf: t });
  try {
    await t.s.secrets.set('a', VALUE, { actor: { id: null, name: 'test' } });
    const r = await peer.s.secrets.rotate({ actor: { id: null, name: 'test' } }, 'refuse');
    assert.equal(r.count, 1);
    assert.deepEqual(await t.s.secrets.resolve('a'), { state: 'set', value: VALUE });
    // A write by the first instance seals under the new key, not the one it started with.
    await t.s.secrets.set('b', VALUE, { actor: { id: null, name: 'test' } });
    const rows = await t.s.db.selectFrom('secrets').select('key_id').execute();
    assert.deepEqual(new Set(rows.map((x) => x.key_id)), new Set([r.keyId]));
  } finally {
    await peer.close();
    await t.close();
  }
});

test('an instance starting during a rotation drops the next key file before the commit: the rotation writes the key again', async () => {
  const { unlinkSync } = await import('node:fs');
  const t = await makeApp();
  try {
    const file = path.join(t.shared.dataDir, 'secrets.key');
    await t.s.secrets.set('a', VALUE, { actor: { id: null, name: 'test' } });
    // The rotation's event is written inside its transaction: what a starting peer would do there, seeing no secret
    // under the next key yet, is to delete the next key file.
    const observe = t.s.securityLog.observe;
    t.s.securityLog.observe = (type, outcome) => {
      if (type === 'secrets.key_rotated') unlinkSync(`${file}.next`);
      observe(type, outcome);
    };
    const r = await t.s.secrets.rotate({ actor: { id: null, name: 'test' } }, 'refuse');
    t.s.securityLog.observe = observe;
    assert.equal(readKeyFile(file).id, r.keyId);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const peer = await makeApp({ peerOf: t });
    assert.deepEqual(await peer.s.secrets.resolve('a'), { state: 'set', value: VALUE });
    await peer.close();
  } finally {
    await t.close();
  }
});
