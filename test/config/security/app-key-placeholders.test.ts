import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { loadConfig, ConfigError } from '../../../src/app-config.js';
import { cli } from '../../helpers/cli.js';

/** Every data directory of this file lives under one folder, removed at the end. */
const TMP_ROOT = mkdtempSync(path.join(tmpdir(), 'palisade-key-'));
after(() => rmSync(TMP_ROOT, { recursive: true, force: true }));

/**
 * Bug class: placeholder APP_KEY. Keys made of a repeated short pattern, or a published example
 * (tutorials, templates, jwt.io, Laravel, Directus) in any case, padded or repeated to pass the length
 * rule, signed tokens that anyone could forge. They must be refused by `config check` and `start`,
 * while any random key passes.
 */

const tmp = () => mkdtempSync(path.join(TMP_ROOT, 'd-'));

export const PLACEHOLDER_KEYS = [
  'abc'.repeat(20),
  'a'.repeat(64),
  'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  '0123456789abcdef'.repeat(4),
  'x7!'.repeat(16),
  'please-change-me-please-change-me',
  `PLEASE-CHANGE-ME-${'x'.repeat(30)}`,
  'Please_Change_Me_0000000000000000000000',
  'your-256-bit-secret'.padEnd(48, '0'),
  'YOUR-256-BIT-SECRET-your-256-bit-secret',
  'a-string-secret-at-least-256-bits-long',
  'changeme'.repeat(5),
  `ChangeMe${'1234567890'.repeat(3)}`,
  `secret${'!'.repeat(40)}`,
  'supersecretsupersecretsupersecretkey',
  'SuperSecret-SuperSecret-SuperSecret-123',
  '0123456789abcdef0123456789abcdefXYZ',
  'abcdefghijklmnopqrstuvwxyz0123456789',
  'base64:2fl+Ktvkfl+Fuz4Qp/A75G2RTiWVA/ZoKZvp6fiiM10=',
  '255d861b-5ea1-5996-9aa3-922530ec40b1',
  'replace-with-a-long-random-secret-value',
  'replace-with-at-least-32-random-characters',
  'my-super-secret-key-please-change-me',
  'Your-Secret-Key-Here-Change-It-Now!!',
  `django-insecure-${'x'.repeat(30)}`,
  'ｃｈａｎｇｅｍｅ'.repeat(5),
  'qwertyuiopasdfghjklzxcvbnm1234567890',
];

const problems = (key: string): string[] => {
  try {
    loadConfig({ APP_KEY: key, DATA_DIR: tmp() }, { generateKey: false });
    return [];
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
};

test('placeholder APP_KEY: repeated patterns and published examples are refused whatever their length, case or padding [ASVS V13.3.1]', () => {
  for (const key of PLACEHOLDER_KEYS) {
    assert.ok(
      problems(key).some((p) => p.startsWith('APP_KEY')),
      `accepted: ${JSON.stringify(key)}`,
    );
  }
});

test('placeholder APP_KEY: the same from APP_KEY_FILE and from DATA_DIR/app.key', () => {
  const dir = tmp();
  const file = path.join(dir, 'key');
  writeFileSync(file, 'your-256-bit-secret-your-256-bit-secret\n');
  assert.throws(() => loadConfig({ APP_KEY_FILE: file, DATA_DIR: dir }, { generateKey: false }), /APP_KEY/);
  writeFileSync(path.join(dir, 'app.key'), `${'abc'.repeat(20)}\n`, { mode: 0o600 });
  assert.throws(() => loadConfig({ DATA_DIR: dir }, { generateKey: false }), /app\.key: APP_KEY/);
});

test('placeholder APP_KEY: random keys of every common shape pass [ASVS V13.3.1]', () => {
  for (let i = 0; i < 200; i++) {
    for (const key of [
      randomBytes(24).toString('base64url'),
      randomBytes(32).toString('base64'),
      randomBytes(16).toString('hex'),
      randomBytes(48).toString('base64url'),
      randomUUID(),
      `base64:${randomBytes(32).toString('base64')}`,
      Array.from(randomBytes(32), (b) => String.fromCharCode(33 + (b % 94))).join(''),
    ]) {
      assert.deepEqual(problems(key), [], key);
    }
  }
  // A published word next to enough random material is not a placeholder.
  assert.deepEqual(problems(`changeme-${randomBytes(30).toString('base64url')}`), []);
});

test('placeholder APP_KEY: `palisade config check` and `palisade start` report it and stop', async () => {
  const check = await cli(['config', 'check'], { APP_KEY: 'please-change-me-please-change-me', DATA_DIR: tmp() });
  assert.equal(check.code, 1);
  assert.match(check.stderr, /APP_KEY is a known public example or placeholder/);
  const start = await cli(['start'], { APP_KEY: '0123456789abcdef'.repeat(4), DATA_DIR: tmp(), PORT: '0' });
  assert.equal(start.code, 1);
  assert.match(start.stderr, /APP_KEY repeats a short pattern/);
  const good = await cli(['config', 'check'], { APP_KEY: randomBytes(32).toString('base64url'), DATA_DIR: tmp() });
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /configuration is valid/);
});
