/**
 * The security settings forms, generated from GET /api/admin/settings: each area lists its fields with
 * the schema PATCH takes (description, default, bounds), a unit and whether the field is a write-only
 * secret. Here: what kind of input a field gets, how a value is shown in it and read back from it.
 * Nothing here knows an area by name: a new area on the server appears in the UI as it is.
 */

export interface FieldSchema {
  type?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  pattern?: string;
  default?: unknown;
  description?: string;
  anyOf?: Array<{ const?: unknown }>;
  items?: FieldSchema;
}

export interface SettingsField {
  name: string;
  schema: FieldSchema;
  writeOnly: boolean;
  unit?: string;
  sentWith?: string[];
}

export interface SettingsAreaInfo {
  key: string;
  label: string;
  description: string;
  path: string;
  fields: SettingsField[];
  value: Record<string, unknown>;
}

export type FieldKind = 'boolean' | 'integer' | 'number' | 'choice' | 'text' | 'secret' | 'list' | 'json';

export function kindOf(f: SettingsField): FieldKind {
  const s = f.schema;
  if (f.writeOnly) return 'secret';
  if (Array.isArray(s.anyOf) && s.anyOf.every((x) => x.const !== undefined)) return 'choice';
  if (s.type === 'boolean') return 'boolean';
  if (s.type === 'integer') return 'integer';
  if (s.type === 'number') return 'number';
  if (s.type === 'string') return 'text';
  if (s.type === 'array' && s.items?.type === 'string') return 'list';
  return 'json';
}

export function choicesOf(f: SettingsField): string[] {
  return (f.schema.anyOf ?? []).map((x) => String(x.const));
}

/** "maxAttempts" -> "Max attempts"; "allowedCountries" -> "Allowed countries"; "authPerIp" -> "Auth per IP". */
export function labelOf(name: string): string {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(' ')
    .map((w) => (/^(ip|mfa|url|api|pow)$/i.test(w) ? w.toUpperCase() : w.toLowerCase()));
  const s = words.join(' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const UNIT_WORDS: Record<string, string[]> = { seconds: ['s', 'sec', 'secs'], milliseconds: ['ms'], minutes: ['min', 'mins'] };

/**
 * A field's label with its unit in brackets, unless the label already ends with it: "Window (seconds)",
 * but "Security days", not "Security days (days)".
 */
export function labelWithUnit(f: Pick<SettingsField, 'name' | 'unit'>): string {
  const label = labelOf(f.name);
  if (!f.unit) return label;
  const unit = f.unit.toLowerCase();
  const last = label.split(' ').pop()?.toLowerCase() ?? '';
  const same = [unit, unit.replace(/s$/, ''), ...(UNIT_WORDS[unit] ?? [])];
  return same.includes(last) ? label : `${label} (${f.unit})`;
}

/** "token policy" -> "Token policy"; "API keys" stays. */
export function titleOf(label: string): string {
  return label.charAt(0).toUpperCase() + label.slice(1);
}

/** The text an input shows for a value (lists: one item a line; other structures: JSON). */
export function toInput(f: SettingsField, v: unknown): string | boolean {
  const kind = kindOf(f);
  if (kind === 'secret') return '';
  if (kind === 'boolean') return v === true;
  if (kind === 'list') return Array.isArray(v) ? v.join('\n') : '';
  if (kind === 'json') return JSON.stringify(v ?? null, null, 2);
  return v === undefined || v === null ? '' : String(v);
}

/**
 * The value an input's text stands for, in the type the schema asks (the server checks the bounds and
 * answers with the field's message). A text that cannot be read as that type: `{ error }`.
 */
export function fromInput(f: SettingsField, raw: string | boolean): { value: unknown } | { error: string } {
  const kind = kindOf(f);
  if (kind === 'boolean') return { value: raw === true };
  const text = String(raw);
  switch (kind) {
    case 'integer': {
      if (!/^-?\d+$/.test(text.trim())) return { error: 'Enter a whole number.' };
      return { value: Number(text.trim()) };
    }
    case 'number': {
      const n = Number(text.trim());
      if (text.trim() === '' || !Number.isFinite(n)) return { error: 'Enter a number.' };
      return { value: n };
    }
    case 'list':
      return {
        value: text
          .split(/[\n,]/)
          .map((x) => x.trim())
          .filter(Boolean),
      };
    case 'json':
      try {
        return { value: JSON.parse(text) };
      } catch {
        return { error: 'Enter valid JSON.' };
      }
    default:
      return { value: text };
  }
}

/** A value in words for the "Default" hint: booleans as on/off, lists joined, empty text as "(empty)". */
export function describeValue(v: unknown): string {
  if (v === true) return 'on';
  if (v === false) return 'off';
  if (Array.isArray(v)) return v.length === 0 ? '(none)' : v.every((x) => typeof x === 'string') ? v.join(', ') : JSON.stringify(v);
  if (v === '') return '(empty)';
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A number of seconds in words, beside the field ("900 = 15 min"). */
export function humanSeconds(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '';
  const units: Array<[number, string]> = [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'min'],
    [1, 's'],
  ];
  const parts: string[] = [];
  let rest = Math.floor(n);
  for (const [size, name] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)} ${name}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** The bounds in words: "1 to 100", "at least 60", "up to 200 characters". */
export function boundsOf(f: SettingsField): string {
  const s = f.schema;
  const unit = f.unit ? ` ${f.unit}` : '';
  if (s.minimum !== undefined && s.maximum !== undefined) return `${s.minimum} to ${s.maximum}${unit}`;
  if (s.minimum !== undefined) return `at least ${s.minimum}${unit}`;
  if (s.maximum !== undefined) return `at most ${s.maximum}${unit}`;
  if (s.type === 'string' && s.maxLength !== undefined) return `${s.minLength ? `${s.minLength} to ` : 'up to '}${s.maxLength} characters`;
  if (s.type === 'array' && s.maxItems !== undefined) return `up to ${s.maxItems} items`;
  return '';
}

/** "/maxAttempts" or "/customRules/0/pattern" -> "maxAttempts" / "customRules". */
export function fieldOfPath(path: string | undefined): string {
  return (path ?? '').replace(/^\//, '').split('/')[0] ?? '';
}
