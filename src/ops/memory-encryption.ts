import { existsSync, readFileSync } from 'node:fs';
import { boolVar } from '../config/env.js';
import type { ConfigSection } from '../config/index.js';

/**
 * Full memory encryption of the host (ASVS V11.7.1, D443): whether Palisade runs in a confidential virtual machine
 * whose memory the hypervisor and other guests cannot read (AMD SEV, SEV-ES, SEV-SNP; Intel TDX). Linux shows it in
 * the CPU flags of /proc/cpuinfo (`sev`, `sev_es`, `sev_snp`, `tdx_guest`) and in the guest devices /dev/sev-guest and
 * /dev/tdx_guest. Palisade cannot encrypt its own memory; it can refuse to run where the host does not.
 */
export interface MemoryEncryption {
  /** The technologies found, strongest first; empty on an ordinary host. */
  readonly found: readonly string[];
}

/**
 * Guest signals only: `sev`, `sev_es` and `sev_snp` are also the host CPU's capability flags (any EPYC with SEV on in
 * its firmware shows them, bare metal and containers included), so they count only inside a VM (`hypervisor`).
 */
const FLAGS: ReadonlyArray<[flag: string, name: string, guestOnly: boolean]> = [
  ['sev_snp', 'AMD SEV-SNP', false],
  ['tdx_guest', 'Intel TDX', true],
  ['sev_es', 'AMD SEV-ES', false],
  ['sev', 'AMD SEV', false],
];
const DEVICES: ReadonlyArray<[path: string, name: string]> = [
  ['/dev/sev-guest', 'AMD SEV-SNP'],
  ['/dev/tdx_guest', 'Intel TDX'],
];

/** Reads the host's memory encryption from the CPU flags and the guest devices; `cpuinfo` and `exists` for other hosts' texts. */
export function detectMemoryEncryption(cpuinfo: string | null = readCpuinfo(), exists: (p: string) => boolean = existsSync): MemoryEncryption {
  const flags = new Set(
    (cpuinfo ?? '')
      .split('\n')
      .filter((l) => /^flags\s*:/.test(l))
      .flatMap((l) =>
        l
          .slice(l.indexOf(':') + 1)
          .trim()
          .split(/\s+/),
      ),
  );
  const found = new Set<string>();
  const guest = flags.has('hypervisor');
  for (const [flag, name, guestOnly] of FLAGS) if (flags.has(flag) && (guestOnly || guest)) found.add(name);
  for (const [path, name] of DEVICES) if (exists(path)) found.add(name);
  return { found: [...found] };
}

function readCpuinfo(): string | null {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
}

export interface MemoryConfig {
  readonly memory: {
    /** REQUIRE_MEMORY_ENCRYPTION: refuse to start outside a confidential VM. */
    readonly requireMemoryEncryption: boolean;
    readonly memoryEncryption: MemoryEncryption;
  };
}

/** REQUIRE_MEMORY_ENCRYPTION: a host without full memory encryption is a configuration problem. */
export const memoryEnv: ConfigSection<MemoryConfig> = {
  read(env, problems) {
    const requireMemoryEncryption = boolVar(env, 'REQUIRE_MEMORY_ENCRYPTION', problems);
    const memoryEncryption = detectMemoryEncryption();
    if (requireMemoryEncryption && memoryEncryption.found.length === 0)
      problems.push(
        'REQUIRE_MEMORY_ENCRYPTION is set but this host has no full memory encryption (no AMD SEV or Intel TDX in /proc/cpuinfo or /dev): run Palisade in a confidential VM, or unset it',
      );
    return { memory: { requireMemoryEncryption, memoryEncryption } };
  },
};
