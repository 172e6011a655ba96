// Bug class: bulk path bypass. Export, bulk update, bulk delete and import must apply the same checks
// as the single-record paths: their own grant, the scope, the readable and writable fields.
// (A bulk update that would move records out of scope: ./scope-escape.test.ts.)
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

test('bulk path bypass on export: needs an export grant; applies the same scope and fields; CSV formula cells are neutralised [ASVS V1.1.2, V1.2.10]', async () => {
  const { req, bob, aud, admin } = w;
  assert.equal((await req('GET', '/api/collections/cases/records/export', bob)).statusCode, 403, 'agents have no export grant');
  assert.equal(
    (
      await req('POST', '/api/admin/grants', admin, {
        role: 'auditor',
        collection: 'cases',
        actions: ['export'],
        fields: ['title', 'state'],
        statuses: ['open'],
      })
    ).statusCode,
    201,
  );
  await req('POST', '/api/collections/cases/records', bob, { title: '=HYPERLINK("http://evil")' });
  // The forms spreadsheets still evaluate: after blanks or a line feed, or full-width.
  for (const title of ['  =1+2', '\n=1+2', '\uff1d1+2', '\u3000@SUM(A1)']) await req('POST', '/api/collections/cases/records', bob, { title });
  const json = await req('GET', '/api/collections/cases/records/export?format=json', aud);
  assert.equal(json.statusCode, 200, json.body);
  const rows = json.json() as Array<Record<string, unknown>>;
  assert.ok(rows.length >= 3);
  assert.ok(
    rows.every((r) => r.state === 'open' && !('amount' in r) && !('owner_note' in r)),
    'export grant scope and fields, not the view grant',
  );
  const csv = await req('GET', '/api/collections/cases/records/export?format=csv&sort=title', aud);
  assert.equal(csv.statusCode, 200);
  assert.match(String(csv.headers['content-type']), /text\/csv/);
  assert.match(csv.body.split('\n')[0]!, /^id,createdAt,updatedAt,createdBy,updatedBy,title,state/);
  assert.match(csv.body, /"'=HYPERLINK\(""http:\/\/evil""\)"/);
  for (const cell of ["'  =1+2", '"\'\n=1+2"', "'\uff1d1+2", "'\u3000@SUM(A1)"]) assert.ok(csv.body.includes(cell), cell);
  assert.doesNotMatch(csv.body, /(^|,)'[A-Za-z0-9]/m, 'a plain value is left as it is');
  const filtered = await req('GET', `/api/collections/cases/records/export?${new URLSearchParams({ filter: JSON.stringify({ amount: { $gt: 0 } }) })}`, aud);
  assert.equal(filtered.json().error.code, 'FIELD_NOT_FILTERABLE', 'no oracle through export either');
});

test('bulk path bypass on bulk update and delete: scope, writable and filterable fields, all or nothing [ASVS V2.3.3]', async () => {
  const { req, list, titles, agent, ann } = w;
  const { token: carl } = await agent('carl', 'Bulk-operator-6621');
  for (const title of ['bulk-1', 'bulk-2']) assert.equal((await req('POST', '/api/collections/cases/records', carl, { title })).statusCode, 201);
  const upd = await req('POST', '/api/collections/cases/records/bulk-update', carl, { filter: { title: { $like: 'bulk-%' } }, set: { title: 'renamed' } });
  assert.equal(upd.statusCode, 200, upd.body);
  assert.equal(upd.json().updated, 2);
  // Other users' records are outside carl's update scope: untouched whatever the filter says.
  assert.equal((await req('POST', '/api/collections/cases/records/bulk-update', carl, { filter: {}, set: { title: 'x' } })).json().updated, 2);
  assert.deepEqual(
    titles(await list(ann)).filter((x) => x.startsWith('ann')),
    ['ann-closed', 'ann-open'],
  );
  assert.equal(
    (await req('POST', '/api/collections/cases/records/bulk-update', carl, { filter: {}, set: { createdBy: 'ann' } })).json().error.code,
    'FIELD_NOT_WRITABLE',
  );
  assert.equal(
    (await req('POST', '/api/collections/cases/records/bulk-update', carl, { filter: { amount: 1 }, set: { title: 'y' } })).json().error.code,
    'FIELD_UNKNOWN',
    'amount is in none of the agent grants',
  );
  assert.equal((await req('POST', '/api/collections/cases/records/bulk-delete', carl, {})).statusCode, 400, 'the filter is required');
  const del = await req('POST', '/api/collections/cases/records/bulk-delete', carl, { filter: {} });
  assert.equal(del.statusCode, 200);
  assert.equal(del.json().deleted, 2, "only carl's own records");
  assert.deepEqual(
    titles(await list(ann)).filter((x) => x.startsWith('ann')),
    ['ann-closed', 'ann-open'],
  );
});

test('bulk path bypass on import: needs an import grant; every row is checked like a create; one bad row rolls back all and every error is listed [ASVS V2.3.3]', async () => {
  const { req, list, q, agent, admin } = w;
  const { id: daveId, token: dave } = await agent('dave', 'Importer-person-7741');
  const imp = (body: unknown) => req('POST', '/api/collections/cases/records/import', dave, body);
  assert.equal((await imp({ records: [{ title: 'a' }] })).statusCode, 403, 'agents have no import grant');
  assert.equal(
    (
      await req('POST', '/api/admin/grants', admin, {
        role: 'agent',
        collection: 'cases',
        actions: ['import'],
        fields: ['title', 'state'],
        statuses: ['open'],
        scope: { createdBy: '$user.id' },
      })
    ).statusCode,
    201,
  );
  const bad = await imp({
    records: [
      { title: 'ok-1' },
      { title: 'x', createdBy: 'ann' },
      { title: 'x', amount: 1 },
      { title: 'x', state: 'closed' },
      { state: 'open' },
      { title: 'ok-2' },
    ],
  });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'IMPORT_REJECTED');
  assert.deepEqual(
    bad.json().error.details.errors.map((e: { row: number; code: string }) => `${e.row}:${e.code}`),
    ['2:FIELD_NOT_WRITABLE', '3:FIELD_UNKNOWN', '4:FORBIDDEN', '5:VALIDATION_FAILED'],
  );
  assert.equal((await list(dave, q({ filter: JSON.stringify({ createdBy: daveId }), total: 'true' }))).json().total, 0, 'nothing was written');
  const ok = await imp({ records: [{ title: 'ok-1' }, { title: 'ok-2' }] });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json().imported, 2);
  const csv = await imp({ csv: 'title,state\n=cmd,open\nplain,\n' });
  assert.equal(csv.statusCode, 200, csv.body);
  assert.equal((await list(dave, q({ filter: JSON.stringify({ createdBy: daveId }), total: 'true' }))).json().total, 4);
  assert.equal((await imp({ csv: 'title,nope\nx,y\n' })).json().error.details.errors[0].code, 'FIELD_UNKNOWN');
  assert.equal((await imp({ csv: 'x', records: [] })).statusCode, 400);
});

test("bulk path bypass with a relation path: bulk paths answer (no wait on SQLite's one connection) and apply the target scope", {
  timeout: 20_000,
}, async () => {
  const { req, ok, clerk, admin } = o;
  // The update and delete grants the clerk holds after ./relation-leaks.test.ts (its relation write test and this one).
  ok(
    await req('POST', '/api/admin/grants', admin, {
      role: 'clerk',
      collection: 'orders',
      actions: ['update', 'delete'],
      fields: ['title', 'customer'],
      scope: { title: { $ne: 'internal' } },
    }),
  );
  const del = await req('POST', '/api/collections/orders/records/bulk-delete', clerk, { filter: { 'customer.name': 'Southco' } });
  ok(del, 200);
  assert.equal(del.json().deleted, 0);
  const upd = await req('POST', '/api/collections/orders/records/bulk-update', clerk, { filter: { 'customer.name': 'Nobody' }, set: { title: 'renamed' } });
  ok(upd, 200);
  assert.equal(upd.json().updated, 0);
});
