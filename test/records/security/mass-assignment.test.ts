// Bug class: mass assignment. A client that sends system fields (id, createdBy), owner fields or
// fields it holds no grant on must be refused, not silently written or silently dropped.
// (Owner lists and groups of ownership modes: see ../access-model.test.ts, member-list and group ownership.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { casesWorld, type CasesWorld } from '../fixtures.js';

let w: CasesWorld;
before(async () => {
  w = await casesWorld();
});
after(() => w.t.close());

test('mass assignment: system and ungranted fields are refused, not dropped, and nothing is written [ASVS V8.2.3, V8.3.1, V15.3.3]', async () => {
  const { req, list, find, ann, aud } = w;
  const before = (await list(aud, '?total=true')).json().total;
  for (const body of [
    { title: 'x', createdBy: 'someone' },
    { title: 'x', id: 'chosen' },
    { title: 'x', amount: 5 },
    { title: 'x', created_by: 'y' },
    { title: 'x', nope: 1 },
  ]) {
    const r = await req('POST', '/api/collections/cases/records', ann, body);
    assert.ok([400, 403].includes(r.statusCode), JSON.stringify(body));
    assert.ok(['FIELD_NOT_WRITABLE', 'FIELD_UNKNOWN'].includes(r.json().error.code), JSON.stringify(body));
  }
  assert.equal((await list(aud, '?total=true')).json().total, before);
  const own = await find(ann, 'ann-open');
  const r = await req('PATCH', `/api/collections/cases/records/${own.id}`, ann, { createdBy: 'bob' });
  assert.equal(r.json().error.code, 'FIELD_NOT_WRITABLE');
});
