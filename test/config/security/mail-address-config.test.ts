import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig, ConfigError } from '../../../src/app-config.js';

/** Every data directory of this file lives under one folder, removed at the end. */
const TMP_ROOT = mkdtempSync(path.join(tmpdir(), 'palisade-cfg-'));
after(() => rmSync(TMP_ROOT, { recursive: true, force: true }));

/**
 * Bug class: recipient smuggling through configured addresses. INIT_ROOT_EMAIL must be one plain
 * addr-spec and MAIL_FROM one address with at most a plain display name, checked by the same
 * validator as the API and the mailer.
 */

const base = () => ({ APP_KEY: randomBytes(32).toString('base64url'), DATA_DIR: mkdtempSync(path.join(TMP_ROOT, 'd-')) });

test('config mail addresses: INIT_ROOT_EMAIL with a display name, a list, a quoted part or a line break is refused', () => {
  for (const v of [
    'name<attacker@evil.test>',
    'Root <attacker@evil.test>',
    'root@example.org, attacker@evil.test',
    '"a<attacker@evil.test>"@example.org',
    'root@example.org\nattacker@evil.test',
    'root@[10.0.0.1]',
  ]) {
    assert.throws(
      () => loadConfig({ ...base(), INIT_ROOT_EMAIL: v }, { generateKey: false }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.startsWith('INIT_ROOT_EMAIL')),
      JSON.stringify(v),
    );
  }
  assert.equal(loadConfig({ ...base(), INIT_ROOT_EMAIL: 'admin+ops@example.org' }, { generateKey: false }).config.initRoot.email, 'admin+ops@example.org');
});

test('config mail addresses: MAIL_FROM must be one address, optionally after a plain display name', () => {
  for (const v of ['a@x.org, b@y.org', 'Palisade <a@x.org>, b@y.org', 'Palisade\r\nBcc: b@y.org <a@x.org>', '"Pal" <a@x.org>', 'Pal <"q"@x.org>', 'Palisade']) {
    assert.throws(
      () => loadConfig({ ...base(), MAIL_FROM: v }, { generateKey: false }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.startsWith('MAIL_FROM')),
      JSON.stringify(v),
    );
  }
  for (const v of ['noreply@example.org', 'Palisade <noreply@example.org>', 'Palisade Team<noreply@example.org>']) {
    assert.equal(loadConfig({ ...base(), MAIL_FROM: v }, { generateKey: false }).config.mail.from, v);
  }
});
