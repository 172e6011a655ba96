/** The files env section (DATA-3): where files are stored, the global caps, the virus scanner. */
import path from 'node:path';
import { boolVar, durationVar, intVar } from '../config/env.js';
import type { ConfigSection } from '../config/index.js';
import { s3TargetOf } from '../config/s3-env.js';
import { plainConnection } from '../config/plaintext.js';
import type { S3Target } from '../util/s3.js';
import { parseScannerUrl, type ClamdAddress } from './scanner.js';
import { findTool, type MetadataTools } from './metadata.js';

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
  /** FILES_STORAGE: `disk` (FILES_DIR) or `s3` (FILES_S3_*; FILES_DIR then holds only uploads being received). */
  readonly storage: 'disk' | 's3';
  readonly s3: S3Target | null;
  /**
   * FILES_STRIP_METADATA (default true) with FILES_STRIP_TIMEOUT: the tools that remove uploads' metadata (ASVS
   * V14.2.8, `metadata.ts`); null: switched off (warned at every boot and by the doctor).
   */
  readonly metadata: MetadataTools | null;
}

export const filesEnv: ConfigSection<{ files: FilesConfig }> = {
  read(env, problems, warnings, base) {
    let scanner: ClamdAddress | null = null;
    const url = env.FILES_SCANNER?.trim() || '';
    if (url !== '') {
      const r = parseScannerUrl(url);
      if ('problem' in r) problems.push(`FILES_SCANNER ${r.problem}`);
      else {
        scanner = r.address;
        // clamd speaks no TLS: a scanner on another host is reached in clear, which only ALLOW_PLAINTEXT accepts.
        if ('host' in r.address)
          plainConnection(env, 'clamd', 'FILES_SCANNER', r.address.host, 'run clamd on this host (a Unix socket or loopback)', problems, warnings);
      }
    }
    const maxBytes = intVar(env, 'FILES_MAX_BYTES', 25 * MiB, 1, 1024 * MiB, problems);
    const scanMaxBytes = intVar(env, 'FILES_SCAN_MAX_BYTES', 25 * MiB, 1, 4096 * MiB, problems);
    // A file the scanner cannot take whole could never be cleared (D247).
    if (scanner !== null && maxBytes > scanMaxBytes)
      problems.push(
        `FILES_MAX_BYTES (${maxBytes}) is above what the scanner accepts (FILES_SCAN_MAX_BYTES, ${scanMaxBytes}): lower it, or raise both with clamd's StreamMaxLength`,
      );
    const storage = env.FILES_STORAGE || 'disk';
    if (storage !== 'disk' && storage !== 's3') problems.push('FILES_STORAGE is disk or s3');
    const s3 = s3TargetOf(env, 'FILES_S3', 'palisade-files/', problems, warnings);
    if (storage === 's3' && s3 === null) problems.push('FILES_STORAGE=s3 needs FILES_S3_BUCKET (and FILES_S3_ACCESS_KEY_ID)');
    if (storage !== 's3' && s3 !== null) problems.push('FILES_S3_BUCKET needs FILES_STORAGE=s3');
    // On by default; without its tools the server does not start, unless the operator turns it off (and is warned).
    let metadata: MetadataTools | null = null;
    const stripTimeoutMs = durationVar(env, 'FILES_STRIP_TIMEOUT', 30, 1, problems, 600) * 1000;
    if (boolVar(env, 'FILES_STRIP_METADATA', problems, true)) {
      const exiftool = findTool('exiftool');
      const qpdf = findTool('qpdf');
      const missing = [exiftool ? null : 'exiftool (Debian: libimage-exiftool-perl)', qpdf ? null : 'qpdf'].filter((x) => x !== null);
      if (exiftool && qpdf) metadata = { exiftool, qpdf, timeoutMs: stripTimeoutMs };
      else
        problems.push(
          `FILES_STRIP_METADATA needs ${missing.join(' and ')} in /usr/bin or /usr/local/bin to remove the metadata of uploads: install what is missing, or set FILES_STRIP_METADATA=false to store uploads with their metadata`,
        );
    } else
      warnings.push(
        'FILES_STRIP_METADATA=false: uploaded files keep their metadata (GPS position, camera serial numbers, authors) for everyone who may download them',
      );
    return {
      files: {
        metadata,
        storage: storage === 's3' ? 's3' : 'disk',
        s3,
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
