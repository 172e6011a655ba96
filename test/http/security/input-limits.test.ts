// Bug class: unbounded input (resource exhaustion). A request body is bounded in bytes (BODY_LIMIT, here 4096), a
// JSON body in nesting (BODY_MAX_DEPTH, 32 levels: src/http/pipeline/input-bounds.ts) and a record filter in
// nesting (8 levels: src/collections/filter.ts). Each bound is tested on both sides: one past it is refused with its
// stable code before any handler or SQL, and one at it is served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, useApp, type TestApp } from '../../helpers/app.js';
import { BODY_MAX_DEPTH } from '../../../src/http/pipeline/input-bounds.js';

const LIMIT = 4096;
let t: TestApp;
let admin: string;

useApp(
  async (app, token) => {
    t = app;
    admin = token;
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/admin/collections',
      headers: bearer(admin),
      payload: {
        name: 'notes',
        fields: [
          { name: 'title', type: 'string' },
          { name: 'body', type: 'text' },
          { name: 'data', type: 'json' },
        ],
      },
    });
    assert.equal(r.statusCode, 201, r.body);
  },
  { env: { BODY_LIMIT: String(LIMIT) } },
);

const post = (payload: string) =>
  t.app.inject({ method: 'POST', url: '/api/collections/notes/records', headers: { ...bearer(admin), 'content-type': 'application/json' }, payload });

/** A record body of exactly `bytes` bytes (ASCII). */
const bodyOf = (bytes: number): string => {
  const shell = JSON.stringify({ title: 'sized', body: '' });
  return JSON.stringify({ title: 'sized', body: 'x'.repeat(bytes - shell.length) });
};

/** A JSON array nested `n` levels deep. */
const nest = (n: number): string => `${'['.repeat(n)}1${']'.repeat(n)}`;

const list = (filter: unknown) =>
  t.app.inject({
    method: 'GET',
    url: `/api/collections/notes/records?${new URLSearchParams({ filter: JSON.stringify(filter) })}`,
    headers: bearer(admin),
  });

/** A filter of `n` nested $not around a condition on title (an even n keeps its meaning). */
const nots = (n: number): unknown => {
  let f: unknown = { title: 'sized' };
  for (let i = 0; i < n; i++) f = { $not: f };
  return f;
};

test('a body one byte over BODY_LIMIT is 413 PAYLOAD_TOO_LARGE and writes nothing; a body of exactly the limit is stored [ASVS V4.3.1, V15.2.2]', async () => {
  const over = await post(bodyOf(LIMIT + 1));
  assert.equal(over.statusCode, 413, over.body);
  assert.equal(over.json().error.code, 'PAYLOAD_TOO_LARGE');
  assert.equal((await list({ title: 'sized' })).json().items.length, 0, 'nothing written');
  const at = await post(bodyOf(LIMIT));
  assert.equal(Buffer.byteLength(bodyOf(LIMIT)), LIMIT);
  assert.equal(at.statusCode, 201, at.body);
});

test(`a JSON body nested past ${BODY_MAX_DEPTH} levels is 400 NESTING_TOO_DEEP; at ${BODY_MAX_DEPTH} levels it is stored [ASVS V4.3.1]`, async () => {
  // The body object is level 1, so the deepest array of `data` is level n + 1.
  const deep = await post(`{"title":"deep","data":${nest(BODY_MAX_DEPTH)}}`);
  assert.equal(deep.statusCode, 400, deep.body);
  assert.equal(deep.json().error.code, 'NESTING_TOO_DEEP');
  assert.equal(deep.json().error.details.maxDepth, BODY_MAX_DEPTH);
  const at = await post(`{"title":"deep","data":${nest(BODY_MAX_DEPTH - 1)}}`);
  assert.equal(at.statusCode, 201, at.body);
  const id = at.json().record?.id ?? at.json().id;
  const read = await t.app.inject({ method: 'GET', url: `/api/collections/notes/records/${id}`, headers: bearer(admin) });
  assert.equal(read.statusCode, 200, read.body);
  assert.ok(read.body.includes(nest(BODY_MAX_DEPTH - 1)), 'stored whole');
});

test('a record filter nested past 8 levels is 400 FILTER_INVALID; at 8 levels it is answered [ASVS V4.3.1]', async () => {
  const deep = await list(nots(9));
  assert.equal(deep.statusCode, 400, deep.body);
  assert.equal(deep.json().error.code, 'FILTER_INVALID');
  assert.match(deep.body, /too large or too deep/);
  // Also in a body (bulk delete): refused the same way, and nothing is deleted.
  const bulk = await t.app.inject({
    method: 'POST',
    url: '/api/collections/notes/records/bulk-delete',
    headers: bearer(admin),
    payload: { filter: nots(10) },
  });
  assert.equal(bulk.statusCode, 400, bulk.body);
  assert.equal(bulk.json().error.code, 'FILTER_INVALID');
  const at = await list(nots(8));
  assert.equal(at.statusCode, 200, at.body);
  assert.deepEqual(
    at.json().items.map((r: { title: string }) => r.title),
    ['sized'],
    'the record written by the first test, found through 8 levels',
  );
});

test('HTTP parameter pollution: a query parameter given twice is 400 VALIDATION_FAILED, never one of its values picked; given once it is served [ASVS V15.3.7]', async () => {
  // Picking the first or the last value would let a second copy slip past a proxy or a log that reads the other one.
  assert.equal((await post(JSON.stringify({ title: 'polluted' }))).statusCode, 201);
  const url = (q: string) => `/api/collections/notes/records?${q}`;
  const f = (title: string) => `filter=${encodeURIComponent(JSON.stringify({ title }))}`;
  for (const q of [`${f('polluted')}&${f('other')}`, 'sort=title&sort=-title', `${f('polluted')}&fields=title&fields=body`]) {
    const r = await t.app.inject({ method: 'GET', url: url(q), headers: bearer(admin) });
    assert.equal(r.statusCode, 400, `${q}: ${r.body}`);
    assert.equal(r.json().error.code, 'VALIDATION_FAILED', q);
  }
  const once = await t.app.inject({ method: 'GET', url: url(`${f('polluted')}&sort=title&fields=title`), headers: bearer(admin) });
  assert.equal(once.statusCode, 200, once.body);
  assert.deepEqual(
    once.json().items.map((r: { title: string }) => r.title),
    ['polluted'],
  );
});
