/**
 * Retention of the audit logs (AUDIT-1 "scheduled clean-up"): entries older than a log's retention are
 * removed in batches, each in one transaction that opens the removal window the triggers check
 * (`audit_prune`), deletes the rows, closes the window and records the run on the chain (operation
 * `retention`, with the cut-off `verify` accepts missing content below). The spine is never touched,
 * the `system` log never pruned. The days come in as plain numbers (`RetentionPolicy`): audit sits
 * below config and reads no settings itself.
 */
import { chmod, mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import type { Selectable } from 'kysely';
import type { Db } from '../db/index.js';
import type { AuditLogTable, SecurityEventsTable } from '../db/types.js';
import { SYSTEM_ACTOR, type EventContext } from './events.js';
import type { AuditTrail } from './trail.js';
import { lockChainNow } from './chain.js';

/** The logs retention may prune; `system` (retention runs, checkpoints, erasures) is kept forever. */
export const RETENTION_KINDS = ['security', 'change', 'status', 'access'] as const;
export type RetentionKind = (typeof RETENTION_KINDS)[number];

export interface RetentionPolicy {
  /** Days each log keeps its entries; 0: forever. */
  days: Readonly<Record<RetentionKind, number>>;
  /** Write removed entries to the archive directory first. */
  archive: boolean;
}

export interface KindResult {
  kind: RetentionKind;
  days: number;
  /** The cut-off: entries before it were removed (or, in a dry run, would be); null when the log is kept forever. */
  before: number | null;
  removed: number;
  /** The archive file's name (in the archive directory) the removed entries were appended to. */
  archive: string | null;
}

export interface RetentionResult {
  dryRun: boolean;
  kinds: KindResult[];
}

/** Claims shared by every instance (the database's `shared_kv`), by shape: audit imports no shared state. */
export interface RunClaims {
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  del(...keys: string[]): Promise<void>;
}

export interface RetentionDeps {
  db: Db;
  trail: Pick<AuditTrail, 'system'>;
  now: () => number;
  /** DATA_DIR/audit-archive. */
  archiveDir: string;
  /** The current policy (the `auditLog` settings area), read at each run. */
  policy: () => Promise<RetentionPolicy>;
  claims: RunClaims;
  /** Entries per transaction (ties on the last timestamp join their batch). */
  batch?: number;
}

const DAY_MS = 86_400_000;
const SCHEDULE_PERIOD_MS = DAY_MS;
const SCHEDULE_CHECK_MS = 3_600_000;

type Row = Selectable<SecurityEventsTable> | Selectable<AuditLogTable>;

export class AuditRetention {
  private readonly batch: number;

  constructor(private readonly d: RetentionDeps) {
    this.batch = d.batch ?? 1000;
    if (!Number.isSafeInteger(this.batch) || this.batch < 1) throw new TypeError('retention batch must be a positive integer');
  }

  /** Runs retention now with the current policy (the admin API, the CLI). */
  async run(ctx: EventContext, opts: { dryRun?: boolean } = {}): Promise<RetentionResult> {
    return this.prune(ctx, await this.d.policy(), opts.dryRun ?? false);
  }

  /**
   * The scheduled run: at most once a day across every instance (a claim on the day in the database),
   * and nothing at all while every log is kept forever. A failed run gives its claim back.
   */
  async tick(): Promise<RetentionResult | null> {
    const policy = await this.d.policy();
    if (!RETENTION_KINDS.some((k) => policy.days[k] > 0)) return null;
    const key = `audit:retention:${Math.floor(this.d.now() / SCHEDULE_PERIOD_MS)}`;
    if (!(await this.d.claims.setIfAbsent(key, '1', 2 * SCHEDULE_PERIOD_MS))) return null;
    try {
      return await this.prune({ actor: SYSTEM_ACTOR }, policy, false);
    } catch (e) {
      await this.d.claims.del(key).catch(() => undefined);
      throw e;
    }
  }

  /** Checks every hour whether today's run is due (see `tick`); returns the stop function. */
  schedule(opts: { onRun: (r: RetentionResult) => void; onError: (err: unknown) => void; everyMs?: number }): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.tick()
        .then((r) => {
          if (r) opts.onRun(r);
        }, opts.onError)
        .finally(() => {
          running = false;
        });
    }, opts.everyMs ?? SCHEDULE_CHECK_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  async prune(ctx: EventContext, policy: RetentionPolicy, dryRun: boolean): Promise<RetentionResult> {
    const now = this.d.now();
    const kinds: KindResult[] = [];
    for (const kind of RETENTION_KINDS) {
      const days = policy.days[kind];
      // Caller misuse, not input: the settings area bounds the days.
      if (!Number.isSafeInteger(days) || days < 0) throw new TypeError(`retention days of ${kind} must be a non-negative integer`);
      if (days === 0) {
        kinds.push({ kind, days, before: null, removed: 0, archive: null });
        continue;
      }
      const cutoff = now - days * DAY_MS;
      if (dryRun) {
        const n = await count(this.d.db, kind, cutoff);
        kinds.push({ kind, days, before: cutoff, removed: n, archive: null });
        continue;
      }
      const file = policy.archive ? `${kind}-${new Date(now).toISOString().slice(0, 10)}.jsonl` : null;
      let removed = 0;
      for (;;) {
        const b = await this.pruneBatch(ctx, kind, cutoff, file);
        removed += b.removed;
        if (b.removed === 0 || b.before >= cutoff) break;
      }
      kinds.push({ kind, days, before: cutoff, removed, archive: removed > 0 ? file : null });
    }
    return { dryRun, kinds };
  }

  /**
   * One batch in one transaction. Its cut-off is just after the batch's last entry (the run's cut-off
   * for the last batch), so each `retention` entry on the chain says exactly what its batch removed.
   * The window row serialises two runs of one log (its key is the log): the second finds nothing left.
   */
  private pruneBatch(ctx: EventContext, kind: RetentionKind, cutoff: number, file: string | null): Promise<{ removed: number; before: number }> {
    return this.d.db.transaction().execute(async (trx) => {
      // The chain's lock first: an erasure cannot destroy a salt this batch has read and is about to copy apart (D459).
      await lockChainNow(trx);
      const nth = await nthAt(trx, kind, cutoff, this.batch - 1);
      const before = nth === null ? cutoff : Math.min(cutoff, nth + 1);
      await trx.insertInto('audit_prune').values({ kind, before_at: before }).execute();
      const rows = await older(trx, kind, before);
      if (rows.length > 0) {
        // Written and synced before the rows go: a failed transaction may leave an entry archived twice, never lost.
        if (file) await this.archive(file, rows);
        for (let i = 0; i < rows.length; i += 500) {
          const part = rows.slice(i, i + 500);
          if (kind === 'security')
            await trx
              .deleteFrom('security_events')
              .where(
                'id',
                'in',
                part.map((r) => Number((r as Selectable<SecurityEventsTable>).id)),
              )
              .execute();
          else {
            // A salt leaves with its entry only after it is copied apart: later entries of its record are encrypted under it (D459).
            const salted = (part as Array<Selectable<AuditLogTable>>).filter((r) => r.key_salt !== null && r.collection !== null && r.record_id !== null);
            if (salted.length > 0)
              await trx
                .insertInto('audit_subject_keys')
                .values(salted.map((r) => ({ subject: `${r.collection}:${r.record_id}`, sealed: r.key_salt!, created_at: Number(r.at) })))
                .onConflict((oc) => oc.column('subject').doNothing())
                .execute();
            await trx
              .deleteFrom('audit_log')
              .where(
                'seq',
                'in',
                part.map((r) => Number(r.seq)),
              )
              .execute();
          }
        }
        await this.d.trail.system(trx, ctx, 'retention', { kind, before, removed: rows.length, archived: file !== null });
      }
      await trx.deleteFrom('audit_prune').where('kind', '=', kind).execute();
      return { removed: rows.length, before };
    });
  }

  /** Appends rows as stored (the chain's content: personal values stay encrypted) to a private file. */
  private async archive(file: string, rows: Row[]): Promise<void> {
    await mkdir(this.d.archiveDir, { recursive: true, mode: 0o700 });
    await chmod(this.d.archiveDir, 0o700);
    const target = path.join(this.d.archiveDir, file);
    const h = await open(target, 'a', 0o600);
    try {
      await h.chmod(0o600);
      // The entries' content only: a record key's salt (D459) never leaves the database.
      await h.writeFile(rows.map((r) => `${JSON.stringify({ ...r, key_salt: undefined })}\n`).join(''));
      await h.sync();
    } finally {
      await h.close();
    }
  }
}

/**
 * The content rows of a log older than `before`, oldest first. Security events from before the chain
 * existed (no `seq`) are kept: the chain's first hash binds their number, so removing one would read
 * as tampering.
 */
async function older(db: Db, kind: RetentionKind, before: number): Promise<Row[]> {
  if (kind === 'security')
    return db.selectFrom('security_events').selectAll().where('seq', 'is not', null).where('at', '<', before).orderBy('at').orderBy('id').execute();
  return db.selectFrom('audit_log').selectAll().where('kind', '=', kind).where('at', '<', before).orderBy('at').orderBy('seq').execute();
}

/** The time of the log's entry at `offset` (oldest first) before `before`, or null when there are fewer. */
async function nthAt(db: Db, kind: RetentionKind, before: number, offset: number): Promise<number | null> {
  const r =
    kind === 'security'
      ? await db
          .selectFrom('security_events')
          .select('at')
          .where('seq', 'is not', null)
          .where('at', '<', before)
          .orderBy('at')
          .limit(1)
          .offset(offset)
          .executeTakeFirst()
      : await db
          .selectFrom('audit_log')
          .select('at')
          .where('kind', '=', kind)
          .where('at', '<', before)
          .orderBy('at')
          .limit(1)
          .offset(offset)
          .executeTakeFirst();
  return r ? Number(r.at) : null;
}

async function count(db: Db, kind: RetentionKind, before: number): Promise<number> {
  const r =
    kind === 'security'
      ? await db
          .selectFrom('security_events')
          .select((e) => e.fn.countAll().as('n'))
          .where('seq', 'is not', null)
          .where('at', '<', before)
          .executeTakeFirstOrThrow()
      : await db
          .selectFrom('audit_log')
          .select((e) => e.fn.countAll().as('n'))
          .where('kind', '=', kind)
          .where('at', '<', before)
          .executeTakeFirstOrThrow();
  return Number(r.n);
}
