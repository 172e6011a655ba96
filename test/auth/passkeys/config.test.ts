// Where passkeys are valid: WEBAUTHN_RP_ID, WEBAUTHN_ORIGINS and WEBAUTHN_RP_NAME, or PUBLIC_URL's host
// and origin; checked once at boot.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, loadConfig, type Env } from '../../../src/app-config.js';

const TMP = mkdtempSync(path.join(tmpdir(), 'palisade-passkey-config-'));
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

test('by default the RP ID and the one origin come from PUBLIC_URL', () => {
  const { config } = load({ PUBLIC_URL: 'https://app.example.org:8443/base/' });
  assert.deepEqual(config.passkeys, { rpId: 'app.example.org', rpName: 'Palisade', origins: ['https://app.example.org:8443'] });
  assert.deepEqual(load({ HOST: 'localhost', PORT: '3000' }).config.passkeys?.origins, ['http://localhost:3000']);
});

test('an IP address cannot be an RP ID: passkeys are off, with a warning when PUBLIC_URL was set to one', () => {
  assert.equal(load({}).config.passkeys, null);
  const r = load({ PUBLIC_URL: 'http://10.0.0.5:8080' });
  assert.equal(r.config.passkeys, null);
  assert.ok(r.warnings.some((w) => w.includes('passkeys are off')));
  assert.match(problems({ WEBAUTHN_RP_ID: '10.0.0.5' }), /WEBAUTHN_RP_ID must be a domain name/);
});

test('explicit RP ID, origins and name; every origin must be under the RP ID', () => {
  const { config, warnings } = load({
    WEBAUTHN_RP_ID: 'Example.org',
    WEBAUTHN_ORIGINS: 'https://example.org, https://app.example.org:8443, http://intranet.example.org',
    WEBAUTHN_RP_NAME: 'Acme data',
  });
  assert.deepEqual(config.passkeys, {
    rpId: 'example.org',
    rpName: 'Acme data',
    origins: ['https://example.org', 'https://app.example.org:8443', 'http://intranet.example.org'],
  });
  assert.ok(warnings.some((w) => w.includes('http://intranet.example.org is plain http')));
  assert.match(problems({ WEBAUTHN_RP_ID: 'example.org', WEBAUTHN_ORIGINS: 'https://example.org.evil.com' }), /neither the RP ID example.org nor under it/);
  assert.match(problems({ WEBAUTHN_RP_ID: 'example.org', WEBAUTHN_ORIGINS: 'https://notexample.org' }), /neither the RP ID/);
  assert.match(problems({ WEBAUTHN_RP_ID: 'example.org', WEBAUTHN_ORIGINS: 'https://example.org/login' }), /must be an origin/);
  assert.match(problems({ WEBAUTHN_RP_ID: 'https://example.org' }), /must be a domain name such as/);
  assert.match(problems({ WEBAUTHN_RP_ID: 'example.org', WEBAUTHN_RP_NAME: 'x'.repeat(65) }), /WEBAUTHN_RP_NAME/);
});
