/**
 * The audit chain (AUDIT-6): every entry of every audit table (security events and the record audit
 * log) takes the next number of one chain, in the transaction that writes it. The spine
 * (`audit_chain`) holds each entry's digest and the chain hash `sha256(previous hash, digest)`;
 * `verify` walks it and names the first entry that was altered, removed, added or reordered.
 *
 * One chain, one head row: appending locks the head (an UPDATE, a row lock on PostgreSQL and the
 * write lock on SQLite) until the transaction ends, so two instances writing at once still make one
 * chain, and an entry of a rolled-back change never takes a number.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { inTransaction, type Db } from '../db/index.js';
import type { AuditLogTable, SecurityEventsTable } from '../db/types.js';

export const GENESIS = '0'.repeat(64);

export type SecurityRow = Omit<SecurityEventsTable, 'id' | 'seq'>;
export type LogRow = Omit<AuditLogTable, 'seq'>;
export type Pending = { table: 'security_events'; row: SecurityRow } | { table: 'audit_log'; row: LogRow };

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A security event's content in its canonical form: every stored value, in a fixed order. */
export function securityCanon(seq: number, r: SecurityRow): string {
  return JSON.stringify([
    seq,
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

/** An audit log entry's content in its canonical form. */
export function logCanon(seq: number, r: LogRow): string {
  return JSON.stringify([
    seq,
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
export const linkHash = (prev: string, digest: string): string => sha256(`${prev}\n${digest}`);

const CHUNK = 200;

/** Appends entries to the chain and their tables inside `db`'s transaction (a new one when it is none). */
export async function append(db: Db, entries: Pending[]): Promise<void> {
  if (entries.length === 0) return;
  await inTransaction(db, async (trx) => {
    const head = (
      await sql<{ seq: number | string; hash: string }>`update audit_chain_head set seq = seq + ${entries.length} where id = 1 returning seq, hash`.execute(trx)
    ).rows[0];
    if (!head) throw new Error('audit chain head missing');
    let seq = Number(head.seq) - entries.length;
    let prev = head.hash;
    const spine: Array<{ seq: number; kind: string; at: number; digest: string; hash: string }> = [];
    const events: Array<SecurityRow & { seq: number }> = [];
    const logs: Array<LogRow & { seq: number }> = [];
    for (const e of entries) {
      seq++;
      const digest = digestOf(e.table === 'security_events' ? securityCanon(seq, e.row) : logCanon(seq, e.row));
      prev = linkHash(prev, digest);
      spine.push({ seq, kind: e.table === 'security_events' ? 'security' : e.row.kind, at: e.row.at, digest, hash: prev });
      if (e.table === 'security_events') events.push({ ...e.row, seq });
      else logs.push({ ...e.row, seq });
    }
    for (let i = 0; i < events.length; i += CHUNK)
      await trx
        .insertInto('security_events')
        .values(events.slice(i, i + CHUNK))
        .execute();
    for (let i = 0; i < logs.length; i += CHUNK)
      await trx
        .insertInto('audit_log')
        .values(logs.slice(i, i + CHUNK))
        .execute();
    for (let i = 0; i < spine.length; i += CHUNK)
      await trx
        .insertInto('audit_chain')
        .values(spine.slice(i, i + CHUNK))
        .execute();
    await trx.updateTable('audit_chain_head').set({ hash: prev }).where('id', '=', 1).execute();
  });
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
 * Walks the chain from the start. `retention` gives, per kind, the newest cut-off a retention run
 * recorded on the chain (content older than it may be missing). `checkpoints` are checked against the
 * chain hash at their number; `checkSignature` says whether a checkpoint's signature is ours.
 */
export async function verify(db: Db, opts: { checkpoints: Checkpoint[]; checkSignature: (c: Checkpoint) => boolean; batch?: number }): Promise<VerifyResult> {
  const started = Date.now();
  const batch = opts.batch ?? 5000;
  const head = await db.selectFrom('audit_chain_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow();
  const headSeq = Number(head.seq);
  const retention = await retentionCutoffs(db);
  const cps = new Map(opts.checkpoints.map((c) => [Number(c.seq), c]));
  const out: VerifyResult = { ok: true, entries: headSeq, checked: 0, pruned: 0, unchained: 0, checkpoints: 0, problem: null, ms: 0 };
  const fail = (seq: number, problem: ProblemKind, detail: string): VerifyResult => {
    out.ok = false;
    out.problem = { seq, problem, detail };
    out.ms = Date.now() - started;
    return out;
  };
  out.unchained = Number(
    (
      await db
        .selectFrom('security_events')
        .select((e) => e.fn.countAll().as('n'))
        .where('seq', 'is', null)
        .executeTakeFirstOrThrow()
    ).n,
  );
  for (const c of cps.values()) {
    if (!opts.checkSignature(c)) return fail(Number(c.seq), 'checkpoint', 'the checkpoint signature is not valid');
    if (Number(c.seq) > headSeq) return fail(headSeq + 1, 'removed', `a checkpoint names entry ${c.seq}, past the end of the chain`);
  }
  let prev = GENESIS;
  let expected = 1;
  while (expected <= headSeq) {
    const hi = Math.min(headSeq, expected + batch - 1);
    const spine = await db.selectFrom('audit_chain').selectAll().where('seq', '>=', expected).where('seq', '<=', hi).orderBy('seq').execute();
    const events = await db.selectFrom('security_events').selectAll().where('seq', '>=', expected).where('seq', '<=', hi).execute();
    const logs = await db.selectFrom('audit_log').selectAll().where('seq', '>=', expected).where('seq', '<=', hi).execute();
    const content = new Map<number, string>();
    for (const e of events) {
      const s = Number(e.seq);
      if (content.has(s)) return fail(s, 'added', 'two entries hold this number');
      content.set(s, digestOf(securityCanon(s, e)));
    }
    for (const l of logs) {
      const s = Number(l.seq);
      if (content.has(s)) return fail(s, 'added', 'two entries hold this number');
      content.set(s, digestOf(logCanon(s, l)));
    }
    for (const link of spine) {
      const s = Number(link.seq);
      if (s !== expected) return fail(expected, 'removed', 'the chain has no entry with this number');
      if (linkHash(prev, link.digest) !== link.hash)
        return fail(s, 'altered', 'the chain link does not follow from the one before (altered, removed or reordered)');
      const got = content.get(s);
      if (got === undefined) {
        if (Number(link.at) < (retention.get(link.kind) ?? Number.NEGATIVE_INFINITY)) out.pruned++;
        else return fail(s, 'removed', `the ${link.kind} entry is missing and no retention run removed it`);
      } else if (got !== link.digest) return fail(s, 'altered', `the ${link.kind} entry does not match the chain (altered or moved)`);
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

/** Per log kind, the newest cut-off a retention run recorded (its entries are on the chain too). */
async function retentionCutoffs(db: Db): Promise<Map<string, number>> {
  const rows = await db.selectFrom('audit_log').select('data').where('kind', '=', 'system').where('operation', '=', 'retention').execute();
  const out = new Map<string, number>();
  for (const r of rows) {
    try {
      const d = JSON.parse(r.data ?? '{}') as { kind?: unknown; before?: unknown };
      if (typeof d.kind === 'string' && typeof d.before === 'number') out.set(d.kind, Math.max(out.get(d.kind) ?? Number.NEGATIVE_INFINITY, d.before));
    } catch {
      /* not ours: ignored, the chain check covers its content */
    }
  }
  return out;
}
