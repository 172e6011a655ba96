// Bug class: guessed id. Reading, updating or deleting a record by its id must apply the caller's
// scope, and a record out of scope must look exactly like one that does not exist.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { casesWorld, type CasesWorld } from '../fixtures.js';

let w: CasesWorld;
before(async () => {
  w = await casesWorld();
});
after(() => w.t.close());

test('guessed id: records outside the scope answer 404 to reads and writes, like records that do not exist [ASVS V8.2.2, V8.3.1]', async () => {
  const { req, find, ann, bob } = w;
  const annOpen = await find(ann, 'ann-open');
  assert.equal((await req('GET', `/api/collections/cases/records/${annOpen.id}`, bob)).statusCode, 404);
  assert.equal((await req('GET', '/api/collections/cases/records/00000000-0000-0000-0000-000000000000', bob)).statusCode, 404);
  assert.equal((await req('GET', `/api/collections/cases/records/${annOpen.id}`, ann)).statusCode, 200);
  assert.equal((await req('PATCH', `/api/collections/cases/records/${annOpen.id}`, bob, { title: 'pwned' })).statusCode, 404);
  assert.equal((await req('DELETE', `/api/collections/cases/records/${annOpen.id}`, bob)).statusCode, 404);
  assert.equal((await req('GET', `/api/collections/cases/records/${annOpen.id}`, ann)).json().title, 'ann-open');
});
