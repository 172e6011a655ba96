// Regression tests for the secret store's security review (F1–F3, F5, F6): stale-key writes, rotations
// that install another's key file, store-only settings secrets, a fresh key next to sealed secrets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeApp } from '../helpers/app.js';
import { SecretStore, secretsEnv } from '../../src/secrets/index.js';
import { dataKey, newDataKey, parseKey, readKeyFile, writeKeyFile } from '../../src/secrets/key.js';
import { botCheckArea } from '../../src/auth/bot-check/settings.js';
import { AppError } from '../../src/errors.js';

const ctx = { actor: { id: null, name: 'test' } };
const busy = (e: unknown) => e instanceof AppError && e.code === 'SECRETS_BUSY';
const depsOf = (s: SecretStore): any => (s as any).d;

test('F1: a write by an instance holding a retired SECRETS_KEY is refused, even with one secret', async () => {
  const k1 = randomBytes(32).toString('base64url');
  const a = await makeApp({ env: { SECRETS_KEY: k1 } });
  const b = await makeApp({ peerOf: a, env: { SECRETS_KEY: k1 } });
  try {
    await a.s.secrets.set('only.one', 'v1', ctx);
    const k2 = newDataKey();
    const r = await b.s.secrets.rotate(ctx, 'return', k2);
    assert.ok(r.newKey);
    // a still holds k1 (its environment is never read again): sealing under it would lose the value.
    await assert.rejects(a.s.secrets.set('only.one', 'v2-stale', ctx), busy);
    const fresh = await SecretStore.open({ ...depsOf(a.s.secrets), config: { source: 'env', key: r.newKey, file: null } });
    assert.deepEqual(await fresh.resolve('only.one'), { state: 'set', value: 'v1' });
  } finally {
    await b.close();
    await a.close();
  }
});

test('F1: a write whose key check ran before another instance rotated is refused, not sealed under the retired key [ASVS V15.4.2]', async () => {
  const a = await makeApp();
  const b = await makeApp({ peerOf: a });
  try {
    await a.s.secrets.set('only.one', 'v1', ctx);
    const A = a.s.secrets as any;
    const orig = A.refresh;
    A.refresh = () => {};
    try {
      await b.s.secrets.rotate(ctx, 'refuse');
      await assert.rejects(a.s.secrets.set('only.one', 'v2-stale', ctx), busy);
    } finally {
      A.refresh = orig;
    }
    assert.deepEqual(await b.s.secrets.resolve('only.one'), { state: 'set', value: 'v1' });
    await a.s.secrets.set('only.one', 'v3', ctx); // with the key file read again
    assert.deepEqual(await b.s.secrets.resolve('only.one'), { state: 'set', value: 'v3' });
  } finally {
    await b.close();
    await a.close();
  }
});

test('F2: a rotation installs only its own key, whatever next file it finds after its commit', async () => {
  const a = await makeApp();
  const b = await makeApp({ peerOf: a });
  try {
    await a.s.secrets.set('x.one', 'v1', ctx);
    await a.s.secrets.set('x.two', 'v2', ctx);
    const next = path.join(a.shared.dataDir, 'secrets.key.next');
    const log = depsOf(b.s.secrets).log;
    const record = log.record.bind(log);
    depsOf(b.s.secrets).log = {
      record: async (c: any, e: any, trx: any) => {
        if (e.type === 'secrets.key_rotated') {
          unlinkSync(next);
          writeKeyFile(next, newDataKey()); // another's next file
        }
        return record(c, e, trx);
      },
    };
    const r = await b.s.secrets.rotate(ctx, 'refuse');
    depsOf(b.s.secrets).log = log;
    assert.equal(readKeyFile(path.join(a.shared.dataDir, 'secrets.key')).id, r.keyId);
    assert.deepEqual(await a.s.secrets.resolve('x.one'), { state: 'set', value: 'v1' });
    assert.deepEqual(await b.s.secrets.resolve('x.two'), { state: 'set', value: 'v2' });
    // The foreign next file is no rotation's: the next start (holding the rotation lock) drops it.
    const c = await makeApp({ peerOf: a });
    await c.close();
    assert.equal(existsSync(next), false);
  } finally {
    await b.close();
    await a.close();
  }
});

test('F2: a next key file that cannot be read refuses the start and is kept', async () => {
  const a = await makeApp();
  try {
    await a.s.secrets.set('x.one', 'v1', ctx);
    const file = path.join(a.shared.dataDir, 'secrets.key');
    const next = `${file}.next`;
    const deps = depsOf(a.s.secrets);
    writeFileSync(next, 'not a key\n', { mode: 0o600 });
    await assert.rejects(SecretStore.open({ ...deps, config: { source: 'data-dir', key: null, file } }), /secrets\.key\.next.*interrupted rotation/s);
    assert.equal(existsSync(next), true, 'never deleted unread');
    unlinkSync(next);
    writeKeyFile(next, newDataKey());
    chmodSync(next, 0o644);
    await assert.rejects(SecretStore.open({ ...deps, config: { source: 'data-dir', key: null, file } }), /chmod 600/);
    assert.equal(existsSync(next), true);
    unlinkSync(next);
  } finally {
    await a.close();
  }
});

test('F3: a settings secret set on the Secrets page is used while the settings row does not name it; never copied into the row', async () => {
  const a = await makeApp();
  try {
    await a.s.secrets.set('botCheck.recaptchaSecretKey', 'store-only-value', ctx);
    assert.equal((await a.s.settings.get(botCheckArea)).recaptchaSecretKey, 'store-only-value');
    await a.s.settings.update(botCheckArea, { recaptchaSiteKey: 'site-key' }, null, a.clock.now());
    assert.equal((await a.s.settings.get(botCheckArea)).recaptchaSecretKey, 'store-only-value');
    const row = await a.s.db.selectFrom('settings').select('value').where('key', '=', 'botCheck').executeTakeFirstOrThrow();
    assert.equal(row.value.includes('store-only-value'), false);
    // Cleared in the settings: an explicit '' stays empty (and deletes the store's secret).
    await a.s.settings.update(botCheckArea, { recaptchaSecretKey: '' }, null, a.clock.now());
    assert.equal((await a.s.settings.get(botCheckArea)).recaptchaSecretKey, '');
    assert.equal((await a.s.secrets.resolve('botCheck.recaptchaSecretKey')).state, 'unset');
  } finally {
    await a.close();
  }
});

test('F5: no fresh key is generated next to secrets sealed under another; the error names their key id', async () => {
  const a = await makeApp();
  const other = mkdtempSync(path.join(tmpdir(), 'palisade-otherdir-'));
  try {
    const deps = depsOf(a.s.secrets);
    const file = path.join(other, 'secrets.key');
    await a.s.secrets.set('x.one', 'v1', ctx);
    await assert.rejects(SecretStore.open({ ...deps, config: { source: 'data-dir', key: null, file } }), (e: Error) => {
      assert.match(e.message + JSON.stringify(e), new RegExp(a.s.secrets.keyId));
      return true;
    });
    assert.equal(existsSync(file), false, 'no key generated');
    await a.s.secrets.delete('x.one', ctx);
    const fresh = await SecretStore.open({ ...deps, config: { source: 'data-dir', key: null, file } });
    assert.notEqual(fresh.keyId, a.s.secrets.keyId);
    await fresh.set('x.two', 'v2', ctx); // no secret was left: the new key becomes the current one
    assert.deepEqual(await fresh.resolve('x.two'), { state: 'set', value: 'v2' });
  } finally {
    rmSync(other, { recursive: true, force: true });
    await a.close();
  }
});

test('F6: SECRETS_KEY_FILE readable by group or others warns; 0400 and 0600 are fine', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-keyfile-'));
  try {
    const file = path.join(dir, 'key');
    const key = randomBytes(32).toString('base64url');
    writeFileSync(file, key, { mode: 0o600 });
    assert.ok(parseKey(readFileSync(file, 'utf8')));
    const read = () => {
      const problems: string[] = [];
      const warnings: string[] = [];
      const r = secretsEnv.read({ SECRETS_KEY_FILE: file }, problems, warnings, { dataDir: dir } as any);
      assert.deepEqual(problems, []);
      assert.equal(r.secrets.source, 'file');
      return warnings;
    };
    for (const mode of [0o600, 0o400]) {
      chmodSync(file, mode);
      assert.deepEqual(read(), []);
    }
    for (const mode of [0o440, 0o644]) {
      chmodSync(file, mode);
      assert.match(read().join('\n'), /SECRETS_KEY_FILE .* readable by group or other users/);
    }
    assert.equal(dataKey(parseKey(key)!).id.length, 16);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
