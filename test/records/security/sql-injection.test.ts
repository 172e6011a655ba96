// Bug class: SQL injection. Sort keys, field lists, field names, filter operators and values,
// collection names, relation paths, expansions and aggregate metrics all reach SQL: each must be
// checked against the schema and refused with a code (a 400), never run or turned into a 500.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { login } from '../../helpers/app.js';
import { casesWorld, ordersWorld, CASES_PW, type CasesWorld, type OrdersWorld } from '../fixtures.js';

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

test('SQL injection through sort, fields, filter operators and collection names is refused [ASVS V1.2.4]', async () => {
  const { t, req, list, q, aud } = w;
  const attempts = [
    q({ sort: 'title; drop table users' }),
    q({ sort: '-(select 1)' }),
    q({ fields: 'title,(select password_hash from users)' }),
    q({ filter: JSON.stringify({ title: { '$eq) or 1=1 --': 'x' } }) }),
    q({ filter: JSON.stringify({ 'title" or 1=1 --': 'x' }) }),
    q({ filter: JSON.stringify({ title: { $in: [{ $gt: '' }] } }) }),
    q({ filter: '{"title":' }),
  ];
  for (const qs of attempts) assert.equal((await list(aud, qs)).statusCode, 400, qs);
  assert.equal((await req('GET', '/api/collections/users/records', aud)).statusCode, 404);
  assert.equal((await req('GET', '/api/collections/cases;drop/records', aud)).statusCode, 400);
  assert.equal((await login(t, 'aud', CASES_PW.aud)).res.statusCode, 200, 'users table intact');
});

test('SQL injection through relation paths, expansion and aggregates: refused with a code, never run [ASVS V1.2.4]', async () => {
  const { req, q, errCode, clerk, admin } = o;
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

test('SQL injection through filter values: a value of the wrong type for its field is a 400, never a database error [ASVS V1.2.4, V2.2.1]', async () => {
  const { orders, titles, errCode } = o;
  for (const f of [{ amount: { $gt: 'abc' } }, { amount: { $like: '1%' } }, { title: 5 }, { amount: { $in: ['x'] } }, { createdAt: { $gt: 'yesterday' } }]) {
    const r = await orders({ filter: JSON.stringify(f) });
    assert.equal(r.statusCode, 400, `${JSON.stringify(f)}: ${r.body}`);
    assert.equal(errCode(r), 'FILTER_INVALID');
  }
  assert.deepEqual(
    titles(await orders({ filter: JSON.stringify({ amount: { $gt: 15 } }) })).filter((x) => x.startsWith('o')),
    ['o2', 'o3'],
  );
});
