// Issue 14 (found sound by its review): the SQLite bounded id-order walk must answer exactly what the planner's plan answers.
// Differential: the same list without sort (walk eligible) and with sort=id (never walks), random filters and pages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { makeApp, login, createUser, bearer, DIALECT, type TestApp } from '../../helpers/app.js';

let t: TestApp;
let admin: string;
const tokens: Record<string, string> = {};
const ok = (r: { statusCode: number; body: string }, code = 201) => assert.equal(r.statusCode, code, r.body);
const db = () => t.s.db as unknown as Kysely<any>;

before(async () => {
  t = await makeApp({ env: { LOG_SQL: 'true' } });
  admin = (await login(t)).token;
  ok(
    await t.app.inject({
      method: 'POST',
      url: '/api/admin/collections',
      headers: bearer(admin),
      payload: {
        name: 'leads',
        fields: [
          { name: 'region', type: 'string', indexed: true },
          { name: 'team', type: 'string', indexed: true },
          { name: 'score', type: 'integer' },
          { name: 'note', type: 'string' },
        ],
      },
    }),
  );
  const regions = ['north', 'south', 'east', 'west'];
  const teams = ['red', 'blue', 'green'];
  const rows = [];
  for (let i = 0; i < 6000; i++)
    rows.push({
      id: `r${String(i).padStart(6, '0')}`,
      region: i < 4000 ? (i % 13 === 0 ? 'south' : 'north') : regions[i % 4],
      team: i % 97 === 0 ? 'blue' : i > 3000 && i % 7 === 0 ? 'green' : teams[(i * 7) % 3],
      score: (i * 7919) % 1000,
      note: `n${i % 50}`,
      created_at: 1_700_000_000_000,
      updated_at: 1_700_000_000_000,
      created_by: null,
      updated_by: null,
    });
  for (let i = 0; i < rows.length; i += 500)
    await db()
      .insertInto('col_leads')
      .values(rows.slice(i, i + 500))
      .execute();
  const grant = async (role: string, fields: string[], scope: object) =>
    ok(
      await t.app.inject({
        method: 'POST',
        url: '/api/admin/grants',
        headers: bearer(admin),
        payload: { role, collection: 'leads', actions: ['view'], fields, scope },
      }),
    );
  const person = async (name: string, role: string) => {
    ok(await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: bearer(admin), payload: { name: role } }));
    const id = await createUser(t, admin, name, 'Paging-person-4471');
    ok(await t.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: bearer(admin), payload: { roles: [role] } }), 204);
  };
  await person('max', 'broad_or');
  await grant('broad_or', ['region', 'score', 'note'], { region: 'north' });
  await grant('broad_or', ['score', 'team', 'note'], { team: 'blue' });
  await person('nia', 'narrow_or');
  await grant('narrow_or', ['region', 'score', 'note'], { region: 'east' });
  await grant('narrow_or', ['score', 'team', 'note', 'region'], { team: 'green' });
  await person('ina', 'in_list');
  await grant('in_list', ['region', 'score', 'team', 'note'], { region: { $in: ['west', 'south'] } });
  for (const u of ['max', 'nia', 'ina']) tokens[u] = (await login(t, u, 'Paging-person-4471')).token;
});
after(() => t.close());

let seed = 12345;
const rnd = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};

test('walk (no sort) and planner (sort=id) answer the same, for random filters, searches and pages', async () => {
  const filters: Array<object | undefined> = [
    undefined,
    { score: { $lt: 100 } },
    { score: { $gte: 900 } },
    { note: 'n3' },
    { score: { $in: [1, 2, 3, 500, 999] } },
    { $not: { score: { $lt: 990 } } },
  ];
  let walks = 0;
  let compared = 0;
  for (let i = 0; i < 120; i++) {
    const who = ['max', 'nia', 'ina'][rnd(3)]!;
    const perPage = [1, 7, 50, 200][rnd(4)]!;
    const page = 1 + rnd(12);
    const filter = filters[rnd(filters.length)];
    const search = rnd(5) === 0 ? 'n1' : undefined;
    const base: Record<string, string> = { perPage: String(perPage), page: String(page), total: 'true' };
    if (filter) base.filter = JSON.stringify(filter);
    if (search) base.search = search;
    const from = t.logs.length;
    const a = await t.app.inject({ method: 'GET', url: `/api/collections/leads/records?${new URLSearchParams(base)}`, headers: bearer(tokens[who]!) });
    walks += t.logs.slice(from).filter((l) => l.includes('coalesce(')).length;
    const b = await t.app.inject({
      method: 'GET',
      url: `/api/collections/leads/records?${new URLSearchParams({ ...base, sort: 'id' })}`,
      headers: bearer(tokens[who]!),
    });
    if (a.statusCode !== 200 || b.statusCode !== 200) {
      assert.equal(a.statusCode, b.statusCode, `${who} ${JSON.stringify(base)}: ${a.body} / ${b.body}`);
      assert.ok(a.statusCode < 500, a.body);
      continue;
    }
    const ja = a.json();
    const jb = b.json();
    assert.deepEqual(ja.items, jb.items, `${who} ${JSON.stringify(base)}`);
    assert.equal(ja.hasMore, jb.hasMore, `${who} ${JSON.stringify(base)}`);
    assert.equal(ja.total, jb.total);
    compared++;
  }
  console.log(`compared ${compared}, walks ${walks}`);
  if (DIALECT === 'sqlite') assert.ok(walks > 0, 'the walk ran');
});

test('odd paging input never answers 5xx (huge page on the walk, odd total and fields values)', async () => {
  const cases: Array<Record<string, string>> = [
    { page: '100000', perPage: '200' },
    { page: '100000', perPage: '200', total: 'true' },
    { total: '1' },
    { total: 'TRUE' },
    { total: 'true', page: '99999' },
    { fields: '' },
    { fields: ',' },
    { fields: 'id,id,createdAt' },
    { fields: 'constructor' },
    { fields: '__proto__' },
    { fields: 'team' },
    { sort: 'constructor' },
    { sort: '__proto__' },
    { filter: JSON.stringify({ __proto__: { $eq: 1 } }) },
    { filter: JSON.stringify({ constructor: 1 }) },
  ];
  for (const c of cases) {
    for (const who of ['max', 'nia', 'ina']) {
      const r = await t.app.inject({ method: 'GET', url: `/api/collections/leads/records?${new URLSearchParams(c)}`, headers: bearer(tokens[who]!) });
      console.log(
        who,
        JSON.stringify(c),
        r.statusCode,
        r.statusCode >= 400 ? r.body.slice(0, 160) : `${r.json().items.length} items hasMore=${r.json().hasMore}`,
      );
      assert.ok(r.statusCode < 500, `${who} ${JSON.stringify(c)}: ${r.body}`);
    }
  }
});
