/**
 * AUDIT-3 and AUDIT-6 through the public surface: the change log written in the transaction of its
 * change (a rolled-back write leaves nothing), hidden and sensitive values never logged, the access
 * log, the status log, revisions, `audit verify` naming an altered, removed or reordered entry, signed
 * checkpoints, and two instances writing one chain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { parse } from 'csv-parse/sync';
import { bearer, cliEnv, createUser, login, makeApp, useApp, type TestApp } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { asDba as dba } from '../helpers/audit.js';

let t: TestApp;
let admin: string;
useApp(async (app, token) => {
  t = app;
  admin = token;
  const r = await req('POST', '/api/admin/collections', {
    name: 'people',
    fields: [
      { name: 'name', type: 'string', required: true },
      { name: 'email', type: 'email' },
      { name: 'ssn', type: 'string', sensitive: true },
      { name: 'note', type: 'text', hidden: true },
      { name: 'stage', type: 'status', values: ['lead', 'client', 'gone'], default: 'lead' },
      { name: 'code', type: 'string', unique: true },
    ],
  });
  assert.equal(r.statusCode, 201, r.body);
});

const req = (method: string, url: string, payload?: unknown, token = admin) =>
  t.app.inject({
    method: method as 'GET',
    url,
    headers: { ...bearer(token), 'user-agent': 'AuditTest/1' },
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });

type Entry = {
  seq: number;
  kind: string;
  operation: string;
  recordId: string;
  changes?: Array<{ field: string; old?: unknown; new?: unknown; secret?: true }>;
  data?: any;
  erased?: true;
  actor: { id: string; name: string; via?: any };
  ip: string;
  userAgent: string;
};
const entries = async (qs: string, token = admin): Promise<Entry[]> => {
  const r = await req('GET', `/api/admin/audit${qs}`, undefined, token);
  assert.equal(r.statusCode, 200, r.body);
  return r.json().entries;
};
const chainLength = async () => Number((await t.s.db.selectFrom('audit_chain_head').select('seq').executeTakeFirstOrThrow()).seq);
const rawLog = async () => JSON.stringify(await t.s.db.selectFrom('audit_log').selectAll().execute());

const asDba = (fn: () => Promise<unknown>) => dba(t.s.db, fn);

const verify = async () => {
  const r = await req('POST', '/api/admin/audit/verify', {});
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as { ok: boolean; problem: { seq: number; problem: string } | null; entries: number; checked: number };
};

test('the change log records who changed which field from what to what; hidden and sensitive values never reach it [ASVS V16.2.5]', async () => {
  const c = await req('POST', '/api/collections/people/records', { name: 'Ada', email: 'ada@example.org', ssn: 'SSN-111-22', note: 'NOTE-private' });
  assert.equal(c.statusCode, 201, c.body);
  const id = c.json().id as string;
  assert.equal((await req('PATCH', `/api/collections/people/records/${id}`, { email: 'ada@lovelace.example', ssn: 'SSN-333-44' })).statusCode, 200);
  assert.equal((await req('DELETE', `/api/collections/people/records/${id}`)).statusCode, 204);
  const log = (await entries(`?collection=people&recordId=${id}&kind=change`)).reverse();
  assert.deepEqual(
    log.map((e) => e.operation),
    ['create', 'update', 'delete'],
  );
  const [created, updated, deleted] = log as [Entry, Entry, Entry];
  assert.equal(created.actor.name, 'root');
  assert.equal(created.ip, '127.0.0.1');
  assert.equal(created.userAgent, 'AuditTest/1');
  assert.deepEqual(
    created.changes!.find((x) => x.field === 'name'),
    { field: 'name', old: null, new: 'Ada' },
  );
  assert.deepEqual(updated.changes!.map((x) => x.field).sort(), ['email', 'ssn']);
  assert.deepEqual(
    updated.changes!.find((x) => x.field === 'email'),
    { field: 'email', old: 'ada@example.org', new: 'ada@lovelace.example' },
  );
  assert.deepEqual(
    updated.changes!.find((x) => x.field === 'ssn'),
    { field: 'ssn', secret: true },
  );
  assert.deepEqual(
    created.changes!.find((x) => x.field === 'note'),
    { field: 'note', secret: true },
  );
  assert.deepEqual(
    deleted.changes!.find((x) => x.field === 'email'),
    { field: 'email', old: 'ada@lovelace.example', new: null },
  );
  // Neither the stored entries nor any answer holds a hidden or sensitive value, and the logged
  // values themselves are stored encrypted.
  const raw = await rawLog();
  for (const secret of ['SSN-111-22', 'SSN-333-44', 'NOTE-private', 'ada@example.org']) assert.ok(!raw.includes(secret), secret);
  assert.ok(!JSON.stringify(log).includes('SSN-'));
  // The status log records the first status.
  const status = (await entries(`?collection=people&recordId=${id}&kind=status`)).reverse();
  assert.deepEqual(
    status.map((e) => e.data),
    [
      { field: 'stage', from: null, to: 'lead' },
      { field: 'stage', from: 'lead', to: null },
    ],
  );
});

test('a rolled-back write leaves no entry; a committed one always has one [ASVS V16.5.3, V2.3.3]', async () => {
  const a = await req('POST', '/api/collections/people/records', { name: 'One', code: 'C-1' });
  assert.equal(a.statusCode, 201);
  const before = await chainLength();
  const logBefore = await rawLog();
  // A unique value taken: the insert fails inside its transaction.
  assert.equal((await req('POST', '/api/collections/people/records', { name: 'Two', code: 'C-1' })).statusCode, 409);
  // An import whose second row is refused rolls back the first.
  const imp = await req('POST', '/api/collections/people/records/import', { records: [{ name: 'Three' }, { name: 'Four', email: 'not an address' }] });
  assert.equal(imp.statusCode, 400, imp.body);
  // (The administrator's use of the grant bypass is a security event of the attempt, kept either way.)
  const added = await t.s.db.selectFrom('audit_chain').select(['kind']).where('seq', '>', before).where('kind', '!=', 'security').execute();
  assert.deepEqual(added, []);
  assert.equal(await rawLog(), logBefore);
  // The same import without the bad row records each record.
  const ok = await req('POST', '/api/collections/people/records/import', { records: [{ name: 'Three' }, { name: 'Four' }] });
  assert.equal(ok.statusCode, 200, ok.body);
  const created = await entries('?collection=people&operation=create&limit=2');
  assert.deepEqual(created.map((e) => e.changes!.find((x) => x.field === 'name')!.new).sort(), ['Four', 'Three']);
});

test('bulk changes log each record, with the status transitions', async () => {
  for (const n of ['B1', 'B2', 'B3']) assert.equal((await req('POST', '/api/collections/people/records', { name: n })).statusCode, 201);
  const r = await req('POST', '/api/collections/people/records/bulk-update', { filter: { name: { $in: ['B1', 'B2', 'B3'] } }, set: { stage: 'client' } });
  assert.equal(r.statusCode, 200, r.body);
  const upd = await entries('?collection=people&operation=update&kind=change&limit=3');
  assert.equal(upd.length, 3);
  assert.ok(upd.every((e) => e.changes!.some((x) => x.field === 'stage' && x.old === 'lead' && x.new === 'client')));
  const moves = await entries('?collection=people&kind=status&operation=transition&limit=3');
  assert.ok(moves.every((e) => e.data.from === 'lead' && e.data.to === 'client'));
});

test('the change log can be switched off per collection; revisions keep the previous version', async () => {
  const off = await req('PATCH', '/api/admin/collections/people', { audit: { changeLog: false, revisions: true } });
  assert.equal(off.statusCode, 200, off.body);
  assert.deepEqual(off.json().collection.audit, { changeLog: false, revisions: true });
  const c = await req('POST', '/api/collections/people/records', { name: 'Quiet' });
  const id = c.json().id;
  await req('PATCH', `/api/collections/people/records/${id}`, { name: 'Quieter' });
  assert.equal((await entries(`?recordId=${id}&kind=change`)).length, 0);
  const revs = await t.s.db.selectFrom('record_revisions').selectAll().where('record_id', '=', id).execute();
  assert.equal(revs.length, 1);
  assert.equal(JSON.parse(revs[0]!.data).name, 'Quiet');
  // The switch itself is a recorded schema change; turning it back on is too.
  assert.equal((await req('PATCH', '/api/admin/collections/people', { audit: { changeLog: true, revisions: false } })).statusCode, 200);
  assert.equal((await req('PATCH', '/api/admin/collections/people', { audit: { changeLog: 'no' } })).statusCode, 400);
  assert.equal((await req('PATCH', '/api/admin/collections/people', { audit: { everything: true } })).statusCode, 400);
});

test('the access log is off by default, then records ids or the filter and count; exports are always recorded', async () => {
  await req('GET', '/api/collections/people/records');
  assert.equal((await entries('?kind=access&operation=list')).length, 0);
  const exp = await req('GET', '/api/collections/people/records/export?format=json');
  assert.equal(exp.statusCode, 200);
  const e1 = (await entries('?kind=access&operation=export'))[0]!;
  assert.equal(e1.actor.name, 'root');
  assert.equal(typeof e1.data.count, 'number');
  assert.equal((await req('PATCH', '/api/admin/collections/people', { audit: { accessLog: 'ids' } })).statusCode, 200);
  const listed = (await req('GET', '/api/collections/people/records?perPage=2')).json().items.map((i: { id: string }) => i.id);
  assert.deepEqual((await entries('?kind=access&operation=list'))[0]!.data, { ids: listed });
  const one = listed[0];
  await req('GET', `/api/collections/people/records/${one}`);
  assert.equal((await entries('?kind=access&operation=read'))[0]!.recordId, one);
  assert.equal((await req('PATCH', '/api/admin/collections/people', { audit: { accessLog: 'filter' } })).statusCode, 200);
  const found = await req('GET', `/api/collections/people/records?filter=${encodeURIComponent(JSON.stringify({ name: 'Three' }))}`);
  assert.equal(found.json().items.length, 1, found.body);
  assert.deepEqual((await entries('?kind=access&operation=list'))[0]!.data, { filter: { name: '[redacted]' }, count: 1 });
  assert.equal((await req('PATCH', '/api/admin/collections/people', { audit: { accessLog: 'off' } })).statusCode, 200);
});

test('audit.read reads the log (itself recorded); without it the log is refused [ASVS V16.4.2]', async () => {
  assert.equal((await req('POST', '/api/admin/roles', { name: 'auditor', permissions: ['audit.read'] })).statusCode, 201);
  const aid = await createUser(t, admin, 'auditor1', 'Ledger-reader-4411');
  assert.equal((await req('PUT', `/api/admin/users/${aid}/roles`, { roles: ['auditor'] })).statusCode, 204);
  const auditor = (await login(t, 'auditor1', 'Ledger-reader-4411')).token;
  await createUser(t, admin, 'plain1', 'Plain-reader-4411');
  const plain = (await login(t, 'plain1', 'Plain-reader-4411')).token;
  assert.equal((await req('GET', '/api/admin/audit?collection=people', undefined, plain)).statusCode, 403);
  assert.equal((await req('GET', '/api/admin/audit/export', undefined, plain)).statusCode, 403);
  assert.equal((await req('GET', '/api/admin/audit?collection=people', undefined, auditor)).statusCode, 200);
  // ... but not change settings or sign checkpoints.
  assert.equal((await req('POST', '/api/admin/audit/checkpoints', undefined, auditor)).statusCode, 403);
  const reads = (await req('GET', `/api/admin/security-events?type=audit.read&actorId=${aid}`)).json().events;
  assert.equal(reads.length, 1);
  assert.deepEqual(reads[0].details.filter, { collection: 'people' });
  // Bad filters are 400s with a stable code.
  for (const qs of ['?kind=everything', '?since=yesterday', '?limit=100000', '?beforeSeq=-1', '?collection=Robert%27)--', '?unknown=1'])
    assert.equal((await req('GET', `/api/admin/audit${qs}`)).statusCode, 400, qs);
});

test('export as JSON Lines and CSV, newest first, paging with next', async () => {
  const jl = await req('GET', '/api/admin/audit/export?collection=people&kind=change');
  assert.equal(jl.statusCode, 200);
  assert.match(String(jl.headers['content-type']), /ndjson/);
  const lines = jl.body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(lines.length > 5);
  assert.ok(lines[0].seq > lines[1].seq);
  const csv = await req('GET', '/api/admin/audit/export?collection=people&kind=change&format=csv');
  assert.equal(csv.statusCode, 200);
  assert.match(csv.body.split('\n')[0]!, /^seq,at,kind,collection,recordId,operation/);
  const p1 = (await req('GET', '/api/admin/audit?collection=people&limit=2')).json();
  assert.equal(p1.entries.length, 2);
  const p2 = (await req('GET', `/api/admin/audit?collection=people&limit=2&beforeSeq=${p1.next}`)).json();
  assert.ok(p2.entries[0].seq < p1.entries[1].seq);
});

test('the export encodes what callers sent: a value with line breaks stays in its JSON line, a user agent a spreadsheet would run is quoted in the CSV [ASVS V16.4.1]', async () => {
  const forged = 'Eve\n{"seq":1,"kind":"change","operation":"delete","forged":true}\r\n';
  const agent = '=HYPERLINK("http://evil.example/","open")';
  const r = await t.app.inject({
    method: 'POST',
    url: '/api/collections/people/records',
    headers: { ...bearer(admin), 'user-agent': agent },
    payload: { name: forged },
  });
  assert.equal(r.statusCode, 201, r.body);
  const id = r.json().id as string;
  const jl = await req('GET', `/api/admin/audit/export?collection=people&kind=change&recordId=${id}`);
  assert.equal(jl.statusCode, 200);
  const lines = jl.body.split('\n').filter(Boolean);
  const parsed = lines.map((l) => JSON.parse(l) as Entry & { forged?: true });
  assert.equal(parsed.length, 1, 'one entry, one line');
  assert.equal(
    parsed.some((e) => e.forged),
    false,
  );
  assert.equal(parsed[0]!.changes!.find((c) => c.field === 'name')!.new, forged, 'the value is kept whole, encoded');
  assert.equal(parsed[0]!.userAgent, agent);
  const csv = await req('GET', `/api/admin/audit/export?collection=people&kind=change&recordId=${id}&format=csv`);
  assert.equal(csv.statusCode, 200);
  const rows = parse(csv.body, { columns: true }) as Array<Record<string, string>>;
  assert.equal(rows.length, 1, 'the line breaks stay inside their quoted cell');
  assert.equal(rows[0]!.userAgent, `'${agent}`, 'the formula is neutralised');
  assert.equal(JSON.parse(rows[0]!.changes!).find((c: { field: string }) => c.field === 'name').new, forged);
  // The legitimate export: an ordinary user agent is left as it is.
  assert.equal((await req('POST', '/api/collections/people/records', { name: 'Plain' })).statusCode, 201);
  const plain = parse((await req('GET', '/api/admin/audit/export?collection=people&kind=change&format=csv')).body, { columns: true }) as Array<
    Record<string, string>
  >;
  assert.ok(plain.some((row) => row.userAgent === 'AuditTest/1'));
});

test('audit verify passes on an untouched chain and names an altered, a removed and a reordered entry [ASVS V16.4.2]', async () => {
  const good = await verify();
  assert.equal(good.ok, true, JSON.stringify(good));
  assert.ok(good.checked > 20);
  const cliOk = await cli(['audit', 'verify'], cliEnv(t));
  assert.equal(cliOk.code, 0, cliOk.stderr);
  assert.match(cliOk.stdout, /audit chain intact/);

  const target = (await entries('?collection=people&kind=change&limit=5'))[3]!.seq;
  // Altered: an entry's content rewritten (here: who did it).
  await asDba(() => sql`update audit_log set actor_name = 'someone else' where seq = ${target}`.execute(t.s.db));
  let r = await verify();
  assert.deepEqual([r.ok, r.problem?.seq, r.problem?.problem], [false, target, 'altered']);
  const cliBad = await cli(['audit', 'verify'], cliEnv(t));
  assert.equal(cliBad.code, 1);
  assert.match(cliBad.stdout, new RegExp(`BROKEN at entry ${target}: altered`));
  await asDba(() => sql`update audit_log set actor_name = 'root' where seq = ${target}`.execute(t.s.db));
  assert.equal((await verify()).ok, true);

  // Removed: a security event deleted.
  const ev = Number(
    (await t.s.db.selectFrom('security_events').select('seq').where('seq', 'is not', null).orderBy('seq').limit(1).offset(3).executeTakeFirstOrThrow()).seq,
  );
  const saved = await t.s.db.selectFrom('security_events').selectAll().where('seq', '=', ev).executeTakeFirstOrThrow();
  await asDba(() => t.s.db.deleteFrom('security_events').where('seq', '=', ev).execute());
  r = await verify();
  assert.deepEqual([r.ok, r.problem?.seq, r.problem?.problem], [false, ev, 'removed']);
  await asDba(() => t.s.db.insertInto('security_events').values(saved).execute());
  assert.equal((await verify()).ok, true);

  // Reordered: two entries of the record log swap their places.
  const x = target;
  const y = Number((await t.s.db.selectFrom('audit_log').select('seq').where('seq', '>', x).orderBy('seq').limit(1).executeTakeFirstOrThrow()).seq);
  await asDba(async () => {
    await sql`update audit_log set seq = 999999999 where seq = ${x}`.execute(t.s.db);
    await sql`update audit_log set seq = ${x} where seq = ${y}`.execute(t.s.db);
    await sql`update audit_log set seq = ${y} where seq = 999999999`.execute(t.s.db);
  });
  r = await verify();
  assert.equal(r.ok, false);
  assert.equal(r.problem?.seq, x);
  await asDba(async () => {
    await sql`update audit_log set seq = 999999999 where seq = ${x}`.execute(t.s.db);
    await sql`update audit_log set seq = ${x} where seq = ${y}`.execute(t.s.db);
    await sql`update audit_log set seq = ${y} where seq = 999999999`.execute(t.s.db);
  });
  assert.equal((await verify()).ok, true);

  // The database refuses changes and deletions outside retention.
  await assert.rejects(sql`update audit_log set actor_name = 'x' where seq = ${target}`.execute(t.s.db));
  await assert.rejects(sql`delete from audit_log where seq = ${target}`.execute(t.s.db));
  await assert.rejects(sql`delete from audit_chain where seq = ${target}`.execute(t.s.db));
});

test('signed checkpoints exported to a file catch a rewritten tail that the chain alone cannot [ASVS V16.4.2]', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-cp-'));
  const file = path.join(dir, 'checkpoints.jsonl');
  const cp = await cli(['audit', 'checkpoint', '--out', file], cliEnv(t));
  assert.equal(cp.code, 0, cp.stderr);
  const saved = JSON.parse(readFileSync(file, 'utf8').trim()) as { seq: number; hash: string };
  const pub = (await req('GET', '/api/admin/audit/checkpoints')).json();
  assert.match(pub.publicKey, /BEGIN PUBLIC KEY/);
  assert.equal(pub.checkpoints[0].seq, saved.seq);
  assert.equal((await cli(['audit', 'verify', '--checkpoints', file], cliEnv(t))).code, 0);
  // A database administrator drops the newest entries, the stored checkpoint and moves the head back:
  // the chain itself is consistent again.
  const keep = saved.seq - 3;
  const prev = await t.s.db.selectFrom('audit_chain').select('hash').where('seq', '=', keep).executeTakeFirstOrThrow();
  await asDba(async () => {
    await t.s.db.deleteFrom('audit_checkpoints').execute();
    await t.s.db.deleteFrom('audit_log').where('seq', '>', keep).execute();
    await t.s.db.deleteFrom('security_events').where('seq', '>', keep).execute();
    await t.s.db.deleteFrom('audit_chain').where('seq', '>', keep).execute();
    await t.s.db.updateTable('audit_chain_head').set({ seq: keep, hash: prev.hash }).execute();
  });
  assert.equal((await cli(['audit', 'verify'], cliEnv(t))).code, 0);
  const caught = await cli(['audit', 'verify', '--checkpoints', file], cliEnv(t));
  assert.equal(caught.code, 1);
  assert.match(caught.stdout, /BROKEN/);
  // A forged checkpoint (not signed with this deployment's key) is refused.
  writeFileSync(file, `${JSON.stringify({ ...saved, seq: 1, signature: 'AAAA' })}\n`);
  const forged = await cli(['audit', 'verify', '--checkpoints', file], cliEnv(t));
  assert.equal(forged.code, 1);
  assert.match(forged.stdout, /checkpoint/);
});

test('two instances writing at once make one valid chain', async () => {
  const peer = await makeApp({ peerOf: t });
  try {
    const write = (app: TestApp, n: number) =>
      app.app.inject({ method: 'POST', url: '/api/collections/people/records', headers: bearer(admin), payload: { name: `P${n}` } });
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => write(i % 2 === 0 ? t : peer, i)));
    assert.ok(rs.every((r) => r.statusCode === 201));
    const r = await verify();
    assert.equal(r.ok, true, JSON.stringify(r));
  } finally {
    await peer.close();
  }
});

test('checkpoints are signed on a schedule when the chain has moved, appended to a file and to the system log', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-cps-'));
  const file = path.join(dir, 'cps.jsonl');
  const peer = await makeApp({ peerOf: t, env: { AUDIT_CHECKPOINT_INTERVAL: '1', AUDIT_CHECKPOINT_FILE: file } });
  try {
    assert.equal((await req('POST', '/api/collections/people/records', { name: 'Scheduled' })).statusCode, 201);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !peer.logs.some((l) => l.includes('"audit.checkpoint"'))) await new Promise((r) => setTimeout(r, 100));
    const line = JSON.parse(readFileSync(file, 'utf8').trim().split('\n')[0]!);
    assert.ok(line.seq > 0 && line.signature);
    assert.equal((await cli(['audit', 'verify', '--checkpoints', file], cliEnv(t))).code, 0);
  } finally {
    await peer.close();
  }
});
