import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { createHmac, randomBytes } from 'node:crypto';
import path from 'node:path';

/**
 * The data key of the secret store (DATA-1): 32 random bytes, its own key, not derived from APP_KEY, so
 * that rotating one never touches the other (D190). From SECRETS_KEY / SECRETS_KEY_FILE, or the file
 * `DATA_DIR/secrets.key` (mode 0600, generated at the first start).
 */
export interface DataKey {
  readonly key: Buffer;
  /** A public fingerprint of the key, stored with each secret: which key a secret was sealed under. */
  readonly id: string;
}

export const KEY_BYTES = 32;
export const keyFileOf = (dataDir: string): string => path.join(dataDir, 'secrets.key');
/** The next key during a rotation, until the transaction that re-encrypts every secret has committed. */
export const nextKeyFileOf = (keyFile: string): string => `${keyFile}.next`;

/** 64 hex digits or base64 / base64url of exactly 32 bytes; null for anything else. */
export function parseKey(text: string): Buffer | null {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (!/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t)) return null;
  const b = Buffer.from(t.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url');
  return b.length === KEY_BYTES ? b : null;
}

export const formatKey = (key: Buffer): string => key.toString('base64url');

export function dataKey(key: Buffer): DataKey {
  return { key, id: createHmac('sha256', key).update('palisade/secrets/key-id/v1').digest('hex').slice(0, 16) };
}

export function newDataKey(): DataKey {
  return dataKey(randomBytes(KEY_BYTES));
}

/** Why a key file may not be used (readable or writable by group or others, not a key), or null. */
export function keyFileProblem(file: string): string | null {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    return `${file}: cannot be read`;
  }
  if ((mode & 0o077) !== 0)
    return `${file} is accessible to group or other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 it before starting`;
  try {
    if (parseKey(readFileSync(file, 'utf8')) === null) return `${file} does not hold a secrets key (32 bytes, base64url)`;
  } catch {
    return `${file}: cannot be read`;
  }
  return null;
}

export function readKeyFile(file: string): DataKey {
  const k = parseKey(readFileSync(file, 'utf8'));
  if (k === null) throw new Error(`${file} does not hold a secrets key`);
  return dataKey(k);
}

/** Writes a key file that must not exist yet: 0600 from its creation, flushed to disk. */
export function writeKeyFile(file: string, key: DataKey): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, `${formatKey(key.key)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `to` by `from` atomically (rename), then flushes the directory so the rename survives a crash. */
export function installKeyFile(from: string, to: string): void {
  renameSync(from, to);
  try {
    const dir = openSync(path.dirname(to), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself is atomic.
  }
}

export function removeIfPresent(file: string): void {
  if (existsSync(file)) unlinkSync(file);
}
