// ASVS V11.7.1 (D443): full memory encryption is a property of the host. Palisade reads it (AMD SEV/SEV-ES/SEV-SNP,
// Intel TDX: CPU flags and guest devices), reports it in the doctor, and with REQUIRE_MEMORY_ENCRYPTION refuses to
// start on a host without it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { detectMemoryEncryption } from '../../src/ops/memory-encryption.js';
import { cli } from '../helpers/cli.js';
import { bearer, login, makeApp } from '../helpers/app.js';

const TMP = mkdtempSync(path.join(tmpdir(), 'palisade-mem-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
const here = detectMemoryEncryption();

const cpuinfo = (flags: string) =>
  `processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme de pse tsc msr ${flags} hypervisor\n\nprocessor\t: 1\nflags\t\t: fpu ${flags}\n`;

test('the host reading: SEV-SNP, SEV-ES, SEV and TDX guests from their CPU flags or guest devices; an ordinary host has none [ASVS V11.7.1]', () => {
  const none = () => false;
  assert.deepEqual(detectMemoryEncryption(cpuinfo('sse2 sme'), none).found, [], 'SME on the host CPU is not a guest protection');
  assert.deepEqual(detectMemoryEncryption(cpuinfo('sev sev_es sev_snp'), none).found, ['AMD SEV-SNP', 'AMD SEV-ES', 'AMD SEV']);
  // The same flags on a host (no hypervisor flag) are the CPU's capability, not this process's protection.
  const host = 'processor\t: 0\nflags\t\t: fpu sse2 sev sev_es sev_snp\n';
  assert.deepEqual(detectMemoryEncryption(host, none).found, [], 'an AMD host with SEV on in its firmware');
  assert.deepEqual(detectMemoryEncryption(cpuinfo('tdx_guest'), none).found, ['Intel TDX']);
  assert.deepEqual(detectMemoryEncryption('', (p) => p === '/dev/sev-guest').found, ['AMD SEV-SNP']);
  assert.deepEqual(detectMemoryEncryption(null, (p) => p === '/dev/tdx_guest').found, ['Intel TDX']);
  assert.deepEqual(detectMemoryEncryption('model name : sev_snp in a name, not a flag\n', none).found, [], 'only the flags line counts');
});

test('REQUIRE_MEMORY_ENCRYPTION: a host without full memory encryption refuses to start; without the setting it starts and the doctor says what it found [ASVS V11.7.1]', async (t) => {
  if (here.found.length > 0) return t.skip(`this host has ${here.found.join(', ')}: the refusal cannot be shown here`);
  const env = { DATA_DIR: mkdtempSync(path.join(TMP, 'd-')), APP_KEY: randomBytes(32).toString('base64url') };
  const refused = await cli(['config', 'check'], { ...env, REQUIRE_MEMORY_ENCRYPTION: 'true' });
  assert.equal(refused.code, 1, refused.stdout);
  assert.match(refused.stderr, /REQUIRE_MEMORY_ENCRYPTION is set but this host has no full memory encryption/);
  const bad = await cli(['config', 'check'], { ...env, REQUIRE_MEMORY_ENCRYPTION: 'maybe' });
  assert.match(bad.stderr, /REQUIRE_MEMORY_ENCRYPTION/);
  const fine = await cli(['config', 'check'], env);
  assert.equal(fine.code, 0, fine.stderr);

  const app = await makeApp();
  try {
    const r = await app.app.inject({ method: 'GET', url: '/api/admin/doctor', headers: bearer((await login(app)).token) });
    const check = (r.json() as { checks: { id: string; status: string; detail: string }[] }).checks.find((c) => c.id === 'memory-encryption');
    assert.equal(check?.status, 'pass');
    assert.match(check?.detail ?? '', /not a confidential VM: memory in use is readable by the hypervisor/);
  } finally {
    await app.close();
  }
});
