import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, ConfigError } from '../../src/app-config.js';
import { makeApp } from '../helpers/app.js';

/** Every data directory of this file lives under one folder, removed at the end. */
const TMP_ROOT = mkdtempSync(path.join(tmpdir(), 'palisade-cfg-'));
after(() => rmSync(TMP_ROOT, { recursive: true, force: true }));

const base = () => ({ APP_KEY: 'YtVyPMwVz4BU1_dtN2pejrg7moSkrWrUlN3bL8IR', DATA_DIR: mkdtempSync(path.join(TMP_ROOT, 'd-')) });

test('password, reset and mail variables become the env defaults of the runtime settings', async () => {
  const t = await makeApp({
    env: {
      PASSWORD_MIN_LENGTH: '20',
      PASSWORD_MAX_LENGTH: '256',
      PASSWORD_REQUIRE: 'upper, digit',
      PASSWORD_SYMBOLS: '~+',
      PASSWORD_FORBID_USER_INFO: 'false',
      PASSWORD_HISTORY: '12',
      PASSWORD_CONTEXT_WORDS: 'acme,initech',
      PASSWORD_CUSTOM_RULES: '[{"pattern":"^\\\\S+$","message":"No spaces"}]',
      PASSWORD_VALIDITY: '90d',
      PASSWORD_REMINDER: '14d',
      RESET_LINK_VALIDITY: '15m',
      ADMIN_RESET_LINK_VALIDITY: '2d',
      INVITATION_LINK_VALIDITY: '7d',
      ADMIN_MAY_SET_PASSWORDS: 'false',
      FORGOT_PER_ACCOUNT: '5',
      FORGOT_PER_IP: '50',
    },
  });
  try {
    const p = (await t.app.inject({ method: 'GET', url: '/api/auth/password/policy' })).json();
    assert.deepEqual(p, {
      minLength: 20,
      maxLength: 256,
      requireLowercase: false,
      requireUppercase: true,
      requireDigit: true,
      requireSymbol: false,
      symbols: '~+',
      forbidUserInfo: false,
      history: 12,
      blocklist: true,
      customRules: [{ pattern: '^\\S+$', message: 'No spaces' }],
      validity: 90 * 86400,
      reminder: 14 * 86400,
    });
    assert.deepEqual(await t.s.passwordReset.current(), {
      resetLinkValidity: 900,
      adminResetLinkValidity: 2 * 86400,
      invitationValidity: 7 * 86400,
      adminMaySetPasswords: false,
      forgotPerAccount: 5,
      forgotPerIp: 50,
    });
    assert.equal(t.s.mailer.kind, 'outbox');
  } finally {
    await t.close();
  }
});

test('defaults: NIST SP 800-63B / ASVS level 2, protections on', () => {
  const { config } = loadConfig(base(), { generateKey: false });
  assert.equal(config.passwordPolicy.minLength, 15);
  assert.equal(config.passwordPolicy.maxLength, 128);
  assert.equal(config.passwordPolicy.blocklist, true);
  assert.equal(config.passwordPolicy.forbidUserInfo, true);
  assert.equal(config.passwordPolicy.validity, 0);
  assert.equal(config.passwordPolicy.reminder, 10 * 86400);
  assert.equal(config.passwordPolicy.requireSymbol, false);
  assert.equal(config.passwordPolicy.symbols, '!@#$%^&*');
  assert.equal(config.passwordReset.adminMaySetPasswords, true);
  assert.deepEqual(config.mail, { smtpUrl: null, from: 'Palisade <palisade@localhost>', publicUrl: 'http://127.0.0.1:8080', tls: null });
});

test('every bad password, reset or mail variable is listed at once', () => {
  const env = {
    ...base(),
    PASSWORD_MIN_LENGTH: '4',
    PASSWORD_MAX_LENGTH: '5000',
    PASSWORD_REQUIRE: 'emoji',
    PASSWORD_HISTORY: '99',
    PASSWORD_CUSTOM_RULES: '[{"pattern":"(a+)+$","message":"nested"}]',
    PASSWORD_VALIDITY: 'sometimes',
    RESET_LINK_VALIDITY: '10s',
    FORGOT_PER_IP: '0',
    ADMIN_MAY_SET_PASSWORDS: 'maybe',
    SMTP_URL: 'http://mail.example.org',
    PUBLIC_URL: 'ftp://x.example.org',
    INIT_ROOT_PASSWORD: 'Qwerty123456789',
  };
  try {
    loadConfig(env, { generateKey: false });
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    const all = e.problems.join('\n');
    for (const v of [
      'PASSWORD_MIN_LENGTH',
      'PASSWORD_MAX_LENGTH',
      'PASSWORD_REQUIRE',
      'PASSWORD_HISTORY',
      'customRules[0]',
      'PASSWORD_VALIDITY',
      'RESET_LINK_VALIDITY',
      'FORGOT_PER_IP',
      'ADMIN_MAY_SET_PASSWORDS',
      'SMTP_URL',
      'MAIL_FROM',
      'PUBLIC_URL',
      'INIT_ROOT_PASSWORD',
    ]) {
      assert.match(all, new RegExp(v.replace(/[[\]]/g, '\\$&')), v);
    }
    assert.match(all, /INIT_ROOT_PASSWORD does not meet the password policy: .*PASSWORD_BLOCKLISTED/);
  }
});

test('SMTP_URL can come from a file; PUBLIC_URL loses its trailing slash', () => {
  const { config, warnings } = loadConfig(
    { ...base(), SMTP_URL: 'smtps://user:pw@mail.example.org:465', MAIL_FROM: 'Ops <ops@example.org>' },
    { generateKey: false },
  );
  assert.equal(config.mail.smtpUrl, 'smtps://user:pw@mail.example.org:465');
  assert.ok(warnings.some((w) => w.includes('PUBLIC_URL is not set')));
  assert.equal(loadConfig({ ...base(), PUBLIC_URL: 'https://p.example.org/app/' }, { generateKey: false }).config.mail.publicUrl, 'https://p.example.org/app');
});
