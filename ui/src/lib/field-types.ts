// The collections editor's client logic (pure; unit-tested in test/ui/collections.test.ts): field
// types as src/collections/schema.ts defines them, the form's draft of a field and the definition it
// sends, and the server's refusals placed next to the field they name.
import { formatSize } from './file-kinds';

/** The protection levels of a field, lowest first, with what each one means in the editor. */
export const DATA_CLASSES = [
  { value: 'public', label: 'Public', help: 'may be published; kept in the change log, revisions and exports' },
  { value: 'internal', label: 'Internal', help: 'the default; kept in the change log, revisions and exports' },
  { value: 'confidential', label: 'Confidential', help: 'never logged: a change is logged by the field name only' },
  { value: 'secret', label: 'Secret', help: 'never logged, kept in no revision or export, never filtered, sorted or searched on, masked on screen' },
] as const;
export type DataClass = (typeof DATA_CLASSES)[number]['value'];

/** A field's protection level as the server reads it. */
export const classOf = (f: Pick<FieldDef, 'classification' | 'sensitive'>): DataClass => f.classification ?? (f.sensitive ? 'confidential' : 'internal');

export interface FieldDef {
  name: string;
  type: string;
  required?: boolean;
  unique?: boolean;
  indexed?: boolean;
  default?: string | number | boolean | null;
  values?: string[];
  target?: string;
  hidden?: boolean | { exceptRoles: string[] };
  block?: string;
  /** Personal or secret: its values never reach a log (the server reads it as classification confidential). */
  sensitive?: boolean;
  /** The protection level (docs/data-protection.md); internal when absent. */
  classification?: DataClass;
  /** file: several files instead of one. */
  multiple?: boolean;
  /** file: the MIME types accepted (the server's known list); absent: every known type but text/plain. */
  accept?: string[];
  maxBytes?: number;
  maxFiles?: number;
  maxPixels?: number;
  /** file (single): how many replaced files are kept as versions. */
  versions?: number;
  /** file: an upload may keep its metadata when the uploader asks; otherwise the server removes it (ASVS V14.2.8). */
  keepMetadata?: boolean;
}

/** What the audit trail keeps of a collection (missing keys take the defaults of `auditOf`). */
export interface AuditOptions {
  changeLog: boolean;
  accessLog: 'off' | 'ids' | 'filter';
  revisions: boolean;
}

/** A collection's audit options, the server's defaults filled in (src/collections/schema.ts). */
export function auditOf(def: Pick<CollectionDef, 'audit'>): AuditOptions {
  return { changeLog: true, accessLog: 'off', revisions: false, ...def.audit };
}

export interface CollectionDef {
  name: string;
  fields: FieldDef[];
  ownership?: 'creator' | 'members' | 'group' | null;
  ownershipBypass?: string[];
  audit?: Partial<AuditOptions>;
}

export const FIELD_TYPES: ReadonlyArray<{ type: string; label: string; help: string }> = [
  { type: 'string', label: 'Text (short)', help: 'Up to 1000 characters.' },
  { type: 'text', label: 'Text (long)', help: 'Up to 100,000 characters.' },
  { type: 'integer', label: 'Whole number', help: 'A 64-bit whole number.' },
  { type: 'decimal', label: 'Decimal number', help: 'A number with a fraction.' },
  { type: 'boolean', label: 'Yes / no', help: 'True or false.' },
  { type: 'datetime', label: 'Date and time', help: 'A moment in time (ISO 8601).' },
  { type: 'json', label: 'JSON', help: 'Any JSON value, nested at most 32 levels.' },
  { type: 'email', label: 'Email address', help: 'A plain address such as alice@example.org.' },
  { type: 'enum', label: 'Choice', help: 'One of the listed values.' },
  { type: 'status', label: 'Status', help: 'One of the listed values; grants can be limited to some statuses.' },
  { type: 'user', label: 'User', help: 'The id of a user.' },
  { type: 'relation', label: 'Relation', help: 'The id of a record in the target collection.' },
  { type: 'members', label: 'Member list', help: 'A list of users (the "members" ownership mode uses it).' },
  { type: 'group', label: 'Department', help: 'A department name (the "group" ownership mode uses it).' },
  {
    type: 'file',
    label: 'File',
    help: 'One file or several, stored privately, recognised by their content and scanned for viruses. Uploaded on a saved record.',
  },
];

/** Types whose default the server accepts (schema.ts). */
const DEFAULTABLE = new Set(['string', 'text', 'integer', 'decimal', 'boolean', 'enum', 'status', 'email']);

export const takesValues = (type: string) => type === 'enum' || type === 'status';
export const takesDefault = (type: string) => DEFAULTABLE.has(type);

/** A field as the form edits it: every option as text or a flag. */
export interface FieldDraft {
  name: string;
  type: string;
  required: boolean;
  unique: boolean;
  indexed: boolean;
  defaultText: string;
  valuesText: string;
  target: string;
  hidden: 'no' | 'yes' | 'except';
  exceptRoles: string;
  block: string;
  classification: DataClass;
  /** file options: the limits as text ('' is the server's default); maxMiB in mebibytes. */
  multiple: boolean;
  accept: string[];
  maxMiB: string;
  maxFilesText: string;
  maxPixelsText: string;
  versionsText: string;
  keepMetadata: boolean;
}

export function emptyDraft(type = 'string'): FieldDraft {
  return {
    name: '',
    type,
    required: false,
    unique: false,
    indexed: false,
    defaultText: '',
    valuesText: '',
    target: '',
    hidden: 'no',
    exceptRoles: '',
    block: '',
    classification: 'internal',
    multiple: false,
    accept: [],
    maxMiB: '',
    maxFilesText: '',
    maxPixelsText: '',
    versionsText: '',
    keepMetadata: false,
  };
}

export function draftOf(f: FieldDef): FieldDraft {
  return {
    name: f.name,
    type: f.type,
    required: f.required === true,
    unique: f.unique === true,
    indexed: f.indexed === true,
    defaultText: f.default === undefined || f.default === null ? '' : String(f.default),
    valuesText: (f.values ?? []).join(', '),
    target: f.target ?? '',
    hidden: f.hidden === true ? 'yes' : typeof f.hidden === 'object' ? 'except' : 'no',
    exceptRoles: typeof f.hidden === 'object' ? f.hidden.exceptRoles.join(', ') : '',
    block: f.block ?? '',
    classification: classOf(f),
    multiple: f.multiple === true,
    accept: [...(f.accept ?? [])],
    maxMiB: f.maxBytes === undefined ? '' : String(Number((f.maxBytes / MIB).toFixed(6))),
    maxFilesText: f.maxFiles === undefined ? '' : String(f.maxFiles),
    maxPixelsText: f.maxPixels === undefined ? '' : String(f.maxPixels),
    versionsText: f.versions === undefined ? '' : String(f.versions),
    keepMetadata: f.keepMetadata === true,
  };
}

const MIB = 1024 * 1024;

/** A limit typed as text: a number when it reads as one, else the text, for the server to refuse in words. */
function limitOf(text: string, scale = 1): number | string | undefined {
  const t = text.trim().replace(/[\s_,]/g, '');
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? Math.round(n * scale) : text.trim();
}

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** The default as the type takes it; text the type cannot take is sent as is, for the server to refuse. */
function defaultOf(type: string, text: string): string | number | boolean {
  const t = text.trim();
  if ((type === 'integer' || type === 'decimal') && t !== '' && Number.isFinite(Number(t))) return Number(t);
  if (type === 'boolean' && (t === 'true' || t === 'false')) return t === 'true';
  return type === 'string' || type === 'text' ? text : t;
}

/** The definition a draft describes, with only the options that apply to its type. */
export function fieldOf(d: FieldDraft): FieldDef {
  const f: FieldDef = { name: d.name.trim(), type: d.type };
  const file = d.type === 'file';
  if (d.required && !file) f.required = true;
  if (d.unique && d.type !== 'members' && !file) f.unique = true;
  if (d.indexed && !d.unique && d.type !== 'members' && !file) f.indexed = true;
  if (file) {
    if (d.multiple) f.multiple = true;
    if (d.accept.length > 0) f.accept = [...d.accept];
    const lim = f as unknown as Record<string, unknown>;
    lim.maxBytes = limitOf(d.maxMiB, MIB);
    if (d.multiple) lim.maxFiles = limitOf(d.maxFilesText);
    lim.maxPixels = limitOf(d.maxPixelsText);
    if (!d.multiple) lim.versions = limitOf(d.versionsText);
    for (const k of ['maxBytes', 'maxFiles', 'maxPixels', 'versions']) if (lim[k] === undefined) delete lim[k];
    if (d.keepMetadata) f.keepMetadata = true;
  }
  if (takesDefault(d.type) && d.defaultText !== '') f.default = defaultOf(d.type, d.defaultText);
  if (takesValues(d.type)) f.values = list(d.valuesText);
  if (d.type === 'relation') f.target = d.target;
  if (d.hidden === 'yes') f.hidden = true;
  if (d.hidden === 'except') f.hidden = { exceptRoles: list(d.exceptRoles) };
  if (d.block.trim() !== '') f.block = d.block.trim();
  if (d.classification !== 'internal') f.classification = d.classification;
  return f;
}

/** The change PATCH …/fields/:field takes: the options that differ (null clears one). */
export function changeOf(before: FieldDef, d: FieldDraft): Record<string, unknown> {
  const after = fieldOf(d);
  const out: Record<string, unknown> = {};
  for (const k of [
    'required',
    'default',
    'values',
    'hidden',
    'block',
    'sensitive',
    'classification',
    'accept',
    'maxBytes',
    'maxFiles',
    'maxPixels',
    'versions',
    'keepMetadata',
  ] as const) {
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) out[k] = after[k] === undefined ? null : after[k];
  }
  return out;
}

/**
 * The server's refusal, placed: problems that name a field (`field "x": …`, `/fields/2/…`, a CONFLICT
 * on a field) under that field's name, the rest under ''.
 */
export function placeProblems(code: string, details: unknown, fieldNames: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (k: string, m: string) => {
    out[k] ??= [];
    out[k].push(m);
  };
  if (code === 'SCHEMA_INVALID') {
    for (const p of (details as { problems?: string[] } | undefined)?.problems ?? []) {
      const m = /^field "([^"]*)": (.*)$/.exec(p);
      if (m && fieldNames.includes(m[1]!)) add(m[1]!, m[2]!);
      else add('', p);
    }
  } else if (code === 'VALIDATION_FAILED' && Array.isArray(details)) {
    for (const d of details as Array<{ path?: string; message?: string }>) {
      const m = /^\/fields\/(\d+)(?:\/(\w+))?/.exec(d.path ?? '');
      const name = m ? fieldNames[Number(m[1])] : undefined;
      if (name !== undefined) add(name, `${m![2] ? `${m![2]}: ` : ''}${d.message ?? 'not valid'}`);
      else add('', `${(d.path ?? '').replace(/^\//, '') || 'value'}: ${d.message ?? 'not valid'}`);
    }
  } else if (code === 'CONFLICT') {
    const f = (details as { field?: string } | undefined)?.field;
    if (f === 'name') add('', 'A collection of this name already exists.');
    else if (f && fieldNames.includes(f)) add(f, 'A field of this name already exists.');
  }
  return out;
}

/** A short summary of a field's options, for the fields table. */
export function optionsOf(f: FieldDef): string[] {
  const out: string[] = [];
  if (f.required) out.push('required');
  if (f.unique) out.push('unique');
  if (f.indexed) out.push('indexed');
  if (f.hidden === true) out.push('backend-only');
  if (typeof f.hidden === 'object') out.push(`hidden except ${f.hidden.exceptRoles.join(', ')}`);
  const level = classOf(f);
  if (level === 'confidential') out.push('confidential (never logged)');
  if (level === 'secret') out.push('secret (never logged, exported or queried)');
  if (level === 'public') out.push('public');
  if (f.block) out.push(`block ${f.block}`);
  if (f.target) out.push(`→ ${f.target}`);
  if (f.values) out.push(`values: ${f.values.join(', ')}`);
  if (f.default !== undefined && f.default !== null) out.push(`default ${String(f.default)}`);
  if (f.type === 'file') {
    out.push(f.multiple ? 'several files' : 'one file');
    if (f.accept) out.push(`accepts ${f.accept.map((t) => t.replace(/^(image|audio|video|application|text)\//, '')).join(', ')}`);
    if (f.maxBytes !== undefined) out.push(`at most ${formatSize(f.maxBytes)}`);
    if (f.maxFiles !== undefined) out.push(`at most ${f.maxFiles} files`);
    if (f.maxPixels !== undefined) out.push(`at most ${f.maxPixels.toLocaleString('en')} pixels`);
    if (f.versions) out.push(`keeps ${f.versions} version${f.versions === 1 ? '' : 's'}`);
    if (f.keepMetadata) out.push('uploads may keep their metadata');
  }
  return out;
}
