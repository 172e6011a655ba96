// Backups made by earlier code still restore (issue 15): every archive in test/backup/fixtures/ of the dialect under
// test (made by scripts/make-backup-fixtures.ts, kept from release to release) restores with the CLI into an empty
// target, migrates to this release's schema, and the deployment started on it shows the records, users, role, stored
// file, secret and audit chain the fixture's JSON lists; `palisade backup verify` passes on the archive.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Clock, DIALECT, PG_URL, bearer, login, makeApp, type TestApp } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { migrationNames } from '../../src/db/migrations/index.js';
import type { Env } from '../../src/config/index.js';

/** Test-only: the passphrase the fixtures were made with (scripts/make-backup-fixtures.ts). It protects nothing else. */
const PASSPHRASE = 'palisade backup fixture passphrase (test only)';
const FIXTURES = path.join(import.meta.dirname, 'fixtures');

/** What a fixture's JSON says a restore must show (scripts/make-backup-fixtures.ts writes it). */
interface Expected {
  archive: string;
  format: number;
  palisade: string;
  dialect: 'sqlite' | 'postgres';
  migration: string;
  createdAt: string;
  tables: Record<string, number>;
  rows: number;
  chainEntries: number;
  logins: { username: string; password: string }[];
  users: { id: string; username: string }[];
  roles: Record<string, string[]>;
  collection: string;
  records: { id: string; title: string; size: number }[];
  file: { record: string; field: string; id: string; name: string; size: number; sha256: string };
  secret: string;
  changeLogEntries: number;
}

const fixtures: Expected[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(`-${DIALECT}.json`))
  .sort()
  .map((f) => JSON.parse(readFileSync(path.join(FIXTURES, f), 'utf8')) as Expected);

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

test(`there are backup fixtures of ${DIALECT}`, () => {
  assert.ok(fixtures.length > 0, `no test/backup/fixtures/*-${DIALECT}.json`);
  for (const e of fixtures) {
    assert.equal(e.dialect, DIALECT);
    assert.ok(existsSync(path.join(FIXTURES, e.archive)), e.archive);
  }
});

for (const e of fixtures) {
  test(`${e.archive} (Palisade ${e.palisade}, schema ${e.migration}) restores into an empty target and migrates forward`, async () => {
    const file = path.join(FIXTURES, e.archive);
    // An empty target; no APP_KEY: the archive holds the deployment's key files and the restore puts them back.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-previous-'));
    dirs.push(dataDir);
    const pgSchema = DIALECT === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined;
    if (pgSchema) schemas.push(pgSchema);
    const env: Env = {
      PATH: process.env.PATH,
      DATA_DIR: dataDir,
      BACKUP_PASSPHRASE: PASSPHRASE,
      ...(pgSchema ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: pgSchema } : {}),
    };
    const tables = Object.keys(e.tables).length;

    const r = await cli(['backup', 'restore', file], env);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    // Checked before the migrations: the rows per table and the chain as the archive's schema holds them.
    assert.ok(
      r.stdout.includes(`backup of ${e.createdAt} (Palisade ${e.palisade}, ${DIALECT}, schema ${e.migration}): ${tables} tables, ${e.rows} rows as listed`),
      r.stdout,
    );
    assert.ok(r.stdout.includes(`audit chain intact: ${e.chainEntries} entries`), r.stdout);
    // Then migrated to this release's schema: every migration after the archive's, in order.
    const later = (await migrationNames(DIALECT)).filter((m) => m > e.migration);
    if (later.length > 0) assert.ok(r.stdout.includes(`; migrated: ${later.join(', ')}\n`), r.stdout);
    else assert.doesNotMatch(r.stdout, /migrated:/);
    for (const k of ['app.key', 'secrets.key']) assert.ok(existsSync(path.join(dataDir, k)), `${k} restored`);

    const appKey = readFileSync(path.join(dataDir, 'app.key'), 'utf8').trim();
    const restored = await makeApp({
      peerOf: {
        shared: { dataDir, pgSchema, appKey, redisPrefix: `palisade-test:${randomBytes(6).toString('hex')}:`, redis: false },
        clock: new Clock(),
      } as TestApp,
    });
    try {
      const tokens: Record<string, string> = {};
      // The password hashes came back: every user of the fixture signs in.
      for (const u of e.logins) tokens[u.username] = (await login(restored, u.username, u.password)).token;
      const admin = tokens[e.logins[0]!.username]!;
      const get = async (url: string, token = admin) => {
        const res = await restored.app.inject({ method: 'GET', url, headers: bearer(token) });
        assert.equal(res.statusCode, 200, `GET ${url}: ${res.body}`);
        return res;
      };
      const byId = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id));

      // Records, with their values (text with quotes, a backslash, a line break; integers past 2^32).
      const records = (await get(`/api/collections/${e.collection}/records?perPage=100&sort=id`)).json().items as Record<string, unknown>[];
      assert.deepEqual(byId(records.map((x) => ({ id: String(x.id), title: x.title as string, size: Number(x.size) }))), byId(e.records));
      // Users with their ids, roles, and the grants that let a role's holder read the collection.
      const users = ((await get('/api/admin/users')).json().users as { id: string; username: string }[]).map((u) => ({ id: u.id, username: u.username }));
      assert.deepEqual(byId(users.filter((u) => e.users.some((x) => x.username === u.username))), byId(e.users));
      const roles = ((await get('/api/admin/roles')).json().roles as { name: string }[]).map((x) => x.name);
      for (const [role, holders] of Object.entries(e.roles)) {
        assert.ok(roles.includes(role), `role ${role}`);
        for (const h of holders) {
          const id = e.users.find((u) => u.username === h)!.id;
          assert.ok((await get(`/api/admin/users/${id}/access`)).json().roles.includes(role), `${h} holds ${role}`);
          const seen = (await get(`/api/collections/${e.collection}/records?perPage=100`, tokens[h])).json().items as unknown[];
          assert.equal(seen.length, e.records.length, `${h} reads the collection through ${role}`);
        }
      }
      // The stored file: listed on its record, and its bytes are the ones uploaded.
      const base = `/api/collections/${e.collection}/records/${e.file.record}/files/${e.file.field}`;
      const listed = (await get(base)).json().files as { id: string; name: string }[];
      assert.deepEqual(
        listed.map((f) => [f.id, f.name]),
        [[e.file.id, e.file.name]],
      );
      const bytes = (await get(`${base}/${e.file.id}`)).rawPayload;
      assert.equal(bytes.length, e.file.size);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), e.file.sha256);
      // The secret is there and opens with the restored secrets key; its value is never shown (nor known here).
      const secret = ((await get('/api/admin/secrets')).json().secrets as Record<string, unknown>[]).find((x) => x.name === e.secret);
      assert.ok(secret, `secret ${e.secret}`);
      assert.equal(secret.set, true);
      assert.equal(secret.readable, true);
      assert.equal('value' in secret, false);
      // The record change log came along (its subject keys open under the restored app key).
      const changes = (await get(`/api/admin/audit?kind=change&collection=${e.collection}&limit=500`)).json().entries as unknown[];
      assert.equal(changes.length, e.changeLogEntries);
    } finally {
      await restored.close();
    }

    // The restored chain, with the entries appended since (the restore, the sign-ins), verifies.
    const v = await cli(['audit', 'verify'], env);
    assert.equal(v.code, 0, `${v.stdout}\n${v.stderr}`);
    const entries = Number(/audit chain intact: (\d+) entries/.exec(v.stdout)?.[1]);
    assert.ok(entries > e.chainEntries, v.stdout);
    // And the archive itself verifies (restored into a scratch place by this release).
    const b = await cli(['backup', 'verify', file], env);
    assert.equal(b.code, 0, `${b.stdout}\n${b.stderr}`);
    assert.ok(b.stdout.includes(`${tables} tables, ${e.rows} rows as listed`), b.stdout);
    assert.ok(b.stdout.includes(`audit chain intact: ${e.chainEntries} entries`), b.stdout);
  });
}
