/**
 * AUDIT-1 retention and hidden sign-ins: the `auditLog` settings area, the retention run (old entries
 * removed in batches, recent ones kept, each batch on the chain, verify still passing, a removal
 * outside retention still caught), the archive file, the once-a-day scheduled run across instances,
 * and successful sign-ins of ordinary users left unrecorded while administrators' and every failure
 * are kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/app-config.js';
import { AuditRetention, type RetentionPolicy } from '../../src/audit/retention.js';
import { bearer, cliEnv, createUser, login, makeApp, type TestApp } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { asDba as dba } from '../helpers/audit.js';

const PASSWORD = 'Plain-user-password-42';
const DAY = 86_400;

const req = (t: TestApp, method: string, url: string, token: string, payload?: unknown) =>
  t.app.inject({ method: method as 'GET', url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });

const asDba = (t: TestApp, fn: () => Promise<unknown>) => dba(t.s.db, fn);

const verify = async (t: TestApp, token: string) => {
  const r = await req(t, 'POST', '/api/admin/audit/verify', token, {});
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as { ok: boolean; pruned: number; checked: number; problem: { seq: number; problem: string; detail: string } | null };
};

const retentionEntries = async (t: TestApp, token: string) => {
  const r = await req(t, 'GET', '/api/admin/audit?kind=system&operation=retention', token);
  assert.equal(r.statusCode, 200, r.body);
  return (r.json().entries as Array<{ actor: { name: string }; data: { kind: string; before: number; removed: number; archived: boolean } }>).reverse();
};

const seqsBefore = async (t: TestApp, kind: 'security' | 'change', at: number): Promise<number[]> =>
  (kind === 'security'
    ? await t.s.db.selectFrom('security_events').select('seq').where('at', '<', at).orderBy('seq').execute()
    : await t.s.db.selectFrom('audit_log').select('seq').where('kind', '=', kind).where('at', '<', at).orderBy('seq').execute()
  ).map((r) => Number(r.seq));

test('retention removes what is older than each log keeps, keeps the rest and the system log, is on the chain, and verify still passes [ASVS V14.2.7]', async () => {
  const t = await makeApp();
  try {
    const admin = (await login(t)).token;
    const made = await req(t, 'POST', '/api/admin/collections', admin, {
      name: 'notes',
      fields: [
        { name: 'title', type: 'string', required: true },
        { name: 'stage', type: 'status', values: ['draft', 'done'], default: 'draft' },
      ],
    });
    assert.equal(made.statusCode, 201, made.body);
    assert.equal((await req(t, 'POST', '/api/collections/notes/records', admin, { title: 'old' })).statusCode, 201);
    assert.equal((await req(t, 'POST', '/api/admin/audit/checkpoints', admin)).statusCode, 201); // an old system entry
    const t0 = t.clock.now();

    t.clock.advance(10 * DAY);
    const fresh = (await login(t)).token;
    assert.equal((await req(t, 'POST', '/api/collections/notes/records', fresh, { title: 'new' })).statusCode, 201);
    const patched = await req(t, 'PATCH', '/api/admin/settings/audit-log', fresh, { securityDays: 5, changeDays: 5, archive: true });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.deepEqual(patched.json(), {
      hideOrdinarySignIns: false,
      securityDays: 5,
      changeDays: 5,
      statusDays: 0,
      accessDays: 0,
      archive: true,
    });

    const cut = t.clock.now() - 5 * DAY * 1000;
    const oldSecurity = await seqsBefore(t, 'security', cut);
    const oldChange = await seqsBefore(t, 'change', cut);
    assert.ok(oldSecurity.length > 0 && oldChange.length > 0, 'old entries to remove');
    const oldStatus = await t.s.db.selectFrom('audit_log').select('seq').where('kind', '=', 'status').where('at', '<', cut).execute();
    assert.ok(oldStatus.length > 0, 'old status entries');

    // A dry run counts and removes nothing.
    const dry = await req(t, 'POST', '/api/admin/audit/prune', fresh, { dryRun: true });
    assert.equal(dry.statusCode, 200, dry.body);
    const dryKinds = Object.fromEntries((dry.json().kinds as Array<{ kind: string; removed: number }>).map((k) => [k.kind, k.removed]));
    assert.deepEqual(dryKinds, { security: oldSecurity.length, change: oldChange.length, status: 0, access: 0 });
    assert.deepEqual(await seqsBefore(t, 'security', cut), oldSecurity);

    const run = await req(t, 'POST', '/api/admin/audit/prune', fresh, {});
    assert.equal(run.statusCode, 200, run.body);
    const kinds = run.json().kinds as Array<{ kind: string; days: number; before: string | null; removed: number; archive: string | null }>;
    const day = new Date(t.clock.now()).toISOString().slice(0, 10);
    assert.deepEqual(
      kinds.map((k) => [k.kind, k.days, k.removed, k.archive]),
      [
        ['security', 5, oldSecurity.length, `security-${day}.jsonl`],
        ['change', 5, oldChange.length, `change-${day}.jsonl`],
        ['status', 0, 0, null],
        ['access', 0, 0, null],
      ],
    );
    assert.equal(kinds[0]!.before, new Date(cut).toISOString());

    // Old entries are gone, recent ones and the status and system logs stay.
    assert.deepEqual(await seqsBefore(t, 'security', cut), []);
    assert.deepEqual(await seqsBefore(t, 'change', cut), []);
    assert.ok((await t.s.db.selectFrom('security_events').select('seq').where('at', '>=', cut).execute()).length > 0, 'recent events kept');
    const recentChange = await t.s.db.selectFrom('audit_log').select('seq').where('kind', '=', 'change').where('at', '>=', cut).execute();
    assert.ok(recentChange.length > 0, 'recent changes kept');
    assert.equal((await t.s.db.selectFrom('audit_log').select('seq').where('kind', '=', 'status').where('at', '<', cut).execute()).length, oldStatus.length);
    assert.ok(
      (
        await t.s.db
          .selectFrom('audit_log')
          .select('seq')
          .where('kind', '=', 'system')
          .where('at', '<', t0 + 1)
          .execute()
      ).length > 0,
      'the system log is never pruned',
    );

    // The run is on the chain, by the administrator who asked, with the cut-off verify uses.
    const logged = await retentionEntries(t, fresh);
    assert.deepEqual(
      logged.map((e) => [e.data.kind, e.data.before, e.data.removed, e.data.archived, e.actor.name]),
      [
        ['security', cut, oldSecurity.length, true, 'root'],
        ['change', cut, oldChange.length, true, 'root'],
      ],
    );
    const v = await verify(t, fresh);
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(v.pruned, oldSecurity.length + oldChange.length);

    // The archive holds exactly the removed entries, as stored, in a private file and directory.
    const dir = path.join(t.shared.dataDir, 'audit-archive');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const secFile = path.join(dir, `security-${day}.jsonl`);
    assert.equal(statSync(secFile).mode & 0o777, 0o600);
    const archived = readFileSync(secFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; type: string; at: number });
    assert.deepEqual(
      archived.map((r) => r.seq),
      oldSecurity,
    );
    assert.ok(
      archived.every((r) => r.at < cut && typeof r.type === 'string'),
      'archived rows as stored',
    );
    assert.equal(statSync(path.join(dir, `change-${day}.jsonl`)).mode & 0o777, 0o600);
    assert.equal(
      readFileSync(path.join(dir, `change-${day}.jsonl`), 'utf8')
        .trim()
        .split('\n').length,
      oldChange.length,
    );

    // A deletion outside retention is still caught: a recent event removed by a DBA.
    const recent = await t.s.db.selectFrom('security_events').selectAll().where('at', '>=', cut).orderBy('seq').limit(1).executeTakeFirstOrThrow();
    await asDba(t, () => t.s.db.deleteFrom('security_events').where('id', '=', recent.id).execute());
    const broken = await verify(t, fresh);
    assert.deepEqual([broken.ok, broken.problem?.seq, broken.problem?.problem], [false, Number(recent.seq), 'removed']);
    await asDba(t, () => t.s.db.insertInto('security_events').values(recent).execute());
    assert.equal((await verify(t, fresh)).ok, true);

    // The database itself still refuses a removal of a recent entry outside a retention window.
    await assert.rejects(t.s.db.deleteFrom('security_events').where('id', '=', recent.id).execute());

    // A second run finds nothing more and writes nothing to the chain.
    const again = await req(t, 'POST', '/api/admin/audit/prune', fresh, {});
    assert.deepEqual(
      (again.json().kinds as Array<{ removed: number }>).map((k) => k.removed),
      [0, 0, 0, 0],
    );
    assert.equal((await retentionEntries(t, fresh)).length, 2);

    // The CLI runs the same, dry or not.
    t.clock.advance(DAY);
    const c = await cli(['audit', 'prune', '--dry-run'], cliEnv(t));
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^security: \d+ would be removed \(older than /m);
    assert.match(c.stdout, /^status: kept forever$/m);
    const c2 = await cli(['audit', 'prune'], cliEnv(t));
    assert.equal(c2.code, 0, c2.stderr);
    assert.match(c2.stdout, /^change: \d+ removed/m);
    assert.equal((await verify(t, (await login(t)).token)).ok, true);
  } finally {
    await t.close();
  }
});

test('a large backlog goes in batches, one transaction and one chain entry each, with exact cut-offs', async () => {
  const t = await makeApp();
  try {
    await login(t);
    for (let i = 0; i < 6; i++) {
      t.clock.advance(60);
      await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'nobody', password: 'wrong-password' } });
    }
    t.clock.advance(30 * DAY);
    const cut = t.clock.now() - DAY * 1000;
    const old = await seqsBefore(t, 'security', cut);
    assert.ok(old.length >= 7, String(old.length));
    const policy: RetentionPolicy = { days: { security: 1, change: 0, status: 0, access: 0 }, archive: false };
    const r = new AuditRetention({
      db: t.s.db,
      trail: t.s.audit.trail,
      now: t.clock.now,
      archiveDir: path.join(t.shared.dataDir, 'unused'),
      policy: async () => policy,
      claims: t.s.durable,
      batch: 3,
    });
    const out = await r.run({ actor: { id: null, name: 'test' } });
    assert.equal(out.kinds[0]!.removed, old.length);
    const admin = (await login(t)).token;
    const logged = await retentionEntries(t, admin);
    assert.equal(logged.length, Math.ceil(old.length / 3));
    assert.ok(
      logged.slice(0, -1).every((e) => e.data.removed === 3 && e.data.before < cut),
      JSON.stringify(logged.map((e) => e.data)),
    );
    assert.equal(logged.at(-1)!.data.before, cut);
    assert.equal(existsSync(path.join(t.shared.dataDir, 'unused')), false);
    assert.equal((await verify(t, admin)).ok, true);
  } finally {
    await t.close();
  }
});

test('the scheduled run happens once a day across instances, and not at all while every log is kept forever', async () => {
  const a = await makeApp();
  const b = await makeApp({ peerOf: a });
  try {
    const admin = (await login(a)).token;
    assert.equal(await a.s.auditRetention.tick(), null, 'nothing to do: no claim, no run');
    assert.equal((await req(a, 'PATCH', '/api/admin/settings/audit-log', admin, { securityDays: 1 })).statusCode, 200);
    a.clock.advance(3 * DAY);
    const first = await a.s.auditRetention.tick();
    assert.ok(first && first.kinds[0]!.removed > 0, JSON.stringify(first));
    assert.equal(first.dryRun, false);
    assert.equal(await b.s.auditRetention.tick(), null, 'the other instance finds the day claimed');
    assert.equal(await a.s.auditRetention.tick(), null, 'and so does the same one');
    await login(a); // a security event of today, old enough by the day after tomorrow
    a.clock.advance(2 * DAY);
    const later = await b.s.auditRetention.tick();
    assert.ok(later && later.kinds[0]!.removed > 0, `a later day runs again: ${JSON.stringify(later)}`);
    const fresh = (await login(a)).token;
    const logged = await retentionEntries(a, fresh);
    assert.equal(logged.length, 2);
    assert.ok(
      logged.every((e) => e.actor.name === 'system'),
      'the scheduled run is the system actor',
    );
    assert.equal((await verify(a, fresh)).ok, true);
  } finally {
    await b.close();
    await a.close();
  }
});

test("hideOrdinarySignIns: an ordinary user's successful sign-in goes unrecorded; administrators' sign-ins and every failure are kept", async () => {
  const t = await makeApp();
  try {
    const admin = (await login(t)).token;
    const olga = await createUser(t, admin, 'olga', PASSWORD);
    const rootId = (await login(t)).userId;
    const successes = async (userId: string) =>
      (
        await t.s.db
          .selectFrom('security_events')
          .select('id')
          .where('type', '=', 'auth.login')
          .where('outcome', '=', 'success')
          .where('subject_id', '=', userId)
          .execute()
      ).length;
    const failures = async (userId: string) =>
      (
        await t.s.db
          .selectFrom('security_events')
          .select('id')
          .where('type', '=', 'auth.login')
          .where('outcome', '=', 'failure')
          .where('subject_id', '=', userId)
          .execute()
      ).length;

    // Off (the default): every sign-in is recorded.
    await login(t, 'olga', PASSWORD);
    assert.equal(await successes(olga), 1);

    assert.equal((await req(t, 'PATCH', '/api/admin/settings/audit-log', admin, { hideOrdinarySignIns: true })).statusCode, 200);
    const rootBefore = await successes(rootId);
    const signedIn = await login(t, 'olga', PASSWORD);
    assert.ok(signedIn.token, 'the sign-in itself works');
    assert.equal(await successes(olga), 1, 'no new success event for an ordinary user');
    assert.equal((await req(t, 'GET', '/api/auth/me', signedIn.token)).statusCode, 200, 'and the session is a real one');
    await login(t);
    assert.equal(await successes(rootId), rootBefore + 1, "an administrator's sign-in is always recorded");

    // Failures are always recorded, for both.
    const bad = async (username: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password: 'Wrong-password-000' } });
    assert.equal((await bad('olga')).statusCode, 401);
    assert.equal((await bad('root')).statusCode, 401);
    assert.equal(await failures(olga), 1);
    assert.equal(await failures(rootId), 1);

    // An administrator-made user is an administrator for this rule too.
    const ada = await createUser(t, admin, 'ada', PASSWORD, { isAdmin: true });
    await login(t, 'ada', PASSWORD);
    assert.equal(await successes(ada), 1);

    // Off again: ordinary sign-ins are recorded again.
    assert.equal((await req(t, 'PATCH', '/api/admin/settings/audit-log', admin, { hideOrdinarySignIns: false })).statusCode, 200);
    await login(t, 'olga', PASSWORD);
    assert.equal(await successes(olga), 2);
  } finally {
    await t.close();
  }
});

test('only security.manage changes the area or runs retention; bad values are refused with 400 and change nothing', async () => {
  const t = await makeApp();
  try {
    const admin = (await login(t)).token;
    await createUser(t, admin, 'olga', PASSWORD);
    const olga = (await login(t, 'olga', PASSWORD)).token;
    assert.equal((await req(t, 'POST', '/api/admin/roles', admin, { name: 'auditor', permissions: ['audit.read'] })).statusCode, 201);
    const audId = await createUser(t, admin, 'aude', PASSWORD);
    assert.equal((await req(t, 'PUT', `/api/admin/users/${audId}/roles`, admin, { roles: ['auditor'] })).statusCode, 204);
    const aude = (await login(t, 'aude', PASSWORD)).token;
    const before = (await req(t, 'GET', '/api/admin/settings/audit-log', admin)).json();

    for (const token of [olga, aude]) {
      const w = await req(t, 'PATCH', '/api/admin/settings/audit-log', token, { hideOrdinarySignIns: true, securityDays: 1 });
      assert.equal(w.statusCode, 403, w.body);
      assert.equal(w.json().error.code, 'FORBIDDEN');
      assert.equal((await req(t, 'GET', '/api/admin/settings/audit-log', token)).statusCode, 403);
      assert.equal((await req(t, 'POST', '/api/admin/audit/prune', token, {})).statusCode, 403);
    }
    for (const body of [{ securityDays: -1 }, { changeDays: 36501 }, { statusDays: 1.5 }, { accessDays: '7' }, { systemDays: 1 }, { archive: 'yes' }, {}]) {
      const r = await req(t, 'PATCH', '/api/admin/settings/audit-log', admin, body);
      assert.equal(r.statusCode, 400, `${JSON.stringify(body)}: ${r.body}`);
      assert.equal(r.json().error.code, 'VALIDATION_FAILED', JSON.stringify(body));
    }
    const bad = await req(t, 'POST', '/api/admin/audit/prune', admin, { dryRun: true, kinds: ['system'] });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.deepEqual((await req(t, 'GET', '/api/admin/settings/audit-log', admin)).json(), before);
    assert.equal((await retentionEntries(t, admin)).length, 0);

    // The permitted side: the largest value is taken, and the change is audited.
    const ok = await req(t, 'PATCH', '/api/admin/settings/audit-log', admin, { accessDays: 36500 });
    assert.equal(ok.statusCode, 200, ok.body);
    const changed = await t.s.db
      .selectFrom('security_events')
      .select('details')
      .where('type', '=', 'settings.changed')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    assert.match(changed.details ?? '', /auditLog/);
  } finally {
    await t.close();
  }
});

test('the environment seeds the area; out-of-range values are configuration errors', () => {
  const base = { APP_KEY: 'k7Qe9vR2mX4pL8sT1wZ6yB3nC5dF0gHj', DATA_DIR: '/tmp/palisade-retention-env' };
  const { config, warnings } = loadConfig(
    {
      ...base,
      AUDIT_RETENTION_SECURITY_DAYS: '365',
      AUDIT_RETENTION_CHANGE_DAYS: '3650',
      AUDIT_RETENTION_ACCESS_DAYS: '30',
      AUDIT_RETENTION_ARCHIVE: 'true',
      AUDIT_HIDE_ORDINARY_SIGN_INS: 'true',
    },
    { generateKey: false },
  );
  assert.deepEqual(config.auditLog, {
    hideOrdinarySignIns: true,
    securityDays: 365,
    changeDays: 3650,
    statusDays: 0,
    accessDays: 30,
    archive: true,
  });
  assert.ok(
    warnings.some((w) => w.startsWith('AUDIT_HIDE_ORDINARY_SIGN_INS')),
    'a boot warning',
  );
  for (const [k, v] of [
    ['AUDIT_RETENTION_SECURITY_DAYS', '-1'],
    ['AUDIT_RETENTION_STATUS_DAYS', '36501'],
    ['AUDIT_RETENTION_ACCESS_DAYS', 'soon'],
    ['AUDIT_RETENTION_ARCHIVE', 'maybe'],
  ] as const)
    assert.throws(
      () => loadConfig({ ...base, [k]: v }, { generateKey: false }),
      (e: unknown) => e instanceof ConfigError && e.message.includes(k),
      k,
    );
});
