/**
 * `palisade audit verify` and the admin API's verification (AUDIT-6): walks the chain from its start and names the
 * first entry that was altered, removed, added or reordered, and a signed checkpoint the chain no longer matches.
 */
import type { Db } from '../db/index.js';
import { contentMatches, genesisHash, linkHash, type Pending } from './chain-digest.js';

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
    // Other requests run between batches: on SQLite every statement is synchronous, and a walk of a million entries
    // would otherwise hold the event loop for its whole length.
    await new Promise<void>((resolve) => setImmediate(resolve));
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
  // Past the head read at the start: entries the chain gained while the walk ran are the next walk's, and an entry
  // commits with the head that counts it, so one past the head read *after* it was found is not on the chain. (On
  // PostgreSQL the walk reads one snapshot and the second head is the first.)
  const past: Array<{ seq: number }> = [];
  for (const t of ['audit_chain', 'security_events', 'audit_log'] as const) {
    const row = await db.selectFrom(t).select('seq').where('seq', '>', headSeq).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    if (row) past.push({ seq: Number(row.seq) });
  }
  if (past.length > 0) {
    const now = Number((await db.selectFrom('audit_chain_head').select('seq').where('id', '=', 1).executeTakeFirstOrThrow()).seq);
    const beyond = past.map((p) => p.seq).filter((s) => s > now);
    if (beyond.length > 0) return fail(Math.min(...beyond), 'added', 'an entry lies past the head of the chain');
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
