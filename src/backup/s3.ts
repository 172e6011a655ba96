/**
 * The copy of each backup to an S3-compatible bucket (DATA-2), with the same retention as the local directory.
 * The SDK is loaded only when a bucket is configured (it is large, and on Node 20 it warns at load).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { S3Target } from './env.js';

export interface RemoteFile {
  name: string;
  size: number;
}

/** Bounds on one S3 request: a dead endpoint costs a backup a failed copy, never a hung schedule. */
const CONNECT_MS = 5_000;
const REQUEST_MS = 10 * 60_000;

export class S3Copy {
  private client: Promise<import('@aws-sdk/client-s3').S3Client> | null = null;
  constructor(
    private readonly t: S3Target,
    /** The secret access key: BACKUP_S3_SECRET_ACCESS_KEY, else the secret store's `backup.s3SecretAccessKey`. */
    private readonly secret: () => Promise<string>,
  ) {}

  get where(): string {
    return `s3://${this.t.bucket}/${this.t.prefix}`;
  }

  private async s3() {
    if (!this.client)
      this.client = (async () => {
        const { S3Client } = await import('@aws-sdk/client-s3');
        const secretAccessKey = await this.secret();
        return new S3Client({
          region: this.t.region,
          ...(this.t.endpoint ? { endpoint: this.t.endpoint } : {}),
          forcePathStyle: this.t.forcePathStyle,
          credentials: { accessKeyId: this.t.accessKeyId, secretAccessKey },
          maxAttempts: 2,
          // No aws-chunked uploads with trailing checksums (the SDK's default since 2025): many S3-compatible
          // services store the chunk framing as the object's bytes. The archive authenticates itself (age).
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
          requestHandler: { connectionTimeout: CONNECT_MS, requestTimeout: REQUEST_MS },
        });
      })().catch((e: unknown) => {
        this.client = null;
        throw e;
      });
    return this.client;
  }

  async upload(file: string): Promise<void> {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const size = (await stat(file)).size;
    await (await this.s3()).send(
      new PutObjectCommand({
        Bucket: this.t.bucket,
        Key: `${this.t.prefix}${path.basename(file)}`,
        Body: createReadStream(file),
        ContentLength: size,
        ContentType: 'application/octet-stream',
      }),
    );
  }

  /** The objects under the prefix whose names `ours` accepts (this deployment's backups), one level deep. */
  async list(ours: (name: string) => boolean): Promise<RemoteFile[]> {
    const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const out: RemoteFile[] = [];
    let token: string | undefined;
    do {
      const r = await (await this.s3()).send(new ListObjectsV2Command({ Bucket: this.t.bucket, Prefix: this.t.prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) {
        const rest = (o.Key ?? '').slice(this.t.prefix.length);
        if (ours(rest)) out.push({ name: rest, size: o.Size ?? 0 });
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async remove(name: string): Promise<void> {
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    await (await this.s3()).send(new DeleteObjectCommand({ Bucket: this.t.bucket, Key: `${this.t.prefix}${name}` }));
  }

  close(): void {
    void this.client?.then((c) => c.destroy()).catch(() => undefined);
  }
}
