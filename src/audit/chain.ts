/// <reference lib="es2024.string" />
/**
 * The audit chain (AUDIT-6): every entry of every audit table (security events and the record audit
 * log) takes the next number of one chain, in the transaction that writes it. The spine
 * (`audit_chain`) holds each entry's digest and the chain hash `sha256(previous hash, digest)`
 * (`chain-digest.ts`); `verify.ts` walks it and names the first entry that was altered, removed,
 * added or reordered.
 *
 * One chain, one head row, locked until the transaction ends by whoever numbers entries: on SQLite the
 * append (the write lock every transaction holds from its start), on PostgreSQL the deferred trigger
 * that links a transaction's entries inside its COMMIT (D464). So two instances writing at once still
 * make one chain, and an entry of a rolled-back change never takes a number.
 */
import { CompiledQuery, PostgresAdapter } from 'kysely';
import { inTransaction, type Db } from '../db/index.js';
import { atOnce, type SyncRunner } from '../db/sync.js';
import { canonOf, digestOf, digestV2, linkHash, type Pending } from './chain-digest.js';

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
