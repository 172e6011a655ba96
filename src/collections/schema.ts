/**
 * Collection definitions (issue 3, first slice): field types, options and their validation.
 * Every identifier that ever reaches SQL comes from a definition that passed `checkCollection`.
 */
import { isPlainAddress } from '../mail/address.js';
import { FILE_FIELD_BOUNDS, isKnownFileType } from './file-types.js';

export const FIELD_TYPES = [
  'string',
  'text',
  'integer',
  'decimal',
  'boolean',
  'datetime',
  'json',
  'email',
  'enum',
  'status',
  'user',
  'relation',
  'members',
  'group',
  'file',
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/**
 * Data protection levels of a field (ASVS V14.1.1, docs/data-protection.md): what may reach the change log, revisions,
 * exports and queries. They only add protections; who reads a field is the grants' business.
 */
export const DATA_CLASSES = ['public', 'internal', 'confidential', 'secret'] as const;
export type DataClass = (typeof DATA_CLASSES)[number];

export interface FieldDef {
  name: string;
  type: FieldType;
  required?: boolean;
  unique?: boolean;
  indexed?: boolean;
  default?: string | number | boolean | null;
  /** enum and status: the allowed values. */
  values?: string[];
  /** relation: the target collection. */
  target?: string;
  /** Backend-only: never leaves the server; or hidden except for the listed roles. */
  hidden?: boolean | { exceptRoles: string[] };
  /** The field block that grants can target. */
  block?: string;
  /** Personal or secret: its values never reach a log (the change log names the field only); `classification: confidential`. */
  sensitive?: boolean;
  /** The field's protection level (docs/data-protection.md, D431); `internal` when unset. */
  classification?: DataClass;
  /** file: several files (a list up to `maxFiles`) instead of one. */
  multiple?: boolean;
  /** file: the MIME types accepted, recognised by their bytes (src/collections/file-types.ts); default every known type but text/plain. */
  accept?: string[];
  /** file: limits of this field, under the global caps (FILES_MAX_BYTES, FILES_MAX_PIXELS): the lower one applies. */
  maxBytes?: number;
  maxFiles?: number;
  maxPixels?: number;
  /** file (single): how many replaced files are kept as versions (0, the default: none). */
  versions?: number;
  /**
   * file: an upload may keep its metadata (EXIF, XMP, document authors) when the uploader asks (`keepMetadata=true`);
   * without it (the default) every upload's metadata is removed (ASVS V14.2.8, D441).
   */
  keepMetadata?: boolean;
}

/**
 * Whether a field has a column in its collection's table. Member lists live in a join table and files in the
 * `files` table: neither is a column, so neither is selected, written, filtered or sorted as one.
 */
export const hasColumn = (f: Pick<FieldDef, 'type'>): boolean => f.type !== 'members' && f.type !== 'file';

/** What the audit trail keeps of a collection (AUDIT-3, AUDIT-4). */
export interface AuditOptions {
  /** Every create, change and delete with old and new values (on by default). */
  changeLog: boolean;
  /** Reads: off, the ids returned, or the filter and the count (off by default). */
  accessLog: 'off' | 'ids' | 'filter';
  /** The full previous version of a record at each change (off by default). */
  revisions: boolean;
}
export const ACCESS_LOG_MODES = ['off', 'ids', 'filter'] as const;
const AUDIT_DEFAULTS: AuditOptions = Object.freeze({ changeLog: true, accessLog: 'off', revisions: false });

/** A collection's audit options, defaults filled in. */
export function auditOptionsOf(def: CollectionDef): AuditOptions {
  return { ...AUDIT_DEFAULTS, ...def.audit };
}

/** A field's protection level: its classification, else `confidential` for a field marked sensitive, else `internal`. */
export const classOf = (f: Pick<FieldDef, 'classification' | 'sensitive'>): DataClass =>
  f.classification ?? (f.sensitive === true ? 'confidential' : 'internal');

/**
 * A `secret` field's values reach no log, no revision and no export, and no query may filter, sort, search or
 * group on it (each would answer questions about the value to someone who cannot read it, D431).
 */
export const isClassSecret = (f: Pick<FieldDef, 'classification' | 'sensitive'>): boolean => classOf(f) === 'secret';

/** Whether a field's values stay out of every log: hidden (backend-only or role-limited), or confidential or secret. */
export const isSecretField = (f: FieldDef): boolean => f.hidden !== undefined || classOf(f) === 'confidential' || classOf(f) === 'secret';

export interface CollectionDef {
  name: string;
  fields: FieldDef[];
  /** Row ownership mode that adds a filter to every grant (enforced with the records API). */
  ownership?: 'creator' | 'members' | 'group' | null;
  /** Roles whose grants ignore the ownership filter (and may set the ownership field). */
  ownershipBypass?: string[];
  /** The audit trail's options; missing keys take their defaults (`auditOptionsOf`). */
  audit?: Partial<AuditOptions>;
}

/** The system fields every record has, as clients name them, and their columns: the one list. */
export const SYSTEM_COLUMNS: Readonly<Record<string, string>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, string>, {
    id: 'id',
    createdAt: 'created_at',
    updatedAt: 'updated_at',
    createdBy: 'created_by',
    updatedBy: 'updated_by',
  }),
);
/** Whether a name is a system field as clients name it (every caller reads it on every row). */
export const isSystemField = (name: string): boolean => !!SYSTEM_COLUMNS[name];
/** The system fields that hold a date-time (stored as epoch milliseconds). */
export const isSystemDatetime = (name: string): boolean => name === 'createdAt' || name === 'updatedAt';
/** Whether a name is a system field or a system column: set by the server only. */
export const isSystemName = (name: string): boolean => !!SYSTEM_COLUMNS[name] || Object.values(SYSTEM_COLUMNS).includes(name);

const NAME = /^[a-z][a-z0-9_]{0,40}$/;
const RESERVED = new Set([
  'id',
  'created_at',
  'updated_at',
  'created_by',
  'updated_by',
  'createdat',
  'updatedat',
  'createdby',
  'updatedby',
  'select',
  'from',
  'where',
  'table',
  'order',
  'group',
  'user',
  'expand',
]);
const MAX_FIELDS = 200;

export function isName(s: unknown): s is string {
  return typeof s === 'string' && NAME.test(s) && !RESERVED.has(s);
}

/** The concrete field names a grant's list names (blocks expanded); unknown names are dropped. */
export function grantedFields(def: CollectionDef, entries: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const e of entries) {
    if (e.startsWith('block:')) {
      const b = e.slice(6);
      for (const f of def.fields) if (f.block === b) out.add(f.name);
    } else if (def.fields.some((f) => f.name === e)) out.add(e);
  }
  return out;
}

/** The field that decides ownership of a row (members or group mode), if any. Clients cannot set it unless they bypass ownership. */
export function ownershipField(def: CollectionDef): FieldDef | undefined {
  if (def.ownership === 'members') return def.fields.find((f) => f.type === 'members');
  if (def.ownership === 'group') return def.fields.find((f) => f.type === 'group');
  return undefined;
}

/** The physical table of a collection; the name was checked by `isName`. */
export const tableOf = (collection: string): string => `col_${collection}`;
/** The join table of a member-list field. */
export const membersTableOf = (collection: string, field: string): string => `col_${collection}__${field}`;

function checkField(f: FieldDef, collections: ReadonlySet<string>, self: string): string[] {
  const out: string[] = [];
  const at = `field ${JSON.stringify(String(f.name).slice(0, 50))}`;
  if (!isName(f.name)) out.push(`${at}: a name is lower-case letters, digits and _, starts with a letter, at most 41 characters, and is not reserved`);
  if (!FIELD_TYPES.includes(f.type)) out.push(`${at}: unknown type`);
  if (f.type === 'enum' || f.type === 'status') {
    if (
      !Array.isArray(f.values) ||
      f.values.length === 0 ||
      f.values.length > 100 ||
      !f.values.every((v) => typeof v === 'string' && /^[A-Za-z0-9_-]{1,40}$/.test(v))
    ) {
      out.push(`${at}: values must be 1 to 100 short words`);
    } else if (new Set(f.values).size !== f.values.length) out.push(`${at}: values must be unique`);
  } else if (f.values !== undefined) out.push(`${at}: only enum and status fields take values`);
  if (f.type === 'relation') {
    if (!isName(f.target) || (!collections.has(f.target) && f.target !== self)) out.push(`${at}: target must name an existing collection`);
  } else if (f.target !== undefined) out.push(`${at}: only relation fields take a target`);
  if (f.type === 'members' && (f.unique || f.indexed || f.default !== undefined)) out.push(`${at}: a member list cannot be unique, indexed or have a default`);
  if (f.type === 'file') out.push(...checkFileField(f, at));
  else {
    for (const k of ['multiple', 'accept', 'maxBytes', 'maxFiles', 'maxPixels', 'versions', 'keepMetadata'] as const)
      if (f[k] !== undefined) out.push(`${at}: only file fields take ${k}`);
  }
  if (f.default !== undefined && f.default !== null) {
    const d = f.default;
    const ok =
      f.type === 'integer'
        ? Number.isSafeInteger(d)
        : f.type === 'decimal'
          ? typeof d === 'number' && Number.isFinite(d)
          : f.type === 'boolean'
            ? typeof d === 'boolean'
            : f.type === 'enum' || f.type === 'status'
              ? typeof d === 'string' && !!f.values?.includes(d)
              : f.type === 'email'
                ? isPlainAddress(d)
                : f.type === 'string' || f.type === 'text'
                  ? typeof d === 'string' && d.length <= 1000 && !d.includes('\u0000')
                  : false;
    if (!ok) out.push(`${at}: the default does not fit the type`);
  }
  if (f.hidden !== undefined && typeof f.hidden !== 'boolean') {
    const ex = (f.hidden as { exceptRoles?: unknown }).exceptRoles;
    if (!Array.isArray(ex) || ex.length === 0 || !ex.every((r) => typeof r === 'string' && /^[a-z][a-z0-9_-]{0,40}$/.test(r)))
      out.push(`${at}: hidden.exceptRoles must list role names`);
  }
  if (f.block !== undefined && !isName(f.block)) out.push(`${at}: a block name follows the field-name rules`);
  if (f.sensitive !== undefined && typeof f.sensitive !== 'boolean') out.push(`${at}: sensitive is true or false`);
  if (f.classification !== undefined && !(DATA_CLASSES as readonly unknown[]).includes(f.classification))
    out.push(`${at}: classification is one of ${DATA_CLASSES.join(', ')}`);
  if (f.classification !== undefined && f.sensitive === true && f.classification !== 'confidential' && f.classification !== 'secret')
    out.push(`${at}: a sensitive field is confidential or secret`);
  if (isClassSecret(f) && (f.unique || f.indexed)) out.push(`${at}: a secret field cannot be unique or indexed (no query looks into it)`);
  return out;
}

/** The options of a file field: no column options; accept only known types; limits positive, within bounds. */
function checkFileField(f: FieldDef, at: string): string[] {
  const out: string[] = [];
  if (f.unique || f.indexed || f.default !== undefined || f.required) out.push(`${at}: a file field cannot be unique, indexed, required or have a default`);
  if (f.multiple !== undefined && typeof f.multiple !== 'boolean') out.push(`${at}: multiple is true or false`);
  if (f.keepMetadata !== undefined && typeof f.keepMetadata !== 'boolean') out.push(`${at}: keepMetadata is true or false`);
  if (f.accept !== undefined) {
    if (!Array.isArray(f.accept) || f.accept.length === 0 || f.accept.length > 50 || !f.accept.every(isKnownFileType))
      out.push(`${at}: accept lists known file types (see docs/files.md)`);
    else if (new Set(f.accept).size !== f.accept.length) out.push(`${at}: accept names a type twice`);
  }
  for (const k of ['maxBytes', 'maxFiles', 'maxPixels', 'versions'] as const) {
    const v = f[k];
    if (v === undefined) continue;
    const min = k === 'versions' ? 0 : 1;
    if (!Number.isSafeInteger(v) || v < min || v > FILE_FIELD_BOUNDS[k]) out.push(`${at}: ${k} is an integer from ${min} to ${FILE_FIELD_BOUNDS[k]}`);
  }
  if (f.maxFiles !== undefined && f.multiple !== true) out.push(`${at}: maxFiles needs multiple`);
  if (f.versions !== undefined && f.versions > 0 && f.multiple === true) out.push(`${at}: versions are kept for a single-file field only`);
  return out;
}

/** Every problem with a collection definition, or none. `collections` are the other existing names. */
export function checkCollection(def: CollectionDef, collections: ReadonlySet<string>): string[] {
  const out: string[] = [];
  if (!isName(def.name)) out.push('name: lower-case letters, digits and _, starts with a letter, at most 41 characters, not reserved');
  if (!Array.isArray(def.fields) || def.fields.length > MAX_FIELDS) {
    out.push(`fields: a list of at most ${MAX_FIELDS}`);
    return out;
  }
  const seen = new Set<string>();
  for (const f of def.fields) {
    if (seen.has(f.name)) out.push(`field ${JSON.stringify(f.name)}: defined twice`);
    seen.add(f.name);
    out.push(...checkField(f, collections, def.name));
  }
  if (def.ownership === 'members' && !def.fields.some((f) => f.type === 'members')) out.push('ownership "members" needs a members field');
  if (def.ownership === 'group' && !def.fields.some((f) => f.type === 'group')) out.push('ownership "group" needs a group field');
  if (def.ownership === 'members' && def.fields.filter((f) => f.type === 'members').length > 1) out.push('ownership "members" needs exactly one members field');
  if (def.ownership === 'group' && def.fields.filter((f) => f.type === 'group').length > 1) out.push('ownership "group" needs exactly one group field');
  if (
    def.ownershipBypass !== undefined &&
    (!Array.isArray(def.ownershipBypass) ||
      def.ownershipBypass.length > 50 ||
      !def.ownershipBypass.every((r) => typeof r === 'string' && /^[a-z][a-z0-9_-]{0,40}$/.test(r)))
  ) {
    out.push('ownershipBypass must list role names');
  }
  if (def.audit !== undefined) {
    const a = def.audit as Record<string, unknown>;
    if (typeof a !== 'object' || a === null || Array.isArray(a)) out.push('audit: an object');
    else {
      for (const k of Object.keys(a)) if (!['changeLog', 'accessLog', 'revisions'].includes(k)) out.push(`audit.${k.slice(0, 40)}: unknown option`);
      if (a.changeLog !== undefined && typeof a.changeLog !== 'boolean') out.push('audit.changeLog: true or false');
      if (a.revisions !== undefined && typeof a.revisions !== 'boolean') out.push('audit.revisions: true or false');
      if (a.accessLog !== undefined && !ACCESS_LOG_MODES.includes(a.accessLog as 'off')) out.push('audit.accessLog: off, ids or filter');
    }
  }
  return out;
}
