/** The files env section (DATA-3): where files are stored, the global caps, the virus scanner. */
import path from 'node:path';
import { durationVar, intVar } from '../config/env.js';
import type { ConfigSection } from '../config/index.js';
import { parseScannerUrl, type ClamdAddress } from './scanner.js';

const MiB = 1024 * 1024;

export interface FilesConfig {
  /** FILES_DIR, by default DATA_DIR/files. */
  readonly dir: string;
  /** FILES_MAX_BYTES: the largest file any field takes (a field may set less). */
  readonly maxBytes: number;
  /** FILES_MAX_PIXELS: the most pixels (width × height) of an image any field takes. */
  readonly maxPixels: number;
  /** FILES_SCANNER: clamd's address; null: no scanner, files are `unscanned` (doctor warns). */
  readonly scanner: ClamdAddress | null;
  /** FILES_SCAN_TIMEOUT, ms: how long clamd may be silent. */
  readonly scanTimeoutMs: number;
  /** FILES_SCAN_MAX_BYTES: the scanner's stream limit (clamd's StreamMaxLength); FILES_MAX_BYTES may not exceed it. */
  readonly scanMaxBytes: number;
}

export const filesEnv: ConfigSection<{ files: FilesConfig }> = {
  read(env, problems, _warnings, base) {
    let scanner: ClamdAddress | null = null;
    const url = env.FILES_SCANNER?.trim() || '';
    if (url !== '') {
      const r = parseScannerUrl(url);
      if ('problem' in r) problems.push(`FILES_SCANNER ${r.problem}`);
      else scanner = r.address;
    }
    const maxBytes = intVar(env, 'FILES_MAX_BYTES', 25 * MiB, 1, 1024 * MiB, problems);
    const scanMaxBytes = intVar(env, 'FILES_SCAN_MAX_BYTES', 25 * MiB, 1, 4096 * MiB, problems);
    // A file the scanner cannot take whole could never be cleared (D247).
    if (scanner !== null && maxBytes > scanMaxBytes)
      problems.push(
        `FILES_MAX_BYTES (${maxBytes}) is above what the scanner accepts (FILES_SCAN_MAX_BYTES, ${scanMaxBytes}): lower it, or raise both with clamd's StreamMaxLength`,
      );
    return {
      files: {
        dir: path.resolve(env.FILES_DIR || path.join(base.dataDir, 'files')),
        maxBytes,
        maxPixels: intVar(env, 'FILES_MAX_PIXELS', 50_000_000, 1, 1_000_000_000, problems),
        scanner,
        scanTimeoutMs: durationVar(env, 'FILES_SCAN_TIMEOUT', 30, 1, problems, 600) * 1000,
        scanMaxBytes,
      },
    };
  },
};
