// compiledOnce (issue 14): the per-request lookups are compiled once and run with their one value replaced. Each run
// binds its own value (two sessions never read each other's row), and a query whose value is not its one parameter is
// refused at the first run instead of running with the marker in it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, login, bearer, createUser, type TestApp } from '../helpers/app.js';
import { compiledOnce } from '../../src/db/compiled.js';

let t: TestApp;
before(async () => {
  t = await makeApp();
});
after(() => t.close());

test('each run binds its own value; the users of two sessions are told apart through /api/auth/me', async () => {
  const admin = (await login(t)).token;
  await createUser(t, admin, 'olga', 'Window-seat-lamp-5150');
  const olga = (await login(t, 'olga', 'Window-seat-lamp-5150')).token;
  for (const [token, name] of [
    [admin, 'root'],
    [olga, 'olga'],
    [admin, 'root'],
  ] as const) {
    const r = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().user.username, name);
  }
  const byName = compiledOnce(t.s.db, (v) => t.s.db.selectFrom('users').select(['username']).where('username', '=', v));
  assert.equal((await byName('olga'))?.username, 'olga');
  assert.equal(await byName('nobody'), undefined);
  assert.equal((await byName('root'))?.username, 'root');
});

test('a query whose value is not its one parameter is refused before it runs', async () => {
  const twice = compiledOnce(t.s.db, (v) => t.s.db.selectFrom('users').select(['id']).where('username', '=', v).where('email', '=', v));
  await assert.rejects(twice('olga'), /one parameter/);
  const other = compiledOnce(t.s.db, (v) => t.s.db.selectFrom('users').select(['id']).where('username', '=', 'root').where('email', '!=', v.slice(1)));
  await assert.rejects(other('olga'), /one parameter/);
  const none = compiledOnce(t.s.db, () => t.s.db.selectFrom('users').select(['id']));
  await assert.rejects(none('olga'), /one parameter/);
});

test('a value written into the SQL text as well as bound is refused', async () => {
  const { sql } = await import('kysely');
  const inText = compiledOnce(t.s.db, (v) => t.s.db.selectFrom('users').select(['id']).where('username', '=', v).where(sql.lit(v), 'is not', null));
  await assert.rejects(inText('olga'), /one parameter/);
});
