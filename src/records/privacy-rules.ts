/**
 * GDPR policies (AUDIT-5), the rules: what a policy may say about a collection (checked against its
 * definition), the SQL condition of its rule, and the anonymised values it gives a record.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { AppError } from '../errors.js';
import { compileFilter, type FilterNode } from '../collections/filter.js';
import { isSystemDatetime, SYSTEM_COLUMNS, tableOf, type CollectionDef, type FieldDef } from '../collections/schema.js';
import { encode, isPlainObject } from './codec.js';

export const PRIVACY_ACTIONS = ['delete', 'anonymise'] as const;
export type PrivacyAction = (typeof PRIVACY_ACTIONS)[number];
export const ANON_KINDS = ['null', 'fixed', 'hash', 'fake'] as const;
export type AnonValue = { kind: 'null' } | { kind: 'fixed'; value: unknown } | { kind: 'hash' } | { kind: 'fake' };
export type AnonValues = Record<string, AnonValue>;

export interface PolicyRule {
  /** A condition in the records filter language (no relation paths, no caller variables). */
  filter?: FilterNode;
  /** Records whose date (createdAt, updatedAt or a datetime field) is older than this many seconds. */
  olderThan?: { field: string; seconds: number };
  /** Records whose status or enum field holds one of these values. */
  status?: { field: string; in: string[] };
}

/** Shortest and longest schedule interval, and the longest age a rule names (seconds). */
export const SCHEDULE_MIN = 60;
export const SCHEDULE_MAX = 366 * 86400;
export const OLDER_THAN_MAX = 100 * 366 * 86400;
const MAX_VALUES = 200;

/** Types whose values a keyed hash may replace (it stays text, and an address stays an address). */
const HASHABLE = new Set(['string', 'text', 'email']);
/** Types with a plausible made-up value; on a unique field, only those whose made-up values differ. */
const FAKEABLE = new Set(['string', 'text', 'email', 'integer', 'decimal', 'boolean', 'datetime', 'enum', 'status', 'json']);
const FAKE_DISTINCT = new Set(['string', 'text', 'email', 'integer', 'decimal']);
/** References: only emptied (a made-up or fixed reference would point at someone else's record). */
const REFERENCES = new Set(['user', 'relation', 'group', 'members']);

export const invalid = (problems: string[]): AppError => new AppError('PRIVACY_POLICY_INVALID', { problems: problems.slice(0, 50) });
const label = (s: string): string => JSON.stringify(s.slice(0, 60));

/** Every problem with per-field anonymised values for `def`, or none. */
export function checkValues(def: CollectionDef, values: unknown): string[] {
  if (!isPlainObject(values)) return ['values: an object of field names'];
  const out: string[] = [];
  const entries = Object.entries(values);
  if (entries.length > MAX_VALUES) return [`values: at most ${MAX_VALUES} fields`];
  for (const [name, v] of entries) {
    const at = `values.${name.slice(0, 60)}`;
    if (!isPlainObject(v) || !ANON_KINDS.includes(v.kind as 'null')) {
      out.push(`${at}: {kind: null | fixed | hash | fake}`);
      continue;
    }
    const extra = Object.keys(v).filter((k) => k !== 'kind' && !(k === 'value' && v.kind === 'fixed'));
    if (extra.length > 0) out.push(`${at}: unknown key ${label(extra[0]!)}`);
    if (name === 'createdBy') {
      if (v.kind !== 'null') out.push(`${at}: the creator can only be emptied (kind null)`);
      continue;
    }
    const f = def.fields.find((x) => x.name === name);
    if (!f) {
      out.push(`${at}: the collection has no such field`);
      continue;
    }
    out.push(...checkValue(f, v as AnonValue).map((m) => `${at}: ${m}`));
  }
  return out;
}

function checkValue(f: FieldDef, v: AnonValue): string[] {
  if (f.type === 'file') return ['a file field cannot be anonymised: delete its files'];
  if (REFERENCES.has(f.type)) {
    if (v.kind !== 'null')
      return [f.type === 'members' ? 'a member list can only be emptied (kind null)' : `a ${f.type} field can only be emptied (kind null)`];
    return f.required && f.type !== 'members' ? ['a required field cannot be emptied'] : [];
  }
  switch (v.kind) {
    case 'null':
      return f.required ? ['a required field cannot be emptied; use fixed, hash or fake'] : [];
    case 'fixed': {
      if (f.unique) return ['a unique field cannot take one fixed value for many records; use null, hash or fake'];
      if (v.value === null || v.value === undefined) return ['a fixed value is needed (use kind null to empty the field)'];
      try {
        encode(f, v.value);
      } catch (e) {
        if (e instanceof AppError) return ['the fixed value does not fit the field type'];
        throw e;
      }
      return [];
    }
    case 'hash':
      return HASHABLE.has(f.type) ? [] : ['only string, text and email fields can be hashed'];
    case 'fake':
      if (!FAKEABLE.has(f.type)) return [`a ${f.type} field has no made-up value`];
      return f.unique && !FAKE_DISTINCT.has(f.type) ? [`a unique ${f.type} field cannot take made-up values (they would repeat)`] : [];
  }
}

/** Every problem with a rule for `def`, or none; the filter is compiled too (FILTER_INVALID, FIELD_UNKNOWN). */
export function checkRule(def: CollectionDef, rule: unknown, now: number): string[] {
  if (!isPlainObject(rule)) return ['rule: an object with filter, olderThan or status'];
  const out: string[] = [];
  for (const k of Object.keys(rule)) if (!['filter', 'olderThan', 'status'].includes(k)) out.push(`rule.${k.slice(0, 40)}: unknown condition`);
  if (rule.filter === undefined && rule.olderThan === undefined && rule.status === undefined)
    out.push('rule: name at least one condition (filter, olderThan or status): a policy never matches every record by default');
  if (rule.filter !== undefined && (!isPlainObject(rule.filter) || Object.keys(rule.filter).length === 0)) out.push('rule.filter: a non-empty filter object');
  const o = rule.olderThan;
  if (o !== undefined) {
    if (!isPlainObject(o) || Object.keys(o).some((k) => k !== 'field' && k !== 'seconds')) out.push('rule.olderThan: {field, seconds}');
    else {
      if (typeof o.field !== 'string' || !dateColumn(def, o.field)) out.push('rule.olderThan.field: createdAt, updatedAt or a datetime field');
      if (!Number.isSafeInteger(o.seconds) || (o.seconds as number) < 60 || (o.seconds as number) > OLDER_THAN_MAX)
        out.push(`rule.olderThan.seconds: a whole number from 60 to ${OLDER_THAN_MAX}`);
    }
  }
  const st = rule.status;
  if (st !== undefined) {
    if (!isPlainObject(st) || Object.keys(st).some((k) => k !== 'field' && k !== 'in')) out.push('rule.status: {field, in}');
    else {
      const f = def.fields.find((x) => x.name === st.field);
      if (!f || (f.type !== 'status' && f.type !== 'enum')) out.push('rule.status.field: a status or enum field of the collection');
      else if (!Array.isArray(st.in) || st.in.length === 0 || st.in.length > 100 || !st.in.every((v) => typeof v === 'string' && f.values?.includes(v)))
        out.push(`rule.status.in: a list of values of ${label(f.name)}`);
    }
  }
  if (out.length === 0) ruleCondition(def, rule as PolicyRule, now);
  return out;
}

function dateColumn(def: CollectionDef, name: string): string | null {
  if (isSystemDatetime(name)) return SYSTEM_COLUMNS[name]!;
  return def.fields.some((f) => f.name === name && f.type === 'datetime') ? name : null;
}

/** The rule as one SQL condition on the collection's table (every part must hold). */
export function ruleCondition(def: CollectionDef, rule: PolicyRule, now: number): RawBuilder<SqlBool> {
  const t = tableOf(def.name);
  const parts: RawBuilder<SqlBool>[] = [];
  // Caller variables mean nothing to the system: they resolve to no user, no role, no department.
  if (rule.filter) parts.push(compileFilter(rule.filter, { def, vars: { userId: '', roles: [], departments: [], now } }));
  if (rule.olderThan) {
    const col = sql.ref(`${t}.${dateColumn(def, rule.olderThan.field)!}`);
    parts.push(sql<SqlBool>`(${col} is not null and ${col} < ${now - rule.olderThan.seconds * 1000})`);
  }
  if (rule.status) parts.push(sql<SqlBool>`${sql.ref(`${t}.${rule.status.field}`)} in (${sql.join(rule.status.in)})`);
  if (parts.length === 0) throw invalid(['rule: no condition']);
  return sql<SqlBool>`(${sql.join(parts, sql` and `)})`;
}

/** The keyed hash of anonymisation: equal inputs give equal outputs (still joinable), unreadable without the key. */
export function keyedHash(key: Buffer, v: unknown): string {
  return createHmac('sha256', key)
    .update(typeof v === 'string' ? v : JSON.stringify(v))
    .digest('hex');
}

const token = (): string => randomBytes(8).toString('hex');

/** A plausible made-up value for a field's type (as a client writes it). */
function fakeOf(f: FieldDef): unknown {
  switch (f.type) {
    case 'email':
      return `anon-${token()}@invalid.example`;
    case 'integer':
    case 'decimal':
      return randomBytes(4).readUInt32BE(0);
    case 'boolean':
      return false;
    case 'datetime':
      return new Date(0).toISOString();
    case 'enum':
    case 'status':
      return f.values![0];
    case 'json':
      return {};
    default:
      return `anon-${token()}`;
  }
}

/**
 * The column values that anonymise one record (`before`: its values as clients see them), and the
 * member lists to empty. A field that is empty stays empty: anonymisation invents no data.
 */
export function anonymise(
  def: CollectionDef,
  values: AnonValues,
  before: Record<string, unknown>,
  hashKey: Buffer,
): { set: Record<string, unknown>; empty: string[] } {
  const set: Record<string, unknown> = {};
  const empty: string[] = [];
  for (const [name, v] of Object.entries(values)) {
    if (name === 'createdBy') {
      set.created_by = null;
      continue;
    }
    const f = def.fields.find((x) => x.name === name);
    if (!f) continue;
    if (f.type === 'members') {
      empty.push(f.name);
      continue;
    }
    const old = before[f.name];
    if (v.kind === 'null') set[f.name] = null;
    else if (v.kind === 'fixed') set[f.name] = encode(f, v.value);
    else if (old === null || old === undefined) set[f.name] = null;
    else if (v.kind === 'hash') {
      const h = keyedHash(hashKey, old);
      set[f.name] = f.type === 'email' ? `${h.slice(0, 48)}@invalid.example` : h;
    } else set[f.name] = encode(f, fakeOf(f));
  }
  return { set, empty };
}
