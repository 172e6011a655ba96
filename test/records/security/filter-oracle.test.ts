// Bug class: filter oracle. Filtering, sorting, searching or aggregating on a hidden or unreadable
// field (directly or through a relation path) would tell the caller what it may not read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { casesWorld, ordersWorld, type CasesWorld, type OrdersWorld } from '../fixtures.js';

let w: CasesWorld;
let o: OrdersWorld;
before(async () => {
  w = await casesWorld();
  o = await ordersWorld();
});
after(async () => {
  await w.t.close();
  await o.t.close();
});

test('filter oracle: no filter or sort on a field the caller cannot read on every row', async () => {
  const { list, q, titles, bob, aud } = w;
  // owner_note is readable on some of bob's rows (FIELD_NOT_FILTERABLE); amount and the backend-only
  // secret are in none of his grants, so they answer like a field that does not exist (FIELD_UNKNOWN).
  for (const [qs, code] of [
    [q({ filter: JSON.stringify({ owner_note: { $like: 'note%' } }) }), 'FIELD_NOT_FILTERABLE'],
    [q({ filter: JSON.stringify({ $or: [{ title: 'x' }, { owner_note: 'y' }] }) }), 'FIELD_NOT_FILTERABLE'],
    [q({ filter: JSON.stringify({ amount: { $gt: 1 } }) }), 'FIELD_UNKNOWN'],
    [q({ sort: '-amount' }), 'FIELD_UNKNOWN'],
    [q({ filter: JSON.stringify({ secret: 's3cr3t' }) }), 'FIELD_UNKNOWN'],
  ] as const) {
    const r = await list(bob, qs);
    assert.equal(r.statusCode, 400, qs);
    assert.equal(r.json().error.code, code, qs);
  }
  const okr = await list(bob, q({ filter: JSON.stringify({ title: { $like: 'ann%' } }), sort: '-title' }));
  assert.equal(okr.statusCode, 200);
  assert.deepEqual(titles(okr), ['ann-closed']);
  assert.equal((await list(aud, q({ filter: JSON.stringify({ amount: { $gt: 1 } }) }))).statusCode, 200, 'the auditor reads amount everywhere');
});

test('filter oracle in search: only fields readable on every visible row are searched (hidden or unreadable fields are not)', async () => {
  const { list, q, titles, ann, aud, admin } = w;
  const search = async (token: string, s: string) => titles(await list(token, q({ search: s })));
  assert.deepEqual(await search(ann, 'ANN-OP'), ['ann-open']);
  // owner_note is readable on ann's own cases but masked on the closed cases of others: not searched.
  assert.deepEqual(await search(ann, 'note of ann'), []);
  // Backend-only fields are never searched, not even for administrators.
  assert.deepEqual(await search(admin, 's3cr3t'), []);
  assert.deepEqual(await search(aud, 'note of'), []);
  // LIKE wildcards in the term are literal.
  assert.deepEqual(await search(ann, '%'), []);
  assert.deepEqual(await search(ann, '_'), []);
});

test('filter oracle through a relation path: an unreadable target field is refused, not answered', async () => {
  const { orders, titles, errCode, admin } = o;
  // The clerk's customer grant names only `name`: the other target fields are unknown to them.
  for (const f of [{ 'customer.credit': { $gt: 100 } }, { 'customer.secret': { $like: 'a%' } }, { 'customer.region': 'south' }]) {
    const r = await orders({ filter: JSON.stringify(f) });
    assert.equal(r.statusCode, 400, JSON.stringify(f));
    assert.equal(errCode(r), 'FIELD_UNKNOWN');
  }
  // A target collection without any view grant.
  assert.equal(errCode(await orders({ filter: JSON.stringify({ 'supplier.name': 'Bolts' }) })), 'FIELD_NOT_FILTERABLE');
  // Admin sees through every path (legitimate bypass).
  assert.deepEqual(titles(await orders({ filter: JSON.stringify({ 'customer.credit': { $gt: 100 } }) }, admin)), ['internal', 'o1', 'o3']);
});

test("filter oracle in aggregates: counted and summed over the caller's scope; an unreadable or hidden field cannot be grouped or measured", async () => {
  const { req, orders, q, errCode, id, clerk, admin } = o;
  const r = await orders({ metrics: 'count,sum:amount,max:amount', groupBy: 'customer' });
  const agg = await req('GET', `/api/collections/orders/records/aggregate${q({ metrics: 'count,sum:amount,max:amount', groupBy: 'customer' })}`, clerk);
  assert.equal(agg.statusCode, 200, agg.body);
  const byCustomer = Object.fromEntries(agg.json().groups.map((g: { key: { customer: string } }) => [g.key.customer, g]));
  assert.deepEqual(byCustomer[id.acme!], { key: { customer: id.acme }, count: 2, 'sum:amount': 40, 'max:amount': 30 });
  assert.equal(byCustomer[id.southco!].count, 1);
  assert.equal(r.statusCode, 400); // metrics is not a list parameter
  for (const [metrics, groupBy] of [
    ['sum:cost', ''],
    ['count', 'cost'],
    ['max:cost', 'title'],
  ]) {
    const bad = await req('GET', `/api/collections/orders/records/aggregate${q({ metrics: metrics!, ...(groupBy ? { groupBy } : {}) })}`, clerk);
    assert.equal(errCode(bad), 'FIELD_UNKNOWN', `${metrics} / ${groupBy}: cost is in none of the clerk's grants`);
  }
  const hidden = await req('GET', `/api/collections/customers/records/aggregate${q({ metrics: 'count', groupBy: 'secret' })}`, admin);
  assert.equal(errCode(hidden), 'FIELD_NOT_FILTERABLE');
  const throughPath = await req(
    'GET',
    `/api/collections/orders/records/aggregate${q({ metrics: 'count', filter: JSON.stringify({ 'customer.credit': { $gt: 0 } }) })}`,
    clerk,
  );
  assert.equal(errCode(throughPath), 'FIELD_UNKNOWN');
  const total = await req('GET', `/api/collections/orders/records/aggregate${q({ metrics: 'count' })}`, clerk);
  assert.deepEqual(total.json().groups, [{ key: {}, count: 3 }]);
});
