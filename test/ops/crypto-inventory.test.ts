import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT_DIR } from '../helpers/cli.js';

// The cryptographic inventory (docs/cryptography.md, D420) kept honest by discovery: every source file that uses a
// cryptographic primitive is found here by what it calls or imports, and must be named in the inventory; the
// algorithms found must be the approved ones. A new cipher, hash, curve, key size, random source or crypto library
// fails this test until it is approved and written down with its key and its migration path.

// The sources, not .test-build's compiled copies (scripts/build-tests.mjs).
const ROOT = ROOT_DIR;
const DOC = path.join(ROOT, 'docs/cryptography.md');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|svelte)$/.test(n) && !n.endsWith('.d.ts') ? [p] : [];
  });
}

/** Calls and imports that mean cryptography is done in a file. */
const DISCOVER = [
  /\b(createCipheriv|createDecipheriv|createHash|createHmac|hkdfSync|hkdf|scrypt|scryptSync|pbkdf2|createECDH|diffieHellman|generateKeyPair|generateKeyPairSync|createPrivateKey|createPublicKey|createSecretKey|timingSafeEqual|randomBytes|randomFillSync|randomInt|sign|verify)\b(?=[^'"\n]*from 'node:crypto')/,
  /from '(jose|@node-rs\/argon2|bcryptjs|altcha-lib[^']*|age-encryption|otpauth|@simplewebauthn\/server|@node-saml\/node-saml|oidc-provider|openid-client|xml-crypto)'/,
  /\bcrypto\.subtle\b/,
  /\bsecureRandom\(/,
];

/** Libraries a file may take cryptography from (V11.2.1): OpenSSL through node:crypto, WebCrypto, and these. */
const LIBRARIES = new Set([
  'node:crypto',
  'jose',
  '@node-rs/argon2',
  'bcryptjs',
  'age-encryption',
  'otpauth',
  '@simplewebauthn/server',
  '@node-saml/node-saml',
  'oidc-provider',
  'openid-client',
]);
const CRYPTO_LIBRARY =
  /from '(crypto|node:crypto|jose|@node-rs\/argon2|bcryptjs|bcrypt|argon2|age-encryption|otpauth|@simplewebauthn\/[^']+|@node-saml\/[^']+|oidc-provider|openid-client|xml-crypto|crypto-js|node-forge|tweetnacl[^']*|elliptic|js-sha\d*|md5|sha\.js|@noble\/[^']+|libsodium[^']*|scrypt-js|pbkdf2|jsonwebtoken|jws|jwa)'/g;

/** What the code may use (V11.3.1, V11.3.2, V11.3.5, V11.4.1, V11.2.3, V11.6.1); anything else is a finding. */
function findings(file: string, text: string): string[] {
  const out: string[] = [];
  const code = text.replace(/^\s*(\/\/|\*).*$/gm, '');
  for (const m of code.matchAll(/create(?:De)?cipheriv\(\s*'([^']+)'/g)) {
    if (!['aes-256-gcm', 'chacha20-poly1305'].includes(m[1]!)) out.push(`${file}: cipher ${m[1]} (only AES-256-GCM and ChaCha20-Poly1305, both AEAD)`);
  }
  for (const m of code.matchAll(/(?:createHash|createHmac|hkdfSync)\(\s*'([^']+)'/g)) {
    if (!['sha256', 'sha384', 'sha512'].includes(m[1]!)) out.push(`${file}: hash ${m[1]} (only SHA-256, SHA-384, SHA-512)`);
  }
  for (const m of code.matchAll(/hash:\s*'([A-Z]+-?\d*)'/g)) {
    if (!['SHA-256', 'SHA-384', 'SHA-512'].includes(m[1]!)) out.push(`${file}: WebCrypto hash ${m[1]}`);
  }
  if (/['"](md5|md4|sha1|SHA-1|des|des-ede3[^'"]*|rc4|[a-z0-9-]*-(ecb|cbc)|RSA1_5|RSA-OAEP(?!-256))['"]/i.test(code)) {
    // HMAC-SHA-1 is what RFC 6238 and every authenticator app use for TOTP codes, its one approved use (docs/cryptography.md).
    const m = /['"](md5|md4|sha1|SHA-1|des|des-ede3[^'"]*|rc4|[a-z0-9-]*-(ecb|cbc)|RSA1_5|RSA-OAEP(?!-256))['"]/i.exec(code)!;
    if (!(file === 'src/auth/mfa/totp.ts' && /^sha-?1$/i.test(m[1]!))) out.push(`${file}: ${m[1]} named in code`);
  }
  for (const m of code.matchAll(/createECDH\(\s*'([^']+)'/g)) if (m[1] !== 'prime256v1') out.push(`${file}: curve ${m[1]}`);
  for (const m of code.matchAll(/crv:\s*'([^']+)'/g)) if (!['P-256', 'P-384', 'Ed25519'].includes(m[1]!)) out.push(`${file}: curve ${m[1]}`);
  for (const m of code.matchAll(/modulusLength:\s*(\d+)/g)) if (Number(m[1]) < 3072) out.push(`${file}: RSA of ${m[1]} bits (3072 or more)`);
  for (const m of code.matchAll(/randomBytes\((\d+)\)\.toString\('(hex|base64url)'\)/g)) {
    // A random string is an identifier or a secret: 16 bytes (128 bits) at least, unless the inventory says why not.
    if (Number(m[1]) < 16 && !WEAK_RANDOM_OK.has(file)) out.push(`${file}: randomBytes(${m[1]}) is under 128 bits`);
  }
  if (/\bMath\.random\(/.test(code) && !MATH_RANDOM_OK.has(file)) out.push(`${file}: Math.random (use node:crypto)`);
  for (const m of code.matchAll(CRYPTO_LIBRARY)) if (!LIBRARIES.has(m[1]!)) out.push(`${file}: crypto library ${m[1]}`);
  return out;
}

/** Short random values that are not secrets: file-name and scratch-database suffixes, a retry claim (docs/cryptography.md). */
const WEAK_RANDOM_OK = new Set([
  'src/auth/keys.ts',
  'src/mail/index.ts',
  'src/backup/index.ts',
  'src/backup/restore.ts',
  'src/auth/sso/accounts.ts',
  'src/records/privacy-rules.ts',
]);
/** Jitter of waits, and element ids of the admin UI's dialogs: no value that must not be guessed. */
const MATH_RANDOM_OK = new Set([
  'src/records/transaction.ts',
  'src/auth/passwords.ts',
  'src/log-forward.ts',
  'ui/src/lib/components/StepDialog.svelte',
  'ui/src/pages/admin/role/GrantForm.svelte',
]);

function sources(): Map<string, string> {
  const out = new Map<string, string>();
  for (const dir of ['src', 'ui/src']) for (const f of files(path.join(ROOT, dir))) out.set(path.relative(ROOT, f), readFileSync(f, 'utf8'));
  return out;
}

/** The inventory's table: each row's file paths and its last column (the migration path). */
function inventory(): Array<{ paths: string[]; migration: string; row: string }> {
  const doc = readFileSync(DOC, 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('Inventory'));
  assert.ok(section, 'docs/cryptography.md has an Inventory section');
  return section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !/^\|\s*(Where|---)/.test(l))
    .map((row) => {
      const cells = row
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim());
      return { paths: [...cells[0]!.matchAll(/`((?:src|ui\/src)\/[^`]+)`/g)].map((m) => m[1]!), migration: cells.at(-1) ?? '', row };
    });
}

describe('the cryptographic inventory', () => {
  it('discovery finds every file that does cryptography, and each is in docs/cryptography.md with a migration path [ASVS V11.1.2, V11.1.3, V11.1.4]', () => {
    const rows = inventory();
    const listed = new Set(rows.flatMap((r) => r.paths));
    const found = [...sources()].filter(([, text]) => DISCOVER.some((re) => re.test(text))).map(([f]) => f);
    assert.ok(found.length > 20, `discovery found ${found.length} files`);
    assert.deepEqual(
      found.filter((f) => !listed.has(f)),
      [],
      'files doing cryptography that the inventory does not name',
    );
    const src = sources();
    assert.deepEqual(
      [...listed].filter((f) => !src.has(f)),
      [],
      'inventory entries whose file is gone',
    );
    for (const r of rows) assert.ok(r.migration.length > 10, `a row without a migration path: ${r.row}`);
  });

  it('the key management policy names, for every key, how it is made, kept, rotated and destroyed [ASVS V11.1.1]', () => {
    const doc = readFileSync(DOC, 'utf8');
    const section = doc.split(/^## /m).find((s) => s.startsWith('Keys'));
    assert.ok(section, 'docs/cryptography.md has a Keys section');
    const rows = section.split('\n').filter((l) => l.startsWith('| ') && !/^\|\s*(Key|---)/.test(l));
    assert.ok(rows.length >= 8, `${rows.length} keys`);
    for (const row of rows) {
      const cells = row
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim());
      assert.equal(cells.length, 6, row);
      for (const c of cells) assert.ok(c.length > 2, `an empty cell: ${row}`);
    }
    for (const key of ['APP_KEY', 'secrets data key', 'OIDC provider signing keys', 'backup passphrase', 'audit subject keys']) {
      assert.ok(
        rows.some((r) => r.includes(key)),
        `the policy names ${key}`,
      );
    }
  });

  it('only approved algorithms, key sizes, random sources and libraries are used (AEAD ciphers, SHA-2, P-256, RSA 3072) [ASVS V11.2.1, V11.2.3, V11.3.1, V11.3.2, V11.3.5, V11.4.1, V11.5.1, V11.6.1]', () => {
    const out = [...sources()].flatMap(([f, text]) => findings(f, text));
    assert.deepEqual(out, []);
  });

  it('each data protection level states its encryption, integrity, retention, logging, log access, database and privacy requirements [ASVS V14.1.2]', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/data-protection.md'), 'utf8');
    const section = doc.split(/^## /m).find((s) => s.startsWith('Protection levels'));
    assert.ok(section, 'docs/data-protection.md has a Protection levels section');
    const lines = section.split('\n').filter((l) => l.startsWith('| '));
    const head = lines[0]!
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    assert.deepEqual(head, ['Level', 'Data', 'Encryption', 'Integrity', 'Retention', 'Logging', 'Log access', 'Database encryption', 'Privacy']);
    const rows = lines.slice(1).map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
    assert.deepEqual(
      rows.map((r) => r[0]),
      ['public', 'internal', 'confidential', 'secret'],
    );
    for (const r of rows) {
      assert.equal(r.length, head.length, r[0]);
      for (const [i, c] of r.entries()) assert.ok(c.length > 3, `${r[0]}: no ${head[i]}`);
    }
  });

  it('the rules find what they are for: a weak cipher, hash, curve, key size, random source or library is reported', () => {
    const planted = [
      "createCipheriv('aes-256-cbc', k, iv)",
      "createCipheriv('aes-128-ecb', k, null)",
      "createHash('md5')",
      "createHmac('sha1', k)",
      "hkdfSync('sha1', k, s, i, 32)",
      "createECDH('secp256k1')",
      "generateKeyPair('RS256', { modulusLength: 2048 })",
      'const t = Math.random().toString(36)',
      "const id = randomBytes(8).toString('hex')",
      "import CryptoJS from 'crypto-js'",
      "deriveBits({ name: 'PBKDF2', hash: 'SHA-1' })",
      "encrypt(data, { alg: 'RSA1_5' })",
    ];
    for (const p of planted) assert.ok(findings('src/planted.ts', p).length > 0, p);
    assert.deepEqual(findings('src/planted.ts', "createCipheriv('aes-256-gcm', k, iv); createHash('sha256')"), []);
  });
});
