// A date-time is written back exactly as JavaScript's toISOString writes the stored instant, in a page and in a single
// read: the list writes the day and the time of day itself (issue 14), so every part of the text is checked here,
// from the first day of year 1 to the last millisecond of 9999, before 1970, on leap days, and past 9999.
// Runs on both dialects (TEST_DB).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useApp, bearer, type TestApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

const SWEEP = [
  '0001-01-01T00:00:00.000Z',
  '0001-03-01T12:34:56.789Z',
  '1600-02-29T23:59:59.999Z',
  '1899-12-31T00:00:00.001Z',
  '1969-12-31T23:59:59.999Z',
  '1969-07-20T20:17:40.000Z',
  '1970-01-01T00:00:00.000Z',
  '1970-01-01T00:00:00.001Z',
  '2000-02-29T09:05:03.070Z',
  '2024-02-29T23:59:59.999Z',
  '2026-12-03T16:00:00.500Z',
  '9999-12-31T23:59:59.999Z',
  '+010000-01-01T00:00:00.000Z',
  '-000001-12-31T23:59:59.999Z',
];

test('date-times come back as toISOString writes them, in a list and in a single read', async () => {
  const create = await t.app.inject({
    method: 'POST',
    url: '/api/admin/collections',
    headers: bearer(admin),
    payload: {
      name: 'moments',
      fields: [
        { name: 'at', type: 'datetime' },
        { name: 'label', type: 'string' },
      ],
    },
  });
  assert.equal(create.statusCode, 201, create.body);
  // A pseudo-random sweep too: any millisecond of any day, before and after 1970.
  let seed = 20261203;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const random = Array.from({ length: 60 }, () => new Date(Math.floor((next() - 0.3) * 2e13)).toISOString());
  const values = [...SWEEP, ...random];
  const ids = new Map<string, string>();
  for (const [i, at] of values.entries()) {
    const r = await t.app.inject({ method: 'POST', url: '/api/collections/moments/records', headers: bearer(admin), payload: { at, label: `m${i}` } });
    assert.equal(r.statusCode, 201, `${at}: ${r.body}`);
    assert.equal(r.json().at, new Date(at).toISOString(), at);
    ids.set(r.json().id, new Date(at).toISOString());
  }
  const listed = await t.app.inject({ method: 'GET', url: '/api/collections/moments/records?perPage=200', headers: bearer(admin) });
  assert.equal(listed.statusCode, 200, listed.body);
  const items: Array<{ id: string; at: string; createdAt: string; updatedAt: string }> = listed.json().items;
  assert.equal(items.length, values.length);
  for (const item of items) {
    assert.equal(item.at, ids.get(item.id));
    assert.equal(item.createdAt, new Date(Date.parse(item.createdAt)).toISOString());
  }
  for (const [id, at] of [...ids].slice(0, SWEEP.length)) {
    const one = await t.app.inject({ method: 'GET', url: `/api/collections/moments/records/${id}`, headers: bearer(admin) });
    assert.equal(one.statusCode, 200, one.body);
    assert.equal(one.json().at, at);
  }
});
