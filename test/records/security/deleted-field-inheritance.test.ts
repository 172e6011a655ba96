// Bug class: deleted field inheritance. A field created with the name of a deleted one must not
// inherit its grants (nor its data).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { casesWorld, type CasesWorld } from '../fixtures.js';

let w: CasesWorld;
before(async () => {
  w = await casesWorld();
});
after(() => w.t.close());

test('deleted field inheritance: a new field inherits nothing from a deleted field of the same name', async () => {
  const { req, list, admin, ann } = w;
  const del = await req('DELETE', '/api/admin/collections/cases/fields/owner_note', admin);
  assert.equal(del.statusCode, 200, del.body);
  assert.equal((await req('POST', '/api/admin/collections/cases/fields', admin, { name: 'owner_note', type: 'text' })).statusCode, 201);
  const items = (await list(ann)).json().items as Array<Record<string, unknown>>;
  assert.ok(items.every((x) => !('owner_note' in x)));
  const grants = (await req('GET', '/api/admin/grants?collection=cases', admin)).json().grants as Array<{ fields: string[] }>;
  assert.ok(grants.every((g) => !g.fields.includes('owner_note')));
});
