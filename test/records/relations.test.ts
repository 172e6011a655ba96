// Issue 3: relation paths in filters. The bug-class regression cases for relations (leaks, oracles,
// injection, bulk) are in ./security/, one file per class.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ordersWorld, type OrdersWorld } from './fixtures.js';

let w: OrdersWorld;
before(async () => {
  w = await ordersWorld();
});
after(() => w.t.close());

test('relation path: a filter through a relation reaches the related records the caller may see', async () => {
  const { orders, titles } = w;
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'customer.name': 'Acme' }) })), ['o1', 'o3']);
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'customer.name': { $like: 'Ac%' }, amount: { $gt: 15 } }) })), ['o3']);
  // Self-relation: the subquery's table has its own alias.
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'parent.title': 'o1' }) })), ['o3']);
});
