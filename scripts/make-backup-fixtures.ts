/**
 * Makes the backup fixtures that test/backup/previous-format.test.ts restores: for each dialect, a deployment with
 * known content (a collection with records and one stored file, users, a role with a grant, a secret, audit chain
 * entries), backed up by this code into test/backup/fixtures/, with a JSON file of what a restore must show.
 *
 *     node --import tsx scripts/make-backup-fixtures.ts [sqlite] [postgres] [--force]
 *
 * Each release that changes the archive format or the schema runs it once and commits the new pair of files next
 * to the older ones, which stay: every later release must still restore them (docs/backups.md, "Format
 * compatibility"). A fixture is named by the format and the latest migration it was made at; an existing one is
 * never replaced without --force. PostgreSQL: TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test, in a
 * fresh schema of its own, dropped afterwards.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { loadConfig, type Env } from '../src/app-config.js';
import { createServices, ensureRootUser, type Services } from '../src/services.js';
import { buildApp } from '../src/http/app.js';
import { VERSION } from '../src/backup/manifest.js';
import { CLI_ACTOR } from '../src/audit/events.js';
import { png } from '../test/files/samples.js';

/** Test-only: the same literal is in test/backup/previous-format.test.ts. It protects nothing but these fixtures. */
const PASSPHRASE = 'palisade backup fixture passphrase (test only)';
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const OUT = path.resolve(import.meta.dirname, '../test/backup/fixtures');
const MAX_BYTES = 1 << 20;

const ROOT = { username: 'root', password: 'Copper-kettle-Lantern-41' };
const USERS = [
  { username: 'alice', password: 'Harbour-gull-Meadow-52', roles: ['librarian'] },
  { username: 'bob', password: 'Windmill-sail-Orchard-63', roles: [] as string[] },
];
const COLLECTION = 'notes';
const TITLES = ['first note', 'Grüße, "quoted" \\ and ü', 'two\nlines', 'the last one'];
const FILE = png(7, 5);

type Dialect = 'sqlite' | 'postgres';

async function make(dialect: Dialect, force: boolean): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-fixture-'));
  const schema = dialect === 'postgres' ? `fixture_${randomBytes(6).toString('hex')}` : null;
  // No APP_KEY: the key is generated into the data directory, so that the archive holds it (as most deployments' do).
  const env: Env = {
    DATA_DIR: dataDir,
    INIT_ROOT_USERNAME: ROOT.username,
    INIT_ROOT_PASSWORD: ROOT.password,
    BACKUP_PASSPHRASE: PASSPHRASE,
    LOG_LEVEL: 'warn',
    ...(schema ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema } : {}),
  };
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  let s: Services | undefined;
  try {
    s = await createServices({ config: loadConfig(env, { generateKey: true }).config, env, logStream: quiet });
    await ensureRootUser(s);
    const app = await buildApp(s);
    await app.ready();
    try {
      const call = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, token: string | null, payload?: unknown, expect = [200, 201, 204]) => {
        const r = await app.inject({
          method,
          url,
          headers: token ? { authorization: `Bearer ${token}` } : {},
          ...(payload !== undefined ? { payload: payload as object } : {}),
        });
        if (!expect.includes(r.statusCode)) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
        return r;
      };
      const login = async (username: string, password: string) =>
        (await call('POST', '/api/auth/login', null, { username, password }, [200])).json().token as string;
      const admin = await login(ROOT.username, ROOT.password);

      await call('POST', '/api/admin/collections', admin, {
        name: COLLECTION,
        fields: [
          { name: 'title', type: 'string', required: true },
          { name: 'size', type: 'integer' },
          { name: 'attachment', type: 'file' },
        ],
      });
      await call('POST', '/api/admin/roles', admin, { name: 'librarian', description: 'reads the notes' });
      await call('POST', '/api/admin/grants', admin, { role: 'librarian', collection: COLLECTION, actions: ['view'], fields: ['title', 'size', 'attachment'] });
      const ids: Record<string, string> = {};
      for (const u of USERS) {
        ids[u.username] = (await call('POST', '/api/admin/users', admin, { username: u.username, password: u.password })).json().user.id;
        if (u.roles.length > 0) await call('PUT', `/api/admin/users/${ids[u.username]}/roles`, admin, { roles: u.roles });
      }
      const records: { id: string; title: string; size: number }[] = [];
      for (const [i, title] of TITLES.entries()) {
        const r = (await call('POST', `/api/collections/${COLLECTION}/records`, admin, { title, size: 2 ** 40 + i })).json();
        records.push({ id: r.id, title, size: 2 ** 40 + i });
      }
      // A change with an old and a new value in the change log.
      const changed = records[3]!;
      changed.size += 1000;
      await call('PATCH', `/api/collections/${COLLECTION}/records/${changed.id}`, admin, { size: changed.size });
      // One stored file (DATA-3).
      const up = await app.inject({
        method: 'POST',
        url: `/api/collections/${COLLECTION}/records/${records[0]!.id}/files/attachment?name=plan.png`,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/octet-stream' },
        payload: FILE,
      });
      if (up.statusCode !== 201) throw new Error(`upload: ${up.statusCode} ${up.body}`);
      // A secret whose value nobody needs to know: a restore must show it set and readable, never its value.
      await call('PUT', '/api/admin/secrets/smtp.password', admin, { value: randomBytes(18).toString('base64url') });
      // Sign-ins of the other users: more security events on the chain.
      for (const u of USERS) await login(u.username, u.password);
      const changes = (await call('GET', `/api/admin/audit?kind=change&collection=${COLLECTION}&limit=500`, admin)).json().entries.length as number;

      const b = await s.backups.create({ actor: CLI_ACTOR });
      if (!b.verified?.ok) throw new Error(`the new backup did not verify: ${JSON.stringify(b.verified)}`);
      if (b.size > MAX_BYTES) throw new Error(`the archive is ${b.size} bytes; a fixture stays under ${MAX_BYTES}`);
      const m = b.manifest;
      if (!m.keys.app || !m.keys.secrets || m.files.keys.length !== 1 || m.files.missing !== 0)
        throw new Error(`unexpected manifest: ${JSON.stringify({ keys: m.keys, files: m.files })}`);

      const base = `format${VERSION}-${m.migration}-${dialect}`;
      const archive = path.join(OUT, `${base}.tar.gz.age`);
      const facts = path.join(OUT, `${base}.json`);
      if (!force && (existsSync(archive) || existsSync(facts)))
        throw new Error(`${archive} exists: fixtures of earlier releases are kept (--force replaces it)`);
      mkdirSync(OUT, { recursive: true });
      copyFileSync(b.file, archive);
      const expected = {
        archive: path.basename(archive),
        format: m.version,
        palisade: m.palisade,
        dialect,
        migration: m.migration,
        createdAt: m.createdAt,
        // Before the restore migrates it: every table's rows, and the audit chain's entries.
        tables: m.tables,
        rows: Object.values(m.tables).reduce((a, n) => a + n, 0),
        chainEntries: m.chain.seq,
        // What the restored deployment must show through its API (the passwords are this fixture's, test only).
        logins: [ROOT, ...USERS.map(({ username, password }) => ({ username, password }))],
        users: [
          ...(await call('GET', '/api/admin/users', admin)).json().users.map((u: { id: string; username: string }) => ({ id: u.id, username: u.username })),
        ],
        roles: { librarian: ['alice'] },
        collection: COLLECTION,
        records,
        file: {
          record: records[0]!.id,
          field: 'attachment',
          id: up.json().id as string,
          name: 'plan.png',
          size: FILE.length,
          sha256: createHash('sha256').update(FILE).digest('hex'),
        },
        secret: 'smtp.password',
        changeLogEntries: changes,
      };
      writeFileSync(facts, `${JSON.stringify(expected, null, 2)}\n`);
      // In the repository's own format, so that `biome check` passes on what this wrote.
      execFileSync(path.resolve(import.meta.dirname, '../node_modules/.bin/biome'), ['format', '--write', facts], { stdio: 'ignore' });
      process.stdout.write(
        `${path.relative(process.cwd(), archive)}: ${statSync(archive).size} bytes, ${expected.rows} rows, ${expected.chainEntries} chain entries\n`,
      );
    } finally {
      await app.close();
    }
  } finally {
    await s?.close();
    rmSync(dataDir, { recursive: true, force: true });
    if (schema) {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }
}

const args = process.argv.slice(2);
const force = args.includes('--force');
const asked = args.filter((a) => a !== '--force');
for (const a of asked) if (a !== 'sqlite' && a !== 'postgres') throw new Error(`unknown argument: ${a} (sqlite, postgres, --force)`);
for (const d of asked.length > 0 ? (asked as Dialect[]) : (['sqlite', 'postgres'] as const)) await make(d, force);
