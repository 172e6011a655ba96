/**
 * AUDIT-3, the status log as time: transitions and the time spent in each status of a record, read
 * from the audit log's status entries under a fake clock (exact numbers). Security cases: a status
 * field the caller's grant does not show stays out (masking bypass); a record the caller cannot view
 * answers 404 like a guessed id (existence oracle).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, login, useApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
const tokens: Record<string, string> = {};

const req = (method: string, url: string, token: string, payload?: unknown) =>
  t.app.inject({ method: method as 'GET', url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
const ok = (r: { statusCode: number; body: string }, code = 200) => assert.equal(r.statusCode, code, r.body);
const code = (r: { json(): { error?: { code: string } } }) => r.json().error?.code;
const url = (id: string, qs = '') => `/api/collections/tickets/records/${id}/status-times${qs}`;
const move = async (id: string, body: Record<string, unknown>, token = admin) => ok(await req('PATCH', `/api/collections/tickets/records/${id}`, token, body));

const PW = 'Status-watcher-5521';
/** agent: title and state (not the priority); lead: every field, updates too; outsider: only tickets titled "theirs". */
useApp(async (app, token) => {
  t = app;
  admin = token;
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'tickets',
      fields: [
        { name: 'title', type: 'string', required: true },
        { name: 'state', type: 'status', values: ['new', 'open', 'closed'], default: 'new' },
        { name: 'priority', type: 'status', values: ['low', 'high'], default: 'low' },
        { name: 'stage', type: 'status', values: ['a', 'b'], sensitive: true },
      ],
    }),
    201,
  );
  const grants: Record<string, Array<Record<string, unknown>>> = {
    agent: [{ actions: ['view'], fields: ['title', 'state'] }],
    lead: [{ actions: ['view', 'update'], fields: ['title', 'state', 'priority', 'stage'] }],
    outsider: [{ actions: ['view'], fields: ['title', 'state'], scope: { title: 'theirs' } }],
  };
  for (const [role, list] of Object.entries(grants)) {
    ok(await req('POST', '/api/admin/roles', admin, { name: role }), 201);
    for (const g of list) ok(await req('POST', '/api/admin/grants', admin, { role, collection: 'tickets', ...g }), 201);
    const id = await createUser(t, admin, role, PW);
    ok(await req('PUT', `/api/admin/users/${id}/roles`, admin, { roles: [role] }), 204);
    tokens[role] = (await login(t, role, PW)).token;
  }
});

test('the time in each status is exact under the fake clock; the current status counts until now', async () => {
  const t0 = t.clock.now();
  const c = await req('POST', '/api/collections/tickets/records', admin, { title: 'Printer' });
  ok(c, 201);
  const id = c.json().id;
  t.clock.advance(60);
  await move(id, { state: 'open' }, tokens.lead);
  t.clock.advance(120);
  await move(id, { state: 'new', priority: 'high' });
  t.clock.advance(15);
  await move(id, { state: 'open' });
  t.clock.advance(45);
  await move(id, { state: 'closed' });
  t.clock.advance(30);
  const r = await req('GET', url(id), tokens.lead!);
  ok(r);
  const body = r.json();
  assert.equal(body.at, new Date(t0 + 270_000).toISOString());
  const state = body.fields.find((f: { field: string }) => f.field === 'state');
  assert.equal(state.current, 'closed');
  assert.deepEqual(state.totals, { new: 75_000, open: 165_000, closed: 30_000 });
  assert.deepEqual(
    state.transitions.map((x: { from: string; to: string; at: string; actor: { name: string } }) => [x.from, x.to, Date.parse(x.at) - t0, x.actor.name]),
    [
      [null, 'new', 0, 'root'],
      ['new', 'open', 60_000, 'lead'],
      ['open', 'new', 180_000, 'root'],
      ['new', 'open', 195_000, 'root'],
      ['open', 'closed', 240_000, 'root'],
    ],
  );
  const priority = body.fields.find((f: { field: string }) => f.field === 'priority');
  assert.deepEqual(priority.totals, { low: 180_000, high: 90_000 });
  // The sensitive status field is never logged, so it has no times to show.
  assert.deepEqual(
    body.fields.map((f: { field: string }) => f.field),
    ['state', 'priority'],
  );
  // Time goes on for the current status only.
  t.clock.advance(10);
  const later = (await req('GET', url(id, '?field=state'), tokens.lead!)).json();
  assert.equal(later.fields.length, 1);
  assert.deepEqual(later.fields[0].totals, { new: 75_000, open: 165_000, closed: 40_000 });
});

test('masking bypass: a status field the caller cannot read stays out; naming it is FIELD_UNKNOWN', async () => {
  const c = await req('POST', '/api/collections/tickets/records', admin, { title: 'Scanner' });
  const id = c.json().id;
  t.clock.advance(5);
  await move(id, { priority: 'high', state: 'open' });
  const r = await req('GET', url(id), tokens.agent!);
  ok(r);
  assert.deepEqual(
    r.json().fields.map((f: { field: string }) => f.field),
    ['state'],
  );
  assert.ok(!r.body.includes('high'), 'the priority leaked');
  const named = await req('GET', url(id, '?field=priority'), tokens.agent!);
  assert.equal(named.statusCode, 400, named.body);
  assert.equal(code(named), 'FIELD_UNKNOWN');
  assert.equal(code(await req('GET', url(id, '?field=nothing'), tokens.agent!)), 'FIELD_UNKNOWN');
  const notStatus = await req('GET', url(id, '?field=title'), tokens.agent!);
  assert.equal(notStatus.statusCode, 400);
  assert.equal(code(notStatus), 'VALIDATION_FAILED');
  assert.equal((await req('GET', url(id, '?field=Bad-Name'), tokens.agent!)).statusCode, 400);
  assert.equal((await req('GET', url(id, '?other=1'), tokens.agent!)).statusCode, 400);
});

test('existence oracle: a record the caller cannot view answers 404, exactly like a guessed id', async () => {
  const c = await req('POST', '/api/collections/tickets/records', admin, { title: 'Hidden' });
  const id = c.json().id;
  const r = await req('GET', url(id), tokens.outsider!);
  assert.equal(r.statusCode, 404, r.body);
  assert.equal(r.body, (await req('GET', url('guessed-0001'), tokens.outsider!)).body);
  await createUser(t, admin, 'nobody', PW);
  const nobody = (await login(t, 'nobody', PW)).token;
  assert.equal((await req('GET', url(id), nobody)).statusCode, 404);
  // Their own ticket is theirs to read.
  const mine = await req('POST', '/api/collections/tickets/records', admin, { title: 'theirs' });
  const got = await req('GET', url(mine.json().id), tokens.outsider!);
  ok(got);
  assert.deepEqual(got.json().fields[0].totals, { new: 0 });
  // A deleted record has no status times here.
  ok(await req('DELETE', `/api/collections/tickets/records/${id}`, admin), 204);
  assert.equal((await req('GET', url(id), tokens.lead!)).statusCode, 404);
});
