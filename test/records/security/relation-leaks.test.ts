// Bug class: relation leaks. A relation path, an expansion (forward or reverse) or a relation write
// that reaches records out of the caller's scope, or fields the caller may not read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ordersWorld, type OrdersWorld } from '../fixtures.js';

let w: OrdersWorld;
before(async () => {
  w = await ordersWorld();
});
after(() => w.t.close());

test('relation leak through a path to an out-of-scope record: matches nothing, even by name or id', async () => {
  const { orders, titles, id } = w;
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'customer.name': 'Southco' }) })), []);
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'customer.id': id.southco }) })), []);
  // The order itself is visible; only the path through the hidden customer is closed.
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ customer: id.southco }) })), ['o2']);
});

test('relation leak through expansion: the related record as the caller may see it; out of scope is null; hidden and masked fields never leak [ASVS V15.3.1]', async () => {
  const { req, orders, q, id, clerk } = w;
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

test("relation leak through reverse expansion: only related records in the caller's scope, with their masks", async () => {
  const { req, q, errCode, clerk } = w;
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

test('relation leak through a relation write to an out-of-scope record: refused exactly like a missing one (no existence oracle)', async () => {
  const { req, ok, errCode, id, clerk, admin } = w;
  ok(
    await req('POST', '/api/admin/grants', admin, {
      role: 'clerk',
      collection: 'orders',
      actions: ['create', 'update', 'import'],
      fields: ['title', 'customer'],
      scope: { title: { $ne: 'internal' } },
    }),
  );
  const hidden = await req('POST', '/api/collections/orders/records', clerk, { title: 'x1', customer: id.southco });
  const missing = await req('POST', '/api/collections/orders/records', clerk, { title: 'x2', customer: 'no-such-id' });
  assert.equal(hidden.statusCode, 400, hidden.body);
  assert.deepEqual(hidden.json(), missing.json());
  const mine = await req('POST', '/api/collections/orders/records', clerk, { title: 'x3', customer: id.acme });
  ok(mine);
  const moved = await req('PATCH', `/api/collections/orders/records/${mine.json().id}`, clerk, { customer: id.southco });
  assert.equal(moved.statusCode, 400, moved.body);
  const imp = await req('POST', '/api/collections/orders/records/import', clerk, {
    records: [
      { title: 'i1', customer: id.acme },
      { title: 'i2', customer: id.southco },
    ],
  });
  assert.equal(errCode(imp), 'IMPORT_REJECTED');
  assert.deepEqual(
    imp.json().error.details.errors.map((e: { row: number }) => e.row),
    [2],
  );
});
