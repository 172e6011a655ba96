/** Record values between the client and the database: checks and encodes writes, decodes reads, converts CSV cells. */
import { isoOf } from '../util/iso.js';
import { AppError } from '../errors.js';
import { isPlainAddress } from '../mail/address.js';
import { toColumnValue } from '../collections/filter.js';
import { SYSTEM_COLUMNS, hasColumn, isSystemName, ownershipField, type CollectionDef, type FieldDef } from '../collections/schema.js';

/** The system fields in the order a record shows them: client name and column. */
export const SYSTEM_OUT: Array<[string, string]> = Object.entries(SYSTEM_COLUMNS);
export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** Deepest nesting and most nodes of a json field value (docs: README, records). */
export const JSON_MAX_DEPTH = 32;
const JSON_MAX_NODES = 10_000;

/** Whether a JSON value nests at most JSON_MAX_DEPTH levels and has at most JSON_MAX_NODES nodes; iterative, so any depth is safe to check. */
/**
 * Why a json field's value may not be stored, or null: nested past the bounds, a number JSON cannot carry (`1e400`
 * parses to Infinity, which would be stored as null), or a prototype key (`__proto__`, `constructor.prototype`) that
 * a client deep-merging the record would be polluted by. Every write path passes here (a body, a CSV or JSON import,
 * a bulk update, a restored revision), so none of them needs its own check.
 */
function jsonProblem(v: unknown): string | null {
  const stack: Array<[unknown, number]> = [[v, 0]];
  let nodes = 0;
  while (stack.length > 0) {
    const [x, depth] = stack.pop()!;
    if (++nodes > JSON_MAX_NODES) return `JSON with at most ${JSON_MAX_NODES} values`;
    if (typeof x === 'number' && !Number.isFinite(x)) return 'JSON numbers must be finite';
    if (typeof x !== 'object' || x === null) continue;
    if (depth >= JSON_MAX_DEPTH) return `JSON nested at most ${JSON_MAX_DEPTH} levels deep`;
    if (!Array.isArray(x)) {
      if (Object.hasOwn(x, '__proto__')) return 'JSON may not hold a "__proto__" key';
      const ctor = (x as Record<string, unknown>).constructor;
      if (Object.hasOwn(x, 'constructor') && typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype'))
        return 'JSON may not hold a "constructor.prototype" key';
    }
    for (const c of Array.isArray(x) ? x : Object.values(x)) stack.push([c, depth + 1]);
  }
  return null;
}

export const hasNul = (v: string): boolean => v.includes('\u0000');

/** Checks a write body: known, non-system fields with values of the right type. Returns column values. */
export function columnsOf(
  def: CollectionDef,
  body: unknown,
  creating: boolean,
  known?: ReadonlySet<string>,
): { values: Record<string, unknown>; members: Map<string, string[]>; keys: string[] } {
  if (!isPlainObject(body)) throw new AppError('VALIDATION_FAILED', [{ path: '/', message: 'a record is an object' }]);
  const values: Record<string, unknown> = {};
  const members = new Map<string, string[]>();
  const keys = Object.keys(body);
  for (const k of keys) {
    if (isSystemName(k)) throw new AppError('FIELD_NOT_WRITABLE', { field: k });
    const f = def.fields.find((x) => x.name === k);
    // A field the caller knows nothing of answers like a missing one; the ownership field is part of
    // every caller's model of the collection (the server sets it).
    if (!f || (known && !known.has(k) && ownershipField(def)?.name !== k)) throw new AppError('FIELD_UNKNOWN', { field: k.slice(0, 60) });
    const v = body[k];
    // Files are written through the files routes only (src/records/files.ts).
    if (f.type === 'file') throw new AppError('FILE_FIELD_IN_BODY', { field: k });
    if (f.type === 'members') {
      if (!Array.isArray(v) || v.length > 1000 || !v.every((x) => typeof x === 'string' && x.length <= 64 && !hasNul(x)))
        throw new AppError('VALIDATION_FAILED', [{ path: `/${k}`, message: 'a list of user ids' }]);
      members.set(k, [...new Set(v as string[])]);
      continue;
    }
    values[k] = encode(f, v);
  }
  if (creating) {
    for (const f of def.fields) {
      if (!hasColumn(f) || f.name in values) continue;
      if (f.default !== undefined) values[f.name] = encode(f, f.default);
      else if (f.required) throw new AppError('VALIDATION_FAILED', [{ path: `/${f.name}`, message: 'required' }]);
    }
  } else {
    for (const f of def.fields)
      if (f.required && f.name in values && values[f.name] === null) throw new AppError('VALIDATION_FAILED', [{ path: `/${f.name}`, message: 'required' }]);
  }
  return { values, members, keys };
}

/** A CSV cell as a JSON value for its field; anything unparseable stays a string and fails the type check. */
export function fromCell(f: FieldDef | undefined, v: string): unknown {
  if (v === '') return null;
  if (!f) return v;
  switch (f.type) {
    case 'integer':
      return /^-?\d{1,15}$/.test(v) ? Number(v) : v;
    case 'decimal':
      return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
    case 'boolean':
      return v === 'true' ? true : v === 'false' ? false : v;
    case 'json':
      try {
        return JSON.parse(v);
      } catch {
        return v;
      }
    case 'members':
      return v.split(';').filter(Boolean);
    default:
      return v;
  }
}

/** A client value as a column value, checked against the field type. */
export function encode(f: FieldDef, v: unknown): unknown {
  const bad = (m: string) => new AppError('VALIDATION_FAILED', [{ path: `/${f.name}`, message: m }]);
  if (v === null) return null;
  switch (f.type) {
    case 'string':
    case 'email':
    case 'user':
    case 'relation':
    case 'group':
      if (typeof v !== 'string' || v.length > 1000) throw bad('a string of at most 1000 characters');
      if (hasNul(v)) throw bad('text may not contain the NUL character');
      // The one address rule (src/mail/address.ts): a stored address may later be mailed or exported.
      if (f.type === 'email' && !isPlainAddress(v)) throw bad('a plain email address such as alice@example.org');
      return v;
    case 'text':
      if (typeof v !== 'string' || v.length > 100_000) throw bad('a string of at most 100000 characters');
      if (hasNul(v)) throw bad('text may not contain the NUL character');
      return v;
    case 'integer':
      if (!Number.isSafeInteger(v)) throw bad('an integer');
      return v;
    case 'decimal':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw bad('a number');
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') throw bad('true or false');
      return v ? 1 : 0;
    case 'datetime':
      if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) throw bad('an ISO 8601 date-time');
      return toColumnValue(f, v);
    case 'enum':
    case 'status':
      if (typeof v !== 'string' || !f.values?.includes(v)) throw bad(`one of ${f.values?.join(', ')}`);
      return v;
    case 'json': {
      const problem = jsonProblem(v);
      if (problem) throw bad(problem);
      const s = JSON.stringify(v);
      if (s.length > 100_000) throw bad('at most 100000 characters of JSON');
      return s;
    }
    default:
      throw bad('not writable');
  }
}

const asIs = (v: unknown): unknown => (v === undefined ? null : v);

/**
 * The decoder of one field, chosen once per field (a list decodes every row of a page with the same
 * ones): the same answers as `decode`, without the switch per value.
 */
export function decoderOf(f: FieldDef): (v: unknown) => unknown {
  switch (f.type) {
    case 'boolean':
      return (v) => (v === null || v === undefined ? null : Number(v) === 1);
    case 'datetime':
      return (v) => (v === null || v === undefined ? null : isoOf(v));
    case 'decimal':
    case 'integer':
      return (v) => (v === null || v === undefined ? null : Number(v));
    case 'json':
      return (v) => (v === null || v === undefined ? null : JSON.parse(String(v)));
    default:
      return asIs;
  }
}

export function decode(f: FieldDef, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (f.type) {
    case 'boolean':
      return Number(v) === 1;
    case 'datetime':
      return isoOf(v);
    case 'decimal':
    case 'integer':
      return Number(v);
    case 'json':
      return JSON.parse(String(v));
    default:
      return v;
  }
}
