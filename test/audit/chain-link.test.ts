/**
 * Where an entry gets its number and link (D464): on SQLite at its append (the transaction holds the write lock from its
 * start), on PostgreSQL inside its transaction's COMMIT (a deferred trigger), so an open audited transaction holds no one
 * up. `audit verify` reads both forms of content digest (with the entry's number, and without it) in one chain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { bearer, cliEnv, DIALECT, useApp, type TestApp } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { asDba as dba, systemEntry } from '../helpers/audit.js';
import { append } from '../../src/audit/chain.js';
import { digestOf, linkHash, logCanon, type LogRow } from '../../src/audit/chain-digest.js';

let t: TestApp;
let admin: string;
useApp(async (app, token) => {
  t = app;
  admin = token;
  const r = await req('POST', '/api/admin/collections', { name: 'notes', fields: [{ name: 'title', type: 'string', required: true }] });
  assert.equal(r.statusCode, 201, r.body);
});

const req = (method: string, url: string, payload?: unknown) =>
  t.app.inject({ method: method as 'GET', url, headers: bearer(admin), ...(payload !== undefined ? { payload: payload as object } : {}) });

const verify = async () => {
  const r = await req('POST', '/api/admin/audit/verify', {});
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as { ok: boolean; problem: { seq: number; problem: string } | null; checked: number };
};
const head = async () => {
  const h = await t.s.db.selectFrom('audit_chain_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow();
  return { seq: Number(h.seq), hash: h.hash };
};
const systemRow = (n: number): LogRow => systemEntry({ data: JSON.stringify({ n }) }) as LogRow;
const asDba = (fn: () => Promise<unknown>) => dba(t.s.db, fn);
const pending = async () =>
  DIALECT === 'postgres' ? Number((await sql<{ n: string }>`select count(*) as n from audit_pending`.execute(t.s.db)).rows[0]!.n) : 0;

test('one chain may hold both forms of content digest; verify checks each and names an altered entry of either [ASVS V16.4.2]', async () => {
  assert.equal((await req('POST', '/api/collections/notes/records', { title: 'before' })).statusCode, 201);
  // Three entries in the form this dialect does not write, as a database moved from the other would hold them:
  // numbered digests (SQLite's, PostgreSQL's before D464) on PostgreSQL, digests without the number on SQLite.
  const numbered = DIALECT === 'postgres';
  let { seq, hash } = await head();
  const added: number[] = [];
  await asDba(async () => {
    for (let n = 0; n < 3; n++) {
      seq++;
      const row = systemRow(n);
      const digest = numbered ? digestOf(logCanon(seq, row)) : `v2.${createHash('sha256').update(logCanon(null, row)).digest('hex')}`;
      hash = linkHash(hash, seq, 'system', row.at, digest);
      await t.s.db
        .insertInto('audit_log')
        .values({ seq, ...row, key_salt: null })
        .execute();
      await t.s.db.insertInto('audit_chain').values({ seq, kind: 'system', at: row.at, digest, hash }).execute();
      added.push(seq);
    }
    await t.s.db.updateTable('audit_chain_head').set({ seq, hash }).where('id', '=', 1).execute();
  });
  // The server goes on in its own form after them.
  assert.equal((await req('POST', '/api/collections/notes/records', { title: 'after' })).statusCode, 201);
  const ok = await verify();
  assert.equal(ok.ok, true, JSON.stringify(ok));
  const own = Number(
    (await t.s.db.selectFrom('audit_log').select('seq').where('kind', '=', 'change').orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow()).seq,
  );
  assert.ok(own > seq);
  for (const target of [added[1]!, own]) {
    const saved = await t.s.db.selectFrom('audit_log').select('data').where('seq', '=', target).executeTakeFirstOrThrow();
    await asDba(() => sql`update audit_log set data = ${'{"n":9}'} where seq = ${target}`.execute(t.s.db));
    const r = await verify();
    assert.deepEqual([r.ok, r.problem?.seq, r.problem?.problem], [false, target, 'altered']);
    await asDba(() => sql`update audit_log set data = ${saved.data} where seq = ${target}`.execute(t.s.db));
  }
  // A digest's form is bound by its link: a numbered digest rewritten to the other form breaks the chain there.
  const link = await t.s.db.selectFrom('audit_chain').select('digest').where('seq', '=', added[0]!).executeTakeFirstOrThrow();
  await asDba(() =>
    sql`update audit_chain set digest = ${link.digest.startsWith('v2.') ? link.digest.slice(3) : `v2.${link.digest}`} where seq = ${added[0]!}`.execute(t.s.db),
  );
  const r = await verify();
  assert.deepEqual([r.ok, r.problem?.seq], [false, added[0]]);
  await asDba(() => sql`update audit_chain set digest = ${link.digest} where seq = ${added[0]!}`.execute(t.s.db));
  assert.equal((await cli(['audit', 'verify'], cliEnv(t))).code, 0);
});

test('PostgreSQL: an open audited transaction holds no other writer up; its entries are numbered at its COMMIT, after theirs', {
  skip: DIALECT !== 'postgres' && 'PostgreSQL only: on SQLite a write transaction holds the write lock from its start',
}, async () => {
  let meanwhile = -1;
  await t.s.db.transaction().execute(async (trx) => {
    await append(trx, [{ table: 'audit_log', row: systemRow(101) }]);
    // The entry is not numbered yet: nobody waits for the chain's head because of it.
    const w = await Promise.race([
      req('POST', '/api/collections/notes/records', { title: 'meanwhile' }),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000).unref()),
    ]);
    assert.ok(w, 'a write waited for a transaction that has not committed');
    assert.equal(w.statusCode, 201, w.body);
    meanwhile = (await head()).seq;
  });
  const mine = await t.s.db.selectFrom('audit_log').select('seq').where('kind', '=', 'system').where('data', '=', '{"n":101}').executeTakeFirstOrThrow();
  assert.ok(Number(mine.seq) > meanwhile, `${mine.seq} after ${meanwhile}`);
  assert.equal(await pending(), 0);
  assert.equal((await verify()).ok, true);
});

test('a rolled-back transaction leaves no entry, no number taken and nothing pending; a checkpoint signs a head that holds its own entry', async () => {
  const before = await head();
  await assert.rejects(
    t.s.db.transaction().execute(async (trx) => {
      await append(trx, [{ table: 'audit_log', row: systemRow(102) }]);
      throw new Error('rolled back');
    }),
    /rolled back/,
  );
  assert.deepEqual(await head(), before);
  assert.equal(await pending(), 0);
  assert.equal((await t.s.db.selectFrom('audit_log').select('seq').where('data', '=', '{"n":102}').execute()).length, 0);
  const cp = await req('POST', '/api/admin/audit/checkpoints', {});
  assert.equal(cp.statusCode, 201, cp.body);
  const signed = cp.json() as { seq: number; hash: string };
  // The checkpoint's own system entry is the last one it signs (linked before the head is read, D464).
  const last = await t.s.db.selectFrom('audit_log').select(['seq', 'operation']).where('seq', '=', signed.seq).executeTakeFirstOrThrow();
  assert.equal(last.operation, 'checkpoint');
  assert.equal((await t.s.db.selectFrom('audit_chain').select('hash').where('seq', '=', signed.seq).executeTakeFirstOrThrow()).hash, signed.hash);
  assert.equal(await pending(), 0);
});

test('a value holding a lone UTF-16 surrogate is stored and digested alike (U+FFFD): verify stays intact', async () => {
  await append(t.s.db, [{ table: 'audit_log', row: systemEntry({ actor_name: 'half \ud800 pair', data: JSON.stringify({ n: 103 }) }) as LogRow }]);
  const row = await t.s.db.selectFrom('audit_log').select('actor_name').where('data', '=', '{"n":103}').executeTakeFirstOrThrow();
  assert.equal(row.actor_name, 'half \ufffd pair');
  const r = await verify();
  assert.equal(r.ok, true, JSON.stringify(r));
});

test("PostgreSQL: COMMIT locks the chain head before the caches' stamps, whatever order a transaction wrote them in", {
  skip: DIALECT !== 'postgres' && 'PostgreSQL only: its COMMIT runs the deferred triggers that take both',
}, async () => {
  for (const name of ['stamp1', 'stamp2']) assert.equal((await req('POST', '/api/admin/roles', { name })).statusCode, 201);
  const gate = () => {
    let open!: () => void;
    const p = new Promise<void>((resolve) => {
      open = resolve;
    });
    return { p, open };
  };
  const a = gate();
  const b = gate();
  // The order two commits can meet in, made to happen by firing each one's deferred triggers at a chosen moment:
  // the first changes a role (its stamp) and then records; the second records and then changes a role.
  const first = t.s.db.transaction().execute(async (trx) => {
    await sql`update roles set description = 'one' where name = 'stamp1'`.execute(trx);
    await sql`set constraints roles_stamp immediate`.execute(trx);
    a.open();
    await b.p;
    await append(trx, [{ table: 'audit_log', row: systemRow(104) }]);
    await sql`set constraints audit_pending_link immediate`.execute(trx);
  });
  const second = t.s.db.transaction().execute(async (trx) => {
    await a.p;
    await append(trx, [{ table: 'audit_log', row: systemRow(105) }]);
    const link = sql`set constraints audit_pending_link immediate`.execute(trx);
    // Linked at once when the head is free; when the first transaction holds it, this waits (the first goes on).
    await Promise.race([link, new Promise((resolve) => setTimeout(resolve, 300))]);
    b.open();
    await link;
    await sql`update roles set description = 'two' where name = 'stamp2'`.execute(trx);
    await sql`set constraints roles_stamp immediate`.execute(trx);
  });
  const [x, y] = await Promise.allSettled([first, second]);
  assert.deepEqual([x.status, y.status], ['fulfilled', 'fulfilled'], JSON.stringify([x, y].map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))));
  assert.equal(await pending(), 0);
  assert.equal((await verify()).ok, true);
});
