/**
 * Record revisions (AUDIT-4) as a caller sees them: the list, one stored version, a diff and a restore.
 * Revision N is the version that the Nth kept change (at `at`, by `actor`) replaced (`record_revisions`,
 * written by `audit.ts`). Every answer goes through the caller's view plan like a record read: a record
 * they cannot view is 404, and a version shows only the fields their grants show both on the record
 * now and on that version (the grant conditions evaluated on the stored values), so an old value of a
 * field they cannot read, or could not read in that state, never leaves the server; a version they see none
 * of is listed and shown as its number only (`hidden`), without who made the change or when. A restore is an
 * ordinary update (`write.ts`, operation 'restore'), checked against the update grants like any other.
 */
import { sql } from 'kysely';
import { AppError, HIDDEN } from '../errors.js';
import { auditOptionsOf, hasColumn, isClassSecret, isSystemName, tableOf, type CollectionDef, type FieldDef } from '../collections/schema.js';
import { condition, fieldsOf, maskOf, rowFlags, scopeOf, steadyMaskOf, writable, type Plan } from '../access/plan.js';
import { SYSTEM_OUT, isPlainObject } from './codec.js';
import { shape } from './list.js';
import { plan } from './planning.js';
import { holding, update } from './write.js';
import type { Caller, RecordOut, RecordsContext } from './context.js';

/**
 * A revision as listed: who replaced the version and when, or, for a version the caller's grants show none of
 * (`hidden`), its number only: the author and time of a change made while the record was outside their view are
 * no more theirs than its values.
 */
export type RevisionSummary = { rev: number; at: string; operation: string; actor: { id: string | null; name: string | null } } | { rev: number; hidden: true };
export type RevisionOut = RevisionSummary & { record: RecordOut };
export interface FieldDiff {
  field: string;
  from: unknown;
  to: unknown;
}

/** The record as the caller's view plan shows it now; NOT_FOUND when they cannot view it (no grant, outside scope, gone). */
export interface Viewed {
  p: Plan;
  perGrant: ReadonlyArray<ReadonlySet<string>>;
  /** The fields the caller reads on this record now. */
  mask: ReadonlySet<string>;
  /** The fields the caller reads on this record whatever its values were over time (`steadyMaskOf`). */
  steady: ReadonlySet<string>;
  /** The record as a read shows it (masked). */
  record: RecordOut;
}

export async function viewed(rc: RecordsContext, caller: Caller, collection: string, id: string): Promise<Viewed> {
  let p: Plan;
  try {
    p = await plan(rc, caller, collection, 'view');
  } catch (e) {
    // A grant for other actions only: answered like a record outside the scope (no existence oracle).
    if (e instanceof AppError && e.code === 'FORBIDDEN') throw new AppError('NOT_FOUND', undefined, HIDDEN.grant);
    throw e;
  }
  const t = tableOf(p.def.name);
  const { perGrant, anyReadable } = fieldsOf(p);
  const cols = p.def.fields.filter((f) => hasColumn(f) && anyReadable.has(f.name)).map((f) => sql.ref(`${t}.${f.name}`));
  const select = sql.join([...SYSTEM_OUT.map(([, c]) => sql.ref(`${t}.${c}`)), ...cols, ...(p.bypass ? [] : rowFlags(p, p.grants))]);
  const row = (await sql<Record<string, unknown>>`select ${select} from ${sql.table(t)} where ${scopeOf(p)} and ${sql.ref(`${t}.id`)} = ${id}`.execute(rc.db))
    .rows[0];
  if (!row) throw new AppError('NOT_FOUND');
  const [record] = await shape(rc, p, [row], perGrant, anyReadable);
  return { p, perGrant, mask: maskOf(p, perGrant, row), steady: steadyMaskOf(p, perGrant, row), record: record! };
}

/** An access-log entry for a read of a record's history, where the collection keeps an access log. */
export async function logRead(rc: RecordsContext, caller: Caller, def: CollectionDef, id: string, data: Record<string, unknown>): Promise<void> {
  if (auditOptionsOf(def).accessLog === 'off') return;
  await rc.trail.access(rc.db, caller.ctx, def.name, 'read', id, data);
}

export async function listRevisions(
  rc: RecordsContext,
  caller: Caller,
  collection: string,
  id: string,
  q: { beforeRev?: number; limit: number },
): Promise<{ revisions: RevisionSummary[]; next: number | null; kept: boolean }> {
  const v = await viewed(rc, caller, collection, id);
  // A field the caller reads whatever the record held shows on every version: none is hidden, nothing to evaluate,
  // and the versions' data is not read.
  const open = v.p.bypass || v.steady.size > 0;
  let query = rc.db
    .selectFrom('record_revisions')
    .select(['rev', 'at', 'operation', 'actor_id', 'actor_name'])
    .$if(!open, (qb) => qb.select('data'))
    .where('collection', '=', v.p.def.name)
    .where('record_id', '=', id);
  if (q.beforeRev !== undefined) query = query.where('rev', '<', q.beforeRev);
  const rows = await query.orderBy('rev', 'desc').limit(q.limit).execute();
  await logRead(rc, caller, v.p.def, id, { revisions: 'list' });
  const revisions: RevisionSummary[] = [];
  for (const r of rows) revisions.push(summary(r, open ? v.mask : await versionMask(rc, v, id, parsedData(r.data ?? '{}'))));
  return {
    revisions,
    next: rows.length === q.limit && revisions.length > 0 ? revisions[revisions.length - 1]!.rev : null,
    kept: auditOptionsOf(v.p.def).revisions,
  };
}

export async function getRevision(rc: RecordsContext, caller: Caller, collection: string, id: string, rev: number): Promise<RevisionOut> {
  const v = await viewed(rc, caller, collection, id);
  const r = await stored(rc, v, id, rev);
  await logRead(rc, caller, v.p.def, id, { revision: rev });
  return { ...summary(r.row, r.mask), record: visible(v.p.def, id, r.data, r.mask) };
}

/** Field by field, what differs between revision `rev` and `against` (another revision or the record now), in the fields visible on both. */
export async function diffRevision(
  rc: RecordsContext,
  caller: Caller,
  collection: string,
  id: string,
  rev: number,
  against: number | 'current',
): Promise<{ rev: number; against: number | 'current'; changes: FieldDiff[] }> {
  const v = await viewed(rc, caller, collection, id);
  const a = await stored(rc, v, id, rev);
  const b = against === 'current' ? { data: v.record, mask: v.mask } : await stored(rc, v, id, against);
  const changes: FieldDiff[] = [];
  for (const f of v.p.def.fields) {
    // A secret field is in no revision (D431), nor in what one is compared with.
    if (isClassSecret(f) || !a.mask.has(f.name) || !b.mask.has(f.name)) continue;
    const from = a.data[f.name] ?? null;
    const to = b.data[f.name] ?? null;
    if (!same(from, to)) changes.push({ field: f.name, from, to });
  }
  await logRead(rc, caller, v.p.def, id, { revision: rev, against });
  return { rev, against, changes };
}

/**
 * Restores the fields of revision `rev` that the caller sees in it and may write, through the normal
 * update path (operation 'restore': the update grants, the change log, a new revision). System fields
 * are never restored (a stored version has none). `only` names the fields to restore; each must be
 * visible in the version, and a named field the caller may not write is refused (FIELD_NOT_WRITABLE),
 * changed or not. Without `only`, fields the caller may not write are left as they are and named
 * in `skipped`. A deleted record is 404 (its revisions are read through the admin audit API).
 */
export async function restoreRevision(
  rc: RecordsContext,
  caller: Caller,
  collection: string,
  id: string,
  rev: number,
  only?: string[],
): Promise<{ record: RecordOut; restored: string[]; skipped: string[] }> {
  const v = await viewed(rc, caller, collection, id);
  const r = await stored(rc, v, id, rev);
  const def = v.p.def;
  let names = def.fields.filter((f) => r.mask.has(f.name) && f.name in r.data && !isSystemName(f.name) && !isClassSecret(f)).map((f) => f.name);
  if (only) {
    const problems: Array<{ path: string; message: string }> = [];
    for (const n of only) {
      if (isSystemName(n)) throw new AppError('FIELD_NOT_WRITABLE', { field: n.slice(0, 60) });
      if (!def.fields.some((f) => f.name === n) || !v.p.known.has(n)) throw new AppError('FIELD_UNKNOWN', { field: n.slice(0, 60) });
      if (!names.includes(n)) problems.push({ path: '/fields', message: `${n} is not in this revision` });
    }
    if (problems.length > 0) throw new AppError('VALIDATION_FAILED', problems);
    names = names.filter((n) => only.includes(n));
  }
  const changed = names.filter((n) => !same(r.data[n] ?? null, v.record[n] ?? null));
  let body = changed;
  let skipped: string[] = [];
  if (!caller.admin) {
    // The update's own checks decide (again, inside its transaction); these only answer a restore that
    // would change nothing as the update would, and leave out what it would refuse field by field.
    const up = await plan(rc, caller, collection, 'update');
    const held = await holding(rc.db, up, up.grants, id);
    if (held.length === 0) throw new AppError('FORBIDDEN', undefined, 'visible but not writable');
    const ok = (n: string) => {
      const f = def.fields.find((x) => x.name === n)!;
      if (f.unique && r.data[n] !== null && !up.wholeView.has(n)) return false;
      return writable({ ...up, grants: held }, [n]).length > 0;
    };
    if (only) {
      // Named fields are refused as a PATCH naming them would be, changed or not.
      const refused = names.filter((n) => !ok(n));
      if (refused.length > 0) throw new AppError('FIELD_NOT_WRITABLE', { fields: refused });
    } else {
      body = changed.filter(ok);
      skipped = changed.filter((n) => !ok(n));
      if (body.length === 0 && skipped.length > 0) throw new AppError('FIELD_NOT_WRITABLE', { fields: skipped });
    }
  }
  if (body.length === 0) return { record: v.record, restored: [], skipped };
  const record = await update(rc, caller, collection, id, Object.fromEntries(body.map((n) => [n, r.data[n] ?? null])), 'restore');
  return { record, restored: body, skipped };
}

type RevisionRow = { rev: number; at: number; operation: string; actor_id: string | null; actor_name: string | null };

/** A revision's summary; a version in which `mask` (the fields the caller may see in it) is empty is hidden. */
const summary = (r: RevisionRow, mask: ReadonlySet<string>): RevisionSummary =>
  mask.size === 0
    ? { rev: Number(r.rev), hidden: true }
    : { rev: Number(r.rev), at: new Date(Number(r.at)).toISOString(), operation: r.operation, actor: { id: r.actor_id, name: r.actor_name } };

/** A stored version's values (a plain object; anything else holds none). */
function parsedData(text: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(text);
  return isPlainObject(parsed) ? parsed : {};
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Revision `rev` of the record with the fields the caller may see in it; NOT_FOUND when there is none. */
async function stored(
  rc: RecordsContext,
  v: Viewed,
  id: string,
  rev: number,
): Promise<{ row: RevisionRow; data: Record<string, unknown>; mask: ReadonlySet<string> }> {
  const row = await rc.db
    .selectFrom('record_revisions')
    .select(['rev', 'at', 'operation', 'actor_id', 'actor_name', 'data'])
    .where('collection', '=', v.p.def.name)
    .where('record_id', '=', id)
    .where('rev', '=', rev)
    .executeTakeFirst();
  if (!row) throw new AppError('NOT_FOUND');
  const data = parsedData(row.data);
  return { row, data, mask: await versionMask(rc, v, id, data) };
}

/**
 * The fields the caller may see in a stored version: those their grants show on the record now that
 * their grants also show on the version, with each grant's scope and statuses evaluated on the stored
 * values (system columns and member lists as they are now).
 */
async function versionMask(rc: RecordsContext, v: Viewed, id: string, data: Record<string, unknown>): Promise<ReadonlySet<string>> {
  const { p } = v;
  if (p.bypass) return v.mask;
  const t = tableOf(p.def.name);
  const alias = 'rv';
  const cols = [
    ...SYSTEM_OUT.map(([, c]) => sql`${sql.ref(`${t}.${c}`)} as ${sql.id(c)}`),
    ...p.def.fields.filter(hasColumn).map((f) => sql`cast(${columnValue(f, data[f.name])} as ${sql.raw(castType(f))}) as ${sql.id(f.name)}`),
  ];
  const flags = p.grants.map((g, i) => sql`case when ${condition(p, g, alias)} then 1 else 0 end as ${sql.id(`__g${i}`)}`);
  const row = (
    await sql<
      Record<string, unknown>
    >`select ${sql.join(flags)} from (select ${sql.join(cols)} from ${sql.table(t)} where ${sql.ref(`${t}.id`)} = ${id}) as ${sql.id(alias)}`.execute(rc.db)
  ).rows[0];
  if (!row) return new Set();
  const then = maskOf(p, v.perGrant, row);
  return new Set([...v.mask].filter((n) => then.has(n)));
}

/** The record as shown from a stored version: its id and the visible fields it holds. */
function visible(def: CollectionDef, id: string, data: Record<string, unknown>, mask: ReadonlySet<string>): RecordOut {
  const out: RecordOut = { id };
  // Today's level decides: a version kept before its field became secret shows no value of it either (D431).
  for (const f of def.fields) if (mask.has(f.name) && f.name in data && !isClassSecret(f)) out[f.name] = data[f.name];
  return out;
}

/** The column type of a field (as `collections/registry.ts` creates it), for evaluating a grant on stored values. */
function castType(f: FieldDef): string {
  if (f.type === 'integer' || f.type === 'datetime') return 'bigint';
  if (f.type === 'decimal') return 'numeric';
  if (f.type === 'boolean') return 'integer';
  return 'text';
}

/** A stored (client-form) value as its column holds it; anything unexpected is null. */
function columnValue(f: FieldDef, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (f.type) {
    case 'boolean':
      return typeof v === 'boolean' ? (v ? 1 : 0) : null;
    case 'datetime': {
      const ms = typeof v === 'string' ? Date.parse(v) : Number.NaN;
      return Number.isFinite(ms) ? ms : null;
    }
    case 'integer':
      return Number.isSafeInteger(v) ? v : null;
    case 'decimal':
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    case 'json':
      return JSON.stringify(v);
    default:
      return typeof v === 'string' ? v : null;
  }
}
