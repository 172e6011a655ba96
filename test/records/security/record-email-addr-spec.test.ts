// Bug class: loose record email addresses. A record field of type `email` took anything shaped like
// `x@y` without spaces (`a,b@evil.test`, `<x>@y`, `"q"@evil.test`): a list, brackets or quotes that a
// mail library or a spreadsheet reads as other recipients once the value is mailed or exported. Every
// write path (create, update, bulk update, JSON and CSV import, a field default) now applies the one
// address rule of src/mail/address.ts; filters on the field still compare any string.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, type TestApp, useApp } from '../../helpers/app.js';

const NOT_PLAIN = [
  'a,b@evil.test',
  '<x>@y',
  'Eve <eve@evil.test>',
  'bob@evil.test,carol@evil.test',
  'bob@evil.test;carol@evil.test',
  '"quoted"@evil.test',
  'user@[127.0.0.1]',
  'x@evil.test\r\nBcc: all@evil.test',
  '(comment)eve@evil.test',
  'eve@evil.test)',
  'ev\u00e9@evil.test',
];
const PLAIN = ['alice@example.org', 'first.last+tag@sub.example.co.uk', "o'brien_x-y@xn--bcher-kva.example"];

let t: TestApp;
let admin: string;
const req = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
  t.app.inject({ method, url, headers: bearer(admin), ...(payload ? { payload } : {}) });
const total = async () => (await req('GET', '/api/collections/contacts/records?total=true')).json().total as number;

useApp(async (app, token) => {
  t = app;
  admin = token;
  const c = await req('POST', '/api/admin/collections', {
    name: 'contacts',
    fields: [
      { name: 'name', type: 'string' },
      { name: 'mail', type: 'email' },
    ],
  });
  assert.equal(c.statusCode, 201, c.body);
});

test('loose record email: create refuses anything but a plain addr-spec, and takes plain addresses [ASVS V2.2.1, V2.2.2]', async () => {
  for (const mail of NOT_PLAIN) {
    const r = await req('POST', '/api/collections/contacts/records', { name: 'x', mail });
    assert.equal(r.statusCode, 400, `${JSON.stringify(mail)}: ${r.body}`);
    assert.equal(r.json().error.code, 'VALIDATION_FAILED');
    assert.equal(r.json().error.details[0].path, '/mail');
  }
  assert.equal(await total(), 0, 'nothing was written');
  for (const mail of PLAIN) {
    const r = await req('POST', '/api/collections/contacts/records', { name: 'ok', mail });
    assert.equal(r.statusCode, 201, `${mail}: ${r.body}`);
    assert.equal(r.json().mail, mail);
  }
});

test('loose record email: update and bulk update refuse a non-plain address and leave the record unchanged', async () => {
  const created = await req('POST', '/api/collections/contacts/records', { name: 'upd', mail: 'upd@example.org' });
  assert.equal(created.statusCode, 201, created.body);
  const id = created.json().id as string;
  for (const mail of NOT_PLAIN) {
    const r = await req('PATCH', `/api/collections/contacts/records/${id}`, { mail });
    assert.equal(r.statusCode, 400, `${JSON.stringify(mail)}: ${r.body}`);
    assert.equal(r.json().error.code, 'VALIDATION_FAILED');
  }
  const bulk = await req('POST', '/api/collections/contacts/records/bulk-update', { filter: { id }, set: { mail: 'a,b@evil.test' } });
  assert.equal(bulk.statusCode, 400, bulk.body);
  assert.equal(bulk.json().error.code, 'VALIDATION_FAILED');
  assert.equal((await req('GET', `/api/collections/contacts/records/${id}`)).json().mail, 'upd@example.org');
  const good = await req('PATCH', `/api/collections/contacts/records/${id}`, { mail: 'updated@example.org' });
  assert.equal(good.statusCode, 200, good.body);
  assert.equal(good.json().mail, 'updated@example.org');
});

test('loose record email: JSON and CSV imports refuse a row with a non-plain address and write nothing; plain rows import', async () => {
  const before = await total();
  const imp = await req('POST', '/api/collections/contacts/records/import', {
    records: [
      { name: 'i1', mail: 'i1@example.org' },
      { name: 'i2', mail: 'a,b@evil.test' },
      { name: 'i3', mail: '<x>@y' },
    ],
  });
  assert.equal(imp.statusCode, 400, imp.body);
  assert.equal(imp.json().error.code, 'IMPORT_REJECTED');
  assert.deepEqual(
    imp.json().error.details.errors.map((e: { row: number; code: string }) => `${e.row}:${e.code}`),
    ['2:VALIDATION_FAILED', '3:VALIDATION_FAILED'],
  );
  const csv = await req('POST', '/api/collections/contacts/records/import', { csv: 'name,mail\nc1,c1@example.org\nc2,"a,b@evil.test"\nc3,<x>@y\n' });
  assert.equal(csv.statusCode, 400, csv.body);
  assert.equal(csv.json().error.code, 'IMPORT_REJECTED');
  assert.deepEqual(
    csv.json().error.details.errors.map((e: { row: number }) => e.row),
    [2, 3],
  );
  assert.equal(await total(), before, 'nothing was written');
  const ok = await req('POST', '/api/collections/contacts/records/import', { csv: 'name,mail\nc1,c1@example.org\nc2,c2@example.org\n' });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json().imported, 2);
  assert.equal(await total(), before + 2);
});

test('loose record email: a field default must be a plain address; filters on the field still compare any string', async () => {
  const bad = await req('POST', '/api/admin/collections', { name: 'leads', fields: [{ name: 'mail', type: 'email', default: 'a,b@evil.test' }] });
  assert.equal(bad.statusCode, 400, bad.body);
  const good = await req('POST', '/api/admin/collections', { name: 'leads', fields: [{ name: 'mail', type: 'email', default: 'sales@example.org' }] });
  assert.equal(good.statusCode, 201, good.body);
  const rec = await req('POST', '/api/collections/leads/records', {});
  assert.equal(rec.statusCode, 201, rec.body);
  assert.equal(rec.json().mail, 'sales@example.org');

  const list = (filter: object) => req('GET', `/api/collections/contacts/records?${new URLSearchParams({ filter: JSON.stringify(filter), total: 'true' })}`);
  const none = await list({ mail: 'a,b@evil.test' });
  assert.equal(none.statusCode, 200, none.body);
  assert.equal(none.json().total, 0);
  const some = await list({ mail: { $ilike: '%@EXAMPLE.ORG' } });
  assert.equal(some.statusCode, 200, some.body);
  assert.ok(some.json().total >= 3);
});
