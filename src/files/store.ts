/**
 * Where the bytes of files live (DATA-3). `FileStore` is the small interface a backend implements; the disk
 * store is the one built in (an S3-compatible one can be added beside it, D245). Keys are opaque (a file row's
 * id: a UUID), never a client's name.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../errors.js';

/** An upload written to the store's staging area, not yet under its key. */
export interface Staged {
  /** A local path the sniffer may read (the disk store's staging file). */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface FileStore {
  /** Streams `input` into staging, at most `maxBytes` (FILE_TOO_LARGE past it, nothing kept). */
  stage(input: Readable, maxBytes: number): Promise<Staged>;
  /** Moves a staged upload under `key`. */
  commit(staged: Staged, key: string): Promise<void>;
  /** Forgets a staged upload (refused, or its transaction rolled back). */
  discard(staged: Staged): Promise<void>;
  /** The bytes under `key`; a key the store does not hold fails the stream with FILE_CONTENT_MISSING (D457). */
  read(key: string): Readable;
  /** Removes the bytes under `key`; a missing key is not an error. */
  remove(key: string): Promise<void>;
  /** The stored keys, and leftover staging files, last written before `before` (epoch ms): for the orphan sweep. */
  older(before: number): AsyncIterable<{ key: string } | { staged: Staged }>;
}

const KEY = /^[0-9a-f-]{36}$/;

/** Where the disk store keeps `key` under `dir` (also read by backups, src/backup/files.ts). */
export function diskPathOf(dir: string, key: string): string {
  // A key is ours (a UUID); anything else would be a bug that must not become a path.
  if (!KEY.test(key)) throw new TypeError('DiskFileStore: not a file key');
  return path.join(dir, key.slice(0, 2), key);
}

/**
 * Files on disk under `dir`: `dir/<k0k1>/<key>`, each 0600 in directories 0700; an upload is written to
 * `dir/.staging/<random>` and renamed under its key, so a key never names a half-written file.
 */
export class DiskFileStore implements FileStore {
  private ready: Promise<void> | null = null;

  constructor(private readonly dir: string) {}

  private pathOf(key: string): string {
    return diskPathOf(this.dir, key);
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(path.join(this.dir, '.staging'), { recursive: true, mode: 0o700 });
      await chmod(this.dir, 0o700);
      await chmod(path.join(this.dir, '.staging'), 0o700);
    })();
    return this.ready;
  }

  async stage(input: Readable, maxBytes: number): Promise<Staged> {
    await this.init();
    const file = path.join(this.dir, '.staging', randomUUID());
    const hash = createHash('sha256');
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new AppError('FILE_TOO_LARGE', { maxBytes }));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    // Piped through a PassThrough, so that a refusal (too large) leaves the request stream whole: it is drained, not
    // destroyed, and the client still gets the answer (the rest is bounded by the route's declared-length check).
    const source = new PassThrough();
    const failed = (e: unknown) => source.destroy(e instanceof Error ? e : new Error('upload aborted'));
    const closed = () => {
      if (!input.readableEnded) failed(new Error('upload aborted'));
    };
    input.once('error', failed);
    input.once('close', closed);
    input.pipe(source);
    const out = createWriteStream(file, { mode: 0o600, flags: 'wx' });
    try {
      await pipeline(source, limit, out);
    } catch (e) {
      input.unpipe(source);
      input.resume();
      // The file is removed once the write stream has closed: its open may still be under way when the pipeline
      // fails (an early refusal on a loaded machine), and would otherwise create the file after the removal.
      if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
      await rm(file, { force: true });
      throw e;
    } finally {
      input.off('error', failed);
      input.off('close', closed);
    }
    return { path: file, size, sha256: hash.digest('hex') };
  }

  async commit(staged: Staged, key: string): Promise<void> {
    const to = this.pathOf(key);
    await mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
    await rename(staged.path, to);
  }

  async discard(staged: Staged): Promise<void> {
    // Recursive: a metadata removal's private directory beside the staged uploads, left by a crash, goes the same way.
    await rm(staged.path, { force: true, recursive: true });
  }

  read(key: string): Readable {
    const file = createReadStream(this.pathOf(key));
    const out = new PassThrough();
    // The file's own error is not piped on: a missing file becomes the store's stable error, unless the store is missing
    // as a whole: no staging directory, which every store that ever took an upload has (its directory gone, or an
    // empty mount point where a volume is not mounted): that is the store's outage (D457). Anything else passes.
    file.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') return void out.destroy(e);
      stat(path.join(this.dir, '.staging')).then(
        () => out.destroy(new AppError('FILE_CONTENT_MISSING', undefined, `no file for ${key}`)),
        () => out.destroy(new AppError('SERVICE_UNAVAILABLE', undefined, 'the file store directory is missing', { 'retry-after': '5' })),
      );
    });
    out.once('close', () => file.destroy());
    return file.pipe(out);
  }

  async remove(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async *older(before: number): AsyncIterable<{ key: string } | { staged: Staged }> {
    await this.init();
    const old = async (p: string) => {
      try {
        return (await stat(p)).mtimeMs < before;
      } catch {
        return false;
      }
    };
    for (const name of await readdir(path.join(this.dir, '.staging'))) {
      const p = path.join(this.dir, '.staging', name);
      if (await old(p)) yield { staged: { path: p, size: 0, sha256: '' } };
    }
    for (const sub of await readdir(this.dir)) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      for (const key of await readdir(path.join(this.dir, sub))) if (KEY.test(key) && (await old(path.join(this.dir, sub, key)))) yield { key };
    }
  }

  /** Whether bytes are stored under `key` (tests and the sweep). */
  async has(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch {
      return false;
    }
  }
}
