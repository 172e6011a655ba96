/**
 * AUDIT-5, GDPR policies and erasure requests through the public surface: after an anonymisation no
 * personal value is readable anywhere (the record, its revisions, the audit log's answers, the raw
 * tables) while the audit chain still verifies; dry runs change nothing; deletion with and without
 * purging the history; erasure by user and by value; invalid policies refused with stable codes;
 * only administrators define (schema.manage) and run (security.manage) them; and the scheduler runs
 * a due policy once across two instances.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { bearer, cliEnv, createUser, DIALECT, login, makeApp, useApp, type TestApp } from '../helpers/app.js';
import { openDb } from '../../src/db/index.js';
import { cli } from '../helpers/cli.js';

let t: TestApp;
let admin: string;
let alice: string;
let bob: string;
useApp(async (app, token) => {
  t = app;
  admin = token;
  alice = await createUser(t, admin, 'alice', 'Harbour-lantern-7781');
  bob = await createUser(t, admin, 'bob', 'Harbour-compass-7781');
  const r = await req('POST', '/api/admin/collections', {
    name: 'clients',
    fields: [
      { name: 'name', type: 'string', required: true },
      { name: 'email', type: 'email', unique: true },
      { name: 'phone', type: 'string' },
      { name: 'employer', type: 'string' },
      { name: 'notes', type: 'text', hidden: true },
      { name: 'ssn', type: 'string', sensitive: true },
      { name: 'score', type: 'integer' },
      { name: 'stage', type: 'status', values: ['lead', 'client', 'gone'], default: 'lead' },
      { name: 'owner', type: 'user' },
      { name: 'team', type: 'members' },
    ],
    audit: { revisions: true },
  });
  assert.equal(r.statusCode, 201, r.body);
  assert.equal((await req('POST', '/api/admin/collections', { name: 'diary', fields: [{ name: 'entry', type: 'text' }] })).statusCode, 201);
});

const req = (method: string, url: string, payload?: unknown, token = admin) =>
  t.app.inject({ method: method as 'GET', url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });

const create = async (body: Record<string, unknown>, collection = 'clients'): Promise<string> => {
  const r = await req('POST', `/api/collections/${collection}/records`, body);
  assert.equal(r.statusCode, 201, r.body);
  return r.json().id;
};
const record = async (id: string, collection = 'clients') => req('GET', `/api/collections/${collection}/records/${id}`);
const policy = async (body: Record<string, unknown>, token = admin) => req('POST', '/api/admin/collections/clients/privacy-policies', body, token);
const run = async (id: string, dryRun = false, token = admin) => req('POST', `/api/admin/collections/clients/privacy-policies/${id}/run`, { dryRun }, token);
const entries = async (qs: string): Promise<Array<Record<string, any>>> => {
  const r = await req('GET', `/api/admin/audit${qs}`);
  assert.equal(r.statusCode, 200, r.body);
  return r.json().entries;
};
const verify = async () => {
  const r = await req('POST', '/api/admin/audit/verify', {});
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as { ok: boolean; problem: unknown };
};
/** Every raw row where a personal value could hide: the log, revisions, the record and member tables, security events. */
const rawTables = async (): Promise<string> => {
  const db = t.s.db;
  const parts = [
    await db.selectFrom('audit_log').selectAll().execute(),
    await db.selectFrom('record_revisions').selectAll().execute(),
    await db.selectFrom('security_events').selectAll().execute(),
    (await sql`select * from col_clients`.execute(db)).rows,
    (await sql`select * from col_clients__team`.execute(db)).rows,
    (await sql`select * from col_diary`.execute(db)).rows,
  ];
  return JSON.stringify(parts);
};
const auditLogCount = async () =>
  Number(
    (
      await t.s.db
        .selectFrom('audit_log')
        .select((e) => e.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

test('after an anonymisation policy no personal value is readable anywhere, and the chain still verifies [ASVS V14.2.7]', async () => {
  const personal = ['Zelda Quintessa', 'zelda.q@example.org', 'PHONE-5550101', 'PHONE-5550102', 'NOTE-secret-zq', 'SSN-999-88', 'ACME-Employer-Q'];
  const id = await create({
    name: 'Zelda Quintessa',
    email: 'zelda.q@example.org',
    phone: 'PHONE-5550101',
    employer: 'ACME-Employer-Q',
    notes: 'NOTE-secret-zq',
    ssn: 'SSN-999-88',
    score: 42,
    stage: 'gone',
    owner: alice,
    team: [alice],
  });
  // Updated twice: two revisions hold the earlier versions.
  assert.equal((await req('PATCH', `/api/collections/clients/records/${id}`, { phone: 'PHONE-5550102' })).statusCode, 200);
  assert.equal((await req('PATCH', `/api/collections/clients/records/${id}`, { name: 'Zelda Quintessa Jr' })).statusCode, 200);
  const twin = await create({ name: 'Other Gone', employer: 'ACME-Employer-Q', stage: 'gone' });
  const kept = await create({ name: 'Keep Me', email: 'keep@example.org', phone: 'PHONE-KEEP', stage: 'client' });
  assert.equal((await t.s.db.selectFrom('record_revisions').select('id').where('record_id', '=', id).execute()).length, 2);
  const before = await entries(`?collection=clients&recordId=${id}&kind=change`);
  assert.ok(before.some((e) => e.changes?.some((c: any) => c.old === 'PHONE-5550101')));

  const p = await policy({
    name: 'gone clients',
    action: 'anonymise',
    rule: { status: { field: 'stage', in: ['gone'] } },
    values: {
      name: { kind: 'fake' },
      email: { kind: 'hash' },
      phone: { kind: 'null' },
      employer: { kind: 'hash' },
      notes: { kind: 'fixed', value: '(removed)' },
      ssn: { kind: 'null' },
      score: { kind: 'fixed', value: 0 },
      owner: { kind: 'null' },
      team: { kind: 'null' },
    },
  });
  assert.equal(p.statusCode, 201, p.body);
  const pid = p.json().policy.id;

  // A dry run changes nothing: it answers what would change and writes no audit log entry.
  const logBefore = await auditLogCount();
  const dry = await run(pid, true);
  assert.equal(dry.statusCode, 200, dry.body);
  assert.equal(dry.json().matched, 2);
  assert.equal(dry.json().changed, 0);
  assert.deepEqual(dry.json().ids.sort(), [id, twin].sort());
  assert.equal((await record(id)).json().email, 'zelda.q@example.org');
  assert.equal(await auditLogCount(), logBefore);
  assert.equal((await t.s.db.selectFrom('record_revisions').select('id').where('record_id', '=', id).execute()).length, 2);
  const bypass = (await req('GET', '/api/admin/security-events?type=record.bypass')).json().events.find((e: any) => e.details.privacy);
  assert.deepEqual(bypass.details.privacy, { policy: pid, action: 'anonymise', dryRun: true, matched: 2 });

  const r = await run(pid);
  assert.equal(r.statusCode, 200, r.body);
  assert.deepEqual([r.json().matched, r.json().changed, r.json().remaining], [2, 2, false]);

  // The record.
  const after = (await record(id)).json();
  assert.match(after.name, /^anon-[0-9a-f]{16}$/);
  assert.match(after.email, /^[0-9a-f]{48}@invalid\.example$/);
  assert.equal(after.phone, null);
  assert.equal(after.notes, undefined); // hidden: never answered, checked in the table
  assert.equal((await sql<{ notes: string }>`select notes from col_clients where id = ${id}`.execute(t.s.db)).rows[0]!.notes, '(removed)');
  assert.equal(after.ssn, null);
  assert.equal(after.score, 0);
  assert.equal(after.owner, null);
  assert.deepEqual(after.team, []);
  // The keyed hash: equal inputs stay equal (joinable), without showing the input.
  assert.equal(after.employer, (await record(twin)).json().employer);
  assert.match(after.employer, /^[0-9a-f]{64}$/);
  // Its revisions are gone.
  assert.equal((await t.s.db.selectFrom('record_revisions').select('id').where('record_id', '=', id).execute()).length, 0);
  // The audit log keeps every entry, the values read as erased.
  const log = await entries(`?collection=clients&recordId=${id}&kind=change`);
  assert.deepEqual(log.map((e) => e.operation).reverse(), ['create', 'update', 'update', 'anonymise']);
  for (const e of log) {
    assert.equal(e.erased, true, JSON.stringify(e));
    assert.ok(e.changes.every((c: any) => !('old' in c) && !('new' in c)));
  }
  // Nothing personal in any answer or any raw table.
  const answers = JSON.stringify([log, await entries('?collection=clients'), after]);
  const raw = await rawTables();
  for (const v of personal) {
    assert.ok(!answers.includes(v), `answer holds ${v}`);
    assert.ok(!raw.includes(v), `raw tables hold ${v}`);
  }
  // The record the rule does not match is untouched and still has its history.
  assert.equal((await record(kept)).json().phone, 'PHONE-KEEP');
  assert.ok((await entries(`?collection=clients&recordId=${kept}&kind=change`))[0]!.changes.some((c: any) => c.new === 'PHONE-KEEP'));
  // The run is on the chain as a system entry, and the chain is intact.
  const sys = (await entries('?kind=system&operation=policy'))[0]!;
  assert.deepEqual(sys.data, { policy: pid, action: 'anonymise', matched: 2, changed: 2, remaining: false, dryRun: false });
  assert.equal(sys.actor.name, 'root');
  const v = await verify();
  assert.equal(v.ok, true, JSON.stringify(v));
  const stored = (await req('GET', `/api/admin/collections/clients/privacy-policies/${pid}`)).json().policy;
  assert.deepEqual(stored.lastResult, { matched: 2, changed: 2, remaining: false });
  // Anonymised records are not anonymised again until they change.
  assert.deepEqual([(await run(pid)).json().matched], [0]);
  assert.equal((await req('DELETE', `/api/admin/collections/clients/privacy-policies/${pid}`)).statusCode, 204);
});

test('a delete policy without purge keeps the history readable; with purge it is erased', async () => {
  const old = await create({ name: 'Del-NoPurge', phone: 'PHONE-DEL-1' });
  await req('PATCH', `/api/collections/clients/records/${old}`, { phone: 'PHONE-DEL-2' });
  t.clock.advance(7200);
  admin = (await login(t)).token; // the clock moved past the token's life
  const young = await create({ name: 'Del-NoPurge', phone: 'PHONE-DEL-3' });
  const p = await policy({ name: 'old leads', action: 'delete', rule: { filter: { name: 'Del-NoPurge' }, olderThan: { field: 'createdAt', seconds: 3600 } } });
  assert.equal(p.statusCode, 201, p.body);
  const dry = (await run(p.json().policy.id, true)).json();
  assert.deepEqual([dry.matched, dry.ids], [1, [old]]);
  assert.equal((await record(old)).statusCode, 200);
  const r = (await run(p.json().policy.id)).json();
  assert.deepEqual([r.matched, r.changed], [1, 1]);
  assert.equal((await record(old)).statusCode, 404);
  assert.equal((await record(young)).statusCode, 200);
  // Without purge: the delete entry and the earlier values stay readable, the revisions stay.
  const log = await entries(`?collection=clients&recordId=${old}&kind=change`);
  assert.deepEqual(
    log.map((e) => e.operation),
    ['delete', 'update', 'create'],
  );
  assert.ok(log.every((e) => !e.erased));
  assert.ok(log[0]!.changes.some((c: any) => c.old === 'PHONE-DEL-2'));
  assert.equal((await t.s.db.selectFrom('record_revisions').select('id').where('record_id', '=', old).execute()).length, 2);

  const gone = await create({ name: 'Del-Purge', phone: 'PHONE-PURGE-1' });
  await req('PATCH', `/api/collections/clients/records/${gone}`, { phone: 'PHONE-PURGE-2' });
  const pp = await policy({ name: 'purged', action: 'delete', rule: { filter: { name: 'Del-Purge' } }, purgeHistory: true });
  assert.equal(pp.statusCode, 201, pp.body);
  assert.equal((await run(pp.json().policy.id)).json().changed, 1);
  const plog = await entries(`?collection=clients&recordId=${gone}&kind=change`);
  assert.deepEqual(
    plog.map((e) => e.operation),
    ['delete', 'update', 'create'],
  );
  assert.ok(plog.every((e) => e.erased === true));
  assert.equal((await t.s.db.selectFrom('record_revisions').select('id').where('record_id', '=', gone).execute()).length, 0);
  const raw = await rawTables();
  assert.ok(!raw.includes('PHONE-PURGE-1') && !raw.includes('PHONE-PURGE-2'));
  assert.equal((await verify()).ok, true);
});

test('an erasure by user anonymises what the user created or is linked to, and records only a hash of the subject', async () => {
  const owned = await create({ name: 'Owned by Bob', phone: 'PHONE-BOB-1', owner: bob });
  const shared = await create({ name: 'Shared with Bob', team: [alice, bob] });
  const other = await create({ name: 'Alice only', owner: alice, team: [alice] });
  const body = { collection: 'clients', by: { userId: bob }, action: 'anonymise', values: { name: { kind: 'fake' }, phone: { kind: 'null' } } };
  const dry = await req('POST', '/api/admin/privacy/erasure', { ...body, dryRun: true });
  assert.equal(dry.statusCode, 200, dry.body);
  assert.deepEqual(dry.json().ids.sort(), [owned, shared].sort());
  assert.equal((await record(owned)).json().owner, bob);
  const r = await req('POST', '/api/admin/privacy/erasure', body);
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(r.json().changed, 2);
  const o = (await record(owned)).json();
  assert.equal(o.owner, null);
  assert.equal(o.phone, null);
  assert.match(o.name, /^anon-/);
  // Only Bob leaves the member list; the other members stay.
  assert.deepEqual((await record(shared)).json().team, [alice]);
  assert.deepEqual((await record(other)).json().team, [alice]);
  assert.equal((await record(other)).json().name, 'Alice only');
  const ownedLog = await entries(`?collection=clients&recordId=${owned}&kind=change`);
  assert.ok(
    ownedLog.every((e) => e.erased === true),
    JSON.stringify(ownedLog),
  );
  const sys = (await entries('?kind=system&operation=erase'))[0]!;
  assert.equal(sys.data.erasure, 'user');
  assert.match(sys.data.subject, /^[0-9a-f]{64}$/);
  assert.ok(!JSON.stringify(sys).includes(bob), JSON.stringify(sys));
  const rawBob = await rawTables();
  assert.ok(!rawBob.includes('PHONE-BOB-1'), rawBob.slice(Math.max(0, rawBob.indexOf('PHONE-BOB-1') - 300), rawBob.indexOf('PHONE-BOB-1') + 50));

  // The creator link: records root created in the diary, erased by root's id (through the CLI).
  const d1 = await create({ entry: 'DIARY-ENTRY-1' }, 'diary');
  const rootId = (await req('GET', '/api/auth/me')).json().user.id;
  const cdry = await cli(['privacy', 'erase', '--collection', 'diary', '--user', 'root', '--dry-run'], cliEnv(t));
  assert.equal(cdry.code, 0, cdry.stderr);
  assert.match(cdry.stdout, /dry run: 1 record\(s\) would change/);
  const c = await cli(['privacy', 'erase', '--collection', 'diary', '--user', rootId], cliEnv(t));
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /1 of 1 matched record\(s\) changed/);
  const d = (await record(d1, 'diary')).json();
  assert.equal(d.createdBy, null);
  assert.equal(d.entry, 'DIARY-ENTRY-1');
  const diaryLog = await entries(`?collection=diary&recordId=${d1}&kind=change`);
  assert.deepEqual(
    diaryLog.map((e) => [e.operation, e.erased ?? false, e.actor.name]),
    [
      ['anonymise', false, 'cli'], // no value changed: nothing was logged to erase
      ['create', true, 'root'],
    ],
  );
  assert.ok((await rawTables()).includes('DIARY-ENTRY-1'), 'the record itself keeps what no value named');
  assert.ok(!JSON.stringify(await t.s.db.selectFrom('audit_log').selectAll().execute()).includes('DIARY-ENTRY-1'), 'audit_log holds the diary entry');
  assert.equal((await verify()).ok, true);
});

test('an erasure by field value deletes the records that hold it, with their history', async () => {
  const v = await create({ name: 'Victim Person', email: 'victim@example.org', phone: 'PHONE-VICTIM' });
  await req('PATCH', `/api/collections/clients/records/${v}`, { phone: 'PHONE-VICTIM-2' });
  const body = { collection: 'clients', by: { field: 'email', value: 'victim@example.org' }, action: 'delete' };
  const dry = (await req('POST', '/api/admin/privacy/erasure', { ...body, dryRun: true })).json();
  assert.deepEqual([dry.matched, dry.ids], [1, [v]]);
  const r = await req('POST', '/api/admin/privacy/erasure', body);
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(r.json().changed, 1);
  assert.equal((await record(v)).statusCode, 404);
  const raw = await rawTables();
  for (const s of ['victim@example.org', 'Victim Person', 'PHONE-VICTIM']) assert.ok(!raw.includes(s), s);
  assert.ok((await entries(`?collection=clients&recordId=${v}&kind=change`)).every((e) => e.erased === true));
  // An anonymising erasure by value without values empties that field (or makes one up when it must hold one).
  const w = await create({ name: 'Wanda', email: 'wanda@example.org' });
  const a = await req('POST', '/api/admin/privacy/erasure', { collection: 'clients', by: { field: 'email', value: 'wanda@example.org' }, action: 'anonymise' });
  assert.equal(a.statusCode, 200, a.body);
  assert.match((await record(w)).json().email, /^anon-[0-9a-f]{16}@invalid\.example$/);
  // Through the CLI, by an integer field.
  const n = await create({ name: 'Numbered', score: 987654 });
  const c = await cli(['privacy', 'erase', '--collection', 'clients', '--field', 'score', '--value', '987654', '--action', 'delete'], cliEnv(t));
  assert.equal(c.code, 0, c.stderr);
  assert.equal((await record(n)).statusCode, 404);
  assert.equal((await verify()).ok, true);
});

test("SQLite: an erasure leaves neither the values nor the record's key in the database file or its log (D458)", {
  skip: DIALECT !== 'sqlite' && 'SQLite files only',
}, async () => {
  const { readFileSync } = await import('node:fs');
  const file = path.join(t.shared.dataDir, 'palisade.db');
  const bytes = () => Buffer.concat([readFileSync(file), existsSync(`${file}-wal`) ? readFileSync(`${file}-wal`) : Buffer.alloc(0)]);
  // A long note spills into overflow pages, which a deletion frees whole.
  const long = 'NOTE-ZQX-'.repeat(700);
  const id = await create({ name: 'Quentin Zyxwvut', email: 'quentin.zyxwvut@example.org', phone: 'PHONE-QZ-55501', notes: long });
  await req('PATCH', `/api/collections/clients/records/${id}`, { phone: 'PHONE-QZ-55502' });
  // The record's key: the salt in its first change entry (D459).
  const key = (
    await t.s.db
      .selectFrom('audit_log')
      .select('key_salt')
      .where('collection', '=', 'clients')
      .where('record_id', '=', id)
      .where('key_salt', 'is not', null)
      .executeTakeFirstOrThrow()
  ).key_salt!;
  // Another connection opens the file, as a CLI command or a restart does: its planner statistics (ANALYZE at open)
  // must not keep samples of the indexed email.
  const second = await openDb({ databaseUrl: null, dataDir: t.shared.dataDir, poolMax: 1 });
  await second.close();
  const stat4 = await sql<{ n: number }>`select count(*) as n from sqlite_master where name = 'sqlite_stat4'`.execute(t.s.db);
  if (stat4.rows[0]!.n > 0) assert.equal((await sql<{ n: number }>`select count(*) as n from sqlite_stat4`.execute(t.s.db)).rows[0]!.n, 0);
  // Some of it in the database file, some only in the log, as a running server has it.
  await sql`pragma wal_checkpoint(passive)`.execute(t.s.db);
  await req('PATCH', `/api/collections/clients/records/${id}`, { phone: 'PHONE-QZ-55503' });
  const secrets = ['Quentin Zyxwvut', 'quentin.zyxwvut@example.org', 'PHONE-QZ-5550', 'NOTE-ZQX-', key];
  assert.ok(
    secrets.every((v) => bytes().includes(v)),
    'the values and the key are in the files before',
  );
  const r = await req('POST', '/api/admin/privacy/erasure', {
    collection: 'clients',
    by: { field: 'email', value: 'quentin.zyxwvut@example.org' },
    action: 'delete',
  });
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(r.json().changed, 1);
  const after = bytes();
  for (const v of secrets) assert.ok(!after.includes(v), `the files still hold ${v.slice(0, 30)}`);
  // The legitimate path is whole: the chain verifies and other records are readable.
  assert.equal((await verify()).ok, true);
  const other = await create({ name: 'Still Here' });
  assert.equal((await record(other)).json().name, 'Still Here');
});

test('invalid policies and erasure requests are refused with stable codes, and nothing is stored', async () => {
  const count = async () => (await req('GET', '/api/admin/collections/clients/privacy-policies')).json().policies.length;
  const n = await count();
  const rule = { status: { field: 'stage', in: ['gone'] } };
  const cases: Array<[Record<string, unknown>, number, string]> = [
    [{ name: 'x', action: 'anonymise', rule, values: { nope: { kind: 'null' } } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'anonymise', rule, values: { email: { kind: 'fixed', value: 'same@example.org' } } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'anonymise', rule, values: { score: { kind: 'fixed', value: 'many' } } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'anonymise', rule, values: { name: { kind: 'null' } } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'anonymise', rule, values: { score: { kind: 'hash' } } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'anonymise', rule, values: { team: { kind: 'fixed', value: [] } } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'anonymise', rule, values: { owner: { kind: 'fake' } } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'anonymise', rule, values: {} }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'delete', rule, values: { phone: { kind: 'null' } } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'delete', rule: {} }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'delete', rule: { status: { field: 'stage', in: ['lost'] } } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'delete', rule: { status: { field: 'phone', in: ['gone'] } } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'delete', rule: { olderThan: { field: 'phone', seconds: 3600 } } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'delete', rule: { filter: { nope: 1 } } }, 400, 'FIELD_UNKNOWN'],
    [{ name: 'x', action: 'delete', rule: { filter: { name: { $regex: '.' } } } }, 400, 'FILTER_INVALID'],
    [{ name: 'x', action: 'delete', rule: { filter: { 'owner.name': 'x' } } }, 400, 'FILTER_INVALID'],
    [{ name: 'x', action: 'delete', rule, schedule: { enabled: true, every: 30 } }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', action: 'delete', rule, schedule: { enabled: true } }, 400, 'PRIVACY_POLICY_INVALID'],
    [{ name: 'x', action: 'delete', rule, extra: true }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', action: 'shred', rule }, 400, 'VALIDATION_FAILED'],
    [{ name: 'x', action: 'anonymise', rule, values: { phone: { kind: 'null', value: 1 } } }, 400, 'VALIDATION_FAILED'],
  ];
  for (const [body, status, code] of cases) {
    const r = await policy(body);
    assert.equal(r.statusCode, status, `${JSON.stringify(body)}: ${r.body}`);
    assert.equal(r.json().error.code, code, JSON.stringify(body));
  }
  assert.equal(await count(), n);
  assert.equal((await req('POST', '/api/admin/collections/nosuch/privacy-policies', { name: 'x', action: 'delete', rule })).statusCode, 404);
  assert.equal((await policy({ name: 'dup', action: 'delete', rule })).statusCode, 201);
  assert.equal((await policy({ name: 'dup', action: 'delete', rule })).json().error.code, 'CONFLICT');
  const erase = (body: Record<string, unknown>) => req('POST', '/api/admin/privacy/erasure', { collection: 'clients', action: 'delete', ...body });
  assert.equal((await erase({ by: { field: 'nope', value: 'x' } })).json().error.code, 'FIELD_UNKNOWN');
  assert.equal((await erase({ by: { field: 'score', value: 'x' } })).json().error.code, 'FILTER_INVALID');
  assert.equal((await erase({ by: { userId: bob }, values: { phone: { kind: 'null' } } })).json().error.code, 'PRIVACY_POLICY_INVALID');
  assert.equal((await erase({ by: { userId: bob, field: 'x' } })).json().error.code, 'VALIDATION_FAILED');
  assert.equal((await erase({ by: { userId: bob }, collection: 'nosuch' })).statusCode, 404);
  // A policy whose field was removed since is refused when it runs, and says so.
  assert.equal((await req('POST', '/api/admin/collections/clients/fields', { name: 'nickname', type: 'string' })).statusCode, 201);
  const p = await policy({ name: 'nick', action: 'anonymise', rule, values: { nickname: { kind: 'null' } } });
  assert.equal(p.statusCode, 201, p.body);
  assert.equal((await req('DELETE', '/api/admin/collections/clients/fields/nickname')).statusCode, 200);
  const bad = await run(p.json().policy.id);
  assert.equal(bad.json().error.code, 'PRIVACY_POLICY_INVALID');
  assert.deepEqual((await req('GET', `/api/admin/collections/clients/privacy-policies/${p.json().policy.id}`)).json().policy.lastResult, {
    error: 'PRIVACY_POLICY_INVALID',
  });
  // Policies go with their collection.
  const tmp = { name: 'scratch', fields: [{ name: 'x', type: 'string' }] };
  assert.equal((await req('POST', '/api/admin/collections', tmp)).statusCode, 201);
  const sp = await req('POST', '/api/admin/collections/scratch/privacy-policies', { name: 'x', action: 'delete', rule: { filter: { x: 'y' } } });
  assert.equal(sp.statusCode, 201, sp.body);
  assert.equal((await req('DELETE', '/api/admin/collections/scratch')).statusCode, 204);
  assert.equal((await req('POST', '/api/admin/collections', tmp)).statusCode, 201);
  assert.deepEqual((await req('GET', '/api/admin/collections/scratch/privacy-policies')).json().policies, []);
  // One run at a time: a policy another run holds answers PRIVACY_POLICY_BUSY.
  await t.s.db
    .updateTable('privacy_policies')
    .set({ running_until: t.clock.now() + 60_000 })
    .where('name', '=', 'dup')
    .execute();
  const dup = (await req('GET', '/api/admin/collections/clients/privacy-policies')).json().policies.find((x: any) => x.name === 'dup');
  assert.equal((await run(dup.id)).json().error.code, 'PRIVACY_POLICY_BUSY');
  assert.equal((await run(dup.id, true)).statusCode, 200);
});

test('only administrators define (schema.manage) and run (security.manage) policies', async () => {
  const role = async (name: string, permissions: string[]) => assert.equal((await req('POST', '/api/admin/roles', { name, permissions })).statusCode, 201);
  await role('schemer', ['schema.manage']);
  await role('guard', ['security.manage']);
  const as = async (username: string, roles: string[]) => {
    const id = await createUser(t, admin, username, 'Privacy-role-user-5522');
    if (roles.length) assert.equal((await req('PUT', `/api/admin/users/${id}/roles`, { roles })).statusCode, 204);
    return (await login(t, username, 'Privacy-role-user-5522')).token;
  };
  const plain = await as('plainp', []);
  const schemer = await as('schemerp', ['schemer']);
  const guard = await as('guardp', ['guard']);
  const victim = await create({ name: 'Not for plain users', stage: 'gone' });
  const body = { name: 'perm test', action: 'delete', rule: { filter: { name: 'Not for plain users' } } };
  // The attack: a user without the permission defines, runs or erases; nothing changes.
  assert.equal((await policy(body, plain)).statusCode, 403);
  assert.equal((await policy(body, guard)).statusCode, 403);
  assert.equal((await req('GET', '/api/admin/collections/clients/privacy-policies', undefined, plain)).statusCode, 403);
  const erase = { collection: 'clients', by: { field: 'name', value: 'Not for plain users' }, action: 'delete' };
  assert.equal((await req('POST', '/api/admin/privacy/erasure', erase, plain)).statusCode, 403);
  assert.equal((await req('POST', '/api/admin/privacy/erasure', erase, schemer)).statusCode, 403);
  // The legitimate ones: schema.manage defines, security.manage runs.
  const p = await policy(body, schemer);
  assert.equal(p.statusCode, 201, p.body);
  const pid = p.json().policy.id;
  assert.equal((await run(pid, false, plain)).statusCode, 403);
  assert.equal((await run(pid, false, schemer)).statusCode, 403);
  assert.equal((await req('DELETE', `/api/admin/collections/clients/privacy-policies/${pid}`, undefined, plain)).statusCode, 403);
  assert.equal((await record(victim)).statusCode, 200);
  const ok = await run(pid, false, guard);
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json().changed, 1);
  assert.equal((await record(victim)).statusCode, 404);
  // Defining is a recorded schema change.
  const ev = (await req('GET', '/api/admin/security-events?type=schema.changed')).json().events.find((e: any) => e.details.policy === pid);
  assert.equal(ev.details.change, 'privacy_policy.created');
  // An API key never defines or runs one (sessions only).
  assert.equal((await req('PATCH', '/api/admin/settings/api-keys', { selfService: true })).statusCode, 200);
  const key = await req('POST', '/api/auth/api-keys', { name: 'k', role: 'schemer', expiresIn: 86400 }, schemer);
  assert.equal(key.statusCode, 201, key.body);
  const byKey = await policy({ ...body, name: 'by key' }, key.json().secret);
  assert.equal(byKey.json().error.code, 'SESSION_REQUIRED');
});

test('a scheduled policy runs by itself: scheduling one needs security.manage too, switching it off does not', async () => {
  const role = async (name: string, permissions: string[]) => assert.equal((await req('POST', '/api/admin/roles', { name, permissions })).statusCode, 201);
  await role('schemer2', ['schema.manage']);
  await role('officer2', ['schema.manage', 'security.manage']);
  const as = async (username: string, roles: string[]) => {
    const id = await createUser(t, admin, username, 'Privacy-role-user-5522');
    assert.equal((await req('PUT', `/api/admin/users/${id}/roles`, { roles })).statusCode, 204);
    return (await login(t, username, 'Privacy-role-user-5522')).token;
  };
  const schemer = await as('schemer2p', ['schemer2']);
  const officer = await as('officer2p', ['officer2']);
  const list = async () =>
    (await req('GET', '/api/admin/collections/clients/privacy-policies')).json().policies as Array<{ name: string; schedule: { enabled: boolean } }>;
  const schedule = { enabled: true, every: 3600 };
  const body = { name: 'unattended', action: 'delete', rule: { filter: { name: 'Scheduled by a schemer' } } };
  // The attack: a schema designer defines a scheduled policy, or schedules one, or changes one that is scheduled.
  const made = await policy({ ...body, schedule }, schemer);
  assert.equal(made.statusCode, 403, made.body);
  assert.equal(made.json().error.code, 'FORBIDDEN');
  assert.equal(
    (await list()).some((x) => x.name === 'unattended'),
    false,
    'nothing defined',
  );
  const plain = await policy(body, schemer);
  assert.equal(plain.statusCode, 201, plain.body);
  const pid = plain.json().policy.id;
  const url = `/api/admin/collections/clients/privacy-policies/${pid}`;
  assert.equal((await req('PATCH', url, { schedule }, schemer)).statusCode, 403);
  assert.equal((await list()).find((x) => x.name === 'unattended')!.schedule.enabled, false, 'not scheduled');
  // The legitimate one: who may run policies schedules it; then a schema designer may not change its rule, but may switch it off.
  const on = await req('PATCH', url, { schedule }, officer);
  assert.equal(on.statusCode, 200, on.body);
  assert.equal(on.json().policy.schedule.enabled, true);
  assert.equal((await req('PATCH', url, { rule: { filter: { name: 'Anyone else' } } }, schemer)).statusCode, 403);
  const off = await req('PATCH', url, { schedule: { enabled: false } }, schemer);
  assert.equal(off.statusCode, 200, off.body);
  assert.equal(off.json().policy.schedule.enabled, false);
  assert.equal((await req('DELETE', url, undefined, schemer)).statusCode, 204);
});

test('the scheduler runs a due policy once across two instances', async () => {
  const id = await create({ name: 'Sched-1' });
  const p = await policy({ name: 'scheduled', action: 'delete', rule: { filter: { name: 'Sched-1' } }, schedule: { enabled: true, every: 3600 } });
  assert.equal(p.statusCode, 201, p.body);
  const pid = p.json().policy.id;
  const peer = await makeApp({ peerOf: t });
  // The instances' own 30-second ticks are stopped: this test drives both by hand.
  await t.s.privacyScheduler.stop();
  await peer.s.privacyScheduler.stop();
  try {
    assert.deepEqual(await t.s.privacyScheduler.runDue(), []);
    t.clock.advance(3600);
    admin = (await login(t)).token;
    const [a, b] = await Promise.all([t.s.privacyScheduler.runDue(), peer.s.privacyScheduler.runDue()]);
    const ran = [...a, ...b].filter((x) => x.policy === pid);
    assert.equal(ran.length, 1, JSON.stringify([a, b]));
    assert.equal(ran[0]!.result?.changed, 1);
    assert.equal((await record(id)).statusCode, 404);
    const runs = (await entries('?kind=system&operation=policy')).filter((e) => e.data.policy === pid);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.actor.name, 'system');
    // Not due again until its next time.
    assert.deepEqual(await peer.s.privacyScheduler.runDue(), []);
    const stored = (await req('GET', `/api/admin/collections/clients/privacy-policies/${pid}`)).json().policy;
    assert.equal(Date.parse(stored.nextRunAt), t.clock.now() + 3600_000);
    // Switched off, it never runs.
    const off = await req('PATCH', `/api/admin/collections/clients/privacy-policies/${pid}`, { schedule: { enabled: false } });
    assert.equal(off.statusCode, 200, off.body);
    assert.equal(off.json().policy.nextRunAt, null);
    t.clock.advance(7200);
    admin = (await login(t)).token;
    assert.deepEqual(await t.s.privacyScheduler.runDue(), []);
  } finally {
    await peer.close();
  }
  // The CLI runs one on demand.
  const c = await cli(['privacy', 'run', '--collection', 'clients', '--policy', pid, '--dry-run'], cliEnv(t));
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /dry run: 0 record\(s\) would change/);
  assert.equal((await verify()).ok, true);
});
