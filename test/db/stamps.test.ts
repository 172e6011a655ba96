// D360: the version stamps that keep the per-instance caches exact. Every table a cache reads has the triggers that
// move its stamp; a change made outside the code (an operator's SQL, TRUNCATE) moves it too; and a stamps row removed
// by hand makes requests read afresh (never serve a frozen cache) and is put back, above every stamp seen before.
// Found by the issue 14 review: TRUNCATE fired no row trigger; a missing row froze the caches at stamp 0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { makeApp, login, bearer, createUser, DIALECT, type TestApp } from '../helpers/app.js';
import { ACCESS_TABLES, SETTINGS_TABLES } from '../../src/db/migrations/0022_state_stamps.js';

let t: TestApp;
let admin: string;
let readerId: string;
let reader: string;
const PW = 'Reader-desk-lamp-4242';

const ok = (r: { statusCode: number; body: string }, code = 201) => assert.equal(r.statusCode, code, r.body);

before(async () => {
  t = await makeApp();
  admin = (await login(t)).token;
  const h = bearer(admin);
  ok(
    await t.app.inject({ method: 'POST', url: '/api/admin/collections', headers: h, payload: { name: 'notes', fields: [{ name: 'title', type: 'string' }] } }),
  );
  ok(await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: h, payload: { name: 'reader' } }));
  ok(
    await t.app.inject({
      method: 'POST',
      url: '/api/admin/grants',
      headers: h,
      payload: { role: 'reader', collection: 'notes', actions: ['view'], fields: ['title'] },
    }),
  );
  ok(await t.app.inject({ method: 'POST', url: '/api/collections/notes/records', headers: h, payload: { title: 'secret plan' } }));
  readerId = await createUser(t, admin, 'rita', PW);
  reader = (await login(t, 'rita', PW)).token;
});

after(async () => {
  await t.close();
});

const grantRole = async () =>
  ok(await t.app.inject({ method: 'PUT', url: `/api/admin/users/${readerId}/roles`, headers: bearer(admin), payload: { roles: ['reader'] } }), 204);
/** What the reader sees: the number of notes, 0 when refused. */
const seen = async () => {
  const r = await t.app.inject({ method: 'GET', url: '/api/collections/notes/records', headers: bearer(reader) });
  return r.statusCode === 200 ? (r.json().items as unknown[]).length : 0;
};
const stamp = async () => (await sql<{ access: number }>`select access from state_stamps where id = 1`.execute(t.s.db)).rows[0]?.access;

test('every table the caches read has the triggers that move its stamp', async () => {
  const rows =
    DIALECT === 'postgres'
      ? (
          await sql<{ t: string; n: string }>`select c.relname as t, g.tgname as n from pg_trigger g join pg_class c on c.oid = g.tgrelid
            where c.relnamespace = (select oid from pg_namespace where nspname = current_schema()) and g.tgname like '%stamp%'`.execute(t.s.db)
        ).rows
      : (await sql<{ t: string; n: string }>`select tbl_name as t, name as n from sqlite_master where type = 'trigger' and name like '%stamp%'`.execute(t.s.db))
          .rows;
  for (const table of [...ACCESS_TABLES, ...SETTINGS_TABLES]) {
    const names = rows.filter((r) => r.t === table).map((r) => r.n);
    // SQLite: one per operation; PostgreSQL: the deferred row trigger and the TRUNCATE statement trigger.
    assert.equal(names.length, DIALECT === 'postgres' ? 2 : 3, `${table}: ${names.join(', ')}`);
  }
});

test("an operator's SQL moves the stamp: a role given and taken away in SQL applies at the next request", async () => {
  assert.equal(await seen(), 0);
  assert.equal(await seen(), 0, 'the principal without the role is cached now');
  const before = await stamp();
  await t.s.db.insertInto('user_roles').values({ user_id: readerId, role: 'reader' }).execute();
  assert.notEqual(await stamp(), before);
  assert.equal(await seen(), 1);
  await t.s.db.deleteFrom('user_roles').where('user_id', '=', readerId).execute();
  assert.equal(await seen(), 0);
});

test('PostgreSQL: TRUNCATE of an access table moves the stamp', { skip: DIALECT !== 'postgres' }, async () => {
  await grantRole();
  assert.equal(await seen(), 1);
  assert.equal(await seen(), 1, 'cached');
  const before = await stamp();
  await sql`truncate table user_roles`.execute(t.s.db);
  assert.notEqual(await stamp(), before);
  assert.equal(await seen(), 0, 'the role truncated away no longer reads');
});

test('a stamps row removed by hand: requests read afresh, and the row comes back above every stamp seen', async () => {
  await grantRole();
  assert.equal(await seen(), 1);
  const before = Number(await stamp());
  await t.s.db.deleteFrom('state_stamps').execute();
  assert.equal(await seen(), 1, 'served, read afresh');
  ok(await t.app.inject({ method: 'PUT', url: `/api/admin/users/${readerId}/roles`, headers: bearer(admin), payload: { roles: [] } }), 204);
  assert.equal(await seen(), 0, 'the role taken away applies at the next request: no cache without stamps');
  // A route that reads no credential asks the stamps themselves (the admin change above made this instance forget
  // what it saw): the row is put back, and the sign-in answers.
  const signIn = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'rita', password: PW } });
  assert.equal(signIn.statusCode, 200, signIn.body);
  const back = Number(await stamp());
  assert.ok(back > before, `the row is back above the old stamp: ${back} > ${before}`);
  await grantRole();
  assert.equal(await seen(), 1);
});

test('stamps never go back: a kept row that brings older stamps than an instance has seen does not replace them (D454)', async () => {
  const { StateStamps } = await import('../../src/db/stamps.js');
  let now = 1_000;
  const stamps = new StateStamps(t.s.db, 1000, () => now);
  stamps.observe({ access: 7, settings: 9 }, stamps.begin());
  now += 1;
  // A row kept from before the last settings change, served after a fresher read.
  stamps.observe({ access: 7, settings: 8 }, stamps.begin());
  assert.deepEqual(stamps.fresh(), { access: 7, settings: 9 });
  stamps.observe({ access: 6, settings: 9 }, stamps.begin());
  assert.deepEqual(stamps.fresh(), { access: 7, settings: 9 });
  // Newer stamps are taken, and stamps are fresh for maxAgeMs from the read that brought them.
  stamps.observe({ access: 8, settings: 9 }, stamps.begin());
  assert.deepEqual(stamps.fresh(), { access: 8, settings: 9 });
  now += 1000;
  assert.equal(stamps.fresh(), null);
});
