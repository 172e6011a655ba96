import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, ConfigError } from '../../src/app-config.js';
import { cli } from '../helpers/cli.js';

/** Every data directory of this file lives under one folder, removed at the end. */
const TMP_ROOT = mkdtempSync(path.join(tmpdir(), 'palisade-cfg-'));
after(() => rmSync(TMP_ROOT, { recursive: true, force: true }));

const tmp = () => mkdtempSync(path.join(TMP_ROOT, 'd-'));
const GOOD_KEY = 'YtVyPMwVz4BU1_dtN2pejrg7moSkrWrUlN3bL8IR';

test('a short or well-known APP_KEY is refused', () => {
  for (const key of ['short-key', 'your-secret-key', 'changeme', 'x'.repeat(40)]) {
    assert.throws(() => loadConfig({ APP_KEY: key, DATA_DIR: tmp() }, { generateKey: false }), ConfigError, key);
  }
  assert.equal(loadConfig({ APP_KEY: GOOD_KEY, DATA_DIR: tmp() }, { generateKey: false }).config.appKey, GOOD_KEY);
});

test('every problem is listed at once', () => {
  try {
    loadConfig(
      { APP_KEY: 'changeme', PORT: 'eighty', SESSION_VALIDITY: 'forever', DATABASE_URL: 'mysql://x', INIT_ROOT_PASSWORD: 'root' },
      { generateKey: false },
    );
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.problems.length, 5, e.problems.join('\n'));
  }
});

test('without APP_KEY a key is generated into the data directory with mode 0600, and kept', () => {
  const dir = tmp();
  try {
    const first = loadConfig({ DATA_DIR: dir }, { generateKey: true });
    assert.equal(first.config.appKeySource, 'generated');
    assert.ok(first.warnings.some((w) => w.includes('generated a signing key')));
    const file = path.join(dir, 'app.key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(first.config.appKey.length >= 32);
    assert.equal(readFileSync(file, 'utf8').trim(), first.config.appKey);
    assert.equal(loadConfig({ DATA_DIR: dir }, { generateKey: true }).config.appKey, first.config.appKey);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the config is frozen', () => {
  const { config } = loadConfig({ APP_KEY: GOOD_KEY, DATA_DIR: tmp() }, { generateKey: false });
  assert.throws(() => {
    (config as { port: number }).port = 1;
  });
  assert.throws(() => {
    (config.tokenPolicy as { tokenValidity: number }).tokenValidity = 1;
  });
});

test('APP_KEY_FILE is read; setting both APP_KEY and APP_KEY_FILE is a problem', () => {
  const dir = tmp();
  const f = path.join(dir, 'key');
  rmSync(f, { force: true });
  writeFileSync(f, `${GOOD_KEY}\n`, { mode: 0o600 });
  assert.equal(loadConfig({ APP_KEY_FILE: f, DATA_DIR: dir }, { generateKey: false }).config.appKey, GOOD_KEY);
  assert.throws(() => loadConfig({ APP_KEY_FILE: f, APP_KEY: GOOD_KEY, DATA_DIR: dir }, { generateKey: false }), /both set/);
});

test('`palisade config check` lists every problem and exits non-zero; a good config exits 0', async () => {
  const bad = await cli(['config', 'check'], { APP_KEY: 'test-key', PORT: '99999', TOKEN_VALIDITY: '1', DATA_DIR: tmp() });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /APP_KEY must be at least 32/);
  assert.match(bad.stderr, /PORT must be an integer/);
  assert.match(bad.stderr, /TOKEN_VALIDITY/);
  const good = await cli(['config', 'check'], { APP_KEY: GOOD_KEY, DATA_DIR: tmp() });
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /configuration is valid/);
});

test('`palisade start` with bad configuration fails at boot with the problems listed', async () => {
  const r = await cli(['start'], { APP_KEY: 'changeme', HOST: 'not a host', DATA_DIR: tmp() });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /APP_KEY/);
  assert.match(r.stderr, /HOST/);
});

test('unknown commands print the usage and exit 2', async () => {
  const r = await cli(['frobnicate'], { DATA_DIR: tmp() });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /usage: palisade/);
});
