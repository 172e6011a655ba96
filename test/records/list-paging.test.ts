// Issue 14: a list counts only when asked (`total=true`), says `hasMore` instead, and keeps the
// caller's scope in both; `fields` is exact; a field's index is (field, id), so a scope on it serves
// the default id order; on SQLite an OR scope that the planner would sort walks the id index first.
// Runs on both dialects (TEST_DB).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql, type Kysely } from 'kysely';
import { makeApp, login, createUser, bearer, DIALECT, type TestApp } from '../helpers/app.js';
import { migration as listIndexes } from '../../src/db/migrations/0023_list_indexes.js';
import { TOTAL_CAP, WALK_ROWS } from '../../src/records/list.js';

type Row = { id: string; region: string; team: string; score: number };

let t: TestApp;
let admin: string;
const tokens: Record<string, string> = {};
const rows: Row[] = [];
const NORTH = TOTAL_CAP + 50;

const get = (url: string, token: string) => t.app.inject({ method: 'GET', url, headers: bearer(token) });
const listUrl = (o: Record<string, string> = {}) => `/api/collections/leads/records?${new URLSearchParams(o)}`;
const ok = (r: { statusCode: number; body: string }, code = 201) => assert.equal(r.statusCode, code, r.body);
const db = () => t.s.db as unknown as Kysely<any>;
const countsLogged = (from: number) => t.logs.slice(from).filter((l) => l.includes('count(*)') && l.includes('col_leads')).length;

/** Every page of a list as `token`, following `hasMore`; the ids in the order served. */
async function allPages(token: string, perPage: number, max = 50): Promise<string[]> {
  const ids: string[] = [];
  for (let page = 1; page <= max; page++) {
    const r = await get(listUrl({ perPage: String(perPage), page: String(page) }), token);
    ok(r, 200);
    const body = r.json();
    assert.equal('total' in body, false);
    ids.push(...body.items.map((x: { id: string }) => x.id));
    if (!body.hasMore) return ids;
    assert.equal(body.items.length, perPage, 'a page followed by another is full');
  }
  throw new Error('more pages than expected');
}

async function indexColumns(name: string): Promise<string> {
  if (DIALECT === 'sqlite') {
    const r = await sql<{ name: string }>`select name from pragma_index_info(${name}) order by seqno`.execute(db());
    return r.rows.map((x) => x.name).join(', ');
  }
  const r = await sql<{ def: string }>`select indexdef as def from pg_indexes where schemaname = current_schema() and indexname = ${name}`.execute(db());
  return /\((.*)\)/.exec(r.rows[0]?.def ?? '')?.[1] ?? '';
}

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
        ],
      },
    }),
  );
  // NORTH rows in the north (a scope past the cap), 100 in the south, 40 in the east at the end of the
  // id order; every 97th row is on the blue team, and 30 rows, all past the first WALK_ROWS ids, are green.
  const n = NORTH + 140;
  for (let i = 0; i < n; i++) {
    const region = i < NORTH ? 'north' : i < NORTH + 100 ? 'south' : 'east';
    const team = i % 97 === 0 ? 'blue' : i > WALK_ROWS + 1000 && i % 200 === 1 ? 'green' : 'red';
    rows.push({ id: `r${String(i).padStart(6, '0')}`, region, team, score: i });
  }
  assert.equal(rows.filter((r) => r.team === 'green').length >= 30, true);
  for (let i = 0; i < rows.length; i += 500)
    await db()
      .insertInto('col_leads')
      .values(rows.slice(i, i + 500).map((r) => ({ ...r, created_at: 1_700_000_000_000, updated_at: 1_700_000_000_000, created_by: null, updated_by: null })))
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
  await person('sam', 'north_desk');
  await grant('north_desk', ['region', 'score'], { region: 'north' });
  await person('sue', 'south_desk');
  await grant('south_desk', ['region', 'score'], { region: 'south' });
  // Two grants on different fields: an OR that no single index serves in id order.
  await person('max', 'broad_or');
  await grant('broad_or', ['region'], { region: 'north' });
  await grant('broad_or', ['score', 'team'], { team: 'blue' });
  await person('nia', 'narrow_or');
  await grant('narrow_or', ['region'], { region: 'east' });
  await grant('narrow_or', ['score', 'team'], { team: 'green' });
  for (const u of ['sam', 'sue', 'max', 'nia']) tokens[u] = (await login(t, u, 'Paging-person-4471')).token;
});
after(() => t.close());

test('without total=true no count runs and the answer has no total; hasMore says that a next page has records', async () => {
  const from = t.logs.length;
  const r = await get(listUrl({ perPage: '50' }), tokens.sam!);
  ok(r, 200);
  const body = r.json();
  assert.equal('total' in body, false);
  assert.equal('totalCapped' in body, false);
  assert.equal(body.hasMore, true);
  assert.equal(body.items.length, 50);
  assert.ok(body.items.every((x: Row) => x.region === 'north'));
  assert.equal(countsLogged(from), 0, 'no count statement ran');
  assert.ok(
    t.logs.slice(from).some((l) => l.includes('col_leads')),
    'the SQL log is on (the list itself is logged)',
  );
});

test('with total=true the count runs under the caller’s scope, capped at 10,000', async () => {
  let from = t.logs.length;
  const capped = (await get(listUrl({ perPage: '50', total: 'true' }), tokens.sam!)).json();
  assert.equal(capped.total, TOTAL_CAP);
  assert.equal(capped.totalCapped, true);
  assert.equal(capped.hasMore, true);
  assert.equal(countsLogged(from), 1);
  // A narrower scope counts exactly its own rows, never the collection's (no oracle).
  from = t.logs.length;
  const south = (await get(listUrl({ perPage: '50', total: 'true' }), tokens.sue!)).json();
  assert.equal(south.total, 100);
  assert.equal('totalCapped' in south, false);
  assert.equal(countsLogged(from), 1);
  const filtered = (await get(listUrl({ total: 'true', filter: JSON.stringify({ score: { $lt: NORTH + 10 } }) }), tokens.sue!)).json();
  assert.equal(filtered.total, 10);
  assert.equal(filtered.hasMore, false);
  const east = (await get(listUrl({ total: 'true' }), tokens.nia!)).json();
  assert.equal(east.total, rows.filter((x) => x.region === 'east' || x.team === 'green').length);
  // The administrator's bypass counts the whole collection, capped too.
  const all = (await get(listUrl({ total: 'true', perPage: '1' }), admin)).json();
  assert.equal(all.total, TOTAL_CAP);
  assert.equal(all.totalCapped, true);
});

test('paging with hasMore: every row of the scope once, in id order, and the last page says no more', async () => {
  const expected = (keep: (r: Row) => boolean) => rows.filter(keep).map((r) => r.id);
  // 100 rows in 50s: page 2 is the last, page 3 is empty.
  const p2 = (await get(listUrl({ perPage: '50', page: '2' }), tokens.sue!)).json();
  assert.equal(p2.items.length, 50);
  assert.equal(p2.hasMore, false);
  const p3 = (await get(listUrl({ perPage: '50', page: '3' }), tokens.sue!)).json();
  assert.deepEqual(p3.items, []);
  assert.equal(p3.hasMore, false);
  assert.deepEqual(
    await allPages(tokens.sue!, 30),
    expected((r) => r.region === 'south'),
  );
  // A narrow OR scope whose rows lie past the first WALK_ROWS ids (SQLite: the walk gives way to the planner).
  assert.deepEqual(
    await allPages(tokens.nia!, 20),
    expected((r) => r.region === 'east' || r.team === 'green'),
  );
  // A broad OR scope: the first pages, with each row's fields by the grants that hold for it.
  const broad = expected((r) => r.region === 'north' || r.team === 'blue');
  for (const page of [1, 2, 40]) {
    const body = (await get(listUrl({ perPage: '50', page: String(page) }), tokens.max!)).json();
    assert.equal(body.hasMore, true);
    assert.deepEqual(
      body.items.map((x: Row) => x.id),
      broad.slice((page - 1) * 50, page * 50),
    );
    for (const x of body.items as Row[]) {
      const row = rows.find((r) => r.id === x.id)!;
      assert.equal('score' in x, row.team === 'blue', `${x.id}: score only where the blue grant holds`);
      assert.equal('region' in x, row.region === 'north');
    }
  }
});

test('SQLite: an OR scope that the planner would sort walks the id index first; an equality scope reads its (field, id) index', async (c) => {
  if (DIALECT !== 'sqlite') return c.skip('SQLite only');
  let from = t.logs.length;
  ok(await get(listUrl({ perPage: '50' }), tokens.max!), 200);
  const walks = (f: number) => t.logs.slice(f).filter((l) => l.includes('col_leads') && l.includes('coalesce(')).length;
  assert.equal(walks(from), 1, 'the bounded walk ran for the broad OR scope');
  from = t.logs.length;
  ok(await get(listUrl({ perPage: '50' }), tokens.sam!), 200);
  assert.equal(walks(from), 0, 'an equality scope is left to its index');
  const plan = await sql<{ detail: string }>`explain query plan select id from col_leads where region = ${'north'} order by id limit 51`.execute(db());
  assert.ok(
    plan.rows.every((r) => !/TEMP B-TREE/.test(r.detail)),
    JSON.stringify(plan.rows),
  );
});

test('fields is exact: the fields named, plus id; without it, the readable fields and the system fields', async () => {
  const keys = async (o: Record<string, string>, token = tokens.sam!) => {
    const r = await get(listUrl({ perPage: '3', ...o }), token);
    ok(r, 200);
    return r.json().items.map((x: object) => Object.keys(x).sort().join(','));
  };
  assert.deepEqual(await keys({ fields: 'region' }), ['id,region', 'id,region', 'id,region']);
  assert.deepEqual(await keys({ fields: 'id,createdAt,score' }), ['createdAt,id,score', 'createdAt,id,score', 'createdAt,id,score']);
  assert.deepEqual(await keys({}), Array(3).fill('createdAt,createdBy,id,region,score,updatedAt,updatedBy'));
  // A field that no grant of the caller names answers like a missing one.
  for (const f of ['team', 'secret']) {
    const unknown = await get(listUrl({ fields: f }), tokens.sam!);
    ok(unknown, 400);
    assert.equal(unknown.json().error.code, 'FIELD_UNKNOWN');
  }
  // Where a grant holds only on some rows, its fields show on those rows only, whatever `fields` asks.
  const mixed = (await get(listUrl({ perPage: '100', fields: 'score' }), tokens.max!)).json().items as Row[];
  assert.ok(mixed.some((x) => 'score' in x) && mixed.some((x) => !('score' in x)));
  assert.ok(mixed.every((x) => Object.keys(x).every((k) => k === 'id' || k === 'score')));
});

test('bad paging input: total must be true or false, and unknown parameters stay refused', async () => {
  for (const qs of [{ total: 'maybe' }, { total: '' }, { count: 'true' }, { skipTotal: 'true' }]) {
    const r = await get(listUrl(qs), tokens.sam!);
    assert.equal(r.statusCode, 400, `${JSON.stringify(qs)}: ${r.body}`);
    assert.equal(r.json().error.code, 'VALIDATION_FAILED');
  }
  const off = (await get(listUrl({ total: 'false', perPage: '1' }), tokens.sam!)).json();
  assert.equal('total' in off, false);
});

test('a field’s index is (field, id), and migration 0023 replaces an older one-column index, twice without harm', async () => {
  assert.equal(await indexColumns('ix_leads__region'), 'region, id');
  assert.equal(await indexColumns('ix_leads__created_by'), 'created_by, id');
  await db().schema.dropIndex('ix_leads__team').execute();
  await db().schema.createIndex('ix_leads__team').on('col_leads').column('team').execute();
  assert.equal(await indexColumns('ix_leads__team'), 'team');
  await listIndexes().up(db());
  await listIndexes().up(db());
  assert.equal(await indexColumns('ix_leads__team'), 'team, id');
  assert.equal(await indexColumns('ix_leads__region'), 'region, id');
});
