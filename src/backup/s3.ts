/**
 * The copy of each backup to an S3-compatible bucket (DATA-2), with the same retention as the local directory
 * (src/backup/index.ts); the bucket itself is src/util/s3.ts.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { S3Bucket, type S3Target } from '../util/s3.js';

export interface RemoteFile {
  name: string;
  size: number;
}

export class S3Copy {
  private readonly bucket: S3Bucket;
  constructor(t: S3Target, secret: () => Promise<string>) {
    this.bucket = new S3Bucket(t, secret);
  }

  get where(): string {
    return this.bucket.where;
  }

  async upload(file: string): Promise<void> {
    await this.bucket.putFile(path.basename(file), file, (await stat(file)).size);
  }

  /** The objects under the prefix whose names `ours` accepts (this deployment's backups). */
  async list(ours: (name: string) => boolean): Promise<RemoteFile[]> {
    return (await this.bucket.list(ours)).map((o) => ({ name: o.name, size: o.size }));
  }

  remove(name: string): Promise<void> {
    return this.bucket.remove(name);
  }

  close(): void {
    this.bucket.close();
  }
}
