/**
 * Security review of the audit trail core (dd5bf08), concurrency on PostgreSQL. A database session
 * holding a lock stands in for a slow concurrent writer so that the interleaving is deterministic.
 * A failing test is a finding (see the review report).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { DIALECT, bearer, createUser, login, useApp, type TestApp } from '../../helpers/app.js';

const skip = DIALECT !== 'postgres' ? 'row locks and deadlocks: PostgreSQL only' : false;
let t: TestApp;
let admin: string;
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    const r = await req('POST', '/api/admin/collections', {
      name: 'people',
      fields: [
        { name: 'name', type: 'string', required: true },
        { name: 'email', type: 'email' },
        { name: 'team', type: 'members' },
      ],
    });
    assert.equal(r.statusCode, 201, r.body);
  },
  {},
  true,
);

const req = (method: string, url: string, payload?: unknown, token = admin) =>
  t.app.inject({ method: method as 'GET', url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });

/** Holds a lock in its own transaction until released. */
async function hold(statement: (trx: typeof t.s.db) => Promise<unknown>): Promise<{ release: () => Promise<void> }> {
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  let held!: () => void;
  const isHeld = new Promise<void>((r) => {
    held = r;
  });
  const done = t.s.db.transaction().execute(async (trx) => {
    await statement(trx);
    held();
    await gate;
  });
  await isHeld;
  return {
    release: async () => {
      open();
      await done;
    },
  };
}

test('F7: two concurrent updates of one record: each change entry names only its own change [ASVS V15.4.1]', { skip }, async () => {
  const c = await req('POST', '/api/collections/people/records', { name: 'Fay', email: 'fay@one.example' });
  const id = c.json().id as string;
  const h = await hold((trx) => sql`select id from col_people where id = ${id} for update`.execute(trx));
  const r1 = req('PATCH', `/api/collections/people/records/${id}`, { email: 'fay@two.example' });
  await sleep(400);
  const r2 = req('PATCH', `/api/collections/people/records/${id}`, { name: 'Fay B' });
  await sleep(400);
  await h.release();
  assert.deepEqual([(await r1).statusCode, (await r2).statusCode], [200, 200]);
  const log = (await req('GET', `/api/admin/audit?recordId=${id}&kind=change&operation=update`)).json().entries as Array<{
    changes: Array<{ field: string; old?: unknown; new?: unknown }>;
  }>;
  assert.equal(log.length, 2);
  for (const e of log)
    assert.equal(
      e.changes.length,
      1,
      `one request changed one field, its entry claims ${JSON.stringify(e.changes)} (the other request's change attributed to it)`,
    );
});

test('F8: deleting a user while a record naming them is created: never a conflict; the create either lands first or finds the user gone', {
  skip,
}, async () => {
  assert.equal((await req('POST', '/api/admin/roles', { name: 'writer' })).statusCode, 201);
  const g = await req('POST', '/api/admin/grants', { role: 'writer', collection: 'people', actions: ['view', 'create'], fields: ['name', 'team'] });
  assert.equal(g.statusCode, 201, g.body);
  const wid = await createUser(t, admin, 'writer1', 'Writer-password-4411');
  assert.equal((await req('PUT', `/api/admin/users/${wid}/roles`, { roles: ['writer'] })).statusCode, 204);
  const writer = (await login(t, 'writer1', 'Writer-password-4411')).token;
  const uid = await createUser(t, admin, 'member1', 'Member-password-4411');
  await login(t, 'member1', 'Member-password-4411'); // a session: the deletion records session.ended first
  // Someone else holds the chain head for a moment (any audited write does, until it commits).
  const h = await hold((trx) => sql`update audit_chain_head set seq = seq where id = 1`.execute(trx));
  const del = req('DELETE', `/api/admin/users/${uid}`); // waits for the head at its session.ended event
  await sleep(800);
  const create = req('POST', '/api/collections/people/records', { name: 'Gil', team: [uid] }, writer); // member row (FK lock on the user), then waits for the head
  await sleep(800);
  await h.release();
  const [d, c] = await Promise.all([del, create]);
  assert.ok(d.statusCode < 500 && c.statusCode < 500, `a 5xx: ${d.statusCode} ${c.statusCode}`);
  assert.equal(d.statusCode, 204, d.body);
  // The create's member row may wait for the deletion's lock on the user and then find it gone (a foreign
  // key violation): the record write is then run again from the start (D104, D464). Either the create lands and the deletion takes the user out of its team
  // (with a change entry), or the deletion lands first and the create is told the user does not exist.
  if (c.statusCode === 201) {
    const log = (await req('GET', `/api/admin/audit?recordId=${c.json().id}&kind=change`)).json().entries;
    assert.deepEqual(
      log.map((e: { operation: string }) => e.operation),
      ['update', 'create'],
    );
  } else assert.equal(c.json().error.details?.[0]?.message, 'unknown user id', c.body);
});
