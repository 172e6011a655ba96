// The privacy screens' client logic (pure; unit-tested in test/ui/erasure.test.ts): policies and erasure
// requests as /api/admin/…/privacy-policies and /api/admin/privacy/erasure take them, and what each field
// may become when anonymised (the server's src/records/privacy-rules.ts decides; the form offers only
// what it would accept, so a refusal names a real problem).
import type { FieldDef } from './field-types';

export type AnonKind = 'null' | 'fixed' | 'hash' | 'fake';
export type AnonValue = { kind: 'null' | 'hash' | 'fake' } | { kind: 'fixed'; value: unknown };

export interface Policy {
  id: string;
  name: string;
  action: 'delete' | 'anonymise';
  rule: { filter?: Record<string, unknown>; olderThan?: { field: string; seconds: number }; status?: { field: string; in: string[] } };
  values: Record<string, AnonValue>;
  purgeHistory: boolean;
  schedule: { enabled: boolean; every: number | null };
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastResult: Record<string, unknown> | null;
}

export interface RunResult {
  matched: number;
  changed: number;
  ids: string[];
  remaining: boolean;
}

/** One field's choice in a form: a kind ('' keeps the field) and, for `fixed`, the text typed. */
export interface AnonPick {
  kind: AnonKind | '';
  text: string;
}

const REFERENCES = new Set(['user', 'relation', 'group', 'members']);
const HASHABLE = new Set(['string', 'text', 'email']);
const FAKEABLE = new Set(['string', 'text', 'email', 'integer', 'decimal', 'boolean', 'datetime', 'enum', 'status', 'json']);
const FAKE_DISTINCT = new Set(['string', 'text', 'email', 'integer', 'decimal']);

export const KIND_LABELS: Record<AnonKind, string> = {
  null: 'emptied',
  fixed: 'a fixed value',
  hash: 'a keyed hash (equal values stay equal)',
  fake: 'a made-up value',
};

/** The kinds the server accepts for a field (privacy-rules.ts checkValue): references only emptied, and so on. */
export function kindsFor(f: FieldDef): AnonKind[] {
  if (REFERENCES.has(f.type)) return f.required && f.type !== 'members' ? [] : ['null'];
  const out: AnonKind[] = [];
  if (!f.required) out.push('null');
  if (!f.unique) out.push('fixed');
  if (HASHABLE.has(f.type)) out.push('hash');
  if (FAKEABLE.has(f.type) && (!f.unique || FAKE_DISTINCT.has(f.type))) out.push('fake');
  return out;
}

/** The typed text of a fixed value as the field's type: numbers, yes/no and JSON parsed, the rest as text. */
export function fixedOf(f: FieldDef, text: string): { value: unknown } | { error: string } {
  const t = text.trim();
  if (t === '') return { error: `${f.name}: enter the fixed value` };
  switch (f.type) {
    case 'integer':
    case 'decimal': {
      const n = Number(t);
      return Number.isFinite(n) ? { value: n } : { error: `${f.name}: enter a number` };
    }
    case 'boolean':
      return t === 'true' || t === 'false' ? { value: t === 'true' } : { error: `${f.name}: true or false` };
    case 'json':
      try {
        return { value: JSON.parse(t) };
      } catch {
        return { error: `${f.name}: not valid JSON` };
      }
    default:
      return { value: text };
  }
}

/** The `values` a request sends for the form's picks (kept fields left out), or the problems found first. */
export function valuesOf(fields: readonly FieldDef[], picks: Record<string, AnonPick>): { values: Record<string, AnonValue>; problems: string[] } {
  const values: Record<string, AnonValue> = {};
  const problems: string[] = [];
  for (const f of fields) {
    const p = picks[f.name];
    if (!p || p.kind === '') continue;
    if (p.kind !== 'fixed') {
      values[f.name] = { kind: p.kind };
      continue;
    }
    const v = fixedOf(f, p.text);
    if ('error' in v) problems.push(`${v.error}.`);
    else values[f.name] = { kind: 'fixed', value: v.value };
  }
  return { values, problems };
}

/** A stored policy's values back as the form's picks (a fixed value shown as it was typed). */
export function picksOf(values: Record<string, AnonValue>): Record<string, AnonPick> {
  const out: Record<string, AnonPick> = {};
  for (const [name, v] of Object.entries(values)) {
    const text = v.kind !== 'fixed' ? '' : typeof v.value === 'string' ? v.value : JSON.stringify(v.value);
    out[name] = { kind: v.kind, text };
  }
  return out;
}

/** "name → made-up value, note → "(removed)"": a policy's values in words. */
export function valuesText(values: Record<string, AnonValue>): string {
  const parts = Object.entries(values).map(([f, v]) =>
    v.kind === 'fixed' ? `${f} → ${JSON.stringify(v.value)}` : `${f} → ${KIND_LABELS[v.kind].replace(/ \(.*\)$/, '')}`,
  );
  return parts.join(', ') || 'none';
}

/** The subject of an erasure request as the API takes it: a user's id, or a field's value in its type. */
export function subjectOf(
  by: 'user' | 'field',
  userId: string,
  field: FieldDef | undefined,
  text: string,
): { by: { userId: string } | { field: string; value: string | number | boolean } } | { error: string } {
  if (by === 'user') return userId.trim() ? { by: { userId: userId.trim() } } : { error: 'Choose the user whose records are erased.' };
  if (!field) return { error: 'Choose the field to look in.' };
  if (text.trim() === '') return { error: 'Enter the value to look for.' };
  if (field.type === 'integer' || field.type === 'decimal') {
    const n = Number(text.trim());
    return Number.isFinite(n) ? { by: { field: field.name, value: n } } : { error: `${field.name} holds numbers: enter a number.` };
  }
  if (field.type === 'boolean') {
    const t = text.trim();
    return t === 'true' || t === 'false' ? { by: { field: field.name, value: t === 'true' } } : { error: `${field.name} holds true or false.` };
  }
  return { by: { field: field.name, value: text.trim() } };
}

/** Fields an erasure can look a value up in: plain values (not member lists or JSON). */
export function searchableFields(fields: readonly FieldDef[]): FieldDef[] {
  return fields.filter((f) => f.type !== 'members' && f.type !== 'json');
}
