/**
 * An S3-compatible bucket under a key prefix: put, get, list, delete, with bounded requests. Used for backup copies
 * (src/backup/s3.ts) and the S3 file store (src/files/store-s3.ts). The SDK is loaded at the first request only (it
 * is large, and on Node 20 it warns at load). Whole objects are sent without aws-chunked trailing checksums, which
 * many S3-compatible services store as the object's bytes (D228).
 */
import { createReadStream } from 'node:fs';
import { Agent } from 'node:https';
import { Readable } from 'node:stream';

/** Where: a bucket, its endpoint and region, a key prefix, and the credentials (the secret key from the env or a store). */
export interface S3Target {
  readonly bucket: string;
  /** An S3-compatible service's URL (MinIO, Ceph, Garage…); null: AWS. */
  readonly endpoint: string | null;
  readonly region: string;
  /** Key prefix, ending in a slash (or empty). */
  readonly prefix: string;
  readonly accessKeyId: string;
  /** The secret access key from the environment; null: the secret store's, resolved at the first request. */
  readonly secretAccessKey: string | null;
  readonly forcePathStyle: boolean;
  /** `<prefix>_S3_TLS_CA`, `_TLS_CERT`, `_TLS_KEY` (D448): the endpoint's CA and Palisade's client certificate; null: none. */
  readonly tls: { ca: string | null; cert: string | null; key: string | null } | null;
}

export interface S3Object {
  /** The key without the prefix. */
  name: string;
  size: number;
  lastModified: number;
}

/** Bounds on one request: a dead endpoint costs a failed request, never a hang. */
const CONNECT_MS = 5_000;
const REQUEST_MS = 10 * 60_000;

/** With a client certificate (D448): an agent that offers it and pins the endpoint's CA when one is given. */
function httpsAgentOf(tls: S3Target['tls']): { httpsAgent?: Agent } {
  if (tls === null) return {};
  return {
    httpsAgent: new Agent({
      keepAlive: true,
      maxSockets: 50, // the SDK's own agent's bound
      rejectUnauthorized: true,
      ...(tls.ca === null ? {} : { ca: tls.ca }),
      ...(tls.cert === null || tls.key === null ? {} : { cert: tls.cert, key: tls.key }),
    }),
  };
}

export class S3Bucket {
  private client: Promise<import('@aws-sdk/client-s3').S3Client> | null = null;
  constructor(
    private readonly t: S3Target,
    /** The secret access key: the environment's, else a store's. */
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
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
          requestHandler: { connectionTimeout: CONNECT_MS, requestTimeout: REQUEST_MS, ...httpsAgentOf(this.t.tls) },
        });
      })().catch((e: unknown) => {
        this.client = null;
        throw e;
      });
    return this.client;
  }

  /** Makes the client now (its secret key resolved): before a transaction that must not wait on other queries. */
  async ready(): Promise<void> {
    await this.s3();
  }

  /** Stores a local file under `name`. */
  async putFile(name: string, file: string, size: number): Promise<void> {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await (await this.s3()).send(
      new PutObjectCommand({
        Bucket: this.t.bucket,
        Key: `${this.t.prefix}${name}`,
        Body: createReadStream(file),
        ContentLength: size,
        ContentType: 'application/octet-stream',
      }),
    );
  }

  /** The object's bytes. */
  async get(name: string): Promise<Readable> {
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const r = await (await this.s3()).send(new GetObjectCommand({ Bucket: this.t.bucket, Key: `${this.t.prefix}${name}` }));
    const body = r.Body as unknown;
    if (body instanceof Readable) return body;
    throw new Error('S3: the object has no readable body');
  }

  /** The objects under the prefix whose names `accept` takes, one level deep. */
  async list(accept: (name: string) => boolean): Promise<S3Object[]> {
    const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const out: S3Object[] = [];
    let token: string | undefined;
    do {
      const r = await (await this.s3()).send(new ListObjectsV2Command({ Bucket: this.t.bucket, Prefix: this.t.prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) {
        const rest = (o.Key ?? '').slice(this.t.prefix.length);
        if (accept(rest)) out.push({ name: rest, size: o.Size ?? 0, lastModified: o.LastModified?.getTime() ?? 0 });
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
