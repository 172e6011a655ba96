// ASVS V13.2.1 (D448): Palisade authenticates to an S3-compatible endpoint with a TLS client certificate, for object
// stores that admit clients by certificate (MinIO's mTLS, or a TLS front before the store). Here the store is s3rver
// behind Debian's stunnel, which admits only certificates of its CA. Bug classes: the certificate not offered by the
// SDK's request handler, the endpoint's certificate not verified, a refused handshake that hangs or leaks.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import S3rver from 's3rver';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { bearer, configProblems, makeApp } from '../helpers/app.js';
import { certDir, issueClientTestSet } from '../helpers/certs.js';
import { startTlsFront, type TlsFront } from '../helpers/stunnel.js';
import { png } from './samples.js';
import { codeOf, filesWorld, ok } from './world.js';

const certs = certDir('palisade-s3-certs-');
const { file } = certs;
const dir = mkdtempSync(path.join(tmpdir(), 'palisade-s3-tls-'));
let server: S3rver;
let front: TlsFront;
let plain: S3Client;

before(async () => {
  issueClientTestSet(certs, 'store', 'palisade-files');
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'uploads', configs: [] }] });
  const { port } = await server.run();
  front = await startTlsFront({ targetPort: port, cert: file('store.crt'), key: file('store.key'), clientCa: file('ca.crt') });
  // The test's own view of the bucket, behind the front.
  plain = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
});
after(async () => {
  plain?.destroy();
  await front?.stop();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
  certs.remove();
});

const s3env = (cert = 'app', ca = 'ca', prefix = 'tls/') => ({
  FILES_STORAGE: 's3',
  FILES_S3_BUCKET: 'uploads',
  FILES_S3_ENDPOINT: `https://127.0.0.1:${front.port}`,
  FILES_S3_ACCESS_KEY_ID: 'S3RVER',
  FILES_S3_SECRET_ACCESS_KEY: 'S3RVER',
  FILES_S3_PREFIX: prefix,
  FILES_S3_TLS_CA: file(`${ca}.crt`),
  FILES_S3_TLS_CERT: file(`${cert}.crt`),
  FILES_S3_TLS_KEY: file(`${cert}.key`),
});
const objects = async (prefix: string) =>
  ((await plain.send(new ListObjectsV2Command({ Bucket: 'uploads', Prefix: prefix }))).Contents ?? []).map((o) => o.Key!);

test("files in an S3 store reached through its TLS front with Palisade's client certificate: stored and read back [ASVS V13.2.1]", async () => {
  const w = await filesWorld({ env: s3env() });
  try {
    const id = await w.record(w.tok.ed!, 'tls');
    const up = await w.upload(w.tok.ed!, id, 'photo', png(5, 3), 'p.png');
    ok(up);
    assert.deepEqual(await objects('tls/'), [`tls/${up.json().id}`]);
    const down = await w.download(w.tok.ed!, id, 'photo', up.json().id);
    assert.equal(down.statusCode, 200, down.body);
    assert.ok(down.rawPayload.equals(png(5, 3)));
    // A second instance on the same data without the certificate: the store refuses it, the download is a fast 503
    // before any byte or header of the file.
    const peer = await makeApp({ peerOf: w.t, env: { ...s3env(), FILES_S3_TLS_CERT: '', FILES_S3_TLS_KEY: '' } });
    try {
      const refused = await peer.app.inject({ method: 'GET', url: `${w.filesUrl(id, 'photo')}/${up.json().id}`, headers: bearer(w.tok.ed!) });
      assert.equal(refused.statusCode, 503, refused.body);
      assert.equal(codeOf(refused), 'SERVICE_UNAVAILABLE');
      assert.ok(Number(refused.headers['retry-after']) >= 1);
    } finally {
      await peer.close();
    }
  } finally {
    await w.t.close();
  }
});

test('the front refuses Palisade without a certificate or with one of another CA, and Palisade refuses a front of another CA: the upload is a 503, nothing is stored, the log names no key [ASVS V13.2.1]', async () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    [
      'no certificate',
      { ...s3env('app', 'ca', 'none/'), FILES_S3_TLS_CERT: '', FILES_S3_TLS_KEY: '' },
      /"reason":"S3 put: (Error|TimeoutError) (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET|EPIPE)"/,
    ],
    [
      'a certificate of another CA',
      s3env('rogue', 'ca', 'rogue/'),
      /"reason":"S3 put: (Error|TimeoutError) (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA|ECONNRESET|EPIPE)"/,
    ],
    ['a store certificate Palisade does not trust', s3env('app', 'rogue-ca', 'untrusted/'), /"reason":"S3 put: Error SELF_SIGNED_CERT_IN_CHAIN"/],
  ];
  for (const [what, env, why] of cases) {
    const w = await filesWorld({ env });
    try {
      const id = await w.record(w.tok.ed!, what);
      const t0 = Date.now();
      const up = await w.upload(w.tok.ed!, id, 'photo', png(5, 3), 'p.png');
      assert.ok(Date.now() - t0 < 20_000, `${what}: answered in ${Date.now() - t0} ms`);
      assert.equal(up.statusCode, 503, `${what}: ${up.body}`);
      assert.equal(codeOf(up), 'SERVICE_UNAVAILABLE');
      assert.deepEqual(await objects(env.FILES_S3_PREFIX!), [], `${what}: nothing stored`);
      assert.deepEqual((await w.rows()).length, 0, `${what}: no row`);
      assert.ok(!w.t.logs.join('').includes('PRIVATE KEY'), `${what}: no key in the log`);
      // With TLS 1.3 the client's handshake ends before the front checks its certificate: the refusal reaches the SDK
      // as the front's alert, or as the reset or broken pipe of a connection the front closed while the body was sent;
      // the SDK names a reset it met while waiting for the answer a TimeoutError (seen on a loaded machine).
      const reasons = w.t.logs.join('').match(/"reason":"S3 [^"]*"/g) ?? [];
      assert.match(w.t.logs.join(''), why, `${what}: the log names the refusal (it says ${reasons.join(', ') || 'nothing'})`);
    } finally {
      await w.t.close();
    }
  }
});

test('*_S3_TLS_* are checked at start: half a pair, without a bucket or endpoint, with an http:// endpoint, a key of another certificate [ASVS V13.2.1]', async () => {
  const base = { FILES_STORAGE: 's3', FILES_S3_BUCKET: 'bucket-1', FILES_S3_ACCESS_KEY_ID: 'k', FILES_S3_ENDPOINT: 'https://s3.example.org' };
  const pair = { FILES_S3_TLS_CERT: file('app.crt'), FILES_S3_TLS_KEY: file('app.key') };
  assert.deepEqual(configProblems({ ...base, ...pair, FILES_S3_TLS_CA: file('ca.crt') }), []);
  assert.match(
    configProblems({ ...base, FILES_S3_TLS_CERT: file('app.crt') }).join('\n'),
    /FILES_S3_TLS_CERT and FILES_S3_TLS_KEY are set together or not at all/,
  );
  assert.match(configProblems({ FILES_S3_TLS_CERT: file('app.crt') }).join('\n'), /FILES_S3_TLS_CERT needs FILES_S3_BUCKET/);
  const { FILES_S3_ENDPOINT: _, ...aws } = base;
  assert.match(configProblems({ ...aws, ...pair }).join('\n'), /FILES_S3_TLS_CERT, FILES_S3_TLS_KEY need FILES_S3_ENDPOINT/);
  assert.match(configProblems({ ...base, ...pair, FILES_S3_ENDPOINT: 'http://127.0.0.1:9000' }).join('\n'), /need an https:\/\/ FILES_S3_ENDPOINT/);
  assert.match(
    configProblems({ ...base, FILES_S3_TLS_CERT: file('app.crt'), FILES_S3_TLS_KEY: file('rogue.key') }).join('\n'),
    /FILES_S3_TLS_CERT and FILES_S3_TLS_KEY do not make a TLS client certificate/,
  );
  // Backups' copies take the same variables under BACKUP_S3_.
  const backup = {
    BACKUP_PASSPHRASE: 'a long backup passphrase 7',
    BACKUP_S3_BUCKET: 'backups',
    BACKUP_S3_ACCESS_KEY_ID: 'k',
    BACKUP_S3_ENDPOINT: 'https://s3.example.org',
  };
  assert.deepEqual(configProblems({ ...backup, BACKUP_S3_TLS_CERT: file('app.crt'), BACKUP_S3_TLS_KEY: file('app.key') }), []);
  assert.match(configProblems({ ...backup, BACKUP_S3_TLS_KEY: file('app.key') }).join('\n'), /BACKUP_S3_TLS_CERT and BACKUP_S3_TLS_KEY are set together/);
  // An app with the certificate starts, and its doctor says how the store is reached.
  const t = await makeApp({ env: s3env() });
  try {
    const check = (await t.s.doctor.run()).checks.find((c) => c.id === 's3-auth')!;
    assert.equal(check.status, 'pass', check.detail);
  } finally {
    await t.close();
  }
});
