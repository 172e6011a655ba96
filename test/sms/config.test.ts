// The SMS channel's env section (SMS_KANNEL_URL, SMS_KANNEL_USER, SMS_KANNEL_PASSWORD or _FILE, SMS_FROM,
// SMS_TIMEOUT_MS) and the phone-number rule: checked once at boot, every problem listed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, loadConfig, type Env } from '../../src/app-config.js';
import { isE164, maskPhone, normalisePhone } from '../../src/sms/index.js';

const TMP = mkdtempSync(path.join(tmpdir(), 'palisade-sms-config-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
const load = (env: Env) => loadConfig({ APP_KEY: 'YtVyPMwVz4BU1_dtN2pejrg7moSkrWrUlN3bL8IR', DATA_DIR: TMP, ...env }, { generateKey: false });
const problems = (env: Env): string => {
  try {
    load(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.join('\n');
    throw e;
  }
  assert.fail('the configuration was accepted');
};
const GATEWAY = { SMS_KANNEL_URL: 'http://127.0.0.1:13013/cgi-bin/sendsms', SMS_KANNEL_USER: 'palisade', SMS_KANNEL_PASSWORD: 'gw-secret' };

test('without SMS_KANNEL_URL there is no SMS channel; the other SMS variables alone are a mistake', () => {
  assert.equal(load({}).config.sms, null);
  assert.match(problems({ SMS_KANNEL_USER: 'palisade' }), /need SMS_KANNEL_URL/);
  assert.match(problems({ SMS_FROM: 'Palisade' }), /need SMS_KANNEL_URL/);
});

test('a gateway with its sendsms-user, sender and timeout', () => {
  const { config, warnings } = load({ ...GATEWAY, SMS_FROM: 'Palisade', SMS_TIMEOUT_MS: '1500' });
  assert.deepEqual(config.sms, {
    kannel: { url: 'http://127.0.0.1:13013/cgi-bin/sendsms', username: 'palisade', password: 'gw-secret', tls: null },
    from: 'Palisade',
    timeoutMs: 1500,
  });
  assert.deepEqual(warnings, []);
  assert.equal(load(GATEWAY).config.sms?.timeoutMs, 3000);
  assert.equal(load(GATEWAY).config.sms?.from, null);
  // A bare host and port is Kannel's usual path.
  assert.equal(load({ ...GATEWAY, SMS_KANNEL_URL: 'https://sms.example.org:13014' }).config.sms?.kannel.url, 'https://sms.example.org:13014/cgi-bin/sendsms');
});

test('the gateway password may come from a file, not from both, or from the secret store', () => {
  const file = path.join(TMP, 'sms-password');
  writeFileSync(file, 'from-a-file\n', { mode: 0o600 });
  const { SMS_KANNEL_PASSWORD: _, ...rest } = GATEWAY;
  assert.equal(load({ ...rest, SMS_KANNEL_PASSWORD_FILE: file }).config.sms?.kannel.password, 'from-a-file');
  assert.match(problems({ ...GATEWAY, SMS_KANNEL_PASSWORD_FILE: file }), /SMS_KANNEL_PASSWORD and SMS_KANNEL_PASSWORD_FILE are both set/);
  // Unset, the password is the secret store's sms.kannelPassword, looked up at each send (DATA-1).
  assert.equal(load({ ...rest }).config.sms?.kannel.password, '');
  assert.match(problems({ ...GATEWAY, SMS_KANNEL_USER: '' }), /SMS_KANNEL_USER is required/);
});

test('the URL carries no credentials, query or fragment, and plain http to another host is warned about [ASVS V1.3.6, V12.3.3]', () => {
  for (const url of [
    'ftp://h/x',
    'not a url',
    'http://u:p@127.0.0.1:13013/cgi-bin/sendsms',
    'http://127.0.0.1:13013/cgi-bin/sendsms?username=x',
    'http://h/#x',
  ]) {
    assert.match(problems({ ...GATEWAY, SMS_KANNEL_URL: url }), /SMS_KANNEL_URL must be an http/, url);
  }
  // Plain http to another host is refused unless ALLOW_PLAINTEXT names the gateway, then a warning (D433).
  assert.match(problems({ ...GATEWAY, SMS_KANNEL_URL: 'http://sms.internal:13013/cgi-bin/sendsms' }), /SMS_KANNEL_URL reaches sms\.internal without TLS/);
  const r = load({ ...GATEWAY, SMS_KANNEL_URL: 'http://sms.internal:13013/cgi-bin/sendsms', ALLOW_PLAINTEXT: 'sms' });
  assert.ok(r.warnings.some((w) => /SMS_KANNEL_URL reaches sms\.internal without TLS/.test(w)));
  assert.deepEqual(load({ ...GATEWAY, SMS_KANNEL_URL: 'https://sms.internal/cgi-bin/sendsms' }).warnings, []);
});

test('the sender is a number, a short code or up to 11 letters; the timeout is bounded', () => {
  for (const from of ['+4512345678', '1234', 'Palisade', 'My-App 2']) assert.equal(load({ ...GATEWAY, SMS_FROM: from }).config.sms?.from, from);
  for (const from of ['Palisade App Co', '12', 'a&b', 'x\ny', '+0123456789']) assert.match(problems({ ...GATEWAY, SMS_FROM: from }), /SMS_FROM must be/, from);
  assert.match(problems({ ...GATEWAY, SMS_TIMEOUT_MS: '50' }), /SMS_TIMEOUT_MS must be an integer from 200 to 10000/);
  assert.match(problems({ ...GATEWAY, SMS_KANNEL_USER: 'a\u0001b' }), /SMS_KANNEL_USER must be at most 256 characters without control characters/);
});

test('phone numbers: E.164 only, typed forms normalised, never a guessed country; shown masked', () => {
  assert.equal(normalisePhone('+45 12 34 56 78'), '+4512345678');
  assert.equal(normalisePhone('0045 (12) 34-56.78'), '+4512345678');
  for (const bad of ['12345678', '+045123456', '+45 12', '+4512345678901234', '+45abc12345', '+4512345678&to=+4599', '+45 1234 5678 +4587', 'x'.repeat(50)]) {
    assert.equal(normalisePhone(bad), null, bad);
  }
  assert.ok(isE164('+4512345678'));
  assert.ok(!isE164('+45 12345678'));
  assert.ok(!isE164(4512345678));
  assert.equal(maskPhone('+4512345678'), '+45******78');
  assert.equal(maskPhone('+12025550123'), '+12*******23');
  assert.equal(maskPhone('junk'), '***');
});
