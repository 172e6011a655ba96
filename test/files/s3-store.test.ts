// DATA-3 with FILES_STORAGE=s3: uploads go to an S3-compatible bucket (s3rver on a spare port; it does not check
// request signatures), downloads stream from it, deletions and the orphan sweep remove objects there, and FILES_DIR
// keeps nothing but uploads being received. Access is decided as with the disk store.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import S3rver from 's3rver';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { configProblems } from '../helpers/app.js';
import { png } from './samples.js';
import { codeOf, filesWorld, ok, type FilesWorld } from './world.js';

let server: S3rver;
let s3: S3Client;
let w: FilesWorld;
const dir = mkdtempSync(path.join(tmpdir(), 'palisade-files-s3-'));

before(async () => {
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'uploads', configs: [] }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  w = await filesWorld({
    env: {
      FILES_STORAGE: 's3',
      FILES_S3_BUCKET: 'uploads',
      FILES_S3_ENDPOINT: endpoint,
      FILES_S3_ACCESS_KEY_ID: 'S3RVER',
      FILES_S3_PREFIX: 'site/',
    },
  });
  // The secret key from the secret store, as an operator would keep it.
  await w.t.s.secrets.set('files.s3SecretAccessKey', 'S3RVER', { actor: { id: null, name: 'test' } });
});
after(async () => {
  await w?.t.close();
  s3?.destroy();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const objects = async () => ((await s3.send(new ListObjectsV2Command({ Bucket: 'uploads', Prefix: 'site/' }))).Contents ?? []).map((o) => o.Key!).sort();

test('an upload is stored in the bucket under its key and downloads byte for byte; FILES_DIR keeps no bytes', async () => {
  const id = await w.record(w.tok.ed!, 's3');
  const up = await w.upload(w.tok.ed!, id, 'photo', png(9, 4), 'p.png');
  ok(up);
  const fileId = up.json().id;
  assert.deepEqual(await objects(), [`site/${fileId}`]);
  const down = await w.download(w.tok.ed!, id, 'photo', fileId);
  assert.equal(down.statusCode, 200, down.body);
  assert.ok(down.rawPayload.equals(png(9, 4)));
  // Nothing under FILES_DIR but the (empty) staging area.
  const local = readdirSync(w.t.s.config.files.dir);
  assert.deepEqual(
    local.filter((n) => n !== '.staging'),
    [],
  );
  assert.deepEqual(readdirSync(path.join(w.t.s.config.files.dir, '.staging')), []);
  // Access is the records layer's: a user without the field's grant is refused, the bucket never asked.
  assert.equal(codeOf(await w.download(w.tok.vw!, id, 'photo', fileId)) !== undefined, true);
  // Deleting the file removes the object.
  ok(await w.req('DELETE', `${w.filesUrl(id, 'photo')}/${fileId}`, w.tok.ed!), 204);
  await w.t.s.tasks.drain();
  assert.deepEqual(await objects(), []);
});

test('an object gone from the bucket answers 404 FILE_CONTENT_MISSING, not a 500 (D457)', async () => {
  const id = await w.record(w.tok.ed!, 's3-gone');
  const fileId = (await w.upload(w.tok.ed!, id, 'photo', png(5, 5), 'p.png')).json().id as string;
  await s3.send(new DeleteObjectCommand({ Bucket: 'uploads', Key: `site/${fileId}` }));
  const r = await w.download(w.tok.ed!, id, 'photo', fileId);
  assert.equal(r.statusCode, 404, r.body);
  assert.equal(codeOf(r), 'FILE_CONTENT_MISSING');
});

test("a bucket that is gone is the store's outage: 503 SERVICE_UNAVAILABLE, not a missing file (D457)", async () => {
  const { S3Bucket } = await import('../../src/util/s3.js');
  const { S3FileStore } = await import('../../src/files/store-s3.js');
  const endpoint = (await s3.config.endpoint!()) as { protocol: string; hostname: string; port?: number };
  const bucket = new S3Bucket(
    {
      bucket: 'no-such-bucket',
      endpoint: `${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`,
      region: 'us-east-1',
      prefix: 'site/',
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      forcePathStyle: true,
      tls: null,
    },
    async () => 'S3RVER',
  );
  const staging = mkdtempSync(path.join(tmpdir(), 'palisade-s3-gone-'));
  const store = new S3FileStore(staging, bucket);
  try {
    const err = await new Promise<unknown>((resolve) => {
      const body = store.read('0f0f0f0f-1111-4222-8333-444455556666');
      body.once('error', resolve);
      body.resume();
    });
    assert.equal((err as { code?: string }).code, 'SERVICE_UNAVAILABLE');
  } finally {
    store.close();
    rmSync(staging, { recursive: true, force: true });
  }
});

test('the orphan sweep removes objects no row names, once they are an hour old', async () => {
  const stray = 'site/0f0f0f0f-1111-4222-8333-444455556666';
  await s3.send(new PutObjectCommand({ Bucket: 'uploads', Key: stray, Body: 'left behind' }));
  // Not an hour old yet (by the server's clock against the object's time): kept.
  await w.t.s.files.collectOrphans();
  assert.ok((await objects()).includes(stray));
  w.t.clock.t = Date.now() + 2 * 3_600_000;
  assert.equal(await w.t.s.files.collectOrphans(), 1);
  assert.ok(!(await objects()).includes(stray));
});

test('configuration: FILES_STORAGE=s3 needs a bucket and its key id; a bucket needs FILES_STORAGE=s3', () => {
  assert.match(configProblems({ FILES_STORAGE: 's3' }).join('\n'), /FILES_STORAGE=s3 needs FILES_S3_BUCKET/);
  assert.match(configProblems({ FILES_STORAGE: 's3', FILES_S3_BUCKET: 'bucket-1' }).join('\n'), /FILES_S3_BUCKET needs FILES_S3_ACCESS_KEY_ID/);
  assert.match(configProblems({ FILES_S3_BUCKET: 'bucket-1', FILES_S3_ACCESS_KEY_ID: 'k' }).join('\n'), /FILES_S3_BUCKET needs FILES_STORAGE=s3/);
  assert.match(configProblems({ FILES_STORAGE: 'ftp' }).join('\n'), /FILES_STORAGE is disk or s3/);
  assert.deepEqual(configProblems({ FILES_STORAGE: 's3', FILES_S3_BUCKET: 'bucket-1', FILES_S3_ACCESS_KEY_ID: 'k' }), []);
});
