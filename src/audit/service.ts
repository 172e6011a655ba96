/**
 * The audit trail's service face (AUDIT-3, AUDIT-6): reading the record audit log (each read itself
 * recorded), verifying the chain, and signed checkpoints. Writers use `trail` (records) and the
 * security log; nothing else writes audit entries.
 */
import type { Db, Dialect } from '../db/index.js';
import { AppError } from '../errors.js';
import { lockChainNow } from './chain.js';
import { verify, type Checkpoint, type VerifyResult } from './verify.js';
import type { CheckpointSigner } from './checkpoints.js';
import type { EventContext, EventFilter, SecurityLog, StoredEvent } from './events.js';
import type { AuditEntryOut, AuditFilter, AuditTrail } from './trail.js';

export class AuditService {
  constructor(
    private readonly db: Db,
    readonly trail: AuditTrail,
    private readonly log: SecurityLog,
    readonly signer: CheckpointSigner,
    private readonly now: () => number,
    private readonly dialect: Dialect,
  ) {}

  /** A page of the record audit log; the read is recorded as `audit.read` with its filter. */
  async list(ctx: EventContext, f: AuditFilter): Promise<AuditEntryOut[]> {
    await this.log.record(ctx, { type: 'audit.read', outcome: 'success', details: { log: 'records', filter: filterDetails(f) } });
    return this.trail.list(f);
  }

  /** A page of the security event log; the read is recorded (after it, so a page never shows its own read). */
  async securityEvents(ctx: EventContext, f: EventFilter): Promise<StoredEvent[]> {
    const events = await this.log.list(f);
    await this.log.record(ctx, { type: 'audit.read', outcome: 'success', details: { log: 'security', filter: filterDetails(f) } });
    return events;
  }

  /** Every entry matching `f`, oldest first, page by page (exports); recorded once as `audit.read`. */
  async *entries(ctx: EventContext, f: Omit<AuditFilter, 'limit' | 'beforeSeq'>, format: string): AsyncGenerator<AuditEntryOut> {
    await this.log.record(ctx, { type: 'audit.read', outcome: 'success', details: { log: 'records', export: format, filter: filterDetails(f) } });
    let before: number | undefined;
    for (;;) {
      const page = await this.trail.list({ ...f, beforeSeq: before, limit: 500 });
      for (const e of page) yield e;
      if (page.length < 500) return;
      before = page[page.length - 1]!.seq;
    }
  }

  /**
   * Walks the whole chain, checking the stored checkpoints and any given (from an exported file). The
   * outcome is recorded as `audit.verified` (what `doctor` reads for "verified recently").
   */
  async verify(ctx: EventContext, external: Checkpoint[] = []): Promise<VerifyResult> {
    // One walk at a time per instance: on PostgreSQL a walk holds a pooled connection (its snapshot) from start to
    // end, so walks side by side could take the whole pool from every other request.
    if (this.walking) throw new AppError('CONFLICT', undefined, 'a verification of the chain is already running');
    this.walking = true;
    try {
      return await this.verifyOnce(ctx, external);
    } finally {
      this.walking = false;
    }
  }

  private walking = false;

  private async verifyOnce(ctx: EventContext, external: Checkpoint[]): Promise<VerifyResult> {
    const stored = await this.db.selectFrom('audit_checkpoints').selectAll().orderBy('seq').execute();
    const merged = new Map<number, Checkpoint>();
    for (const c of [...stored, ...external]) {
      const seen = merged.get(Number(c.seq));
      // Two checkpoints for one entry must agree; a mismatch is reported by the walk.
      if (!seen || seen.hash === c.hash) merged.set(Number(c.seq), c);
      else merged.set(Number(c.seq), { ...c, hash: `conflict:${seen.hash}:${c.hash}` });
    }
    const opts = { checkpoints: [...merged.values()], checkSignature: (c: Checkpoint) => this.signer.check(c) };
    // On PostgreSQL the walk reads one snapshot: entries other requests commit meanwhile (past the head read first),
    // or a retention run's deletions, are not seen half-way. SQLite's one connection cannot hold a read transaction
    // open without holding up every write; the walk there allows what commits during it (see verify's last step).
    const r =
      this.dialect === 'postgres'
        ? await this.db
            .transaction()
            .setIsolationLevel('repeatable read')
            .setAccessMode('read only')
            .execute((trx) => verify(trx, opts))
        : await verify(this.db, opts);
    await this.log.record(ctx, {
      type: 'audit.verified',
      outcome: r.ok ? 'success' : 'failure',
      details: { entries: r.entries, checked: r.checked, pruned: r.pruned, checkpoints: r.checkpoints, problem: r.problem, ms: r.ms },
    });
    return r;
  }

  /** Signs the chain's current head as a checkpoint (itself preceded by a system entry on the chain). */
  async checkpoint(ctx: EventContext): Promise<Checkpoint> {
    return this.db.transaction().execute(async (trx) => {
      await this.trail.system(trx, ctx, 'checkpoint', {});
      // The entry just written is linked and the head held (PostgreSQL links at COMMIT otherwise, D464).
      await lockChainNow(trx);
      const head = await trx.selectFrom('audit_chain_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow();
      const seq = Number(head.seq);
      const at = this.now();
      const c: Checkpoint = { seq, hash: head.hash, at, signature: this.signer.sign(seq, head.hash, at) };
      await trx.insertInto('audit_checkpoints').values(c).execute();
      return c;
    });
  }

  /** A checkpoint when the chain has moved since the last one (the scheduled kind: an idle chain is not grown by checkpoints). */
  async checkpointIfMoved(ctx: EventContext): Promise<Checkpoint | null> {
    const head = await this.db.selectFrom('audit_chain_head').select('seq').where('id', '=', 1).executeTakeFirstOrThrow();
    const last = await this.db.selectFrom('audit_checkpoints').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
    if (last && Number(last.seq) >= Number(head.seq)) return null;
    return this.checkpoint(ctx);
  }

  /** The stored checkpoints, newest first. */
  async checkpoints(limit: number): Promise<Checkpoint[]> {
    const rows = await this.db.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'desc').limit(limit).execute();
    return rows.map((r) => ({ seq: Number(r.seq), hash: r.hash, at: Number(r.at), signature: r.signature }));
  }
}

function filterDetails(f: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) if (v !== undefined && k !== 'limit') out[k] = v;
  return out;
}
