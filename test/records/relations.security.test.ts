// Issue 3 regression suite: relation paths in filters, relation expansion and aggregates.
// Each test names the bug class it guards against.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, login, bearer, createUser, type TestApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
let clerk: string;
const id: Record<string, string> = {};

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
const req = (method: Method, url: string, token: string, payload?: unknown) =>
  t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
const ok = (r: { statusCode: number; body: string }, code = 201) => assert.equal(r.statusCode, code, r.body);
const q = (o: Record<string, string>) => '?' + new URLSearchParams(o).toString();
const errCode = (r: { json(): { error?: { code: string } } }) => r.json().error?.code;

before(async () => {
  t = await makeApp();
  admin = (await login(t)).token;
  const uid = await createUser(t, admin, 'clerk', 'Paper-stack-sorter-5150');
  ok(await req('POST', '/api/admin/collections', admin, { name: 'suppliers', fields: [{ name: 'name', type: 'string' }] }));
  ok(await req('POST', '/api/admin/collections', admin, {
    name: 'customers',
    fields: [
      { name: 'name', type: 'string' }, { name: 'region', type: 'string' },
      { name: 'credit', type: 'integer', block: 'finance' }, { name: 'secret', type: 'text', hidden: true },
    ],
  }));
  ok(await req('POST', '/api/admin/collections', admin, {
    name: 'orders',
    fields: [
      { name: 'title', type: 'string' }, { name: 'amount', type: 'integer' }, { name: 'cost', type: 'integer', block: 'finance' },
      { name: 'customer', type: 'relation', target: 'customers' }, { name: 'supplier', type: 'relation', target: 'suppliers' },
      { name: 'parent', type: 'relation', target: 'orders' },
    ],
  }));
  ok(await req('POST', '/api/admin/roles', admin, { name: 'clerk' }));
  ok(await req('PUT', `/api/admin/users/${uid}/roles`, admin, { roles: ['clerk'] }), 204);
  // Clerks see northern customers' names only, and every order but the internal ones, without the finance block.
  ok(await req('POST', '/api/admin/grants', admin, { role: 'clerk', collection: 'customers', actions: ['view'], fields: ['name'], scope: { region: 'north' } }));
  ok(await req('POST', '/api/admin/grants', admin, { role: 'clerk', collection: 'orders', actions: ['view'], fields: ['title', 'amount', 'customer', 'supplier', 'parent'], scope: { title: { $ne: 'internal' } } }));
  const mk = async (c: string, body: Record<string, unknown>) => {
    const r = await req('POST', `/api/collections/${c}/records`, admin, body);
    ok(r);
    return r.json().id as string;
  };
  id.acme = await mk('customers', { name: 'Acme', region: 'north', credit: 900, secret: 'acme-secret' });
  id.southco = await mk('customers', { name: 'Southco', region: 'south', credit: 50, secret: 'south-secret' });
  id.sup = await mk('suppliers', { name: 'Bolts' });
  id.o1 = await mk('orders', { title: 'o1', amount: 10, cost: 7, customer: id.acme, supplier: id.sup });
  id.o2 = await mk('orders', { title: 'o2', amount: 20, cost: 9, customer: id.southco });
  id.o3 = await mk('orders', { title: 'o3', amount: 30, cost: 1, customer: id.acme, parent: id.o1 });
  id.internal = await mk('orders', { title: 'internal', amount: 999, cost: 0, customer: id.acme });
  clerk = (await login(t, 'clerk', 'Paper-stack-sorter-5150')).token;
});
after(() => t.close());

const titles = (r: { statusCode: number; body: string; json(): { items: Array<{ title: string }> } }) => {
  assert.equal(r.statusCode, 200, r.body);
  return r.json().items.map((x) => x.title).sort();
};
const orders = (o: Record<string, string>, token = clerk) => req('GET', `/api/collections/orders/records${q(o)}`, token);

test('relation path: a filter through a relation reaches the related records the caller may see', async () => {
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'customer.name': 'Acme' }) })), ['o1', 'o3']);
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'customer.name': { $like: 'Ac%' }, amount: { $gt: 15 } }) })), ['o3']);
  // Self-relation: the subquery's table has its own alias.
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'parent.title': 'o1' }) })), ['o3']);
});

test('filter oracle through a relation path: an unreadable target field is refused, not answered', async () => {
  for (const f of [{ 'customer.credit': { $gt: 100 } }, { 'customer.secret': { $like: 'a%' } }, { 'customer.region': 'south' }]) {
    const r = await orders({ filter: JSON.stringify(f) });
    assert.equal(r.statusCode, 400, JSON.stringify(f));
    assert.equal(errCode(r), 'FIELD_NOT_FILTERABLE');
  }
  // A target collection without any view grant.
  assert.equal(errCode(await orders({ filter: JSON.stringify({ 'supplier.name': 'Bolts' }) })), 'FIELD_NOT_FILTERABLE');
  // Admin sees through every path (legitimate bypass).
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'customer.credit': { $gt: 100 } }) }, admin)), ['internal', 'o1', 'o3']);
});

test('relation path to an out-of-scope record: matches nothing, even by name or id', async () => {
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'customer.name': 'Southco' }) })), []);
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'customer.id': id.southco }) })), []);
  // The order itself is visible; only the path through the hidden customer is closed.
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ customer: id.southco }) })), ['o2']);
});

test('relation expansion: the related record as the caller may see it; out of scope is null; hidden and masked fields never leak', async () => {
  const r = await orders({ expand: 'customer', sort: 'title' });
  assert.equal(r.statusCode, 200, r.body);
  const byTitle = Object.fromEntries(r.json().items.map((x: { title: string }) => [x.title, x]));
  assert.deepEqual(Object.keys(byTitle.o1.expand.customer).sort(), ['createdAt', 'createdBy', 'id', 'name', 'updatedAt', 'updatedBy']);
  assert.equal(byTitle.o1.expand.customer.name, 'Acme');
  assert.equal(byTitle.o2.expand.customer, null);
  assert.ok(!r.body.includes('acme-secret') && !r.body.includes('Southco') && !r.body.includes('"credit"'));
  // A relation whose target the caller has no view grant on.
  assert.equal((await orders({ expand: 'supplier' })).statusCode, 403);
  // The single-record read expands the same way.
  const one = await req('GET', `/api/collections/orders/records/${id.o2}${q({ expand: 'customer' })}`, clerk);
  assert.equal(one.json().expand.customer, null);
});

test('reverse expansion: only related records in the caller\'s scope, with their masks', async () => {
  const r = await req('GET', `/api/collections/customers/records${q({ expand: 'orders:customer' })}`, clerk);
  assert.equal(r.statusCode, 200, r.body);
  const [acme] = r.json().items;
  assert.equal(acme.name, 'Acme');
  assert.deepEqual(acme.expand['orders:customer'].map((o: { title: string }) => o.title).sort(), ['o1', 'o3']);
  assert.ok(!r.body.includes('internal') && !r.body.includes('"cost"'));
  for (const bad of ['orders:amount', 'nosuch:customer', 'title', 'orders:customer:x']) {
    assert.equal(errCode(await req('GET', `/api/collections/customers/records${q({ expand: bad })}`, clerk)), 'EXPAND_INVALID', bad);
  }
});

test('aggregates: counted and summed over the caller\'s scope; an unreadable or hidden field cannot be grouped or measured', async () => {
  const r = await orders({ metrics: 'count,sum:amount,max:amount', groupBy: 'customer' });
  const agg = await req('GET', `/api/collections/orders/records/aggregate${q({ metrics: 'count,sum:amount,max:amount', groupBy: 'customer' })}`, clerk);
  assert.equal(agg.statusCode, 200, agg.body);
  const byCustomer = Object.fromEntries(agg.json().groups.map((g: { key: { customer: string } }) => [g.key.customer, g]));
  assert.deepEqual(byCustomer[id.acme!], { key: { customer: id.acme }, count: 2, 'sum:amount': 40, 'max:amount': 30 });
  assert.equal(byCustomer[id.southco!].count, 1);
  assert.equal(r.statusCode, 400); // metrics is not a list parameter
  for (const [metrics, groupBy] of [['sum:cost', ''], ['count', 'cost'], ['max:cost', 'title']]) {
    const bad = await req('GET', `/api/collections/orders/records/aggregate${q({ metrics, ...(groupBy ? { groupBy } : {}) })}`, clerk);
    assert.equal(errCode(bad), 'FIELD_NOT_FILTERABLE', `${metrics} / ${groupBy}`);
  }
  const hidden = await req('GET', `/api/collections/customers/records/aggregate${q({ metrics: 'count', groupBy: 'secret' })}`, admin);
  assert.equal(errCode(hidden), 'FIELD_NOT_FILTERABLE');
  const throughPath = await req('GET', `/api/collections/orders/records/aggregate${q({ metrics: 'count', filter: JSON.stringify({ 'customer.credit': { $gt: 0 } }) })}`, clerk);
  assert.equal(errCode(throughPath), 'FIELD_NOT_FILTERABLE');
  const total = await req('GET', `/api/collections/orders/records/aggregate${q({ metrics: 'count' })}`, clerk);
  assert.deepEqual(total.json().groups, [{ key: {}, count: 3 }]);
});

test('injection through relation paths, expansion and aggregates: refused with a code, never run', async () => {
  const cases: Array<[string, string]> = [
    [`/api/collections/orders/records${q({ filter: JSON.stringify({ 'customer.name"; drop table users; --': 'x' }) })}`, 'FIELD_UNKNOWN'],
    [`/api/collections/orders/records${q({ filter: JSON.stringify({ 'customer.name.x': 'x' }) })}`, 'FILTER_INVALID'],
    [`/api/collections/orders/records${q({ filter: JSON.stringify({ 'title.name': 'x' }) })}`, 'FILTER_INVALID'],
    [`/api/collections/orders/records${q({ sort: 'customer.name' })}`, 'FILTER_INVALID'],
    [`/api/collections/orders/records${q({ expand: 'customer;drop' })}`, 'VALIDATION_FAILED'],
    [`/api/collections/orders/records/aggregate${q({ metrics: 'sum(amount)) from users; --' })}`, 'FILTER_INVALID'],
    [`/api/collections/orders/records/aggregate${q({ metrics: 'count', groupBy: 'amount desc; --' })}`, 'FIELD_UNKNOWN'],
  ];
  for (const [url, code] of cases) {
    const r = await req('GET', url, clerk);
    assert.equal(r.statusCode, 400, url);
    assert.equal(errCode(r), code, url);
  }
  assert.equal((await req('GET', '/api/admin/users', admin)).statusCode, 200);
});

test('relation write to an out-of-scope record: refused exactly like a missing one (no existence oracle)', async () => {
  ok(await req('POST', '/api/admin/grants', admin, { role: 'clerk', collection: 'orders', actions: ['create', 'update', 'import'], fields: ['title', 'customer'], scope: { title: { $ne: 'internal' } } }));
  const hidden = await req('POST', '/api/collections/orders/records', clerk, { title: 'x1', customer: id.southco });
  const missing = await req('POST', '/api/collections/orders/records', clerk, { title: 'x2', customer: 'no-such-id' });
  assert.equal(hidden.statusCode, 400, hidden.body);
  assert.deepEqual(hidden.json(), missing.json());
  const mine = await req('POST', '/api/collections/orders/records', clerk, { title: 'x3', customer: id.acme });
  ok(mine);
  const moved = await req('PATCH', `/api/collections/orders/records/${mine.json().id}`, clerk, { customer: id.southco });
  assert.equal(moved.statusCode, 400, moved.body);
  const imp = await req('POST', '/api/collections/orders/records/import', clerk, { records: [{ title: 'i1', customer: id.acme }, { title: 'i2', customer: id.southco }] });
  assert.equal(errCode(imp), 'IMPORT_REJECTED');
  assert.deepEqual(imp.json().error.details.errors.map((e: { row: number }) => e.row), [2]);
});

test('bulk paths with a relation path answer (no wait on SQLite\'s one connection) and apply the target scope', { timeout: 20_000 }, async () => {
  ok(await req('POST', '/api/admin/grants', admin, { role: 'clerk', collection: 'orders', actions: ['delete'], fields: ['title', 'customer'], scope: { title: { $ne: 'internal' } } }));
  const del = await req('POST', '/api/collections/orders/records/bulk-delete', clerk, { filter: { 'customer.name': 'Southco' } });
  ok(del, 200);
  assert.equal(del.json().deleted, 0);
  const upd = await req('POST', '/api/collections/orders/records/bulk-update', clerk, { filter: { 'customer.name': 'Nobody' }, set: { title: 'renamed' } });
  ok(upd, 200);
  assert.equal(upd.json().updated, 0);
});

test('a filter value of the wrong type for its field is a 400, never a database error', async () => {
  for (const f of [{ amount: { $gt: 'abc' } }, { amount: { $like: '1%' } }, { title: 5 }, { amount: { $in: ['x'] } }, { createdAt: { $gt: 'yesterday' } }]) {
    const r = await orders({ filter: JSON.stringify(f) });
    assert.equal(r.statusCode, 400, `${JSON.stringify(f)}: ${r.body}`);
    assert.equal(errCode(r), 'FILTER_INVALID');
  }
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ amount: { $gt: 15 } }) })).filter((x) => x.startsWith('o')), ['o2', 'o3']);
});
