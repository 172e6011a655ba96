/**
 * The S3-compatible file store (DATA-3, D259): an upload is staged on local disk (the sniffer reads it there), then
 * put in the bucket under its key and the staging file removed; reads stream the object. The bucket holds nothing
 * but opaque keys; access is decided by the records layer, never by the bucket (it must not be public).
 */
import { PassThrough, type Readable } from 'node:stream';
import type { S3Bucket } from '../util/s3.js';
import { AppError } from '../errors.js';
import { DiskFileStore, type FileStore, type Staged } from './store.js';

const KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The bucket's answer that it holds no object under the key. */
function isMissing(e: unknown): boolean {
  const err = e as { name?: unknown; Code?: unknown } | null;
  return err?.name === 'NoSuchKey' || err?.Code === 'NoSuchKey';
}

/**
 * A failing bucket (refused, unreachable, a TLS refusal, a 5xx) is the dependency's failure: 503 with Retry-After,
 * its reason for the log the error's name and code only (an SDK message may quote the endpoint or the request).
 */
async function orUnavailable<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    if (e instanceof AppError || e instanceof TypeError) throw e;
    const err = e as { name?: unknown; code?: unknown; path?: unknown; $metadata?: { httpStatusCode?: unknown } };
    const status = typeof err.$metadata?.httpStatusCode === 'number' ? err.$metadata.httpStatusCode : null;
    // The store's failure: no answer at all (refused, reset, a TLS refusal, a timeout), a 5xx, or our credentials
    // refused. A local file error (it has a path) or another answer (NoSuchKey: an object that is gone) is not an
    // outage, and is not disguised as one.
    // A 404 other than the bucket's "no such key" (NoSuchBucket: a bucket that is gone; a proxy's page) fails every object
    // alike: the store's outage, not one missing file.
    const outage = status === null ? err.path === undefined : status >= 500 || status === 401 || status === 403 || (status === 404 && !isMissing(e));
    if (!outage) throw e;
    const safe = (v: unknown) => (typeof v === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(v) ? v : null);
    const code = safe(err.code) ? ` ${err.code}` : '';
    throw new AppError('SERVICE_UNAVAILABLE', undefined, `S3 ${what}: ${safe(err.name) ?? 'Error'}${code}${status === null ? '' : ` status ${status}`}`, {
      'retry-after': '5',
    });
  }
}

export class S3FileStore implements FileStore {
  private readonly local: DiskFileStore;
  constructor(
    stagingDir: string,
    private readonly bucket: S3Bucket,
  ) {
    this.local = new DiskFileStore(stagingDir);
  }

  get where(): string {
    return this.bucket.where;
  }

  async stage(input: Readable, maxBytes: number): Promise<Staged> {
    // The client (and its secret key, which may come from the secret store) is ready before the upload's transaction
    // begins: inside it, SQLite's one connection is taken.
    try {
      await this.bucket.ready();
    } catch {
      throw new AppError('SERVICE_UNAVAILABLE', undefined, 'the S3 file store is not usable (its secret key?)');
    }
    return this.local.stage(input, maxBytes);
  }

  async commit(staged: Staged, key: string): Promise<void> {
    if (!KEY.test(key)) throw new TypeError('S3FileStore: not a file key');
    await orUnavailable('put', () => this.bucket.putFile(key, staged.path, staged.size));
    await this.local.discard(staged);
  }

  discard(staged: Staged): Promise<void> {
    return this.local.discard(staged);
  }

  read(key: string): Readable {
    if (!KEY.test(key)) throw new TypeError('S3FileStore: not a file key');
    const out = new PassThrough();
    orUnavailable('get', () => this.bucket.get(key)).then(
      (body) => {
        // The object's connection goes with the reader: a download the client abandoned, or one given up on before
        // the object came (`FileService.open`'s time limit), frees its socket at once, not at the request timeout.
        if (out.destroyed) return void body.destroy();
        out.once('close', () => body.destroy());
        body.on('error', (e) => out.destroy(e));
        body.pipe(out);
      },
      (e: unknown) =>
        out.destroy(isMissing(e) ? new AppError('FILE_CONTENT_MISSING', undefined, `no object for ${key}`) : e instanceof Error ? e : new Error(String(e))),
    );
    return out;
  }

  remove(key: string): Promise<void> {
    if (!KEY.test(key)) throw new TypeError('S3FileStore: not a file key');
    return orUnavailable('delete', () => this.bucket.remove(key));
  }

  async *older(before: number): AsyncIterable<{ key: string } | { staged: Staged }> {
    for await (const x of this.local.older(before)) if ('staged' in x) yield x;
    for (const o of await this.bucket.list((n) => KEY.test(n))) if (o.lastModified < before) yield { key: o.name };
  }

  close(): void {
    this.bucket.close();
  }
}
