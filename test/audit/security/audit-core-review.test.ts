/**
 * Security review of the audit trail core (dd5bf08). Each test states the behaviour the trail should
 * have; a failing test is a finding (see the review report). Tampering is done as a database
 * administrator could (`asDba`: triggers off), the threat the chain and `audit verify` exist for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { bearer, createUser, useApp, type TestApp } from '../../helpers/app.js';
import { asDba as dba, systemEntry } from '../../helpers/audit.js';

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
        { name: 'ssn', type: 'string', sensitive: true },
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

const verify = async () => {
  const r = await req('POST', '/api/admin/audit/verify', {});
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as { ok: boolean; problem: unknown; pruned: number; checked: number; unchained: number };
};

const asDba = (fn: () => Promise<unknown>) => dba(t.s.db, fn);

const logRow = (seq: number | null, over: Record<string, unknown>) => ({ seq, ...systemEntry({ operation: 'retention', ...over }) });

const newPerson = async (body: Record<string, unknown>) => {
  const c = await req('POST', '/api/collections/people/records', body);
  assert.equal(c.statusCode, 201, c.body);
  return c.json().id as string;
};

test('F1: an off-chain retention entry must not let verify accept removed change entries', async () => {
  const id = await newPerson({ name: 'Ada', email: 'ada@example.org' });
  assert.equal((await req('PATCH', `/api/collections/people/records/${id}`, { email: 'ada@else.example' })).statusCode, 200);
  assert.equal((await verify()).ok, true);
  const head = Number((await t.s.db.selectFrom('audit_chain_head').select('seq').executeTakeFirstOrThrow()).seq);
  // Numbered below the chain: the database refuses it outright.
  await assert.rejects(
    asDba(() =>
      t.s.db
        .insertInto('audit_log')
        .values(logRow(-1, { data: JSON.stringify({ kind: 'change', before: 9e15 }) }) as never)
        .execute(),
    ),
  );
  await asDba(async () => {
    // Numbered past the head: read by nobody as a retention run, and itself an addition.
    await t.s.db
      .insertInto('audit_log')
      .values(logRow(head + 1000, { data: JSON.stringify({ kind: 'change', before: 9e15 }) }) as never)
      .execute();
    await t.s.db.deleteFrom('audit_log').where('kind', '=', 'change').where('record_id', '=', id).execute();
  });
  const r = await verify();
  assert.equal(r.ok, false, `history of ${id} erased, verify says ${JSON.stringify(r)}`);
});

test("F2: a spine entry's kind and time are bound by the chain (else any entry can pose as pruned)", async () => {
  // A legitimate retention run of access entries that removed nothing (cut-off: 1 ms after the epoch).
  await t.s.db.transaction().execute(async (trx) => {
    await trx.insertInto('audit_prune').values({ kind: 'access', before_at: 1 }).execute();
    await trx.deleteFrom('audit_log').where('kind', '=', 'access').where('at', '<', 1).execute();
    await trx.deleteFrom('audit_prune').where('kind', '=', 'access').execute();
    await t.s.audit.trail.system(trx, { actor: { id: null, name: 'system' } }, 'retention', { kind: 'access', before: 1, removed: 0 });
  });
  const uid = await createUser(t, admin, 'victim1', 'Victim-password-4411');
  assert.equal((await req('DELETE', `/api/admin/users/${uid}`)).statusCode, 204);
  assert.equal((await verify()).ok, true);
  const ev = await t.s.db
    .selectFrom('security_events')
    .select('seq')
    .where('type', '=', 'user.deleted')
    .where('subject_id', '=', uid)
    .executeTakeFirstOrThrow();
  await asDba(async () => {
    // The link hash covers the digest only: kind and at of the spine row can be rewritten freely.
    await sql`update audit_chain set kind = 'access', at = 0 where seq = ${ev.seq}`.execute(t.s.db);
    await sql`delete from security_events where seq = ${ev.seq}`.execute(t.s.db);
  });
  const r = await verify();
  assert.equal(r.ok, false, `user.deleted event removed, verify says ${JSON.stringify(r)}`);
});

test('F3: content rows outside the chain (seq NULL or below 1) are refused or found by verify', async () => {
  const id = await newPerson({ name: 'Bob' });
  await asDba(async () => {
    // A forged security event "before the chain began".
    await t.s.db
      .insertInto('security_events')
      .values({
        at: Date.now(),
        type: 'user.deleted',
        outcome: 'success',
        actor_id: null,
        actor_name: 'someone-else',
        subject_id: 'x',
        ip: null,
        user_agent: null,
        request_id: null,
        details: null,
      } as never)
      .execute();
  });
  const r = await verify();
  assert.equal(r.ok, false, `forged rows, verify says ${JSON.stringify(r)}`);
  // A change entry numbered 0 never gets in.
  await assert.rejects(
    asDba(() =>
      t.s.db
        .insertInto('audit_log')
        .values(
          logRow(0, { kind: 'change', operation: 'delete', collection: 'people', record_id: id, actor_name: 'someone-else', data: '{"changed":[]}' }) as never,
        )
        .execute(),
    ),
  );
});

test('F4: a filter or search on a sensitive field never reaches the access log in clear', async () => {
  await newPerson({ name: 'Carol', ssn: 'SSN-987-65' });
  const f = encodeURIComponent(JSON.stringify({ ssn: 'SSN-987-65' }));
  const exp = await req('GET', `/api/collections/people/records/export?format=json&filter=${f}`);
  assert.equal(exp.statusCode, 200, exp.body);
  assert.equal((await req('PATCH', '/api/admin/collections/people', { audit: { accessLog: 'filter' } })).statusCode, 200);
  assert.equal((await req('GET', '/api/collections/people/records?search=SSN-987')).statusCode, 200);
  const raw = JSON.stringify(await t.s.db.selectFrom('audit_log').selectAll().where('kind', '=', 'access').execute());
  assert.ok(!raw.includes('SSN-987'), `access log holds the sensitive value: ${raw}`);
});

test('F5: a member list emptied by a user deletion (FK cascade) has a change entry', async () => {
  const uid = await createUser(t, admin, 'member1', 'Member-password-4411');
  const id = await newPerson({ name: 'Dora', team: [uid] });
  assert.equal((await req('DELETE', `/api/admin/users/${uid}`)).statusCode, 204);
  const rec = (await req('GET', `/api/collections/people/records/${id}`)).json();
  assert.deepEqual(rec.team, []);
  const log = (await req('GET', `/api/admin/audit?recordId=${id}&kind=change`)).json().entries as Array<{ operation: string }>;
  assert.ok(log.length >= 2, `the record changed (team ${uid} -> []) but the log has only ${JSON.stringify(log.map((e) => e.operation))}`);
});

test('F6: a field marked sensitive (or hidden) later no longer shows its logged values', async () => {
  const id = await newPerson({ name: 'Eve', email: 'eve@private.example' });
  assert.equal((await req('PATCH', '/api/admin/collections/people/fields/email', { sensitive: true })).statusCode, 200);
  const body = (await req('GET', `/api/admin/audit?recordId=${id}&kind=change`)).body;
  assert.ok(!body.includes('eve@private.example'), 'the old value of a now-sensitive field is still served');
});

test('F9: records read through an expansion or an aggregate are in the access log of their collection', async () => {
  const mk = await req('POST', '/api/admin/collections', {
    name: 'visits',
    fields: [
      { name: 'what', type: 'string' },
      { name: 'person', type: 'relation', target: 'people' },
    ],
  });
  assert.equal(mk.statusCode, 201, mk.body);
  assert.equal((await req('PATCH', '/api/admin/collections/people', { audit: { accessLog: 'ids' } })).statusCode, 200);
  const pid = await newPerson({ name: 'Hal', email: 'hal@example.org' });
  assert.equal((await req('POST', '/api/collections/visits/records', { what: 'x-ray', person: pid })).statusCode, 201);
  const before = (await t.s.db.selectFrom('audit_log').select('seq').where('kind', '=', 'access').where('collection', '=', 'people').execute()).length;
  const l = await req('GET', '/api/collections/visits/records?expand=person');
  assert.equal(l.json().items[0].expand.person.email, 'hal@example.org', l.body);
  const a = await req('GET', '/api/collections/people/records/aggregate?metrics=count&groupBy=email');
  assert.equal(a.statusCode, 200, a.body);
  assert.ok(a.body.includes('hal@example.org'));
  const after = (await t.s.db.selectFrom('audit_log').select('seq').where('kind', '=', 'access').where('collection', '=', 'people').execute()).length;
  assert.ok(after >= before + 2, `people read twice (expansion, aggregate), access entries added: ${after - before}`);
});

test('F10: removing a field records how many records lost a value with the schema change', async () => {
  await newPerson({ name: 'Ivy', email: 'ivy@example.org' });
  assert.equal((await req('DELETE', '/api/admin/collections/people/fields/email')).statusCode, 200);
  const ev = (await req('GET', '/api/admin/security-events?type=schema.changed&limit=1')).json().events[0];
  assert.deepEqual([ev.details.change, ev.details.field, ev.details.records], ['field.removed', 'email', 1]);
});

test('F11: a record key that cannot be opened (restored from another deployment, garbled) does not make its record unwritable', async () => {
  const id = await newPerson({ name: 'Jo', email: 'jo@example.org' });
  await asDba(() => t.s.db.updateTable('audit_log').set({ key_salt: 'v2.garbled' }).where('record_id', '=', id).where('key_salt', 'is not', null).execute());
  const r = await req('PATCH', `/api/collections/people/records/${id}`, { email: 'jo@else.example' });
  assert.equal(r.statusCode, 200, r.body);
  const sys = (await req('GET', '/api/admin/audit?kind=system&operation=erase&limit=1')).json().entries[0];
  assert.equal(sys.data.reason, 'unreadable key replaced');
  const log = (await req('GET', `/api/admin/audit?recordId=${id}&kind=change`)).json().entries;
  assert.deepEqual(
    log[0].changes.find((c: { field: string }) => c.field === 'email'),
    { field: 'email', old: 'jo@example.org', new: 'jo@else.example' },
  );
  assert.equal(log[1].erased, true);
  assert.equal((await verify()).ok, true);
});

test('F12: a record key cannot be deleted or changed outside a recorded erasure', async () => {
  const id = await newPerson({ name: 'Kim', email: 'kim@example.org' });
  // The key's salt is in the record's first change entry (D459): neither removed nor replaced outside an erasure.
  const salted = () => t.s.db.selectFrom('audit_log').select('key_salt').where('record_id', '=', id).where('key_salt', 'is not', null).execute();
  assert.equal((await salted()).length, 1);
  await assert.rejects(t.s.db.updateTable('audit_log').set({ key_salt: null }).where('record_id', '=', id).execute());
  await assert.rejects(t.s.db.updateTable('audit_log').set({ key_salt: 'v2.AAAAAAAAAAAAAAAAAAAAAA' }).where('record_id', '=', id).execute());
  await assert.rejects(t.s.db.deleteFrom('audit_log').where('record_id', '=', id).execute());
  assert.equal((await salted()).length, 1);
  // An erasure goes through, and is itself on the chain.
  await t.s.db.transaction().execute((trx) => t.s.audit.trail.erase(trx, 'people', [id]));
  const e = (await req('GET', `/api/admin/audit?recordId=${id}&kind=change`)).json().entries[0];
  assert.equal(e.erased, true);
  const sys = (await req('GET', '/api/admin/audit?kind=system&operation=erase&collection=people&limit=1')).json().entries[0];
  assert.deepEqual(sys.data, { reason: 'erasure', records: 1, keys: 1 });
  assert.equal((await verify()).ok, true);
});

test('a verification while other requests write is not a false alarm: what commits during the walk is the next walk’s', async () => {
  // Enough entries that the walk takes several batches' time, then writes all through it.
  for (let i = 0; i < 4; i++) await Promise.all(Array.from({ length: 50 }, (_, j) => req('POST', '/api/collections/people/records', { name: `w${i}-${j}` })));
  for (let round = 0; round < 3; round++) {
    const writes = Promise.all(Array.from({ length: 60 }, (_, j) => req('POST', '/api/collections/people/records', { name: `during-${round}-${j}` })));
    const r = await verify();
    await writes;
    assert.equal(r.ok, true, JSON.stringify(r.problem));
  }
  // And once the writes are done, the chain is whole and every entry checked.
  const after = await verify();
  assert.equal(after.ok, true, JSON.stringify(after.problem));
});

test('one verification at a time per instance: a second one while the first walks is refused (a walk holds a connection on PostgreSQL)', async () => {
  const rs = await Promise.all([1, 2, 3].map(() => req('POST', '/api/admin/audit/verify', {})));
  const statuses = rs.map((r) => r.statusCode).sort();
  assert.equal(statuses[0], 200, JSON.stringify(rs.map((r) => r.body)));
  assert.ok(statuses.includes(409), JSON.stringify(statuses));
  for (const r of rs.filter((x) => x.statusCode === 409)) assert.equal(r.json().error.code, 'CONFLICT');
  // Once it is done, the next one walks.
  assert.equal((await verify()).ok, true);
});
