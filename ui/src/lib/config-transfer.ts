// The configuration screen's client logic (pure; unit-tested in test/ui/config-transfer.test.ts): the diff as
// POST /api/admin/config/import answers it (DATA-5), in words, and the server's refusals explained.
import { ApiError, describeError } from './api';

export type Format = 'json' | 'yaml';

export interface FieldChange {
  field: string;
  from?: unknown;
  to?: unknown;
}

export interface SectionDiff {
  inFile: boolean;
  added: string[];
  changed: Array<{ name: string; changes: FieldChange[] }>;
  removed: string[];
  kept: string[];
}

export const SECTIONS = ['collections', 'roles', 'departments', 'grants', 'settings', 'ipRules'] as const;
export type Section = (typeof SECTIONS)[number];

export interface ConfigDiff {
  sections: Record<Section, SectionDiff>;
  missingSecrets: string[];
  total: number;
}

export interface ImportAnswer {
  dryRun: boolean;
  digest: string;
  diff: ConfigDiff;
}

export const SECTION_LABEL: Record<Section, string> = {
  collections: 'Collections',
  roles: 'Roles',
  departments: 'Departments',
  grants: 'Grants',
  settings: 'Settings',
  ipRules: 'IP rules',
};

/** The format a file's name says, as the server reads it: .yaml and .yml are YAML, anything else JSON. */
export const formatOf = (fileName: string): Format => (/\.ya?ml$/i.test(fileName) ? 'yaml' : 'json');

/** The largest file the screen sends (the server's own bound is 2,000,000 characters, and BODY_LIMIT). */
export const MAX_FILE_BYTES = 2_000_000;

const shown = (v: unknown): string => {
  if (v === undefined) return '(none)';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 79)}…` : s;
};

/** One field's change in words: "sessionValidity: 28800 → 14400", "fields.priority added". */
export function changeText(c: FieldChange): string {
  if (c.from === undefined) return `${c.field} added`;
  if (c.to === undefined) return `${c.field} removed`;
  return `${c.field}: ${shown(c.from)} → ${shown(c.to)}`;
}

/** A section's counts in words. */
export function sectionSummary(s: SectionDiff): string {
  if (!s.inFile && s.removed.length === 0) return 'Not in the file: left as it is.';
  const n = s.added.length + s.changed.length + s.removed.length;
  if (n === 0) return 'No change.';
  const parts = [
    s.added.length ? `${s.added.length} added` : '',
    s.changed.length ? `${s.changed.length} changed` : '',
    s.removed.length ? `${s.removed.length} removed` : '',
  ];
  return `${parts.filter(Boolean).join(', ')}.`;
}

/** The whole diff in one sentence. */
export function diffSummary(d: ConfigDiff): string {
  return d.total === 0 ? 'The file matches this environment: importing it changes nothing.' : `${d.total} change${d.total === 1 ? '' : 's'}.`;
}

/** The server's refusals in words; CONFIG_INVALID's problems are listed apart (`problemsOf`). */
export function configMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'FORBIDDEN') return 'Only administrators may export or import the configuration.';
    if (e.code === 'CONFIG_INVALID') return 'The file is not a valid configuration document. Nothing was changed:';
    if (e.code === 'CONFIG_VERSION_UNSUPPORTED') return 'The file has a version this server does not read (it reads version 1). Nothing was changed.';
    if (e.code === 'CONFIG_TOO_LARGE' || e.code === 'PAYLOAD_TOO_LARGE')
      return 'The file is too large to import here. Nothing was changed; import it with palisade config import on the server.';
    if (e.code === 'SELF_LOCKOUT')
      return 'Importing this file would block your own address from the admin pages (its IP rules or allowed countries). Nothing was changed.';
  }
  return describeError(e);
}

/** The problems a CONFIG_INVALID refusal lists, each naming its section. */
export function problemsOf(e: unknown): string[] {
  if (!(e instanceof ApiError) || e.code !== 'CONFIG_INVALID') return [];
  const p = (e.details as { problems?: unknown } | undefined)?.problems;
  return Array.isArray(p) ? p.map(String) : [];
}
