/**
 * D459: a record's audit key is derived from APP_KEY and a salt kept in its first change entry
 * (`audit_log.key_salt`, outside the chain's digest). The one update `audit_log` allows is an erasure nulling a salt;
 * retention copies a salt apart before its entry goes; keys sealed before D459 (`audit_subject_keys`) still work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { createSealer } from '../../src/config/seal.js';
import { DIALECT, bearer, login, useApp, type TestApp } from '../helpers/app.js';

const DAY = 86_400_000;
let t: TestApp;
let admin: string;
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    const r = await req('POST', '/api/admin/collections', {
      name: 'cards',
      fields: [
        { name: 'holder', type: 'string', required: true },
        { name: 'city', type: 'string' },
      ],
    });
    assert.equal(r.statusCode, 201, r.body);
  },
  {},
  true,
);

const req = (method: string, url: string, payload?: unknown) =>
  t.app.inject({ method: method as 'GET', url, headers: bearer(admin), ...(payload !== undefined ? { payload: payload as object } : {}) });

const entries = async (id: string) => {
  const r = await req('GET', `/api/admin/audit?recordId=${id}&kind=change`);
  assert.equal(r.statusCode, 200, r.body);
  return r.json().entries as Array<{ operation: string; erased?: true; changes: Array<{ field: string; old?: unknown; new?: unknown }> }>;
};
const newValue = (e: { changes: Array<{ field: string; new?: unknown }> }, field: string) => e.changes.find((c) => c.field === field)?.new;

const verify = async () => {
  const r = await req('POST', '/api/admin/audit/verify', {});
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as { ok: boolean; problem: unknown };
};

const create = async (body: Record<string, unknown>) => {
  const r = await req('POST', '/api/collections/cards/records', body);
  assert.equal(r.statusCode, 201, r.body);
  return r.json().id as string;
};

/** Runs `fn` in a transaction that is rolled back, with an erasure's window open when `window`. */
async function inWindow(window: boolean, fn: (trx: typeof t.s.db) => Promise<unknown>): Promise<unknown> {
  const undo = new Error('undo');
  try {
    await t.s.db.transaction().execute(async (trx) => {
      if (window) await trx.insertInto('audit_prune').values({ kind: 'erase', before_at: 0 }).execute();
      await fn(trx);
      throw undo;
    });
  } catch (e) {
    if (e === undo) return 'applied';
    return e;
  }
  return 'applied';
}

test('audit_log refuses every update but an erasure nulling a salt, even inside the window, for every column it has', async () => {
  const id = await create({ holder: 'Ada Salt', city: 'Leeds' });
  const columns =
    DIALECT === 'postgres'
      ? (
          await sql<{
            name: string;
          }>`select column_name as name from information_schema.columns where table_schema = current_schema() and table_name = 'audit_log'`.execute(t.s.db)
        ).rows.map((r) => r.name)
      : (await sql<{ name: string }>`select name from pragma_table_info('audit_log')`.execute(t.s.db)).rows.map((r) => r.name);
  assert.ok(columns.includes('key_salt') && columns.includes('data') && columns.length >= 14, columns.join());
  const row = sql`record_id = ${id} and key_salt is not null`;
  // Each column (and, on SQLite, the other names of `seq`), alone and with the salt's erasure, inside the window.
  const names = [...columns.filter((n) => n !== 'key_salt'), ...(DIALECT === 'sqlite' ? ['rowid', '_rowid_', 'oid'] : [])];
  for (const c of names) {
    const value = ['seq', 'at', 'rowid', '_rowid_', 'oid'].includes(c) ? sql`${c === 'at' ? 1 : 999_999_999}` : sql`'x'`;
    for (const erase of [sql``, sql`, key_salt = null`]) {
      const got = await inWindow(true, (trx) => sql`update audit_log set ${sql.raw(c)} = ${value}${erase} where ${row}`.execute(trx));
      assert.notEqual(got, 'applied', `an update of ${c} went through`);
    }
  }
  assert.notEqual(await inWindow(true, (trx) => sql`update audit_log set key_salt = 'v2.AAAAAAAAAAAAAAAAAAAAAA' where ${row}`.execute(trx)), 'applied');
  assert.notEqual(await inWindow(false, (trx) => sql`update audit_log set key_salt = null where ${row}`.execute(trx)), 'applied');
  assert.notEqual(await inWindow(true, (trx) => sql`update audit_log set key_salt = null, data = 'x' where ${row}`.execute(trx)), 'applied');
  // The legitimate change: the salt nulled inside the window.
  assert.equal(await inWindow(true, (trx) => sql`update audit_log set key_salt = null where ${row}`.execute(trx)), 'applied');
  assert.equal(newValue((await entries(id))[0]!, 'holder'), 'Ada Salt');
  assert.equal((await verify()).ok, true);
});

test('each record gets its own salt in its create entry; later entries carry none and open with it; a salt is never shown', async () => {
  const a = await create({ holder: 'Bea One', city: 'York' });
  const b = await create({ holder: 'Cal Two', city: 'York' });
  assert.equal((await req('PATCH', `/api/collections/cards/records/${a}`, { city: 'Hull' })).statusCode, 200);
  const salts = await t.s.db.selectFrom('audit_log').select(['record_id', 'operation', 'key_salt']).where('record_id', 'in', [a, b]).orderBy('seq').execute();
  assert.deepEqual(
    salts.map((s) => [s.record_id, s.operation, s.key_salt === null ? null : /^v2\.[A-Za-z0-9_-]{22}$/.test(s.key_salt)]),
    [
      [a, 'create', true],
      [b, 'create', true],
      [a, 'update', null],
    ],
  );
  assert.notEqual(salts[0]!.key_salt, salts[1]!.key_salt);
  const log = await entries(a);
  assert.deepEqual(
    log.map((e) => [e.operation, newValue(e, 'city')]),
    [
      ['update', 'Hull'],
      ['create', 'York'],
    ],
  );
  const raw = await req('GET', `/api/admin/audit?recordId=${a}`);
  assert.ok(!raw.body.includes(salts[0]!.key_salt!.slice(3)) && !raw.body.includes('key_salt'), 'the API shows no salt');
  // An erasure destroys the one key; a write after it makes a new one, on its own entry.
  await t.s.db.transaction().execute((trx) => t.s.audit.trail.erase(trx, 'cards', [a]));
  assert.ok((await entries(a)).every((e) => e.erased === true));
  assert.equal((await req('PATCH', `/api/collections/cards/records/${a}`, { city: 'Bath' })).statusCode, 200);
  const after = await entries(a);
  assert.equal(newValue(after[0]!, 'city'), 'Bath');
  assert.ok(after.slice(1).every((e) => e.erased === true));
  assert.equal(newValue((await entries(b))[0]!, 'city'), 'York', 'the other record keeps its key');
  assert.equal((await verify()).ok, true);
});

test("retention copies a removed entry's salt apart: the record's later entries still open, an erasure still destroys it; the archive holds no salt", async () => {
  const id = await create({ holder: 'Dee Old', city: 'Ely' });
  const salt = (await t.s.db.selectFrom('audit_log').select('key_salt').where('record_id', '=', id).executeTakeFirstOrThrow()).key_salt!;
  t.clock.advance(10 * DAY);
  admin = (await login(t)).token;
  assert.equal((await req('PATCH', `/api/collections/cards/records/${id}`, { city: 'Diss' })).statusCode, 200);
  assert.equal((await req('PATCH', '/api/admin/settings/audit-log', { changeDays: 5, archive: true })).statusCode, 200);
  const run = await req('POST', '/api/admin/audit/prune', {});
  assert.equal(run.statusCode, 200, run.body);
  const log = await entries(id);
  assert.deepEqual(
    log.map((e) => [e.operation, newValue(e, 'city')]),
    [['update', 'Diss']],
  );
  const archived = readdirSync(path.join(t.shared.dataDir, 'audit-archive')).map((f) => readFileSync(path.join(t.shared.dataDir, 'audit-archive', f), 'utf8'));
  assert.ok(archived.join('').includes(id), 'the create entry is archived');
  assert.ok(!archived.join('').includes(salt.slice(3)) && !archived.join('').includes('key_salt'), 'the archive holds no salt');
  assert.equal((await verify()).ok, true);
  await t.s.db.transaction().execute((trx) => t.s.audit.trail.erase(trx, 'cards', [id]));
  assert.equal((await entries(id))[0]!.erased, true);
  assert.equal((await t.s.db.selectFrom('audit_subject_keys').select('subject').where('subject', '=', `cards:${id}`).execute()).length, 0);
});

test("a key sealed before D459 (audit_subject_keys) still encrypts and opens its record's entries, and an erasure destroys it", async () => {
  assert.equal((await req('PATCH', '/api/admin/collections/cards', { audit: { changeLog: false } })).statusCode, 200);
  const id = await create({ holder: 'Eve Legacy', city: 'Rye' });
  const key = randomBytes(32).toString('base64');
  const sealed = createSealer(t.shared.appKey).seal(key, `audit-subject:cards:${id}`);
  await t.s.db
    .insertInto('audit_subject_keys')
    .values({ subject: `cards:${id}`, sealed, created_at: t.clock.now() })
    .execute();
  assert.equal((await req('PATCH', '/api/admin/collections/cards', { audit: { changeLog: true } })).statusCode, 200);
  assert.equal((await req('PATCH', `/api/collections/cards/records/${id}`, { city: 'Wye' })).statusCode, 200);
  const rows = await t.s.db.selectFrom('audit_log').select('key_salt').where('record_id', '=', id).execute();
  assert.deepEqual(
    rows.map((r) => r.key_salt),
    [null],
    'the entry is encrypted under the sealed key: no salt',
  );
  assert.equal(newValue((await entries(id))[0]!, 'city'), 'Wye');
  await t.s.db.transaction().execute((trx) => t.s.audit.trail.erase(trx, 'cards', [id]));
  assert.equal((await entries(id))[0]!.erased, true);
  assert.equal((await verify()).ok, true);
});

test('PostgreSQL: an erasure waits for a retention run that has read the salt it is copying apart, and then destroys the copy', {
  skip: DIALECT !== 'postgres' && 'SQLite runs one writer at a time',
}, async () => {
  const id = await create({ holder: 'Fay Race', city: 'Wells' });
  t.clock.advance(10 * DAY);
  admin = (await login(t)).token;
  assert.equal((await req('PATCH', `/api/collections/cards/records/${id}`, { city: 'Looe' })).statusCode, 200);
  assert.equal((await req('PATCH', '/api/admin/settings/audit-log', { changeDays: 5 })).statusCode, 200);
  // Another transaction holds an uncommitted key row for the record: the run, having read the salt, waits at its copy.
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const holder = t.s.db
    .transaction()
    .execute(async (trx) => {
      await trx
        .insertInto('audit_subject_keys')
        .values({ subject: `cards:${id}`, sealed: 'v2.AAAAAAAAAAAAAAAAAAAAAA', created_at: 0 })
        .execute();
      await gate;
      throw new Error('rolled back');
    })
    .catch(() => undefined);
  const waiting = async (like: string) => {
    for (let i = 0; i < 500; i++) {
      const n = await sql<{ n: string }>`select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and query like ${like}`.execute(t.s.db);
      if (Number(n.rows[0]!.n) > 0) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  };
  const run = req('POST', '/api/admin/audit/prune', {});
  assert.ok(await waiting('insert into "audit_subject_keys"%'), 'the run waits at its copy');
  // The erasure starts while the run holds what it read; it must not finish first.
  const erased = t.s.db.transaction().execute((trx) => t.s.audit.trail.erase(trx, 'cards', [id]));
  // With the chain's lock it waits for the run (without it, it ends here and the run then copies the salt back).
  await Promise.race([erased, waiting('select seq from audit_chain_head%')]);
  release();
  await holder;
  assert.equal((await run).statusCode, 200);
  await erased;
  assert.equal((await t.s.db.selectFrom('audit_subject_keys').select('subject').where('subject', '=', `cards:${id}`).execute()).length, 0, 'no key left');
  const log = await entries(id);
  assert.equal(log.length, 1);
  assert.equal(log[0]!.erased, true);
});
