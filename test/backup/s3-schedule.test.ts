// Backup copies to an S3-compatible server (s3rver, started here on a spare port), retention there, the schedule's
// one-instance-per-run claim, and the configuration's refusals. s3rver does not check request signatures, so a
// wrong secret key is not tested here; it does store, list and delete objects as S3 does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Clock, bearer, cliEnv, configProblems, login, makeApp } from '../helpers/app.js';
import { cli, freePort } from '../helpers/cli.js';
import { deploymentOf } from '../../src/backup/names.js';
import type { Env } from '../../src/config/index.js';

const PASSPHRASE = 'a long backup passphrase 7';
const SYSTEM = { actor: { id: null, name: 'test' } };
let server: S3rver;
let endpoint: string;
let s3: S3Client;
const s3dir = mkdtempSync(path.join(tmpdir(), 'palisade-s3-'));

before(async () => {
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3dir, configureBuckets: [{ name: 'backups', configs: [] }] });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
  s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
});
after(async () => {
  s3?.destroy();
  await server?.close();
  rmSync(s3dir, { recursive: true, force: true });
});

const s3env = (prefix: string, extra: Env = {}): Env => ({
  BACKUP_PASSPHRASE: PASSPHRASE,
  BACKUP_S3_BUCKET: 'backups',
  BACKUP_S3_ENDPOINT: endpoint,
  BACKUP_S3_ACCESS_KEY_ID: 'S3RVER',
  BACKUP_S3_PREFIX: prefix,
  ...extra,
});

async function objects(prefix: string): Promise<string[]> {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: 'backups', Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!).sort();
}

test('each backup is copied to the bucket (secret key from the secret store); the copy restores; retention applies there too', async () => {
  const clock = new Clock();
  const t = await makeApp({ clock, env: s3env('site-a/', { BACKUP_KEEP_DAILY: '1', BACKUP_KEEP_WEEKLY: '0', BACKUP_SCHEDULE: '0 * * * *' }) });
  try {
    // Without the secret key anywhere, the copy fails and says why; the local backup stands.
    const noKey = await t.s.backups.create(SYSTEM);
    assert.equal(noKey.copy.state, 'failed');
    assert.match((noKey.copy as { error: string }).error, /BACKUP_S3_SECRET_ACCESS_KEY or the secret backup\.s3SecretAccessKey/);
    await t.s.secrets.set('backup.s3SecretAccessKey', 'S3RVER', SYSTEM);

    clock.advance(3600);
    const b = await t.s.backups.create(SYSTEM);
    assert.deepEqual(b.copy, { state: 'copied', where: 's3://backups/site-a/' });
    assert.deepEqual(await objects('site-a/'), [`site-a/${b.name}`]);
    const body = await (await s3.send(new GetObjectCommand({ Bucket: 'backups', Key: `site-a/${b.name}` }))).Body!.transformToByteArray();
    assert.ok(Buffer.from(body).equals(readFileSync(b.file)), 'the bucket holds the same bytes');
    // The copy is a backup like any other: verify it from where it was downloaded.
    const dl = path.join(mkdtempSync(path.join(tmpdir(), 'palisade-dl-')), b.name);
    writeFileSync(dl, body);
    const v = await cli(['backup', 'verify', dl], { ...cliEnv(t), BACKUP_PASSPHRASE: PASSPHRASE });
    assert.equal(v.code, 0, v.stderr);
    rmSync(path.dirname(dl), { recursive: true, force: true });

    // An object that is not a backup stays; older backups go by the retention (one per day kept).
    await s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'site-a/README.txt', Body: 'not a backup' }));
    const dep = deploymentOf(t.shared.appKey);
    await s3.send(new PutObjectCommand({ Bucket: 'backups', Key: `site-a/palisade-backup-20200101T000000Z-${dep}.tar.gz.age`, Body: 'old' }));
    // Another deployment sharing the prefix: its archives are never pruned by this one.
    await s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'site-a/palisade-backup-20200101T000000Z-0badc0de.tar.gz.age', Body: 'theirs' }));
    clock.advance(3600);
    const c = await t.s.backups.create(SYSTEM);
    const removed = await t.s.backups.prune(SYSTEM);
    assert.ok(removed.includes(b.name) && removed.includes(`s3://backups/site-a/palisade-backup-20200101T000000Z-${dep}.tar.gz.age`), removed.join(' '));
    assert.deepEqual(await objects('site-a/'), [`site-a/${c.name}`, 'site-a/README.txt', 'site-a/palisade-backup-20200101T000000Z-0badc0de.tar.gz.age'].sort());
    assert.deepEqual(
      t.s.backups.list().map((x) => x.name),
      [c.name],
    );
    const status = await t.s.backups.status();
    assert.equal(status.s3, 's3://backups/site-a/');
    assert.deepEqual(status.last && { name: status.last.name, copy: status.last.copy }, { name: c.name, copy: 'copied' });
    // The doctor: scheduled, copied and recent passes; two missed runs fail.
    const check = async () => (await t.s.doctor.run()).checks.find((x) => x.id === 'backups')!;
    let d = await check();
    assert.equal(d.status, 'pass', d.detail);
    assert.match(d.detail, /scheduled \(0 \* \* \* \*\), last .*, copied to s3:\/\/backups\/site-a\/, verified 2026-/);
    clock.advance(4 * 3600);
    d = await check();
    assert.equal(d.status, 'fail');
    assert.match(d.detail, /the last backup is from/);
  } finally {
    await t.close();
  }
});

test("the doctor judges a verification by its backup's age: checking an old file today does not vouch for newer backups", async () => {
  const clock = new Clock();
  const env = s3env('site-v/', { BACKUP_SCHEDULE: '0 * * * *', BACKUP_VERIFY: 'false', BACKUP_S3_SECRET_ACCESS_KEY: 'S3RVER' });
  const t = await makeApp({ clock, env });
  try {
    const check = async () => (await t.s.doctor.run()).checks.find((x) => x.id === 'backups')!;
    const old = await t.s.backups.create(SYSTEM);
    const made = new Date(clock.now()).toISOString();
    assert.equal((await t.s.backups.verify(old.file, PASSPHRASE, SYSTEM)).ok, true);
    assert.equal((await check()).status, 'pass');
    clock.advance(40 * 24 * 3600);
    const fresh = await t.s.backups.create(SYSTEM);
    // Today's verification of the 40-day-old file.
    assert.equal((await t.s.backups.verify(old.file, PASSPHRASE, SYSTEM)).ok, true);
    let d = await check();
    assert.equal(d.status, 'warn', d.detail);
    assert.ok(d.detail.includes(`the newest verified backup was made ${made}`), d.detail);
    assert.equal((await t.s.backups.status()).lastVerified?.backupAt, Date.parse(made));
    // Verifying the backup just made clears it.
    assert.equal((await t.s.backups.verify(fresh.file, PASSPHRASE, SYSTEM)).ok, true);
    d = await check();
    assert.equal(d.status, 'pass', d.detail);
  } finally {
    await t.close();
  }
});

test('an unreachable bucket fails the copy quickly, records backup.copy_failed, keeps the local backup; the CLI exits 1 [ASVS V16.3.4, V16.5.2]', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const t = await makeApp({ env: { ...s3env('x/', { BACKUP_S3_ENDPOINT: dead, BACKUP_S3_SECRET_ACCESS_KEY: 'S3RVER' }) } });
  try {
    const b = await t.s.backups.create(SYSTEM);
    assert.equal(b.copy.state, 'failed');
    assert.equal(t.s.backups.list()[0]?.name, b.name);
    const admin = (await login(t)).token;
    const ev = (await t.app.inject({ method: 'GET', url: '/api/admin/security-events?type=backup.copy_failed', headers: bearer(admin) })).json().events;
    assert.equal(ev.length, 1);
    assert.equal(ev[0].details.where, 's3://backups/x/');
    assert.equal(JSON.stringify(ev).includes('S3RVER'), false, 'no credential in the event');
    assert.equal((await t.s.backups.status()).last?.copy, 'failed');
    const d = (await t.s.doctor.run()).checks.find((x) => x.id === 'backups')!;
    assert.equal(d.status, 'fail');
    assert.match(d.detail, /no BACKUP_SCHEDULE.*copy to s3:\/\/backups\/x\/ failed/);
    const r = await cli(['backup', 'create'], { ...cliEnv(t), ...s3env('x/', { BACKUP_S3_ENDPOINT: dead, BACKUP_S3_SECRET_ACCESS_KEY: 'S3RVER' }) });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /backup written: /);
    assert.match(r.stderr, /the copy to s3:\/\/backups\/x\/ failed/);
    assert.equal((r.stdout + r.stderr).includes('S3RVER'), false);
  } finally {
    await t.close();
  }
});

test('a scheduled run is made by one instance only; the next run follows BACKUP_SCHEDULE in UTC', async () => {
  const t = await makeApp({ env: { BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_SCHEDULE: '30 3 * * *' } });
  const peer = await makeApp({ peerOf: t, env: { BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_SCHEDULE: '30 3 * * *' } });
  try {
    // The test clock stands at 2026-11-23T12:00Z.
    assert.equal((await t.s.backups.status()).nextRun, '2026-11-24T03:30:00.000Z');
    const slot = new Date('2026-11-24T03:30:00.000Z');
    const ran = await Promise.all([t.s.backups.runScheduled(slot), peer.s.backups.runScheduled(slot)]);
    assert.deepEqual(ran.sort(), [false, true]);
    assert.equal(t.s.backups.list().length, 1);
    const admin = (await login(t)).token;
    const ev = (await t.app.inject({ method: 'GET', url: '/api/admin/security-events?type=backup.created', headers: bearer(admin) })).json().events;
    assert.equal(ev.length, 1);
    assert.equal(ev[0].actor.name, 'system');
    // A backup while another runs (on any instance) is refused, not queued.
    const both = await Promise.allSettled([t.s.backups.create(SYSTEM), peer.s.backups.create(SYSTEM)]);
    const refused = both.filter((r) => r.status === 'rejected');
    assert.equal(refused.length, 1);
    assert.equal(((refused[0] as PromiseRejectedResult).reason as { code: string }).code, 'BACKUP_BUSY');
  } finally {
    await peer.close();
    await t.close();
  }
});

test('configuration: bad or too frequent schedules, S3 without its key id, credentials in the endpoint, short passphrases', () => {
  const p = (env: Env) => configProblems(env).join('\n');
  assert.equal(p({ BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_SCHEDULE: '0 3 * * *' }), '');
  assert.equal(p({ BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_SCHEDULE: '@daily' }), '');
  assert.match(p({ BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_SCHEDULE: '61 3 * * *' }), /BACKUP_SCHEDULE: Invalid value for minute/);
  assert.match(p({ BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_SCHEDULE: '*/5 * * * *' }), /more often than every 15 minutes/);
  assert.match(p({ BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_SCHEDULE: '0 0 3 * * *' }), /five fields/);
  assert.match(p({ BACKUP_SCHEDULE: '0 3 * * *' }), /BACKUP_SCHEDULE needs BACKUP_PASSPHRASE/);
  assert.match(p({ BACKUP_PASSPHRASE: 'short' }), /at least 12 characters/);
  assert.match(p({ BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_S3_BUCKET: 'backups' }), /needs BACKUP_S3_ACCESS_KEY_ID/);
  assert.match(p({ BACKUP_S3_ENDPOINT: 'https://s3.example.org' }), /BACKUP_S3_ENDPOINT needs BACKUP_S3_BUCKET/);
  assert.match(
    p({ BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_S3_BUCKET: 'backups', BACKUP_S3_ACCESS_KEY_ID: 'k', BACKUP_S3_ENDPOINT: 'https://user:pw@s3.example.org' }),
    /without credentials/,
  );
  assert.match(p({ BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_S3_BUCKET: 'Bad_Bucket', BACKUP_S3_ACCESS_KEY_ID: 'k' }), /not a valid bucket name/);
  assert.match(
    p({ BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_S3_BUCKET: 'backups', BACKUP_S3_ACCESS_KEY_ID: 'k', BACKUP_S3_PREFIX: '../up' }),
    /relative key prefix/,
  );
  assert.match(p({ BACKUP_KEEP_DAILY: '0' }), /BACKUP_KEEP_DAILY/);
});

test('two backups in the same second: the second is the newest, and retention keeps it', async () => {
  const t = await makeApp({ env: { BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_KEEP_DAILY: '1', BACKUP_KEEP_WEEKLY: '0' } });
  try {
    const a = await t.s.backups.create(SYSTEM);
    const b = await t.s.backups.create(SYSTEM); // the test clock stands still: same second
    assert.equal(b.name, a.name.replace('.tar.gz.age', '-2.tar.gz.age'));
    assert.deepEqual(
      t.s.backups.list().map((x) => x.name),
      [b.name, a.name],
    );
    assert.deepEqual(await t.s.backups.prune(SYSTEM), [a.name]);
    assert.deepEqual(
      t.s.backups.list().map((x) => x.name),
      [b.name],
    );
  } finally {
    await t.close();
  }
});
