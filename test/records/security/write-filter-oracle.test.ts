// Bug class: write-filter oracle. A role that may update (or delete) a field but not read it learned
// its value from the `updated` / `deleted` count of a bulk operation filtered on it, and a bulk filter
// reached records outside the caller's view scope. Every path that filters now goes through one check:
// a field named in a filter must be readable (view grants) on every record the caller can read,
// whatever their write grants; a bulk filter matches only records the caller can view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, createUser, bearer, type TestApp, useApp } from '../../helpers/app.js';
import { ok, q } from '../fixtures.js';

let t: TestApp;
let admin: string;
let keeper: string;
type Method = 'GET' | 'POST';
const req = (method: Method, url: string, token: string, payload?: unknown) =>
  t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });

useApp(async (app, token) => {
  t = app;
  admin = token;
  const id = await createUser(t, admin, 'keeper', 'Brass-lock-tumbler-7781');
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'vaults',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'pin', type: 'integer' },
        { name: 'code', type: 'string' },
      ],
    }),
  );
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'visits',
      fields: [
        { name: 'note', type: 'string' },
        { name: 'vault', type: 'relation', target: 'vaults' },
      ],
    }),
  );
  ok(await req('POST', '/api/admin/roles', admin, { name: 'keeper' }));
  ok(await req('PUT', `/api/admin/users/${id}/roles`, admin, { roles: ['keeper'] }), 204);
  // Keepers read the title of their own vaults only; they may update and delete every vault, pin and code included.
  ok(
    await req('POST', '/api/admin/grants', admin, {
      role: 'keeper',
      collection: 'vaults',
      actions: ['view', 'export'],
      fields: ['title'],
      scope: { createdBy: '$user.id' },
    }),
  );
  ok(
    await req('POST', '/api/admin/grants', admin, {
      role: 'keeper',
      collection: 'vaults',
      actions: ['create', 'update', 'delete'],
      fields: ['title', 'pin', 'code'],
    }),
  );
  ok(await req('POST', '/api/admin/grants', admin, { role: 'keeper', collection: 'visits', actions: ['view'], fields: ['note', 'vault'] }));
  keeper = (await login(t, 'keeper', 'Brass-lock-tumbler-7781')).token;
  ok(await req('POST', '/api/collections/vaults/records', keeper, { title: 'mine-1', pin: 1111, code: 'a' }));
  ok(await req('POST', '/api/collections/vaults/records', keeper, { title: 'mine-2', pin: 2222, code: 'b' }));
  const theirs = await req('POST', '/api/collections/vaults/records', admin, { title: 'theirs', pin: 4321, code: 'c' });
  ok(theirs);
  ok(await req('POST', '/api/collections/visits/records', admin, { note: 'v', vault: theirs.json().id }));
});

test('write-filter oracle: a field the caller may write but not read is refused in every filtering path', async () => {
  const bulkU = (filter: unknown) => req('POST', '/api/collections/vaults/records/bulk-update', keeper, { filter, set: { title: 'probe' } });
  const bulkD = (filter: unknown) => req('POST', '/api/collections/vaults/records/bulk-delete', keeper, { filter });
  const cases: Array<[string, () => Promise<{ statusCode: number; json(): any; body: string }>]> = [
    ['bulk update on pin', () => bulkU({ pin: 4321 })],
    ['bulk update on pin, range', () => bulkU({ pin: { $gt: 4000 } })],
    ['bulk update on pin inside $or', () => bulkU({ $or: [{ title: 'nothing' }, { pin: 4321 }] })],
    ['bulk update on code', () => bulkU({ code: { $like: 'c%' } })],
    ['bulk delete on pin', () => bulkD({ pin: 4321 })],
    ['bulk delete on code under $not', () => bulkD({ $not: { code: 'c' } })],
    ['list on pin', () => req('GET', `/api/collections/vaults/records${q({ filter: JSON.stringify({ pin: 4321 }) })}`, keeper)],
    ['list sorted by pin', () => req('GET', `/api/collections/vaults/records${q({ sort: 'pin' })}`, keeper)],
    ['aggregate on pin', () => req('GET', `/api/collections/vaults/records/aggregate${q({ metrics: 'max:pin' })}`, keeper)],
    [
      'aggregate filtered on pin',
      () => req('GET', `/api/collections/vaults/records/aggregate${q({ metrics: 'count', filter: JSON.stringify({ pin: 4321 }) })}`, keeper),
    ],
    ['export filtered on pin', () => req('GET', `/api/collections/vaults/records/export${q({ filter: JSON.stringify({ pin: 4321 }) })}`, keeper)],
    ['relation path to pin', () => req('GET', `/api/collections/visits/records${q({ filter: JSON.stringify({ 'vault.pin': 4321 }) })}`, keeper)],
  ];
  for (const [name, run] of cases) {
    const r = await run();
    assert.equal(r.statusCode, 400, `${name}: ${r.body}`);
    assert.equal(r.json().error.code, 'FIELD_NOT_FILTERABLE', name);
  }
  // Nothing was changed by the refused attempts.
  const all = await req('GET', '/api/collections/vaults/records', admin);
  assert.deepEqual(
    all
      .json()
      .items.map((x: { title: string }) => x.title)
      .sort(),
    ['mine-1', 'mine-2', 'theirs'],
  );
});

test('write-filter oracle: a bulk filter matches only records the caller can view, so its count reveals nothing outside', async () => {
  // The keeper may update every vault, but views only their own: `{}` and a title filter reach only those.
  const all = await req('POST', '/api/collections/vaults/records/bulk-update', keeper, { filter: {}, set: { code: 'z' } });
  assert.equal(all.statusCode, 200, all.body);
  assert.equal(all.json().updated, 2);
  const byTitle = await req('POST', '/api/collections/vaults/records/bulk-update', keeper, { filter: { title: 'theirs' }, set: { code: 'z' } });
  assert.equal(byTitle.json().updated, 0, 'a record outside the view scope is not matched, so its title is not confirmed');
  // The legitimate bulk change on a readable field goes through.
  const mine = await req('POST', '/api/collections/vaults/records/bulk-update', keeper, { filter: { title: { $like: 'mine-%' } }, set: { pin: 9 } });
  assert.equal(mine.json().updated, 2);
  const del = await req('POST', '/api/collections/vaults/records/bulk-delete', keeper, { filter: { title: 'mine-2' } });
  assert.equal(del.json().deleted, 1);
  const left = await req('GET', '/api/collections/vaults/records', admin);
  assert.deepEqual(
    left
      .json()
      .items.map((x: { title: string; code: string }) => `${x.title}:${x.code}`)
      .sort(),
    ['mine-1:z', 'theirs:c'],
  );
  // An administrator filters on anything.
  const adm = await req('POST', '/api/collections/vaults/records/bulk-update', admin, { filter: { pin: 4321 }, set: { title: 'theirs' } });
  assert.equal(adm.json().updated, 1);
});
