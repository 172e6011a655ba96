// Issue 10: the access plan compiler, unit-tested without HTTP, a server or a database. SQL is compiled
// to text with Kysely's compile() over a driver that never connects, and its parameters are asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DummyDriver, Kysely, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler, type RawBuilder } from 'kysely';
import { AppError } from '../../src/errors.js';
import type { CollectionDef } from '../../src/collections/schema.js';
import type { Grant } from '../../src/access/types.js';
import {
  compilePlan,
  covers,
  fieldsOf,
  maskOf,
  planOf,
  refuseUniqueOutsideView,
  rowFlags,
  scopeOf,
  unwritable,
  writable,
  type Asker,
} from '../../src/access/plan.js';
import { filterableOf, knownFields, rowsCover, wholeView } from '../../src/access/rules.js';

const db = new Kysely<unknown>({
  dialect: {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (k) => new SqliteIntrospector(k),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  },
});
const compiled = (r: RawBuilder<unknown>) => {
  const c = r.compile(db);
  return { sql: c.sql, params: [...c.parameters] };
};

const orders: CollectionDef = {
  name: 'orders',
  fields: [
    { name: 'title', type: 'string' },
    { name: 'amount', type: 'integer' },
    { name: 'code', type: 'string', unique: true },
    { name: 'secret', type: 'string', hidden: true },
    { name: 'note', type: 'text', hidden: { exceptRoles: ['auditor'] } },
    { name: 'state', type: 'status', values: ['draft', 'done'] },
  ],
};
const owned: CollectionDef = {
  name: 'tasks',
  ownership: 'group',
  ownershipBypass: ['boss'],
  fields: [
    { name: 'title', type: 'string' },
    { name: 'team', type: 'group' },
  ],
};

let n = 0;
const grant = (g: Partial<Grant>): Grant => ({
  id: `g${++n}`,
  role: 'clerk',
  collection: 'orders',
  actions: ['view'],
  fields: [],
  statuses: null,
  scope: null,
  ...g,
});
const alice: Asker = { userId: 'u1', admin: false, roles: ['clerk'], departments: ['sales'] };
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AppError);
    return e.code;
  }
  return null;
};

test('compilePlan: no grant at all is NOT_FOUND, no grant for the action FORBIDDEN; an administrator bypasses and knows every field', () => {
  assert.equal(
    code(() => compilePlan(orders, alice, [], 'view', 0)),
    'NOT_FOUND',
  );
  assert.equal(
    code(() => compilePlan(orders, alice, [grant({ actions: ['view'] })], 'update', 0)),
    'FORBIDDEN',
  );
  const p = compilePlan(orders, { ...alice, admin: true }, [], 'delete', 0);
  assert.equal(p.bypass, true);
  assert.deepEqual([...p.known].sort(), ['amount', 'code', 'note', 'secret', 'state', 'title']);
  assert.equal(compiled(scopeOf(p)).sql, '1 = 1');
});

test("row scope: the OR of the grants' conditions, with covered grants left out; no grant matches nothing", () => {
  const wide = grant({ fields: ['title'] });
  const narrow = grant({ fields: ['amount'], scope: { amount: { $gt: 10 } } });
  const p = compilePlan(orders, alice, [wide, narrow], 'view', 0);
  // The unscoped grant covers the scoped one: only its condition is in the WHERE.
  assert.equal(compiled(scopeOf(p)).sql, '(1 = 1)');
  const q = compilePlan(orders, alice, [narrow, grant({ statuses: ['done'] })], 'view', 0);
  const s = compiled(scopeOf(q));
  assert.equal(s.sql, '(("col_orders"."amount" > ?) or ("col_orders"."state" in (?)))');
  assert.deepEqual(s.params, [10, 'done']);
  assert.equal(compiled(scopeOf({ ...q, grants: [] })).sql, '1 = 0');
});

test("row scope: an ownership filter is added to every grant but the bypass roles', and decides what covers what", () => {
  const mine = grant({ collection: 'tasks', fields: ['title'] });
  const boss = grant({ collection: 'tasks', role: 'boss', fields: ['title'], scope: { title: 'x' } });
  const p = compilePlan(owned, { ...alice, roles: ['clerk', 'boss'] }, [mine, boss], 'view', 0);
  const s = compiled(scopeOf(p));
  assert.equal(s.sql, '(("col_tasks"."team" in (?)) or ("col_tasks"."title" = ?))');
  assert.deepEqual(s.params, ['sales', 'x']);
  assert.equal(covers(owned, boss, mine), false);
  // A caller with no department owns no group row.
  const none = compilePlan(owned, { ...alice, departments: [] }, [mine], 'view', 0);
  assert.equal(compiled(scopeOf(none)).sql, '((1 = 0))');
});

test('per-row flags and the field mask: a row shows the fields of the grants that hold for it', () => {
  const a = grant({ fields: ['title'] });
  const b = grant({ fields: ['amount', 'secret'], statuses: ['done'] });
  const p = compilePlan(orders, alice, [a, b], 'view', 0);
  const flags = rowFlags(p, p.grants).map((f) => compiled(f));
  assert.equal(flags[1]!.sql, 'case when ("col_orders"."state" in (?)) then 1 else 0 end as "__g1"');
  const { perGrant } = fieldsOf(p);
  // The backend-only field is never readable, whatever a grant lists.
  assert.deepEqual([...maskOf(p, perGrant, { __g0: 1, __g1: 1 })].sort(), ['amount', 'title']);
  assert.deepEqual([...maskOf(p, perGrant, { __g0: 1, __g1: 0 })], ['title']);
});

test('filterable: only fields readable on every row the caller sees; unknown fields answer as missing ones', () => {
  const p = compilePlan(orders, alice, [grant({ fields: ['title', 'amount'] }), grant({ fields: ['title'], statuses: ['done'] })], 'view', 0);
  const f = fieldsOf(p);
  assert.deepEqual([...f.filterable], ['title']);
  assert.equal(
    code(() => f.checkFilterable('title')),
    null,
  );
  assert.equal(
    code(() => f.checkFilterable('createdAt')),
    null,
  );
  assert.equal(
    code(() => f.checkFilterable('amount')),
    'FIELD_NOT_FILTERABLE',
  );
  assert.equal(
    code(() => f.checkFilterable('secret')),
    'FIELD_UNKNOWN',
  );
  assert.equal(
    code(() => f.checkFilterable('nope')),
    'FIELD_UNKNOWN',
  );
  // A hidden field is readable by the roles it lists.
  const auditor = compilePlan(orders, { ...alice, roles: ['auditor'] }, [grant({ role: 'auditor', fields: ['note'] })], 'view', 0);
  assert.deepEqual([...fieldsOf(auditor).filterable], ['note']);
  assert.deepEqual([...filterableOf([])], []);
});

test('known fields and the whole view: any grant makes a field known; only an unscoped view grant reads it everywhere', () => {
  const grants = [grant({ fields: ['title'] }), grant({ actions: ['update'], fields: ['secret'] }), grant({ fields: ['amount'], scope: { amount: 1 } })];
  assert.deepEqual([...knownFields(orders, grants, ['clerk'])].sort(), ['amount', 'secret', 'title']);
  assert.deepEqual([...wholeView(orders, grants, ['clerk'])], ['title']);
  const p = planOf(
    orders,
    alice,
    grants,
    'view',
    grants.filter((g) => g.actions.includes('view')),
    0,
  );
  assert.deepEqual([...p.wholeView], ['title']);
});

test("writable: the grants that allow all keys; the ownership field only for bypass roles, or one's own department on create", () => {
  const clerk = grant({ collection: 'tasks', actions: ['create', 'update'], fields: ['title', 'team'] });
  const p = compilePlan(owned, alice, [clerk], 'create', 0);
  assert.deepEqual(writable(p, ['title']), [clerk]);
  assert.deepEqual(writable(p, ['title', 'team'], true, { team: 'sales' }), [clerk]);
  assert.deepEqual(writable(p, ['title', 'team'], true, { team: 'ops' }), []);
  assert.deepEqual(writable(p, ['team'], false, { team: 'sales' }), []);
  assert.deepEqual(unwritable(p, p.grants, ['title', 'team', 'other']), ['team', 'other']);
  const boss = grant({ collection: 'tasks', role: 'boss', actions: ['update'], fields: ['team'] });
  assert.deepEqual(writable(compilePlan(owned, { ...alice, roles: ['boss'] }, [boss], 'update', 0), ['team']), [boss]);
});

test('unique values are written only by callers who read the field on every record', () => {
  const scoped = compilePlan(orders, alice, [grant({ actions: ['view', 'create'], fields: ['code'], scope: { amount: 1 } })], 'create', 0);
  assert.equal(
    code(() => refuseUniqueOutsideView(scoped, { code: 'A1' })),
    'FIELD_NOT_WRITABLE',
  );
  assert.equal(
    code(() => refuseUniqueOutsideView(scoped, { code: null })),
    null,
  );
  const whole = compilePlan(orders, alice, [grant({ actions: ['view', 'create'], fields: ['code'] })], 'create', 0);
  assert.equal(
    code(() => refuseUniqueOutsideView(whole, { code: 'A1' })),
    null,
  );
});

test('rowsCover: no scope or the same scope, and no status list or a wider one', () => {
  assert.equal(rowsCover({ scope: null, statuses: null }, { scope: { a: 1 }, statuses: ['x'] }), true);
  assert.equal(rowsCover({ scope: { a: 1 }, statuses: null }, { scope: { a: 1 }, statuses: null }), true);
  assert.equal(rowsCover({ scope: { a: 1 }, statuses: null }, { scope: null, statuses: null }), false);
  assert.equal(rowsCover({ scope: null, statuses: ['x', 'y'] }, { scope: null, statuses: ['x'] }), true);
  assert.equal(rowsCover({ scope: null, statuses: ['x'] }, { scope: null, statuses: null }), false);
});
