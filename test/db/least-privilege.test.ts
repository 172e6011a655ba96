/**
 * ASVS V13.2.2: the requests' database role holds only what requests need. On PostgreSQL a data-only role
 * (DATABASE_URL) serves requests while migrations and schema changes go through the DDL role
 * (DATABASE_MIGRATION_URL); SQLite has no roles, and the setting is refused there. Real roles, made and dropped here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DIALECT, PG_URL, bearer, configProblems, login, makeApp } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';

const pgOnly = { skip: DIALECT !== 'postgres' && 'PostgreSQL only: SQLite has no roles' };
const sqliteOnly = { skip: DIALECT !== 'sqlite' && 'SQLite only' };

/** The test server's URL as another user (trust auth on 127.0.0.1). */
const urlAs = (user: string): string => {
  const u = new URL(PG_URL);
  u.username = user;
  return u.href;
};

async function asPostgres<T>(fn: (c: pg.Client) => Promise<T>, url = PG_URL): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

type Doctor = { checks: Array<{ id: string; status: string; detail: string }> };
const ddlCheck = async (t: Awaited<ReturnType<typeof makeApp>>) => {
  const r = await t.app.inject({ method: 'GET', url: '/api/admin/doctor', headers: bearer((await login(t)).token) });
  return (r.json() as Doctor).checks.find((c) => c.id === 'database-ddl');
};

test(
  'PostgreSQL: requests run as a data-only role, schema changes through DATABASE_MIGRATION_URL, and the data-only role cannot run DDL [ASVS V13.2.2]',
  pgOnly,
  async () => {
    const id = randomBytes(5).toString('hex');
    const owner = `p_ddl_${id}`;
    const role = `p_app_${id}`;
    const schema = `lp_${id}`;
    await asPostgres(async (c) => {
      await c.query(`CREATE ROLE ${owner} LOGIN`);
      await c.query(`CREATE ROLE ${role} LOGIN`);
      await c.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${owner}`);
    });
    const env = { DATABASE_URL: urlAs(role), DATABASE_MIGRATION_URL: urlAs(owner), DATABASE_SCHEMA: schema };
    try {
      // The documented statements, as the CLI prints them, run by a DBA before the first start.
      const printed = await cli(['db', 'grants', '--role', role], { ...env, DATA_DIR: '/nonexistent', APP_KEY: randomBytes(32).toString('base64url') });
      assert.equal(printed.code, 0, printed.stderr);
      assert.match(
        printed.stdout,
        new RegExp(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${role};`),
      );
      await asPostgres(async (c) => {
        for (const line of printed.stdout.trim().split('\n')) await c.query(line);
      });

      const t = await makeApp({ env });
      try {
        const admin = (await login(t)).token;
        // A schema change at run time: the table is made by the DDL role.
        const made = await t.app.inject({
          method: 'POST',
          url: '/api/admin/collections',
          headers: bearer(admin),
          payload: { name: 'parcels', fields: [{ name: 'label', type: 'string' }] },
        });
        assert.equal(made.statusCode, 201, made.body);
        const field = await t.app.inject({
          method: 'POST',
          url: '/api/admin/collections/parcels/fields',
          headers: bearer(admin),
          payload: { name: 'weight', type: 'integer' },
        });
        assert.equal(field.statusCode, 201, field.body);
        const tables = await asPostgres(
          async (c) => (await c.query('select tablename, tableowner from pg_tables where schemaname = $1 and tablename = $2', [schema, 'col_parcels'])).rows,
        );
        assert.deepEqual(tables, [{ tablename: 'col_parcels', tableowner: owner }]);
        // Requests read and write its rows as the data-only role.
        const rec = await t.app.inject({
          method: 'POST',
          url: '/api/collections/parcels/records',
          headers: bearer(admin),
          payload: { label: 'box', weight: 3 },
        });
        assert.equal(rec.statusCode, 201, rec.body);
        const recId = rec.json().record?.id ?? rec.json().id;
        const read = await t.app.inject({ method: 'GET', url: `/api/collections/parcels/records/${recId}`, headers: bearer(admin) });
        assert.equal(read.statusCode, 200, read.body);
        assert.match(read.body, /"label":"box"/);
        // A configuration import changes the schema in its one transaction: the DDL role's too.
        const doc = await t.app.inject({ method: 'GET', url: '/api/admin/config/export?format=json', headers: bearer(admin) });
        assert.equal(doc.statusCode, 200, doc.body);
        assert.equal((await t.app.inject({ method: 'DELETE', url: `/api/admin/collections/parcels`, headers: bearer(admin) })).statusCode, 204);
        const imported = await t.app.inject({ method: 'POST', url: '/api/admin/config/import', headers: bearer(admin), payload: { document: doc.body } });
        assert.equal(imported.statusCode, 200, imported.body);
        const again = await asPostgres(
          async (c) => (await c.query('select tableowner from pg_tables where schemaname = $1 and tablename = $2', [schema, 'col_parcels'])).rows,
        );
        assert.deepEqual(again, [{ tableowner: owner }]);
        const check = await ddlCheck(t);
        assert.equal(check?.status, 'pass', JSON.stringify(check));
        assert.match(check!.detail, new RegExp(`"${role}"`));
      } finally {
        await t.close();
      }

      // The attack: SQL run as the requests' role cannot change the structure, nor switch off the audit triggers.
      await asPostgres(async (c) => {
        await c.query(`SET search_path = ${schema}`);
        assert.equal((await c.query('select count(*)::int as n from users')).rows[0].n, 1, 'rows are readable');
        for (const ddl of [
          'CREATE TABLE evil (x int)',
          'DROP TABLE users',
          'ALTER TABLE users ADD COLUMN evil int',
          'ALTER TABLE security_events DISABLE TRIGGER ALL',
          'TRUNCATE security_events',
          `CREATE SCHEMA evil_${id}`,
        ]) {
          await assert.rejects(c.query(ddl), (e: { code?: string }) => e.code === '42501', ddl);
        }
      }, urlAs(role));
    } finally {
      await asPostgres(async (c) => {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        for (const r of [role, owner]) {
          await c.query(`DROP OWNED BY ${r}`);
          await c.query(`DROP ROLE ${r}`);
        }
      });
    }
  },
);

test('PostgreSQL: the doctor warns when the requests’ role can create or drop tables (one URL for everything) [ASVS V13.2.2]', pgOnly, async () => {
  const t = await makeApp();
  try {
    const check = await ddlCheck(t);
    assert.equal(check?.status, 'warn', JSON.stringify(check));
    assert.match(check!.detail, /owns the schema/);
  } finally {
    await t.close();
  }
});

test('DATABASE_MIGRATION_URL: refused without DATABASE_URL or when not a postgres URL; accepted beside DATABASE_URL [ASVS V13.2.2]', () => {
  assert.deepEqual(configProblems({ DATABASE_MIGRATION_URL: 'postgres://owner@db/x?sslmode=verify-full' }), [
    'DATABASE_MIGRATION_URL needs DATABASE_URL (embedded SQLite has no database roles)',
  ]);
  assert.deepEqual(configProblems({ DATABASE_URL: 'postgres://app@db/x?sslmode=verify-full', DATABASE_MIGRATION_URL: 'mysql://owner@db/x' }), [
    'DATABASE_MIGRATION_URL must be a postgres:// URL',
  ]);
  assert.deepEqual(
    configProblems({ DATABASE_URL: 'postgres://app@db/x?sslmode=verify-full', DATABASE_MIGRATION_URL: 'postgresql://owner@db/x?sslmode=verify-full' }),
    [],
  );
});

test('SQLite: no database-ddl check in the doctor, and `db grants` says SQLite has no roles [ASVS V13.2.2]', sqliteOnly, async () => {
  const t = await makeApp();
  try {
    assert.equal(await ddlCheck(t), undefined);
  } finally {
    await t.close();
  }
  const r = await cli(['db', 'grants', '--role', 'app'], { DATA_DIR: '/nonexistent', APP_KEY: randomBytes(32).toString('base64url') });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /SQLite has no database roles/);
});

test('`db grants`: refuses the DDL role as the requests’ role and a missing owner; prints for the configured schema [ASVS V13.2.2]', async () => {
  const base = { DATA_DIR: '/nonexistent', APP_KEY: randomBytes(32).toString('base64url'), DATABASE_URL: 'postgres://app@db.invalid/x?sslmode=verify-full' };
  const same = await cli(['db', 'grants', '--role', 'owner'], { ...base, DATABASE_MIGRATION_URL: 'postgres://owner@db.invalid/x?sslmode=verify-full' });
  assert.equal(same.code, 2);
  assert.match(same.stderr, /--role must not be the DDL role/);
  const noOwner = await cli(['db', 'grants', '--role', 'app'], base);
  assert.equal(noOwner.code, 2);
  assert.match(noOwner.stderr, /needs --role .* and --owner/);
  const printed = await cli(['db', 'grants', '--role', 'app', '--owner', 'owner'], { ...base, DATABASE_SCHEMA: 'palisade' });
  assert.equal(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /^GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA palisade TO app;$/m);
  assert.doesNotMatch(printed.stdout, /GRANT (ALL|CREATE)|TRUNCATE/);
  // A special word as the role is a (missing) role's name, never every role: `TO public` would grant to everyone.
  const everyone = await cli(['db', 'grants', '--role', 'public', '--owner', 'owner'], { ...base, DATABASE_SCHEMA: 'palisade' });
  assert.equal(everyone.code, 0, everyone.stderr);
  assert.match(everyone.stdout, /^GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA palisade TO "public";$/m);
  assert.doesNotMatch(everyone.stdout, / TO public;/);
});
