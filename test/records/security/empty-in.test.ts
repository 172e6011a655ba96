// Bug class: empty $in. `$in` / `$nin` with an empty list, or a variable that resolves to an empty
// or null list, compiled to SQL that matches everything.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { casesWorld, type CasesWorld } from '../fixtures.js';

let w: CasesWorld;
before(async () => {
  w = await casesWorld();
});
after(() => w.t.close());

test('empty $in: $in and $nin with an empty list (or an empty variable) never match everything', async () => {
  const { list, q, titles, aud } = w;
  assert.deepEqual(titles(await list(aud, q({ filter: JSON.stringify({ title: { $in: [] } }) }))), []);
  assert.equal((await list(aud, q({ filter: JSON.stringify({ title: { $nin: [] } }), total: 'true' }))).json().total, 4);
});
