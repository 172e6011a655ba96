// Issue 3, first slice: collection definitions migrate real tables on SQLite and PostgreSQL.
// Bug classes: SQL injection through collection and field names; half-applied schema changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { login, bearer, events, createUser, type TestApp, useApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  {},
  true,
);

const post = (url: string, payload: unknown, token = admin) => t.app.inject({ method: 'POST', url, headers: bearer(token), payload: payload as object });

const ORDERS = {
  name: 'orders',
  ownership: 'creator',
  fields: [
    { name: 'title', type: 'string', required: true },
    { name: 'amount', type: 'decimal' },
    { name: 'state', type: 'status', values: ['draft', 'sent', 'paid'], default: 'draft' },
    { name: 'customer_email', type: 'email', unique: true },
    { name: 'owner', type: 'user' },
    { name: 'watchers', type: 'members' },
    { name: 'internal_note', type: 'text', hidden: true, block: 'internal' },
  ],
};

async function columns(table: string): Promise<string[]> {
  if (t.s.dialect === 'sqlite') {
    const r = await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(t.s.db);
    return r.rows.map((x) => x.name).sort();
  }
  const r = await sql<{
    column_name: string;
  }>`select column_name from information_schema.columns where table_name = ${table} and table_schema = current_schema()`.execute(t.s.db);
  return r.rows.map((x) => x.column_name).sort();
}

test('an administrator defines a collection; its table has the system and field columns; audited', async () => {
  const r = await post('/api/admin/collections', ORDERS);
  assert.equal(r.statusCode, 201, r.body);
  assert.deepEqual(await columns('col_orders'), [
    'amount',
    'created_at',
    'created_by',
    'customer_email',
    'id',
    'internal_note',
    'owner',
    'state',
    'title',
    'updated_at',
    'updated_by',
  ]);
  assert.deepEqual(await columns('col_orders__watchers'), ['record_id', 'user_id']);
  const listed = (await t.app.inject({ method: 'GET', url: '/api/admin/collections', headers: bearer(admin) })).json().collections;
  assert.equal(listed[0].name, 'orders');
  assert.equal((await events(t, admin, 'schema.changed'))[0]!.details.change, 'collection.created');
});

test('fields are added and removed with their columns; removing keeps the rest', async () => {
  await post('/api/admin/collections', ORDERS);
  const add = await post('/api/admin/collections/orders/fields', { name: 'due', type: 'datetime', indexed: true });
  assert.equal(add.statusCode, 201, add.body);
  assert.ok((await columns('col_orders')).includes('due'));
  const del = await t.app.inject({ method: 'DELETE', url: '/api/admin/collections/orders/fields/customer_email', headers: bearer(admin) });
  assert.equal(del.statusCode, 200, del.body);
  assert.ok(!(await columns('col_orders')).includes('customer_email'));
  // A later field of the same name starts from nothing.
  const again = await post('/api/admin/collections/orders/fields', { name: 'customer_email', type: 'email' });
  assert.equal(again.statusCode, 201);
  const m = await t.app.inject({ method: 'DELETE', url: '/api/admin/collections/orders/fields/watchers', headers: bearer(admin) });
  assert.equal(m.statusCode, 200);
});

test('hostile names never reach SQL; invalid definitions list every problem and write nothing', async () => {
  for (const name of ['orders; drop table users', 'Orders', '1abc', 'a-b', 'user', 'x'.repeat(42), '"q"']) {
    const r = await post('/api/admin/collections', { name, fields: [] });
    assert.equal(r.statusCode, 400, name);
  }
  const bad = await post('/api/admin/collections', {
    name: 'bad',
    fields: [
      { name: 'id', type: 'string' },
      { name: 'x', type: 'string' },
      { name: 'x', type: 'integer' },
      { name: 's', type: 'status' },
      { name: 'r', type: 'relation', target: 'nowhere' },
      { name: 'n', type: 'integer', default: 'ten' },
    ],
    ownership: 'members',
  });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'SCHEMA_INVALID');
  assert.ok(bad.json().error.details.problems.length >= 6, JSON.stringify(bad.json().error.details));
  const field = await post('/api/admin/collections/orders/fields', { name: 'y', type: 'string' });
  assert.equal(field.statusCode, 404);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/collections', headers: bearer(admin) })).json().collections.length, 0);
  assert.equal((await post('/api/admin/collections', { name: 'ok', fields: [{ name: 'a', type: 'nope' }] })).statusCode, 400);
  assert.equal((await post('/api/admin/collections', { name: 'ok', fields: [], extra: 1 })).statusCode, 400);
});

test('relations: a collection that others refer to cannot be dropped; dropping removes table and data', async () => {
  await post('/api/admin/collections', { name: 'customers', fields: [{ name: 'name', type: 'string' }] });
  assert.equal(
    (await post('/api/admin/collections', { name: 'invoices', fields: [{ name: 'customer', type: 'relation', target: 'customers' }] })).statusCode,
    201,
  );
  const refused = await t.app.inject({ method: 'DELETE', url: '/api/admin/collections/customers', headers: bearer(admin) });
  assert.equal(refused.statusCode, 400);
  assert.equal(refused.json().error.code, 'SCHEMA_INVALID');
  assert.equal((await t.app.inject({ method: 'DELETE', url: '/api/admin/collections/invoices', headers: bearer(admin) })).statusCode, 204);
  assert.equal((await t.app.inject({ method: 'DELETE', url: '/api/admin/collections/customers', headers: bearer(admin) })).statusCode, 204);
  assert.deepEqual(await columns('col_customers'), []);
});

test('a duplicate collection is a conflict; only administrators manage the schema', async () => {
  await post('/api/admin/collections', ORDERS);
  assert.equal((await post('/api/admin/collections', ORDERS)).statusCode, 409);
  await createUser(t, admin, 'clerk', 'Diligent-typist-5521');
  const clerk = (await login(t, 'clerk', 'Diligent-typist-5521')).token;
  assert.equal((await post('/api/admin/collections', { name: 'mine', fields: [] }, clerk)).statusCode, 403);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/collections', headers: bearer(clerk) })).statusCode, 403);
});
