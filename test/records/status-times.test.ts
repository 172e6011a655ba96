/**
 * AUDIT-3, the status log as time: transitions and the time spent in each status of a record, read
 * from the audit log's status entries under a fake clock (exact numbers). Security cases: a status
 * field the caller's grant does not show stays out (masking bypass); a record the caller cannot view
 * answers 404 like a guessed id (existence oracle); a caller whose view of the record depends on values
 * that change (a status list, a scope on a changing field) gets no status history, which would show the
 * record in states and places they could not see it (history leak past the row scope).
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
/**
 * agent: title and state (not the priority); lead: every field, updates too; outsider: only tickets titled "theirs";
 * closer: closed tickets only; regional: tickets in the EU only; own: the tickets they created (and may create);
 * mixed: title and state everywhere, the priority of closed tickets only; worker: the tasks they created (creator ownership).
 */
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
        { name: 'region', type: 'string' },
      ],
    }),
    201,
  );
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'tasks',
      ownership: 'creator',
      fields: [
        { name: 'title', type: 'string', required: true },
        { name: 'phase', type: 'status', values: ['todo', 'doing', 'done'], default: 'todo' },
      ],
    }),
    201,
  );
  const grants: Record<string, Array<Record<string, unknown>>> = {
    agent: [{ actions: ['view'], fields: ['title', 'state'] }],
    lead: [{ actions: ['view', 'update'], fields: ['title', 'state', 'priority', 'stage', 'region'] }],
    outsider: [{ actions: ['view'], fields: ['title', 'state'], scope: { title: 'theirs' } }],
    closer: [{ actions: ['view'], fields: ['title', 'state'], statuses: ['closed'] }],
    regional: [{ actions: ['view'], fields: ['title', 'state', 'region'], scope: { region: 'EU' } }],
    own: [
      { actions: ['view'], fields: ['title', 'state', 'region'], scope: { createdBy: '$user.id' } },
      { actions: ['create'], fields: ['title', 'region'] },
    ],
    mixed: [
      { actions: ['view'], fields: ['title', 'state'] },
      { actions: ['view'], fields: ['priority'], statuses: ['closed'] },
    ],
    worker: [{ collection: 'tasks', actions: ['view', 'create'], fields: ['title', 'phase'] }],
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
  // Their own ticket is theirs to read, but not its status history: their scope is on the title, which may change.
  const mine = await req('POST', '/api/collections/tickets/records', admin, { title: 'theirs' });
  ok(await req('GET', `/api/collections/tickets/records/${mine.json().id}`, tokens.outsider!));
  const got = await req('GET', url(mine.json().id), tokens.outsider!);
  assert.equal(got.statusCode, 403, got.body);
  assert.equal(code(got), 'FORBIDDEN');
  // A deleted record has no status times here.
  ok(await req('DELETE', `/api/collections/tickets/records/${id}`, admin), 204);
  assert.equal((await req('GET', url(id), tokens.lead!)).statusCode, 404);
});

/** A ticket that was new in the US, then open in the EU, and is closed in the EU now; its creator is `by`. */
async function travelled(by = admin): Promise<string> {
  const c = await req('POST', '/api/collections/tickets/records', by, { title: 'Travelled', region: 'US' });
  ok(c, 201);
  const id = c.json().id;
  t.clock.advance(60);
  await move(id, { state: 'open', region: 'EU' }, tokens.lead);
  t.clock.advance(60);
  await move(id, { state: 'closed' });
  return id;
}

const refused = (r: { statusCode: number; body: string; json(): { error?: { code: string; details?: { message?: string } } } }) => {
  assert.equal(r.statusCode, 403, r.body);
  assert.equal(code(r), 'FORBIDDEN');
  assert.match(r.json().error?.details?.message ?? '', /does not depend on its changing values/);
  for (const s of ['"new"', '"open"', 'lead', 'transitions']) assert.ok(!r.body.includes(s), `${s} leaked`);
};

test('history leak past the row scope: a viewer of closed tickets only gets no status history of a closed one [ASVS V8.2.2]', async () => {
  const id = await travelled();
  // They see the ticket now (it is closed), so the refusal says nothing about a record they cannot see.
  assert.equal((await req('GET', `/api/collections/tickets/records/${id}`, tokens.closer!)).json().state, 'closed');
  refused(await req('GET', url(id), tokens.closer!));
  refused(await req('GET', url(id, '?field=state'), tokens.closer!));
  // A ticket they cannot see is still 404, like a guessed id.
  const open = await req('POST', '/api/collections/tickets/records', admin, { title: 'Open' });
  assert.equal((await req('GET', url(open.json().id), tokens.closer!)).statusCode, 404);
});

test('history leak past the row scope: a viewer of EU tickets only gets no status changes made while the ticket was in the US [ASVS V8.2.2]', async () => {
  const id = await travelled();
  assert.equal((await req('GET', `/api/collections/tickets/records/${id}`, tokens.regional!)).json().region, 'EU');
  refused(await req('GET', url(id), tokens.regional!));
  refused(await req('GET', url(id, '?field=state'), tokens.regional!));
});

test('administrators, unscoped viewers and creator-scoped viewers get the whole status history; a status-scoped field is refused', async () => {
  const moves = (r: { json(): { fields: Array<{ field: string; transitions: Array<{ from: unknown; to: unknown; actor: { name: string } }> }> } }) =>
    r
      .json()
      .fields.find((f) => f.field === 'state')!
      .transitions.map((x) => [x.from, x.to, x.actor.name]);
  const id = await travelled();
  const all = [
    [null, 'new', 'root'],
    ['new', 'open', 'lead'],
    ['open', 'closed', 'root'],
  ];
  for (const who of [admin, tokens.agent!, tokens.lead!]) {
    const r = await req('GET', url(id), who);
    ok(r);
    assert.deepEqual(moves(r), all);
  }
  // Created by `own` (scope on the creator, which never changes): every move, also those in the US.
  const theirs = await travelled(tokens.own);
  const r = await req('GET', url(theirs), tokens.own!);
  ok(r);
  assert.deepEqual(moves(r), [
    [null, 'new', 'own'],
    ['new', 'open', 'lead'],
    ['open', 'closed', 'root'],
  ]);
  assert.equal((await req('GET', url(id), tokens.own!)).statusCode, 404, "another's ticket stays out of their view");
  // Creator ownership likewise.
  const task = await req('POST', '/api/collections/tasks/records', tokens.worker!, { title: 'Mine' });
  ok(task, 201);
  t.clock.advance(30);
  ok(await req('PATCH', `/api/collections/tasks/records/${task.json().id}`, admin, { phase: 'doing' }));
  const tt = await req('GET', `/api/collections/tasks/records/${task.json().id}/status-times`, tokens.worker!);
  ok(tt);
  assert.deepEqual(tt.json().fields[0].totals, { todo: 30_000, doing: 0 });
  // The state, read under an unscoped grant, has its history; the priority, read on closed tickets only, has none,
  // and asking for all the status fields is refused as a whole rather than leaving it out unsaid.
  const state = await req('GET', url(id, '?field=state'), tokens.mixed!);
  ok(state);
  assert.deepEqual(moves(state), all);
  refused(await req('GET', url(id, '?field=priority'), tokens.mixed!));
  refused(await req('GET', url(id), tokens.mixed!));
});
