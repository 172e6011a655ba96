/**
 * GDPR policies and erasure requests (AUDIT-5): per collection, policies that delete or anonymise the
 * records their rule matches (on demand or on a schedule), and a data subject's erasure request. The
 * work runs below the grants (it is the administrators' policy), names who asked in every entry, and
 * leaves the audit chain intact: anonymisation destroys the records' audit keys instead of touching
 * entries (D100, D130). Rules and values: privacy-rules.ts; erasure requests: privacy-erasure.ts;
 * the batches: privacy-apply.ts.
 */
import { hkdfSync, randomUUID } from 'node:crypto';
import type { Db } from '../db/index.js';
import type { PrivacyPoliciesTable } from '../db/types.js';
import { AppError } from '../errors.js';
import { SYSTEM_ACTOR, type EventContext, type SecurityLog } from '../audit/events.js';
import type { AuditTrail } from '../audit/trail.js';
import type { CollectionRegistry } from '../collections/registry.js';
import type { CollectionDef } from '../collections/schema.js';
import { isPlainObject } from './codec.js';
import { apply, preview, type PrivacyContext, type RunResult, type Target } from './privacy-apply.js';
import { erasureTarget, type ErasureRequest } from './privacy-erasure.js';
import {
  checkRule,
  checkValues,
  invalid,
  PRIVACY_ACTIONS,
  ruleCondition,
  SCHEDULE_MAX,
  SCHEDULE_MIN,
  type AnonValues,
  type PolicyRule,
  type PrivacyAction,
} from './privacy-rules.js';

export type { RunResult } from './privacy-apply.js';
export type { ErasureRequest } from './privacy-erasure.js';

export interface PolicyInput {
  name: string;
  action: PrivacyAction;
  rule: PolicyRule;
  values?: AnonValues;
  purgeHistory?: boolean;
  schedule?: { enabled: boolean; every?: number | null };
}

export interface PolicyOut {
  id: string;
  collection: string;
  name: string;
  action: PrivacyAction;
  rule: PolicyRule;
  values: AnonValues;
  purgeHistory: boolean;
  schedule: { enabled: boolean; every: number | null };
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastResult: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
}

/** How long a run holds its policy (a crashed instance's lease runs out). */
const LEASE_MS = 15 * 60_000;
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

export class PrivacyService {
  private readonly pc: PrivacyContext;

  constructor(
    private readonly db: Db,
    private readonly registry: CollectionRegistry,
    private readonly log: SecurityLog,
    private readonly trail: AuditTrail,
    private readonly now: () => number,
    dialect: 'sqlite' | 'postgres',
    appKey: string,
    scrub?: PrivacyContext['scrub'],
  ) {
    const hashKey = Buffer.from(hkdfSync('sha256', appKey, 'privacy', 'palisade/privacy-hash/v1', 32));
    const unused = () => Promise.reject(new Error('privacy runs below the grants: no list or get'));
    this.pc = {
      db,
      registry,
      access: { grantsFor: async () => [] },
      log,
      trail,
      now,
      dialect,
      hashKey,
      files: null,
      list: unused,
      get: unused,
      ...(scrub ? { scrub } : {}),
    };
  }

  private async def(collection: string): Promise<CollectionDef> {
    const def = await this.registry.get(collection);
    if (!def) throw new AppError('NOT_FOUND');
    return def;
  }

  async list(collection: string): Promise<PolicyOut[]> {
    await this.def(collection);
    const rows = await this.db.selectFrom('privacy_policies').selectAll().where('collection', '=', collection).orderBy('name').execute();
    return rows.map(shape);
  }

  async get(collection: string, id: string): Promise<PolicyOut> {
    return shape(await this.row(collection, id));
  }

  private async row(collection: string, id: string): Promise<PrivacyPoliciesTable> {
    const row = await this.db.selectFrom('privacy_policies').selectAll().where('collection', '=', collection).where('id', '=', id).executeTakeFirst();
    if (!row) throw new AppError('NOT_FOUND');
    return row;
  }

  /** Every problem of a whole policy against the collection as it is now. */
  private check(def: CollectionDef, p: PolicyInput): void {
    const problems: string[] = [];
    if (typeof p.name !== 'string' || p.name.trim() === '' || p.name.length > 100 || p.name.includes('\u0000')) problems.push('name: 1 to 100 characters');
    if (!PRIVACY_ACTIONS.includes(p.action)) problems.push('action: delete or anonymise');
    problems.push(...checkValues(def, p.values ?? {}));
    const n = isPlainObject(p.values) ? Object.keys(p.values).length : 0;
    if (p.action === 'delete' && n > 0) problems.push('values: a deletion takes no values');
    if (p.action === 'anonymise' && n === 0) problems.push('values: name the fields to anonymise');
    if (p.purgeHistory !== undefined && typeof p.purgeHistory !== 'boolean') problems.push('purgeHistory: true or false');
    const s = p.schedule;
    if (s !== undefined) {
      if (!isPlainObject(s) || typeof s.enabled !== 'boolean') problems.push('schedule: {enabled, every}');
      else if (s.enabled && (!Number.isSafeInteger(s.every) || (s.every as number) < SCHEDULE_MIN || (s.every as number) > SCHEDULE_MAX))
        problems.push(`schedule.every: seconds between runs, from ${SCHEDULE_MIN} to ${SCHEDULE_MAX}`);
    }
    if (problems.length === 0) problems.push(...checkRule(def, p.rule, this.now()));
    else if (!isPlainObject(p.rule)) problems.push('rule: an object with filter, olderThan or status');
    if (problems.length > 0) throw invalid(problems);
  }

  /**
   * A scheduled policy runs unattended, as the system: defining one, or changing one whose schedule stays on, needs the
   * right to run policies (`mayRun`: security.manage), or a schema designer could have records deleted on their own
   * say (D131). Switching a schedule off, or removing a policy, does not.
   */
  private refuseUnattended(scheduled: boolean, mayRun: boolean): void {
    if (scheduled && !mayRun) throw new AppError('FORBIDDEN', undefined, 'a scheduled policy runs by itself: scheduling needs security.manage');
  }

  async create(collection: string, p: PolicyInput, ctx: EventContext, mayRun: boolean): Promise<PolicyOut> {
    const def = await this.def(collection);
    this.check(def, p);
    this.refuseUnattended(p.schedule?.enabled === true, mayRun);
    const at = this.now();
    const every = p.schedule?.every ?? null;
    const row: PrivacyPoliciesTable = {
      id: randomUUID(),
      collection,
      name: p.name,
      action: p.action,
      rule: JSON.stringify(p.rule),
      field_values: JSON.stringify(p.values ?? {}),
      purge_history: p.purgeHistory ? 1 : 0,
      schedule_enabled: p.schedule?.enabled ? 1 : 0,
      schedule_every: every,
      next_run_at: p.schedule?.enabled && every ? at + every * 1000 : null,
      running_until: null,
      last_run_at: null,
      last_result: null,
      created_at: at,
      updated_at: at,
      created_by: ctx.actor.id,
      updated_by: ctx.actor.id,
    };
    await this.db.transaction().execute(async (trx) => {
      const taken = await trx.selectFrom('privacy_policies').select('id').where('collection', '=', collection).where('name', '=', p.name).executeTakeFirst();
      if (taken) throw new AppError('CONFLICT', undefined, 'a policy of this name exists');
      await trx.insertInto('privacy_policies').values(row).execute();
      await this.changed(trx, ctx, 'created', row);
    });
    return shape(row);
  }

  async update(collection: string, id: string, patch: Partial<PolicyInput>, ctx: EventContext, mayRun: boolean): Promise<PolicyOut> {
    const def = await this.def(collection);
    const cur = shape(await this.row(collection, id));
    const next: PolicyInput = {
      name: patch.name ?? cur.name,
      action: patch.action ?? cur.action,
      rule: patch.rule ?? cur.rule,
      values: patch.values ?? (patch.action === 'delete' ? {} : cur.values),
      purgeHistory: patch.purgeHistory ?? cur.purgeHistory,
      // A schedule switched on again keeps its interval unless it names another.
      schedule: patch.schedule ? { ...cur.schedule, ...patch.schedule } : cur.schedule,
    };
    this.check(def, next);
    const at = this.now();
    const every = next.schedule?.every ?? null;
    const enabled = next.schedule?.enabled === true;
    this.refuseUnattended(enabled, mayRun);
    const rescheduled = patch.schedule !== undefined;
    const set = {
      name: next.name,
      action: next.action,
      rule: JSON.stringify(next.rule),
      field_values: JSON.stringify(next.values ?? {}),
      purge_history: next.purgeHistory ? 1 : 0,
      schedule_enabled: enabled ? 1 : 0,
      schedule_every: every,
      ...(rescheduled ? { next_run_at: enabled && every ? at + every * 1000 : null } : {}),
      updated_at: at,
      updated_by: ctx.actor.id,
    };
    await this.db.transaction().execute(async (trx) => {
      if (patch.name !== undefined && patch.name !== cur.name) {
        const taken = await trx
          .selectFrom('privacy_policies')
          .select('id')
          .where('collection', '=', collection)
          .where('name', '=', patch.name)
          .executeTakeFirst();
        if (taken) throw new AppError('CONFLICT', undefined, 'a policy of this name exists');
      }
      await trx.updateTable('privacy_policies').set(set).where('id', '=', id).execute();
      await this.changed(trx, ctx, 'updated', { id, collection, name: next.name, action: next.action });
    });
    return this.get(collection, id);
  }

  async remove(collection: string, id: string, ctx: EventContext): Promise<void> {
    const row = await this.row(collection, id);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('privacy_policies').where('id', '=', id).execute();
      await this.changed(trx, ctx, 'deleted', row);
    });
  }

  /** A policy change is a schema change of its collection (who, which policy, what it does). */
  private changed(trx: Db, ctx: EventContext, what: string, p: Pick<PrivacyPoliciesTable, 'id' | 'collection' | 'name' | 'action'>): Promise<void> {
    return this.log.record(
      ctx,
      {
        type: 'schema.changed',
        outcome: 'success',
        details: { change: `privacy_policy.${what}`, collection: p.collection, policy: p.id, name: p.name, action: p.action },
      },
      trx,
    );
  }

  /**
   * Runs a policy now. A dry run changes nothing: it answers what would change and is recorded as a
   * record.bypass security event (it reads which records match, below the grants). A run holds the
   * policy's lease, so one policy never runs twice at once on any instance.
   */
  async run(collection: string, id: string, opts: { dryRun: boolean }, ctx: EventContext): Promise<RunResult> {
    const row = await this.row(collection, id);
    return this.runRow(row, opts.dryRun, ctx);
  }

  private async runRow(row: PrivacyPoliciesTable, dryRun: boolean, ctx: EventContext): Promise<RunResult> {
    if (dryRun) return this.dryRun(ctx, await this.target(row), { policy: row.id });
    const at = this.now();
    const leased = await this.db
      .updateTable('privacy_policies')
      .set({ running_until: at + LEASE_MS })
      .where('id', '=', row.id)
      .where((e) => e.or([e('running_until', 'is', null), e('running_until', '<', at)]))
      .executeTakeFirst();
    if (Number(leased.numUpdatedRows) === 0) throw new AppError('PRIVACY_POLICY_BUSY');
    let result: Record<string, unknown> = { error: 'INTERNAL_ERROR' };
    try {
      const r = await apply(this.pc, ctx, await this.target(row));
      result = { matched: r.matched, changed: r.changed, remaining: r.remaining };
      return r;
    } catch (e) {
      result = { error: e instanceof AppError ? e.code : 'INTERNAL_ERROR' };
      throw e;
    } finally {
      await this.db.transaction().execute(async (trx) => {
        await this.trail.system(trx, ctx, 'policy', { policy: row.id, action: row.action, ...result, dryRun: false }, row.collection);
        await trx
          .updateTable('privacy_policies')
          .set({ running_until: null, last_run_at: this.now(), last_result: JSON.stringify(result) })
          .where('id', '=', row.id)
          .execute();
      });
    }
  }

  /** A stored policy as work to do, checked again against the collection as it is now (fields change). */
  private async target(row: PrivacyPoliciesTable): Promise<Target> {
    const def = await this.def(row.collection);
    const p = shape(row);
    this.check(def, p);
    return { def, where: ruleCondition(def, p.rule, this.now()), action: p.action, values: p.values, purgeHistory: p.purgeHistory, skipAnonymised: true };
  }

  private async dryRun(ctx: EventContext, t: Target, about: Record<string, unknown>): Promise<RunResult> {
    const r = await preview(this.db, t);
    await this.log.record(ctx, {
      type: 'record.bypass',
      outcome: 'info',
      details: { collection: t.def.name, action: 'view', privacy: { ...about, action: t.action, dryRun: true, matched: r.matched } },
    });
    return { matched: r.matched, changed: 0, ids: r.ids, remaining: false };
  }

  /**
   * A data subject's erasure: the records the user created or is linked to (user fields, member
   * lists), or whose field holds the value, deleted or anonymised by the same machinery. Recorded as
   * a system entry `erase` that keeps only a keyed hash of the subject, never the value itself.
   */
  async erase(req: ErasureRequest, ctx: EventContext): Promise<RunResult> {
    const def = await this.def(req.collection);
    const { target, about } = erasureTarget(def, req, this.now(), this.pc.hashKey);
    if (req.dryRun) return this.dryRun(ctx, target, about);
    let result: Record<string, unknown> = { error: 'INTERNAL_ERROR' };
    try {
      const r = await apply(this.pc, ctx, target);
      result = { matched: r.matched, changed: r.changed, remaining: r.remaining };
      return r;
    } catch (e) {
      result = { error: e instanceof AppError ? e.code : 'INTERNAL_ERROR' };
      throw e;
    } finally {
      await this.trail.system(this.db, ctx, 'erase', { ...about, action: req.action, ...result, dryRun: false }, def.name);
    }
  }

  /**
   * Runs every policy whose scheduled time has come, as the system. Each is claimed first (its next
   * time moved on, where it is still due), so of several instances only the one that moved it runs it.
   */
  async runDue(): Promise<Array<{ policy: string; result?: RunResult; error?: string }>> {
    const at = this.now();
    const due = await this.db
      .selectFrom('privacy_policies')
      .selectAll()
      .where('schedule_enabled', '=', 1)
      .where('next_run_at', '<=', at)
      .orderBy('next_run_at')
      .limit(100)
      .execute();
    const out: Array<{ policy: string; result?: RunResult; error?: string }> = [];
    for (const row of due) {
      const every = Number(row.schedule_every ?? SCHEDULE_MIN);
      const claimed = await this.db
        .updateTable('privacy_policies')
        .set({ next_run_at: at + every * 1000 })
        .where('id', '=', row.id)
        .where('schedule_enabled', '=', 1)
        .where('next_run_at', '<=', at)
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) === 0) continue;
      try {
        out.push({ policy: row.id, result: await this.runRow(row, false, { actor: SYSTEM_ACTOR }) });
      } catch (e) {
        out.push({ policy: row.id, error: e instanceof AppError ? e.code : 'INTERNAL_ERROR' });
      }
    }
    return out;
  }
}

function shape(r: PrivacyPoliciesTable): PolicyOut {
  return {
    id: r.id,
    collection: r.collection,
    name: r.name,
    action: r.action as PrivacyAction,
    rule: JSON.parse(r.rule) as PolicyRule,
    values: JSON.parse(r.field_values) as AnonValues,
    purgeHistory: Number(r.purge_history) === 1,
    schedule: { enabled: Number(r.schedule_enabled) === 1, every: r.schedule_every === null ? null : Number(r.schedule_every) },
    nextRunAt: iso(r.next_run_at),
    lastRunAt: iso(r.last_run_at),
    lastResult: r.last_result ? (JSON.parse(r.last_result) as Record<string, unknown>) : null,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}
