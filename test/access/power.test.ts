// Issue 10: "nobody grants more than they hold" (Power), unit-tested without a server or a database.
// It shares its rules with the plan compiler: one grant covers another's rows (rowsCover), and a
// narrower scope or status list may name only fields the actor may filter on (filterableOf).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CollectionDef } from '../../src/collections/schema.js';
import type { Grant } from '../../src/access/types.js';
import { Power } from '../../src/access/principal.js';

const orders: CollectionDef = {
  name: 'orders',
  fields: [
    { name: 'title', type: 'string' },
    { name: 'amount', type: 'integer' },
    { name: 'state', type: 'status', values: ['draft', 'done'] },
  ],
};
const grant = (g: Partial<Grant>): Grant => ({ id: '', role: 'clerk', collection: 'orders', actions: ['view'], fields: [], statuses: null, scope: null, ...g });
const powerWith = (grants: Grant[]) =>
  new Power(false, new Set(['clerk']), new Set(), new Set(), new Set(), grants, new Map([['orders', orders]]), { names: new Set(), all: false });
const give = (g: Grant) => ({ roles: [], permissions: [], menus: [], grants: [g] });

test('a grant is covered by one with the same or more actions and fields, and rows that include its rows', () => {
  const p = powerWith([grant({ actions: ['view', 'update'], fields: ['title', 'amount'] })]);
  assert.equal(p.excess(give(grant({ fields: ['title'] }))), null);
  assert.equal(p.excess(give(grant({ actions: ['delete'], fields: ['title'] }))), 'a grant on orders');
  assert.equal(p.excess(give(grant({ fields: ['title', 'state'] }))), 'a grant on orders');
  // A narrower scope is a filter: fine on fields the actor reads on every row.
  assert.equal(p.excess(give(grant({ fields: ['title'], scope: { amount: { $gt: 1 } } }))), null);
});

test('a narrower scope or status list on a field the actor cannot filter on is not covered (filter oracle)', () => {
  const p = powerWith([grant({ fields: ['title'] }), grant({ fields: ['title', 'amount'], statuses: ['done'] })]);
  assert.equal(p.excess(give(grant({ fields: ['title'], scope: { title: 'x' } }))), null);
  assert.equal(p.excess(give(grant({ fields: ['title'], scope: { amount: 1 } }))), 'a grant on orders');
  assert.equal(p.excess(give(grant({ fields: ['title'], statuses: ['draft'] }))), 'a grant on orders');
  assert.equal(p.excess(give(grant({ fields: ['amount'], statuses: ['done'] }))), null);
  // A scoped grant covers only grants with the same scope.
  const scoped = powerWith([grant({ fields: ['title'], scope: { title: 'x' } })]);
  assert.equal(scoped.excess(give(grant({ fields: ['title'], scope: { title: 'x' } }))), null);
  assert.equal(scoped.excess(give(grant({ fields: ['title'] }))), 'a grant on orders');
});
