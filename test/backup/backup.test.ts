// Backups and restore (DATA-2) through the CLI: a round trip keeps records, users, secrets and the audit chain;
// crafted archives, a wrong passphrase, a non-empty target, another database kind and another key are refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync, gunzipSync } from 'node:zlib';
import { Decrypter, Encrypter } from 'age-encryption';
import tar from 'tar-stream';
import pg from 'pg';
import { DIALECT, PG_URL, bearer, cliEnv, createUser, login, makeApp, useApp, type TestApp } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { deploymentOf } from '../../src/backup/names.js';
import { png } from '../files/samples.js';
import type { Env } from '../../src/config/index.js';

const PASSPHRASE = 'a long backup passphrase 7';
const SECRET = 'smtp-password-Zq81-never-in-clear';
const FILE = png(7, 5);
let fileUrl = '';

let t: TestApp;
let admin: string;
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    const req = (method: 'POST' | 'GET', url: string, payload?: unknown) => t.app.inject({ method, url, headers: bearer(admin), payload: payload as object });
    const bob = await createUser(t, admin, 'bob', 'Violet-staple-Quartz-91');
    assert.equal(
      (
        await req('POST', '/api/admin/collections', {
          name: 'rooms',
          ownership: 'creator',
          fields: [
            { name: 'title', type: 'string', required: true },
            { name: 'people', type: 'members' },
            { name: 'size', type: 'integer' },
            // A field named like PostgreSQL's usual row alias (row_to_json(t) would read this column instead).
            { name: 't', type: 'string' },
            { name: 'plan', type: 'file' },
          ],
        })
      ).statusCode,
      201,
    );
    for (let i = 0; i < 25; i++) {
      const r = await req('POST', '/api/collections/rooms/records', { title: `room ${i} "quoted" ü\n`, people: [bob], size: 2 ** 40 + i, t: `t${i}` });
      assert.equal(r.statusCode, 201, r.body);
    }
    await t.s.secrets.set('smtp.password', SECRET, { actor: { id: null, name: 'test' } });
    // A stored file (DATA-3): its bytes travel in the backup and come back under FILES_DIR.
    const first = (await req('GET', '/api/collections/rooms/records?perPage=1&sort=id')).json().items[0];
    const up = await t.app.inject({
      method: 'POST',
      url: `/api/collections/rooms/records/${first.id}/files/plan?name=plan.png`,
      headers: { ...bearer(admin), 'content-type': 'application/octet-stream' },
      payload: FILE,
    });
    assert.equal(up.statusCode, 201, up.body);
    fileUrl = `/api/collections/rooms/records/${first.id}/files/plan/${up.json().id}`;
  },
  { env: { BACKUP_PASSPHRASE: PASSPHRASE } },
);

const dirs: string[] = [];
const schemas: string[] = [];
after(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (schemas.length > 0) {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await c.end();
  }
});

/** An empty target of the dialect under test: a new data directory (and a new PostgreSQL schema). */
function emptyTarget(extra: Env = {}): { env: Env; dataDir: string; pgSchema?: string } {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-restore-'));
  dirs.push(dataDir);
  const pgSchema = DIALECT === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined;
  if (pgSchema) schemas.push(pgSchema);
  return {
    dataDir,
    pgSchema,
    env: {
      PATH: process.env.PATH,
      DATA_DIR: dataDir,
      APP_KEY: t.shared.appKey,
      BACKUP_PASSPHRASE: PASSPHRASE,
      ...(pgSchema ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: pgSchema } : {}),
      ...extra,
    },
  };
}

let made: string | undefined;
/** One backup of the fixture, made once through the CLI. */
async function backup(): Promise<string> {
  if (made) return made;
  const r = await cli(['backup', 'create'], { ...cliEnv(t), BACKUP_PASSPHRASE: PASSPHRASE });
  assert.equal(r.code, 0, r.stderr);
  const m = /backup written: (\S+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  made = m[1]!;
  assert.equal(statSync(made).mode & 0o777, 0o600);
  assert.equal(path.dirname(made), path.join(t.shared.dataDir, 'backups'));
  return made;
}

async function tablesIn(pgSchema: string): Promise<number> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return Number((await c.query('select count(*) as n from information_schema.tables where table_schema = $1', [pgSchema])).rows[0].n);
  } finally {
    await c.end();
  }
}

/** Nothing was written into a target a refused restore pointed at. */
async function untouched(target: { dataDir: string; pgSchema?: string }): Promise<void> {
  assert.equal(existsSync(path.join(target.dataDir, 'palisade.db')), false);
  assert.equal(existsSync(path.join(target.dataDir, 'app.key')), false);
  assert.deepEqual(
    readdirSync(target.dataDir).filter((f) => f !== '.restore'),
    [],
  );
  if (target.pgSchema) assert.equal(await tablesIn(target.pgSchema), 0);
}

test('a backup restores into an empty target with the same records, users, secrets and audit chain', async () => {
  const file = await backup();
  const target = emptyTarget();
  const r = await cli(['backup', 'restore', file], target.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /audit chain intact/);
  const restored = await makeApp({
    peerOf: { shared: { ...t.shared, dataDir: target.dataDir, pgSchema: target.pgSchema, redis: false }, clock: t.clock } as TestApp,
  });
  try {
    const list = async (app: TestApp, token: string) =>
      (await app.app.inject({ method: 'GET', url: '/api/collections/rooms/records?perPage=100&sort=id', headers: bearer(token) })).json().items;
    const restoredAdmin = (await login(restored)).token;
    const before = await list(t, admin);
    assert.equal(before.length, 25);
    assert.deepEqual(await list(restored, restoredAdmin), before);
    const users = async (app: TestApp, token: string) =>
      (await app.app.inject({ method: 'GET', url: '/api/admin/users', headers: bearer(token) }))
        .json()
        .users.map((u: { username: string; id: string }) => [u.username, u.id]);
    const people = await users(t, admin);
    assert.ok(people.length >= 2);
    assert.deepEqual(await users(restored, restoredAdmin), people);
    // The stored file came back, byte for byte, downloadable as before.
    const dl = await restored.app.inject({ method: 'GET', url: fileUrl, headers: bearer(restoredAdmin) });
    assert.equal(dl.statusCode, 200, dl.body);
    assert.ok(dl.rawPayload.equals(FILE));
    // Passwords (their hashes) came along, and the secret store opens with the restored key.
    await login(restored, 'bob', 'Violet-staple-Quartz-91');
    assert.deepEqual(await restored.s.secrets.resolve('smtp.password'), { state: 'set', value: SECRET });
    // The chain continues: new entries append to the restored chain, and it verifies.
    const v = await cli(['audit', 'verify'], target.env);
    assert.equal(v.code, 0, v.stdout);
    // The restore itself is on the restored chain.
    const ev = (await restored.app.inject({ method: 'GET', url: '/api/admin/security-events?type=backup.restored', headers: bearer(restoredAdmin) })).json()
      .events;
    assert.equal(ev.length, 1);
    assert.equal(ev[0].details.name, path.basename(file));
    // New rows get fresh ids (PostgreSQL's sequences continue past the restored rows).
    await createUser(restored, restoredAdmin, 'carol', 'Amber-ladder-Meadow-92');
    // The backup's own running claim did not come back with it: the restored deployment backs up at once.
    const again = await cli(['backup', 'create'], target.env);
    assert.equal(again.code, 0, again.stderr);
  } finally {
    await restored.close();
  }
});

test('verify restores into a scratch place, checks rows and the chain, and leaves the deployment alone', async () => {
  const file = await backup();
  // What a verification that died leaves: staging a day old goes at the next one, staging of one running now stays.
  const staging = path.join(t.shared.dataDir, '.restore');
  const day = 24 * 3600;
  for (const name of ['restore-stale1', 'restore-fresh1']) mkdirSync(path.join(staging, name), { recursive: true });
  utimesSync(path.join(staging, 'restore-stale1'), Date.now() / 1000 - 2 * day, Date.now() / 1000 - 2 * day);
  const stamp = (ago: number) => Math.floor(Date.now() / 1000 - ago).toString(36);
  const scratch = {
    stale: `palisade_verify_${stamp(2 * day)}_0123456789ab`,
    old: 'palisade_verify_ba9876543210',
    fresh: `palisade_verify_${stamp(60)}_aaaaaaaaaaaa`,
  };
  const c = DIALECT === 'postgres' ? new pg.Client({ connectionString: PG_URL }) : null;
  await c?.connect();
  // The database is shared: another run's verification (one running now, or one that died within the day) may have its
  // scratch schema there too; only what this test planted and what its verification made are judged.
  const verifySchemas = async () =>
    (await c!.query("select nspname from pg_namespace where nspname like 'palisade_verify_%'")).rows.map((x) => x.nspname as string);
  const others = new Set(c ? await verifySchemas() : []);
  try {
    for (const name of Object.values(scratch)) await c?.query(`create schema ${name}`);
    const r = await cli(['backup', 'verify', file], { ...cliEnv(t), BACKUP_PASSPHRASE: PASSPHRASE });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${DIALECT}, schema \\d{4}_\\w+\\): \\d+ tables, \\d+ rows as listed`));
    assert.match(r.stdout, /audit chain intact: \d+ entries/);
    assert.deepEqual(readdirSync(staging), ['restore-fresh1'], 'stale staging removed, fresh kept, its own gone');
    if (c) {
      const left = (await verifySchemas()).filter((n) => !others.has(n));
      assert.deepEqual(left, [scratch.fresh], 'its own scratch schema and stale ones are dropped; a running one is kept');
    }
  } finally {
    rmSync(path.join(staging, 'restore-fresh1'), { recursive: true, force: true });
    for (const name of Object.values(scratch)) await c?.query(`drop schema if exists ${name} cascade`);
    await c?.end();
  }
});

test('the archive holds no secret in clear: the manifest lists names and counts, the secret store only ciphertext', async () => {
  const file = await backup();
  const d = new Decrypter();
  d.addPassphrase(PASSPHRASE);
  const plain = gunzipSync(Buffer.from(await d.decrypt(readFileSync(file))));
  assert.equal(plain.includes(SECRET), false);
  assert.equal(plain.includes(t.shared.appKey), false, 'an APP_KEY from the environment stays out of the archive');
  const members = await untar(plain);
  const manifest = JSON.parse(members.get('manifest.json')!.toString());
  assert.deepEqual(manifest.keys, { app: false, secrets: true });
  assert.equal(manifest.tables.col_rooms, 25);
  assert.equal(manifest.files.keys.length, 1);
  assert.equal(manifest.files.missing, 0);
  assert.ok(members.get(`files/${manifest.files.keys[0]}`)!.equals(FILE), 'the file is in the archive under its key');
  assert.equal(JSON.stringify(manifest).includes(readFileSync(path.join(t.shared.dataDir, 'secrets.key'), 'utf8').trim()), false);
  // A wrong passphrase opens nothing.
  const w = new Decrypter();
  w.addPassphrase('not the passphrase at all');
  await assert.rejects(w.decrypt(readFileSync(file)));
});

async function untar(buf: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const x = tar.extract();
  x.on('entry', (h, s, next) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      out.set(h.name, Buffer.concat(chunks));
      next();
    });
  });
  await new Promise<void>((ok, fail) => {
    x.on('finish', ok);
    x.on('error', fail);
    Readable.from([buf]).pipe(x);
  });
  return out;
}

/** A tar of the given members (type and name as given), gzipped and encrypted as a backup is. */
async function crafted(members: { name: string; data?: Buffer; type?: 'file' | 'symlink'; linkname?: string }[], passphrase = PASSPHRASE): Promise<string> {
  const pack = tar.pack();
  for (const m of members) pack.entry({ name: m.name, type: m.type ?? 'file', linkname: m.linkname, size: m.data?.length ?? 0 }, m.data ?? Buffer.alloc(0));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  const e = new Encrypter();
  e.setPassphrase(passphrase);
  e.setScryptWorkFactor(10);
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-crafted-'));
  dirs.push(dir);
  const file = path.join(dir, 'crafted.tar.gz.age');
  writeFileSync(file, await e.encrypt(gzipSync(Buffer.concat(chunks))));
  return file;
}

test('crafted and damaged archives are refused, and nothing is written [ASVS V5.2.5, V5.3.3, V11.3.3]', async () => {
  const file = await backup();
  const original = readFileSync(file);
  const d = new Decrypter();
  d.addPassphrase(PASSPHRASE);
  const members = await untar(gunzipSync(Buffer.from(await d.decrypt(original))));
  const manifest = members.get('manifest.json')!;
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-bad-'));
  dirs.push(dir);
  const altered = Buffer.from(original);
  altered[Math.floor(altered.length / 2)]! ^= 0x01;
  const cases: [string, string, RegExp][] = [
    ['altered byte', path.join(dir, 'altered.age'), /BACKUP_ARCHIVE_INVALID/],
    ['cut short', path.join(dir, 'cut.age'), /BACKUP_ARCHIVE_INVALID/],
    ['not an archive', path.join(dir, 'text.age'), /BACKUP_ARCHIVE_INVALID/],
    [
      'path traversal',
      await crafted([
        { name: 'manifest.json', data: manifest },
        { name: '../../escaped.key', data: Buffer.from('x') },
      ]),
      /BACKUP_ARCHIVE_INVALID/,
    ],
    [
      'absolute path',
      await crafted([
        { name: '/tmp/escaped-abs.key', data: Buffer.from('x') },
        { name: 'manifest.json', data: manifest },
      ]),
      /BACKUP_ARCHIVE_INVALID/,
    ],
    [
      'symlink',
      await crafted([
        { name: 'manifest.json', data: manifest },
        { name: 'keys/app.key', type: 'symlink', linkname: '/etc/passwd' },
      ]),
      /BACKUP_ARCHIVE_INVALID/,
    ],
    [
      'duplicate member',
      await crafted([
        { name: 'manifest.json', data: manifest },
        { name: 'manifest.json', data: manifest },
      ]),
      /BACKUP_ARCHIVE_INVALID/,
    ],
    [
      'oversized key',
      await crafted([
        { name: 'manifest.json', data: manifest },
        { name: 'keys/app.key', data: Buffer.alloc(10_000, 0x61) },
      ]),
      /BACKUP_ARCHIVE_INVALID/,
    ],
    ['members missing', await crafted([{ name: 'manifest.json', data: manifest }]), /BACKUP_ARCHIVE_INVALID/],
    [
      'future format',
      await crafted([{ name: 'manifest.json', data: Buffer.from(JSON.stringify({ ...JSON.parse(manifest.toString()), version: 2 })) }]),
      /BACKUP_TOO_NEW/,
    ],
    [
      'a stored file altered',
      await crafted([...members].map(([name, data]) => ({ name, data: name.startsWith('files/') ? Buffer.concat([data, Buffer.from('x')]) : data }))),
      /BACKUP_ARCHIVE_INVALID.*SHA-256/,
    ],
    [
      'unknown schema',
      await crafted(
        [...members].map(([name, data]) => ({
          name,
          data: name === 'manifest.json' ? Buffer.from(JSON.stringify({ ...JSON.parse(manifest.toString()), migration: '9999_from_the_future' })) : data,
        })),
      ),
      /BACKUP_TOO_NEW/,
    ],
    ['wrong passphrase', await crafted([{ name: 'manifest.json', data: manifest }], 'some other passphrase'), /BACKUP_PASSPHRASE_WRONG/],
  ];
  writeFileSync(cases[0]![1], altered);
  writeFileSync(cases[1]![1], original.subarray(0, original.length - 200));
  writeFileSync(cases[2]![1], 'age-encryption.org/v1\nnot really\n');
  for (const [what, f, code] of cases) {
    const target = emptyTarget();
    const r = await cli(['backup', 'restore', f], target.env);
    assert.equal(r.code, 1, `${what}: ${r.stdout} ${r.stderr}`);
    assert.match(r.stderr, code, what);
    await untouched(target);
  }
  assert.equal(existsSync(path.join(tmpdir(), 'escaped.key')), false);
  assert.equal(existsSync('/tmp/escaped-abs.key'), false);
  // A verification of the deployment's records its outcome; the doctor fails on a failed one.
  const v = await cli(['backup', 'verify', cases[0]![1]], { ...cliEnv(t), BACKUP_PASSPHRASE: PASSPHRASE });
  assert.equal(v.code, 1);
  assert.match(v.stderr, /BACKUP_ARCHIVE_INVALID/);
  const check = (await t.s.doctor.run()).checks.find((c) => c.id === 'backups')!;
  assert.equal(check.status, 'fail');
  assert.match(check.detail, /the last verification \(altered\.age\) failed/);
});

test('a target that holds data is refused unless forced; --force replaces it', async () => {
  const file = await backup();
  const target = emptyTarget();
  const first = await cli(['user', 'create', '--username', 'other'], target.env);
  assert.equal(first.code, 0, first.stderr);
  const refused = await cli(['backup', 'restore', file], target.env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /BACKUP_TARGET_NOT_EMPTY/);
  const forced = await cli(['backup', 'restore', '--force', file], target.env);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /replaced files kept aside/);
  const aside = readdirSync(target.dataDir).filter((f) => f.includes('.pre-restore-'));
  assert.ok(
    aside.some((f) => f.startsWith(DIALECT === 'sqlite' ? 'palisade.db.pre-restore-' : 'secrets.key.pre-restore-')),
    aside.join(' '),
  );
  const again = await cli(['user', 'create', '--username', 'other'], target.env);
  assert.equal(again.code, 0, `the forced restore replaced the old data: ${again.stderr}`);
  assert.match((await cli(['user', 'create', '--username', 'bob'], target.env)).stderr, /CONFLICT/);
});

test('another application key or another database kind is refused', async () => {
  const file = await backup();
  const wrongKey = emptyTarget({ APP_KEY: randomBytes(32).toString('base64url') });
  const r = await cli(['backup', 'restore', file], wrongKey.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /BACKUP_KEY_MISMATCH/);
  await untouched(wrongKey);
  // A backup of the dialect under test, restored into the other one.
  const other = emptyTarget();
  const env: Env =
    DIALECT === 'postgres'
      ? { PATH: process.env.PATH, DATA_DIR: other.dataDir, APP_KEY: t.shared.appKey, BACKUP_PASSPHRASE: PASSPHRASE }
      : { ...other.env, DATABASE_URL: PG_URL, DATABASE_SCHEMA: `t_${randomBytes(6).toString('hex')}` };
  if (env.DATABASE_SCHEMA) schemas.push(env.DATABASE_SCHEMA);
  const m = await cli(['backup', 'restore', file], env);
  assert.equal(m.code, 1);
  assert.match(m.stderr, /BACKUP_DIALECT_MISMATCH/);
});

test('keys kept in the data directory travel in the backup and come back 0600; no passphrase, no backup', async () => {
  // A deployment without APP_KEY: its key files live in the data directory.
  const target = emptyTarget();
  const env: Env = { ...target.env };
  delete env.APP_KEY;
  assert.equal((await cli(['user', 'create', '--username', 'dana'], env)).code, 0);
  const made = await cli(['backup', 'create'], env);
  assert.equal(made.code, 0, made.stderr);
  const file = /backup written: (\S+)/.exec(made.stdout)![1]!;
  const fresh = emptyTarget();
  const freshEnv: Env = { ...fresh.env };
  delete freshEnv.APP_KEY;
  const r = await cli(['backup', 'restore', file], freshEnv);
  assert.equal(r.code, 0, r.stderr);
  for (const k of ['app.key', 'secrets.key']) {
    assert.equal(readFileSync(path.join(fresh.dataDir, k), 'utf8'), readFileSync(path.join(target.dataDir, k), 'utf8'));
    assert.equal(statSync(path.join(fresh.dataDir, k)).mode & 0o777, 0o600);
  }
  assert.match((await cli(['user', 'create', '--username', 'dana'], freshEnv)).stderr, /CONFLICT/);
  // Restored with an APP_KEY from the environment that is not the archived one: refused.
  const keyed = emptyTarget({ APP_KEY: randomBytes(32).toString('base64url') });
  assert.match((await cli(['backup', 'restore', file], keyed.env)).stderr, /BACKUP_KEY_MISMATCH/);

  const none: Env = { ...env };
  delete none.BACKUP_PASSPHRASE;
  const n = await cli(['backup', 'create'], none);
  assert.equal(n.code, 1);
  assert.match(n.stderr, /BACKUP_NOT_CONFIGURED/);
  const short = await cli(['backup', 'create'], { ...env, BACKUP_PASSPHRASE: 'short' });
  assert.equal(short.code, 1);
  assert.match(short.stderr, /BACKUP_PASSPHRASE must be at least 12 characters/);
  // The passphrase may come on standard input for a restore.
  const piped = emptyTarget();
  const pipedEnv: Env = { ...piped.env };
  delete pipedEnv.APP_KEY;
  delete pipedEnv.BACKUP_PASSPHRASE;
  const p = await cli(['backup', 'verify', '--passphrase-stdin', file], pipedEnv, `${PASSPHRASE}\n`);
  assert.equal(p.code, 0, p.stderr);
});

test('retention keeps the newest backup of each recent day and week and removes the others', async () => {
  const target = emptyTarget({ BACKUP_KEEP_DAILY: '2', BACKUP_KEEP_WEEKLY: '2' });
  const dir = path.join(target.dataDir, 'backups');
  assert.equal((await cli(['migrate'], target.env)).code, 0);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  // Older archives by name (the time is in the name): two on one day, one a day before, two weeks back, a month back.
  const dep = deploymentOf(t.shared.appKey);
  const old = [
    `palisade-backup-20200106T010000Z-${dep}.tar.gz.age`, // Monday, week 2: the newest of that week
    `palisade-backup-20200105T230000Z-${dep}.tar.gz.age`, // Sunday, week 1
    `palisade-backup-20200104T230000Z-${dep}.tar.gz.age`, // Saturday, week 1: older than Sunday's
    `palisade-backup-20191201T000000Z-${dep}.tar.gz.age`,
  ];
  for (const n of old) writeFileSync(path.join(dir, n), 'x');
  writeFileSync(path.join(dir, 'notes.txt'), 'not a backup');
  // Another deployment's archive in the same directory is never ours to remove.
  const foreign = 'palisade-backup-20191101T000000Z-0badc0de.tar.gz.age';
  writeFileSync(path.join(dir, foreign), 'x');
  const r = await cli(['backup', 'create'], target.env);
  assert.equal(r.code, 0, r.stderr);
  const left = readdirSync(dir).sort();
  // Kept: today's (newest, day 1, week 1) and 2020-01-06 (day 2, week 2); the rest go; other files stay.
  assert.equal(left.length, 4, left.join(' '));
  assert.ok(left.includes('notes.txt'));
  assert.ok(left.includes(foreign));
  assert.ok(left.includes(`palisade-backup-20200106T010000Z-${dep}.tar.gz.age`));
  assert.match(r.stdout, /removed by retention: .*20200105T230000Z.*20200104T230000Z.*20191201T000000Z/);
  const listed = await cli(['backup', 'list'], target.env);
  assert.equal(listed.stdout.trim().split('\n').length, 2);
});
