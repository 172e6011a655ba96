/** Single-record writes: each checked against the caller's grants before and after, inside the transaction. */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import { AppError, HIDDEN } from '../errors.js';
import { membersTableOf, ownershipField, tableOf, type CollectionDef } from '../collections/schema.js';
import type { Grant } from '../access/types.js';
import { anyGroup as mayNameAnyGroup, refuseUniqueOutsideView, rowFlags, unwritable, writable, type Plan } from '../access/plan.js';
import { columnsOf, hasNul, isPlainObject } from './codec.js';
import { plan } from './planning.js';
import { writeTransaction } from './transaction.js';
import type { Caller, RecordOut, RecordsContext } from './context.js';
import { audited, recordChanges, snapshot, written } from './audit.js';
import { dropRecordFiles } from './file-rows.js';

/** The internal mark of a write outside the caller's write grants (answered 404 or 403, see `outsideAs403`). */
export const OUTSIDE = HIDDEN.write;

export async function create(rc: RecordsContext, caller: Caller, collection: string, body: unknown): Promise<RecordOut> {
  const p = await plan(rc, caller, collection, 'create');
  refuseUnreachable(p.def, body, await unreachable(rc, caller, p, [body]));
  const id = await writeTransaction(rc, async (trx) => {
    return insertOne(rc, trx, p, caller, body);
  });
  return readBack(rc, caller, collection, id);
}

/** One checked insert inside `trx`: fields against the grants, then the new row against their conditions. */
export async function insertOne(rc: RecordsContext, trx: Db, p: Plan, caller: Caller, body: unknown): Promise<string> {
  const { values, members, keys } = columnsOf(p.def, body, true, p.bypass ? undefined : p.known);
  refuseUniqueOutsideView(p, values);
  const fields = body as Record<string, unknown>;
  const candidates = p.bypass ? [] : writable(p, keys, true, fields);
  if (!p.bypass && candidates.length === 0) throw new AppError('FIELD_NOT_WRITABLE', { fields: unwritable(p, p.grants, keys, true, fields) });
  const of = ownershipField(p.def);
  if (!p.bypass && of && !keys.includes(of.name)) {
    // The server sets the owner: the creator as the first member, or the creator's department.
    if (of.type === 'members') members.set(of.name, [caller.user.id]);
    else if (p.vars.departments.length === 1) values[of.name] = p.vars.departments[0];
    else if (p.vars.departments.length > 1) throw new AppError('VALIDATION_FAILED', [{ path: `/${of.name}`, message: 'name one of your departments' }]);
  }
  const id = randomUUID();
  const now = rc.now();
  const row = { id, created_at: now, updated_at: now, created_by: caller.user.id, updated_by: caller.user.id, ...values };
  const cols = Object.keys(row);
  await sql`insert into ${sql.table(tableOf(p.def.name))} (${sql.join(cols.map((c) => sql.id(c)))}) values (${sql.join(cols.map((c) => (row as Record<string, unknown>)[c]))})`.execute(
    trx,
  );
  await writeMembers(trx, p.def, id, members);
  // The new record must lie inside a grant that allows writing these fields.
  if (!p.bypass && (await holding(trx, p, candidates, id)).length === 0)
    throw new AppError('FORBIDDEN', undefined, 'the new record is outside the create grants');
  if (audited(p.def)) await recordChanges(rc, trx, caller, p.def, [{ operation: 'create', id, before: null, after: written(p.def, {}, row, members) }]);
  return id;
}

export async function update(
  rc: RecordsContext,
  caller: Caller,
  collection: string,
  id: string,
  body: unknown,
  operation: 'update' | 'restore' = 'update',
): Promise<RecordOut> {
  const p = await plan(rc, caller, collection, 'update');
  const { values, members, keys } = columnsOf(p.def, body, false, p.bypass ? undefined : p.known);
  refuseUniqueOutsideView(p, values);
  refuseUnreachable(p.def, body, await unreachable(rc, caller, p, [body]));
  await outsideAs403(rc, caller, collection, id, () =>
    writeTransaction(rc, async (trx) => {
      const held = p.bypass ? [] : await holding(trx, p, p.grants, id);
      if (!p.bypass && held.length === 0) throw new AppError('NOT_FOUND', undefined, OUTSIDE);
      const candidates = p.bypass ? [] : writable({ ...p, grants: held }, keys);
      if (!p.bypass && candidates.length === 0) throw new AppError('FIELD_NOT_WRITABLE', { fields: unwritable(p, held, keys) });
      const set = { ...values, updated_at: rc.now(), updated_by: caller.user.id };
      const t = tableOf(p.def.name);
      const before = audited(p.def) ? (await snapshot(trx, p.def, [id], true)).get(id) : undefined;
      const r =
        await sql`update ${sql.table(t)} set ${sql.join(Object.entries(set).map(([c, v]) => sql`${sql.id(c)} = ${v}`))} where ${sql.ref(`${t}.id`)} = ${id}`.execute(
          trx,
        );
      if (Number(r.numAffectedRows ?? 0n) === 0) throw new AppError('NOT_FOUND');
      await writeMembers(trx, p.def, id, members);
      // After the change the record must still lie inside one of the grants that allowed it.
      if (!p.bypass && (await holding(trx, p, candidates, id)).length === 0)
        throw new AppError('FORBIDDEN', undefined, "the change would move the record out of the caller's grants");
      if (before) await recordChanges(rc, trx, caller, p.def, [{ operation, id, before, after: written(p.def, before, values, members) }]);
    }),
  );
  return readBack(rc, caller, collection, id);
}

export async function remove(rc: RecordsContext, caller: Caller, collection: string, id: string): Promise<void> {
  const p = await plan(rc, caller, collection, 'delete');
  let keys: string[] = [];
  await outsideAs403(rc, caller, collection, id, () =>
    writeTransaction(rc, async (trx) => {
      if (!p.bypass && (await holding(trx, p, p.grants, id)).length === 0) throw new AppError('NOT_FOUND', undefined, OUTSIDE);
      const t = tableOf(p.def.name);
      const before = audited(p.def) ? (await snapshot(trx, p.def, [id], true)).get(id) : undefined;
      const r = await sql`delete from ${sql.table(t)} where ${sql.ref(`${t}.id`)} = ${id}`.execute(trx);
      if (Number(r.numAffectedRows ?? 0n) === 0) throw new AppError('NOT_FOUND');
      keys = await dropRecordFiles(trx, p.def, [id]);
      if (before) await recordChanges(rc, trx, caller, p.def, [{ operation: 'delete', id, before, after: null }]);
    }),
  );
  // The files' bytes go once the rows are gone for good.
  rc.files?.removeLater(keys);
}

/** The grants among `grants` that hold for record `id`, evaluated in SQL inside `trx`. */
export async function holding(trx: Db, p: Plan, grants: Grant[], id: string): Promise<Grant[]> {
  if (grants.length === 0) return [];
  const t = tableOf(p.def.name);
  const flags = rowFlags(p, grants);
  const row = (await sql<Record<string, unknown>>`select ${sql.join(flags)} from ${sql.table(t)} where ${sql.ref(`${t}.id`)} = ${id}`.execute(trx)).rows[0];
  return row ? grants.filter((_, i) => Number(row[`__g${i}`]) === 1) : [];
}

export async function writeMembers(trx: Db, def: CollectionDef, id: string, members: Map<string, string[]>): Promise<void> {
  for (const [field, ids] of members) {
    const jt = membersTableOf(def.name, field);
    await sql`delete from ${sql.table(jt)} where record_id = ${id}`.execute(trx);
    if (ids.length === 0) continue;
    const known = await trx.selectFrom('users').select('id').where('id', 'in', ids).execute();
    if (known.length !== ids.length) throw new AppError('VALIDATION_FAILED', [{ path: `/${field}`, message: 'unknown user id' }]);
    for (const u of ids) await sql`insert into ${sql.table(jt)} (record_id, user_id) values (${id}, ${u})`.execute(trx);
  }
}

/**
 * The relation and group values among `bodies` that the caller may not point at: a related record must
 * be one the caller can view in the target collection (a hidden record and a missing one answer alike:
 * no existence oracle), and a group must name a department. Read before the write's transaction.
 */
export async function unreachable(rc: RecordsContext, caller: Caller, p: Plan, bodies: unknown[]): Promise<Set<string>> {
  const bad = new Set<string>();
  const def = p.def;
  // The ownership group of a caller without a bypass grant can only be one of their own departments:
  // any other name, existing or not, is left to the grant check (FIELD_NOT_WRITABLE), so that the
  // answer never tells whether a department of that name exists.
  // Any other group field of such a caller takes only their own departments too; every other name,
  // existing or not, gets the one answer of a missing department, without a lookup.
  const of = ownershipField(def);
  const anyGroup = mayNameAnyGroup(p);
  for (const f of def.fields) {
    if (f.type !== 'relation' && f.type !== 'group') continue;
    // A field the caller knows nothing of is refused as unknown by columnsOf, never looked up here.
    if (!p.bypass && !p.known.has(f.name) && of?.name !== f.name) continue;
    // Values with a NUL character are refused by the type check (never sent to the database).
    let values = [
      ...new Set(bodies.flatMap((b) => (isPlainObject(b) && typeof b[f.name] === 'string' && !hasNul(b[f.name] as string) ? [b[f.name] as string] : []))),
    ];
    if (f.type === 'group' && !anyGroup) {
      const foreign = values.filter((v) => !p.vars.departments.includes(v));
      if (of?.name !== f.name) for (const v of foreign) bad.add(`${f.name}\u0000${v}`);
      values = values.filter((v) => p.vars.departments.includes(v));
    }
    for (let i = 0; i < values.length; i += 200) {
      const chunk = values.slice(i, i + 200);
      let found = new Set<unknown>();
      if (f.type === 'group') {
        found = new Set((await rc.db.selectFrom('departments').select('name').where('name', 'in', chunk).execute()).map((r) => r.name));
      } else {
        try {
          found = new Set((await rc.list(caller, f.target!, { filter: { id: { $in: chunk } }, page: 1, perPage: chunk.length })).items.map((r) => r.id));
        } catch (e) {
          if (!(e instanceof AppError && (e.code === 'FORBIDDEN' || e.code === 'NOT_FOUND'))) throw e;
        }
      }
      for (const v of chunk) if (!found.has(v)) bad.add(`${f.name}\u0000${v}`);
    }
  }
  return bad;
}

export function refuseUnreachable(def: CollectionDef, body: unknown, bad: ReadonlySet<string>): void {
  if (bad.size === 0 || !isPlainObject(body)) return;
  for (const f of def.fields) {
    const v = body[f.name];
    if (typeof v === 'string' && bad.has(`${f.name}\u0000${v}`))
      throw new AppError('VALIDATION_FAILED', [{ path: `/${f.name}`, message: f.type === 'group' ? 'no such department' : 'no such record' }]);
  }
}

/**
 * A write on a record outside the caller's write grants answers 404 when they cannot see it either,
 * 403 when they can. Decided after the transaction has ended (SQLite has one connection).
 */
export async function outsideAs403(rc: RecordsContext, caller: Caller, collection: string, id: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof AppError && e.internal === OUTSIDE && (await canSee(rc, caller, collection, id)))
      throw new AppError('FORBIDDEN', undefined, 'visible but not writable');
    throw e;
  }
}

/** Whether the caller can view the record (decides 403 against 404 for writes). */
export async function canSee(rc: RecordsContext, caller: Caller, collection: string, id: string): Promise<boolean> {
  try {
    await rc.get(caller, collection, id);
    return true;
  } catch {
    return false;
  }
}

export async function readBack(rc: RecordsContext, caller: Caller, collection: string, id: string): Promise<RecordOut> {
  try {
    return await rc.get(caller, collection, id);
  } catch {
    return { id };
  }
}
