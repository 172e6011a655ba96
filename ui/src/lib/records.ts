// The data browser's client logic (pure, no DOM; unit-tested in test/ui/data.test.ts): what
// GET /api/collections answers, the filter builder that produces the server's filter language, and
// the conversion of record values to form inputs and back. The server decides every access.

/** A file field's upload rules, as GET /api/collections gives them. */
export interface FileRules {
  multiple: boolean;
  accept: string[] | null;
  maxBytes: number | null;
  maxFiles: number | null;
  maxPixels: number | null;
  versions: number;
  /** An upload may ask to keep its metadata (location, camera, author); otherwise the server removes it. */
  keepMetadata?: boolean;
}

/** What a secret value shows until the user asks to see it. */
export const MASK = '••••••••';

export interface CatalogueField {
  name: string;
  type: string;
  required: boolean;
  unique: boolean;
  values?: string[];
  target?: string;
  /** A file field's upload rules (null: the server's global default). */
  file?: FileRules;
  /** The protection level: a secret value is masked until the user asks to see it (D431). */
  classification?: 'public' | 'internal' | 'confidential' | 'secret';
  /** Readable on some record the caller sees. */
  read: boolean;
  /** Readable on every record the caller sees: may be filtered and sorted on. */
  filter: boolean;
  create: boolean;
  update: boolean;
}

export interface CatalogueEntry {
  name: string;
  actions: string[];
  fields: CatalogueField[];
}

export interface ListAnswer {
  items: Array<Record<string, unknown>>;
  /** Only when the list asked for it (`total: true`): counted up to 10,000. */
  total?: number;
  totalCapped?: boolean;
  /** Whether the next page has records. */
  hasMore: boolean;
  page: number;
  perPage: number;
}

/** How many pages a list has, from its total (at least the page shown, and one more while `hasMore`). */
export function pageCount(a: ListAnswer): number {
  const counted = a.total === undefined ? 0 : Math.ceil(a.total / a.perPage);
  return Math.max(1, counted, a.page + (a.hasMore ? 1 : 0));
}

/** The pager's line: "12 records · page 1 of 2"; a capped total reads "10000+ records · page 1 of 400+". */
export function pagerText(a: ListAnswer): string {
  const more = a.totalCapped ? '+' : '';
  const pages = `page ${a.page} of ${pageCount(a)}${more}`;
  if (a.total === undefined) return pages;
  return `${a.total}${more} record${a.total === 1 && !more ? '' : 's'} · ${pages}`;
}

/** Field types a "contains" condition applies to (the server's $ilike rule). */
const TEXTUAL = new Set(['string', 'text', 'email', 'enum', 'status', 'user', 'relation', 'group']);

export type FilterOp = 'contains' | 'equals';

export interface Condition {
  field: string;
  op: FilterOp;
  value: string;
}

export function opsFor(type: string): FilterOp[] {
  if (type === 'members' || type === 'json' || type === 'file') return [];
  if (type === 'enum' || type === 'status') return ['equals', 'contains'];
  return TEXTUAL.has(type) ? ['contains', 'equals'] : ['equals'];
}

/** A LIKE pattern that matches the text literally (%, _ and \ escaped, as the server's pattern rule wants). */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A typed value from a text input, by field type; throws a readable Error when it does not fit. */
export function parseValue(type: string, raw: string): unknown {
  const s = raw.trim();
  switch (type) {
    case 'integer': {
      const n = Number(s);
      if (s === '' || !Number.isSafeInteger(n)) throw new Error('a whole number');
      return n;
    }
    case 'decimal': {
      const n = Number(s);
      if (s === '' || !Number.isFinite(n)) throw new Error('a number');
      return n;
    }
    case 'boolean':
      if (s === 'true' || s === 'yes') return true;
      if (s === 'false' || s === 'no') return false;
      throw new Error('true or false');
    case 'datetime': {
      const ms = Date.parse(s);
      if (Number.isNaN(ms)) throw new Error('a date and time');
      return new Date(ms).toISOString();
    }
    default:
      return raw;
  }
}

/** The server's filter JSON for the conditions (empty values skipped); undefined when there is none. */
export function buildFilter(conds: readonly Condition[], fields: readonly CatalogueField[]): Record<string, unknown> | undefined {
  const parts: Array<Record<string, unknown>> = [];
  for (const c of conds) {
    if (c.value.trim() === '') continue;
    const f = fields.find((x) => x.name === c.field);
    if (!f) continue;
    if (c.op === 'contains') parts.push({ [f.name]: { $ilike: `%${likeEscape(c.value.trim())}%` } });
    else parts.push({ [f.name]: { $eq: parseValue(f.type, c.value) } });
  }
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : { $and: parts };
}

/** The sort parameter after a click on a column: ascending, then descending, then none. */
export function nextSort(current: string, field: string): string {
  if (current === field) return `-${field}`;
  if (current === `-${field}`) return '';
  return field;
}

/** A record value as table text. */
export function display(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.map((x) => display(x)).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A record value as the text of its form input. */
export function toInput(type: string, v: unknown): string {
  if (v === null || v === undefined) return '';
  if (type === 'datetime' && typeof v === 'string') {
    const d = new Date(v);
    const p = (n: number) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }
  if (type === 'json') return JSON.stringify(v, null, 2);
  if (type === 'members' && Array.isArray(v)) return v.join(', ');
  return String(v);
}

/** A form input's text as the value the server takes for the field; '' is null. */
export function fromInput(type: string, raw: string): unknown {
  if (raw.trim() === '' && type !== 'string' && type !== 'text') return null;
  if (raw === '' && (type === 'string' || type === 'text')) return null;
  if (type === 'json') {
    try {
      return JSON.parse(raw);
    } catch {
      throw new Error('valid JSON');
    }
  }
  if (type === 'members')
    return raw
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  if (type === 'datetime') {
    // A datetime-local input has no zone: it is the user's local time.
    const ms = Date.parse(raw);
    if (Number.isNaN(ms)) throw new Error('a date and time');
    return new Date(ms).toISOString();
  }
  return parseValue(type, raw);
}

/** The input element a field type uses. */
export function inputKind(type: string): 'text' | 'textarea' | 'number' | 'checkbox' | 'select' | 'datetime' | 'email' {
  switch (type) {
    case 'text':
    case 'json':
      return 'textarea';
    case 'integer':
    case 'decimal':
      return 'number';
    case 'boolean':
      return 'checkbox';
    case 'enum':
    case 'status':
      return 'select';
    case 'datetime':
      return 'datetime';
    case 'email':
      return 'email';
    default:
      return 'text';
  }
}

/** Readable sentences for the records API's refusals. */
export const RECORD_ERRORS: Record<string, string> = {
  FORBIDDEN: 'Your access does not allow this.',
  NOT_FOUND: 'This record does not exist, or it is outside what you may see.',
  FIELD_NOT_WRITABLE: 'You may not write one of these fields.',
  FIELD_UNKNOWN: 'A field named here does not exist for you.',
  FIELD_NOT_FILTERABLE: 'You may not filter or sort on this field.',
  FILTER_INVALID: 'The filter is not valid.',
  IMPORT_REJECTED: 'The import was refused; nothing was written.',
  CONFLICT: 'A record with this value already exists.',
  RATE_LIMITED: 'Too many requests; wait a moment and try again.',
};
