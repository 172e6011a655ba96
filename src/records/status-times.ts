/**
 * The status log as time (AUDIT-3): for each status field the caller reads on a record, its
 * transitions (from the audit log's status entries) and the time spent in each status, the current
 * one counted until now on the services' clock. Read through the view plan like the record itself:
 * a record the caller cannot view is 404, a status field they cannot read on it is left out. A history shows the
 * record at every moment, so it is given only for fields the caller reads whatever the record held
 * (`steadyMaskOf`): a status field read only under a status list, a scope on a changing field or group or members
 * ownership is FORBIDDEN here, as its history would show times when the record was outside the caller's view.
 */
import { AppError } from '../errors.js';
import { isSecretField } from '../collections/schema.js';
import type { StatusTransition } from '../audit/trail.js';
import { logRead, viewed } from './revisions.js';
import type { Caller, RecordsContext } from './context.js';

/** Most status entries read for one record; past it the answer says `truncated` and counts what was read. */
const MAX_TRANSITIONS = 10_000;
const PAGE = 1_000;
/** The refusal's public reason (details.message). */
const STEADY_VIEW_NEEDED =
  'The status history needs a view of the record that does not depend on its changing values (its status, a scope on its fields, its group or members).';

export interface StatusTimes {
  field: string;
  current: unknown;
  transitions: Array<{ from: unknown; to: unknown; at: string; actor: { id: string | null; name: string | null } }>;
  /** Milliseconds spent in each status, from the first recorded transition; the current status until `at`. */
  totals: Record<string, number>;
}

export async function statusTimes(
  rc: RecordsContext,
  caller: Caller,
  collection: string,
  id: string,
  field?: string,
): Promise<{ at: string; fields: StatusTimes[]; truncated?: true }> {
  const v = await viewed(rc, caller, collection, id);
  const def = v.p.def;
  if (field !== undefined) {
    const f = def.fields.find((x) => x.name === field);
    if (!f || !v.p.known.has(field)) throw new AppError('FIELD_UNKNOWN', { field: field.slice(0, 60) });
    if (f.type !== 'status') throw new AppError('VALIDATION_FAILED', [{ path: '/field', message: `${field} is not a status field` }]);
  }
  // Secret status fields are never logged (trail.ts), so they have no times to show.
  const fields = def.fields.filter((f) => f.type === 'status' && !isSecretField(f) && v.mask.has(f.name) && (field === undefined || f.name === field));
  if (fields.some((f) => !v.steady.has(f.name)))
    throw new AppError('FORBIDDEN', { message: STEADY_VIEW_NEEDED }, 'status history outside a view that holds on every version');
  const now = rc.now();
  const entries: StatusTransition[] = [];
  let truncated = false;
  if (fields.length > 0) {
    for (let after = 0; ; ) {
      const page = await rc.trail.transitions(def.name, id, after, PAGE);
      entries.push(...page);
      if (entries.length > MAX_TRANSITIONS) {
        entries.length = MAX_TRANSITIONS;
        truncated = true;
        break;
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.seq;
    }
  }
  const out = fields.map((f) => {
    const mine = entries.filter((e) => e.field === f.name);
    const totals: Record<string, number> = Object.create(null);
    let state: unknown = null;
    let since: number | null = null;
    const add = (until: number) => {
      if (typeof state === 'string' && since !== null) totals[state] = (totals[state] ?? 0) + Math.max(0, until - since);
    };
    for (const e of mine) {
      add(e.at);
      state = e.to;
      since = e.at;
    }
    // The record exists (it was just read), so its current status runs until now.
    add(now);
    return {
      field: f.name,
      current: v.record[f.name] ?? null,
      transitions: mine.map((e) => ({ from: e.from, to: e.to, at: new Date(e.at).toISOString(), actor: e.actor })),
      totals: { ...totals },
    };
  });
  await logRead(rc, caller, def, id, { statusTimes: field ?? true });
  return { at: new Date(now).toISOString(), fields: out, ...(truncated ? { truncated: true as const } : {}) };
}
