/// <reference lib="es2024.string" />
/**
 * The audit chain (AUDIT-6): every entry of every audit table (security events and the record audit
 * log) takes the next number of one chain, in the transaction that writes it. The spine
 * (`audit_chain`) holds each entry's digest and the chain hash `sha256(previous hash, digest)`;
 * `verify` walks it and names the first entry that was altered, removed, added or reordered.
 *
 * One chain, one head row, locked until the transaction ends by whoever numbers entries: on SQLite the
 * append (the write lock every transaction holds from its start), on PostgreSQL the deferred trigger
 * that links a transaction's entries inside its COMMIT (D464). So two instances writing at once still
 * make one chain, and an entry of a rolled-back change never takes a number.
 */
import { createHash } from 'node:crypto';
import { CompiledQuery, PostgresAdapter } from 'kysely';
import { inTransaction, type Db } from '../db/index.js';
import { atOnce, type SyncRunner } from '../db/sync.js';
import type { AuditLogTable, SecurityEventsTable } from '../db/types.js';

/** The chain's first "previous hash": binds the security events written before the chain existed. */
export const genesisHash = (unchainedCount: number, unchainedMaxId: number): string =>
  createHash('sha256').update(`palisade-audit-chain:v1:${unchainedCount}:${unchainedMaxId}`).digest('hex');

export type SecurityRow = Omit<SecurityEventsTable, 'id' | 'seq'>;
/** `key_salt` (D459) is stored with the entry but is not its content: the chain's digest leaves it out. */
export type LogRow = Omit<AuditLogTable, 'seq' | 'key_salt'> & { key_salt?: string | null };
export type Pending = { table: 'security_events'; row: SecurityRow } | { table: 'audit_log'; row: LogRow };

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * A security event's content in its canonical form: every stored value, in a fixed order. `seq` null: the form of the
 * digests made before the entry has its number (`v2.`, D464), which the link binds instead.
 */
export function securityCanon(seq: number | null, r: SecurityRow): string {
  return JSON.stringify([
    seq ?? 'v2',
    'security',
    Number(r.at),
    r.type,
    r.outcome,
    r.actor_id,
    r.actor_name,
    r.subject_id,
    r.ip,
    r.user_agent,
    r.request_id,
    r.details,
  ]);
}

/** An audit log entry's content in its canonical form (`seq` null: as `securityCanon`'s). */
export function logCanon(seq: number | null, r: LogRow): string {
  return JSON.stringify([
    seq ?? 'v2',
    r.kind,
    Number(r.at),
    r.collection,
    r.record_id,
    r.operation,
    r.actor_id,
    r.actor_name,
    r.via,
    r.ip,
    r.user_agent,
    r.request_id,
    r.data,
  ]);
}

export const digestOf = (canon: string): string => sha256(canon);

/** The mark of a digest made without the entry's number (D464): PostgreSQL's entries, numbered inside COMMIT. */
const V2 = 'v2.';
/** The digest of an entry's content without its number (`v2.`), as PostgreSQL's pending entries carry it. */
const digestV2 = (e: Pending): string => V2 + sha256(canonOf(e, null));
/** An entry's canonical form, numbered `seq` (null: the `v2.` form). */
const canonOf = (e: Pending, seq: number | null): string => (e.table === 'security_events' ? securityCanon(seq, e.row) : logCanon(seq, e.row));

/** Whether a stored row's content is what the chain's `digest` (either form) says it was at number `seq`. */
export function contentMatches(digest: string, seq: number, e: Pending): boolean {
  if (digest.startsWith(V2)) return digestV2(e) === digest;
  return digestOf(canonOf(e, seq)) === digest;
}
/** A link binds its number, kind and time as well as the content's digest: retention decides on kind and time. */
export const linkHash = (prev: string, seq: number, kind: string, at: number, digest: string): string => sha256(`${prev}\n${seq}\n${kind}\n${at}\n${digest}`);

const CHUNK = 200;

const LOG_COLUMNS = [
  'seq',
  'at',
  'kind',
  'collection',
  'record_id',
  'operation',
  'actor_id',
  'actor_name',
  'via',
  'ip',
  'user_agent',
  'request_id',
  'data',
  'key_salt',
] as const;
const EVENT_COLUMNS = ['seq', 'at', 'type', 'outcome', 'actor_id', 'actor_name', 'subject_id', 'ip', 'user_agent', 'request_id', 'details'] as const;
const CHAIN_COLUMNS = ['seq', 'kind', 'at', 'digest', 'hash'] as const;
type Table = 'audit_log' | 'security_events' | 'audit_chain';
const COLUMNS: Record<Table, readonly string[]> = {
  audit_log: LOG_COLUMNS,
  security_events: EVENT_COLUMNS,
  audit_chain: CHAIN_COLUMNS,
};

/**
 * The append's SQL is fixed: the table and column names are constants of this module, only the
 * number of rows varies. It is written once per shape and run as it is, without a query builder: an
 * audited write pays for its entries' rows, not for building their statements again (D160).
 */
const texts = new Map<string, string>();
function insertText(table: Table, rows: number): string {
  const key = `${table}:${rows}`;
  let text = texts.get(key);
  if (text) return text;
  const cols = COLUMNS[table];
  const row = `(${cols.map(() => '?').join(', ')})`;
  text = `insert into ${table} (${cols.join(', ')}) values ${Array.from({ length: rows }, () => row).join(', ')}`;
  if (texts.size > 200) texts.clear();
  texts.set(key, text);
  return text;
}

/** SQLite's one-row inserts, for `appendNow`. */
const ONE_ROW = Object.fromEntries((Object.keys(COLUMNS) as Table[]).map((t) => [t, insertText(t, 1)])) as Record<Table, string>;

/** One row's parameters in its table's column order, numbered `seq`. */
const rowParams = (table: Table, row: object, seq: number): unknown[] => {
  const r = row as Record<string, unknown>;
  return COLUMNS[table].map((c) => (c === 'seq' ? seq : (r[c] ?? null)));
};

const run = (db: Db, text: string, params: unknown[]) => db.executeQuery(CompiledQuery.raw(text, params));

/**
 * SQLite: the head as the transaction holding its lock last saw it: later appends in that transaction need not read it
 * again (one statement less per append). There is no lock to take before the first append: every transaction of the
 * server holds the write lock, the chain's, from its start (BEGIN IMMEDIATE, `db/sqlite-wait.ts`), so no other writer
 * can move the head before it ends. (PostgreSQL links at COMMIT, `appendPending`.)
 */
const heldHeads = new WeakMap<Db, { seq: number; hash: string }>();
const HEAD_SQL = 'select seq, hash from audit_chain_head where id = 1';
/** Appends of up to this many entries run at once on SQLite (D463), one row a statement. */
const AT_ONCE_MAX = 16;

/**
 * Takes the chain's lock at once on both dialects, for changes to the trail that must not interleave with another
 * transaction's: an erasure and a retention run touching one record's key (D459: a run that read a salt before an
 * erasure committed would copy it back), a checkpoint reading the head. SQLite's write lock is already held (BEGIN
 * IMMEDIATE); on PostgreSQL the entries this transaction appended are linked first (so what follows sees them in their
 * tables, D464) and the head row stays locked until the transaction ends.
 */
export async function lockChainNow(trx: Db): Promise<void> {
  if (!(trx.getExecutor().adapter instanceof PostgresAdapter)) return;
  // Whoever appended (this handle or another of the same transaction): linking with nothing pending does nothing.
  unlinked.delete(trx);
  await linkAll(trx);
  await run(trx, 'select seq from audit_chain_head where id = 1 for update', []);
}

/** Appends entries to the chain and their tables inside `db`'s transaction (a new one when it is none). */
export async function append(db: Db, entries: Pending[]): Promise<void> {
  if (entries.length === 0) return;
  for (const e of entries) wellFormed(e.row);
  if (db.getExecutor().adapter instanceof PostgresAdapter) return appendPending(db, entries);
  // A few entries (a write's own) at once on SQLite; a bulk write's thousands in statements of many rows, as below.
  const done = entries.length <= AT_ONCE_MAX ? atOnce(db, (now) => appendNow(db, now, entries)) : null;
  if (done) return done;
  await inTransaction(db, async (trx) => {
    const held = heldHeads.get(trx);
    const head = held
      ? { seq: held.seq + entries.length, hash: held.hash }
      : ((await run(trx, 'update audit_chain_head set seq = seq + ? where id = 1 returning seq, hash', [entries.length])).rows[0] as
          | { seq: number | string; hash: string }
          | undefined);
    if (!head) throw new Error('audit chain head missing');
    const { rows, last } = linked({ seq: Number(head.seq) - entries.length, hash: head.hash }, entries);
    // Each table's rows in statements of up to CHUNK rows: the events, the log entries, then their spine rows.
    const chunks = (table: Table, all: unknown[][]) => {
      const out: Array<{ text: string; params: unknown[] }> = [];
      for (let i = 0; i < all.length; i += CHUNK) {
        const chunk = all.slice(i, i + CHUNK);
        out.push({ text: insertText(table, chunk.length), params: chunk.flat() });
      }
      return out;
    };
    for (const table of ['security_events', 'audit_log'] as const)
      for (const c of chunks(
        table,
        rows.filter((r) => r.table === table).map((r) => r.params),
      ))
        await run(trx, c.text, c.params);
    for (const c of chunks(
      'audit_chain',
      rows.map((r) => r.spine),
    ))
      await run(trx, c.text, c.params);
    await run(trx, 'update audit_chain_head set seq = ?, hash = ? where id = 1', [last.seq, last.hash]);
    heldHeads.set(trx, last);
  });
}

/**
 * PostgreSQL's transactions holding entries not linked yet (D464): `linkPending` links them before something in the
 * same transaction reads the chain or the entries.
 */
const unlinked = new WeakSet<Db>();
const PENDING_COLUMNS = '(tbl, kind, at, digest, entry)';

/**
 * `append` on PostgreSQL (D464): each entry with its digest (`v2.`, without the number it has not got yet) goes to
 * `audit_pending`; the deferred trigger `audit_link` numbers and links it inside COMMIT, so the chain's head is locked
 * only for the commit's own time. One statement (or one transaction of statements of CHUNK rows) for all.
 */
async function appendPending(db: Db, entries: Pending[]): Promise<void> {
  const rows = entries.map((e) => [e.table, e.table === 'security_events' ? 'security' : e.row.kind, Number(e.row.at), digestV2(e), JSON.stringify(e.row)]);
  const text = (n: number) => {
    let t = texts.get(`pending:${n}`);
    if (t) return t;
    let k = 0;
    t = `insert into audit_pending ${PENDING_COLUMNS} values ${Array.from({ length: n }, () => `($${++k}, $${++k}, $${++k}, $${++k}, $${++k}::jsonb)`).join(', ')}`;
    if (texts.size > 200) texts.clear();
    texts.set(`pending:${n}`, t);
    return t;
  };
  const write = async (trx: Db) => {
    for (let i = 0; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      await run(trx, text(chunk.length), chunk.flat());
    }
  };
  // One statement is atomic on its own: outside a transaction it commits, and links, by itself.
  if (rows.length <= CHUNK && !db.isTransaction) return void (await write(db));
  await inTransaction(db, write);
  if (db.isTransaction) unlinked.add(db);
}

/**
 * Links `trx`'s pending entries now (PostgreSQL, D464): the deferred trigger runs for them at once, taking the chain's
 * head until the transaction ends, and their rows are in their tables from here on. For what reads them, or the head,
 * in the transaction that wrote them (a checkpoint, an erasure). Nothing to do on SQLite, where an append links at once.
 */
export async function linkPending(trx: Db): Promise<void> {
  if (!unlinked.has(trx)) return;
  unlinked.delete(trx);
  await linkAll(trx);
}

const linkAll = async (trx: Db): Promise<void> => {
  await run(trx, 'set constraints audit_pending_link immediate', []);
  await run(trx, 'set constraints audit_pending_link deferred', []);
};

/**
 * A row's strings as the database will store them: a lone UTF-16 surrogate (a JSON body may carry one) becomes U+FFFD,
 * as the drivers' UTF-8 would make it, before the digest is taken. Digested as it came, such a value would read back
 * different from its digest (a false "altered" at verification); on PostgreSQL's pending rows it would not be JSON.
 */
function wellFormed(row: object): void {
  // In place: the rows are the caller's, made for this append.
  const r = row as Record<string, unknown>;
  for (const k in r) {
    const v = r[k];
    if (typeof v === 'string' && !v.isWellFormed()) r[k] = v.toWellFormed();
  }
}

/** `entries` numbered and linked after `head`: each one's row and spine row as parameters, and the chain's new head. */
function linked(
  head: { seq: number; hash: string },
  entries: Pending[],
): {
  rows: Array<{ table: Table; params: unknown[]; spine: unknown[] }>;
  last: { seq: number; hash: string };
} {
  let { seq, hash } = head;
  const rows = entries.map((e) => {
    seq++;
    const security = e.table === 'security_events';
    const kind = security ? 'security' : e.row.kind;
    const digest = digestOf(canonOf(e, seq));
    hash = linkHash(hash, seq, kind, Number(e.row.at), digest);
    return { table: e.table as Table, params: rowParams(e.table, e.row, seq), spine: [seq, kind, e.row.at, digest, hash] };
  });
  return { rows, last: { seq, hash } };
}

/**
 * `append` on SQLite inside a transaction: the same rows, one statement each, run at once (D463). The transaction began
 * with BEGIN IMMEDIATE, so it holds the write lock and the head it reads cannot move before it ends.
 */
function appendNow(trx: Db, run: SyncRunner, entries: Pending[]): void {
  let head = heldHeads.get(trx);
  if (!head) {
    const row = run(HEAD_SQL, [])[0] as { seq: number | string; hash: string } | undefined;
    if (!row) throw new Error('audit chain head missing');
    head = { seq: Number(row.seq), hash: row.hash };
  }
  const { rows, last } = linked(head, entries);
  for (const r of rows) {
    run(ONE_ROW[r.table], r.params);
    run(ONE_ROW.audit_chain, r.spine);
  }
  run('update audit_chain_head set seq = ?, hash = ? where id = 1', [last.seq, last.hash]);
  heldHeads.set(trx, last);
}

export type ProblemKind = 'altered' | 'removed' | 'added' | 'head' | 'checkpoint';
export interface ChainProblem {
  seq: number;
  problem: ProblemKind;
  detail: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Entries on the chain (the head's number). */
  entries: number;
  /** Content rows found and checked against the chain. */
  checked: number;
  /** Entries whose content retention removed (allowed: the retention run is itself on the chain). */
  pruned: number;
  /** Security events written before the chain began (not verifiable). */
  unchained: number;
  checkpoints: number;
  /** The first problem along the chain, if any. */
  problem: ChainProblem | null;
  ms: number;
}

export interface Checkpoint {
  seq: number;
  hash: string;
  at: number;
  signature: string;
}

/**
 * Walks the chain from the start. A content row may be missing only where a retention run recorded
 * on the chain after it removed its kind up to a time past it. `checkpoints` are checked against the
 * chain hash at their number; `checkSignature` says whether a checkpoint's signature is ours.
 */
export async function verify(db: Db, opts: { checkpoints: Checkpoint[]; checkSignature: (c: Checkpoint) => boolean; batch?: number }): Promise<VerifyResult> {
  const started = Date.now();
  const batch = opts.batch ?? 5000;
  const head = await db.selectFrom('audit_chain_head').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
  const headSeq = Number(head.seq);
  const cps = new Map(opts.checkpoints.map((c) => [Number(c.seq), c]));
  const out: VerifyResult = { ok: true, entries: headSeq, checked: 0, pruned: 0, unchained: 0, checkpoints: 0, problem: null, ms: 0 };
  const fail = (seq: number, problem: ProblemKind, detail: string): VerifyResult => {
    out.ok = false;
    out.problem = { seq, problem, detail };
    out.ms = Date.now() - started;
    return out;
  };
  // Security events from before the chain: exactly as many as the first hash binds, none with a higher id.
  const pre = await db
    .selectFrom('security_events')
    .select((e) => [e.fn.countAll().as('n'), e.fn.max('id').as('m')])
    .where('seq', 'is', null)
    .executeTakeFirstOrThrow();
  out.unchained = Number(pre.n);
  if (out.unchained !== Number(head.unchained_count) || Number(pre.m ?? 0) > Number(head.unchained_max_id))
    return fail(0, 'added', 'a security event outside the chain was added or removed');
  for (const t of ['security_events', 'audit_log'] as const) {
    const low = await db.selectFrom(t).select('seq').where('seq', '<', 1).limit(1).executeTakeFirst();
    if (low) return fail(Number(low.seq), 'added', 'an entry is numbered outside the chain');
  }
  for (const c of cps.values()) {
    if (!opts.checkSignature(c)) return fail(Number(c.seq), 'checkpoint', 'the checkpoint signature is not valid');
    if (Number(c.seq) > headSeq) return fail(headSeq + 1, 'removed', `a checkpoint names entry ${c.seq}, past the end of the chain`);
  }
  const retention = await retentionRuns(db, headSeq);
  let prev = genesisHash(Number(head.unchained_count), Number(head.unchained_max_id));
  let expected = 1;
  while (expected <= headSeq) {
    const hi = Math.min(headSeq, expected + batch - 1);
    const spine = await db.selectFrom('audit_chain').selectAll().where('seq', '>=', expected).where('seq', '<=', hi).orderBy('seq').execute();
    const events = await db.selectFrom('security_events').selectAll().where('seq', '>=', expected).where('seq', '<=', hi).execute();
    const logs = await db.selectFrom('audit_log').selectAll().where('seq', '>=', expected).where('seq', '<=', hi).execute();
    const content = new Map<number, Pending>();
    for (const e of events) {
      const s = Number(e.seq);
      if (content.has(s)) return fail(s, 'added', 'two entries hold this number');
      content.set(s, { table: 'security_events', row: e });
    }
    for (const l of logs) {
      const s = Number(l.seq);
      if (content.has(s)) return fail(s, 'added', 'two entries hold this number');
      content.set(s, { table: 'audit_log', row: l });
    }
    for (const link of spine) {
      const s = Number(link.seq);
      if (s !== expected) return fail(expected, 'removed', 'the chain has no entry with this number');
      if (linkHash(prev, s, link.kind, Number(link.at), link.digest) !== link.hash)
        return fail(s, 'altered', 'the chain link does not follow from the one before (altered, removed or reordered)');
      const got = content.get(s);
      if (got === undefined) {
        if (retention.covers(link.kind, s, Number(link.at))) out.pruned++;
        else return fail(s, 'removed', `the ${link.kind} entry is missing and no retention run removed it`);
      } else if (!contentMatches(link.digest, s, got)) return fail(s, 'altered', `the ${link.kind} entry does not match the chain (altered or moved)`);
      else out.checked++;
      const cp = cps.get(s);
      if (cp) {
        if (cp.hash !== link.hash) return fail(s, 'checkpoint', 'the chain differs from a signed checkpoint at this entry');
        out.checkpoints++;
      }
      prev = link.hash;
      expected++;
    }
    if (spine.length === 0 || expected <= hi) return fail(expected, 'removed', 'the chain has no entry with this number');
  }
  if (prev !== head.hash) return fail(headSeq, 'head', 'the head of the chain does not match its last entry');
  const beyond = await db.selectFrom('audit_chain').select('seq').where('seq', '>', headSeq).orderBy('seq').limit(1).executeTakeFirst();
  if (beyond) return fail(Number(beyond.seq), 'added', 'an entry lies past the head of the chain');
  for (const t of ['security_events', 'audit_log'] as const) {
    const extra = await db.selectFrom(t).select('seq').where('seq', '>', headSeq).orderBy('seq').limit(1).executeTakeFirst();
    if (extra) return fail(Number(extra.seq), 'added', 'an entry lies past the head of the chain');
  }
  out.ms = Date.now() - started;
  return out;
}

/**
 * The retention runs on the chain: system entries whose content matches their link (the walk then
 * proves the link). A run covers entries of its kind numbered before it and older than its cut-off,
 * which may not lie past the run's own time.
 */
async function retentionRuns(db: Db, headSeq: number): Promise<{ covers(kind: string, seq: number, at: number): boolean }> {
  const rows = await db
    .selectFrom('audit_log')
    .selectAll()
    .where('kind', '=', 'system')
    .where('operation', '=', 'retention')
    .where('seq', '>=', 1)
    .where('seq', '<=', headSeq)
    .orderBy('seq')
    .execute();
  const byKind = new Map<string, Array<{ seq: number; before: number }>>();
  for (const r of rows) {
    const link = await db.selectFrom('audit_chain').select('digest').where('seq', '=', r.seq).executeTakeFirst();
    if (!link || !contentMatches(link.digest, Number(r.seq), { table: 'audit_log', row: r })) continue;
    let d: { kind?: unknown; before?: unknown };
    try {
      d = JSON.parse(r.data ?? '{}') as typeof d;
    } catch {
      continue;
    }
    if (typeof d.kind !== 'string' || typeof d.before !== 'number') continue;
    const runs = byKind.get(d.kind) ?? [];
    runs.push({ seq: Number(r.seq), before: Math.min(d.before, Number(r.at)) });
    byKind.set(d.kind, runs);
  }
  // Per kind, the latest cut-off among the runs from each position on (runs are in chain order).
  const suffix = new Map<string, { seqs: number[]; max: number[] }>();
  for (const [kind, runs] of byKind) {
    const max: number[] = new Array(runs.length);
    let m = Number.NEGATIVE_INFINITY;
    for (let i = runs.length - 1; i >= 0; i--) {
      m = Math.max(m, runs[i]!.before);
      max[i] = m;
    }
    suffix.set(kind, { seqs: runs.map((r) => r.seq), max });
  }
  return {
    covers(kind, seq, at) {
      const k = suffix.get(kind);
      if (!k) return false;
      let lo = 0;
      let hi = k.seqs.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (k.seqs[mid]! > seq) hi = mid;
        else lo = mid + 1;
      }
      return lo < k.seqs.length && at < k.max[lo]!;
    },
  };
}
