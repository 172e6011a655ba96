// The audit screens' client logic (pure; unit-tested in test/ui/audit.test.ts): entries as GET /api/admin/audit
// answers them, the filters the address and the API share, the export address, and entries put in words.
import { formatSize, isFileList, stateOf } from './file-kinds';

export interface FieldChange {
  field: string;
  old?: unknown;
  new?: unknown;
  /** Hidden or sensitive: the values were never logged. */
  secret?: true;
}

export interface AuditEntry {
  seq: number;
  at: string;
  kind: string;
  collection: string | null;
  recordId: string | null;
  operation: string;
  actor: { id: string | null; name: string | null; via?: unknown };
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  changes?: FieldChange[];
  erased?: true;
  data?: Record<string, unknown>;
}

export interface AuditPage {
  entries: AuditEntry[];
  next: number | null;
}

export interface VerifyResult {
  ok: boolean;
  entries: number;
  checked: number;
  pruned: number;
  unchained: number;
  checkpoints: number;
  problem: { seq: number; problem: string; detail: string } | null;
  ms: number;
}

export interface Checkpoint {
  seq: number;
  hash: string;
  /** Milliseconds since 1970. */
  at: number;
  signature: string;
}

/** As src/audit/trail.ts names them. */
export const AUDIT_KINDS = ['change', 'status', 'access', 'system'] as const;
export const AUDIT_OPERATIONS = [
  'create',
  'update',
  'delete',
  'restore',
  'anonymise',
  'erase',
  'transition',
  'read',
  'list',
  'export',
  'retention',
  'checkpoint',
  'policy',
] as const;

/** The filters, as the address and GET /api/admin/audit name them: a filtered view is a bookmark. */
export const FILTER_KEYS = ['kind', 'collection', 'recordId', 'actorId', 'operation', 'since', 'until'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];

/** The filters present in a query string (empty values left out). */
export function filtersOf(q: URLSearchParams): Partial<Record<FilterKey, string>> {
  const out: Partial<Record<FilterKey, string>> = {};
  for (const k of FILTER_KEYS) {
    const v = q.get(k)?.trim();
    if (v) out[k] = v;
  }
  return out;
}

/** The download address of the entries a filter selects (a GET: the session cookie carries it, like any link). */
export function exportHref(filters: Partial<Record<FilterKey, string>>, format: 'jsonl' | 'csv'): string {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (filters[k]) q.set(k, filters[k]!);
  q.set('format', format);
  return `/api/admin/audit/export?${q.toString()}`;
}

/** An API key or basic-auth caller, in words; '' for a session. */
export function viaOf(via: unknown): string {
  if (!via || typeof via !== 'object') return '';
  const v = via as { method?: unknown; keyId?: unknown };
  if (v.method === 'apikey') return typeof v.keyId === 'string' ? `API key ${v.keyId}` : 'an API key';
  if (v.method === 'basic') return 'basic authentication';
  return '';
}

/** What an upload's change-log entry says became of the file's metadata (ASVS V14.2.8). */
const METADATA_TEXT: Record<string, string> = { removed: ', metadata removed', kept: ', metadata kept by the uploader' };

/** A logged value as text: null and an empty list as "empty", strings as they are, a file field's files by name, anything else as JSON. */
export function valueText(v: unknown): string {
  if (v === null || v === undefined || (Array.isArray(v) && v.length === 0)) return 'empty';
  if (isFileList(v) && v.length > 0)
    return v.map((f) => `${f.name} (${formatSize(f.size)}, ${stateOf(f.state).text}, version ${f.version})${METADATA_TEXT[f.metadata ?? ''] ?? ''}`).join('; ');
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return JSON.stringify(v);
}

/** What one field of a change entry shows: the values, or why there are none. */
export function changeCell(c: FieldChange, erased: boolean): { old: string; new: string } | { note: string } {
  if (c.secret) return { note: 'not logged' };
  if (erased) return { note: 'values erased' };
  if (!('old' in c) && !('new' in c)) return { note: 'no values' };
  return { old: valueText(c.old), new: valueText(c.new) };
}

/** A status entry's move (from -> to), or undefined for another entry. */
export function transitionOf(e: AuditEntry): { field: string; from: string; to: string } | undefined {
  if (e.kind !== 'status' || !e.data) return undefined;
  const d = e.data as { field?: unknown; from?: unknown; to?: unknown };
  return {
    field: typeof d.field === 'string' ? d.field : '?',
    from: d.from === null || d.from === undefined ? '(none)' : valueText(d.from),
    to: d.to === null || d.to === undefined ? '(none)' : valueText(d.to),
  };
}

/** A verification result in a sentence. */
export function verdictOf(r: VerifyResult): string {
  if (r.ok) return `Intact: ${r.entries} entries on the chain, ${r.checked} checked.`;
  const p = r.problem;
  return p ? `Broken at entry ${p.seq}: ${p.problem} (${p.detail}).` : 'Broken.';
}

/** An ISO time in the address; a datetime-local value (local time, minutes) in an input. */
export function toLocal(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function toIso(local: string): string {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/** A time span in words, its two largest units: "2 d 3 h", "5 min 2 s", "0 s". */
export function durationText(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['min', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(s / size);
    s -= n * size;
    if (n > 0 || (unit === 's' && parts.length === 0)) parts.push(`${n} ${unit}`);
  }
  return parts.slice(0, 2).join(' ');
}

/** A record's kept revision, as GET …/revisions lists it: a version the caller sees none of is its number only (`hidden`). */
export type RevisionSummary =
  | { rev: number; hidden?: undefined; at: string; operation: string; actor: { id: string | null; name: string | null } }
  | { rev: number; hidden: true };

export interface StatusTimes {
  at: string;
  truncated?: boolean;
  fields: Array<{
    field: string;
    current: unknown;
    transitions: Array<{ from: unknown; to: unknown; at: string; actor: { id: string | null; name: string | null } }>;
    totals: Record<string, number>;
  }>;
}
