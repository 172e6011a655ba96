/**
 * The configuration document (DATA-5): what `palisade config export` writes and `config import` reads.
 * JSON or YAML, `version: 1`, strictly validated: unknown keys refused everywhere, sizes bounded, no
 * prototype keys, no NUL. A write-only setting (a secret) has no place in it: only its secret-store name.
 */
import YAML from 'yaml';
import { parseStructured, StructuredTextError } from '../util/structured.js';
import { AppError } from '../errors.js';
import { textProblem } from '../util/text.js';
import type { CollectionDef } from '../collections/schema.js';
import type { AccessModel, GrantInput } from '../access/grants.js';
import { parseSchemaFile } from '../records/schema-file.js';
import { parseCidr } from '../edge/ip.js';
import { nameProblem } from '../secrets/names.js';
import type { SettingsArea } from '../config/settings-area.js';
import { providerProblems } from '../auth/sso/schema.js';
import type { ProviderEntry } from '../auth/sso/entry.js';

export const CONFIG_VERSION = 1;
export type Format = 'json' | 'yaml';

/** Bounds: a document is an administrator's file, never a way to make the server parse without end. */
export const LIMITS = Object.freeze({
  chars: 2_000_000,
  depth: 32,
  collections: 500,
  roles: 1000,
  departments: 1000,
  grants: 10_000,
  ipRules: 2000,
  secrets: 1000,
  identityProviders: 100,
  note: 200,
});

export interface IpRuleEntry {
  action: 'allow' | 'block';
  cidr: string;
  scope: 'all' | 'admin';
  note?: string;
}

/** A secret the configuration refers to, by name: never its value. `set` says whether the exporting side had it. */
export interface SecretRef {
  name: string;
  usedBy?: string;
  set?: boolean;
}

export interface ConfigDocument {
  version: typeof CONFIG_VERSION;
  collections?: CollectionDef[];
  roles?: AccessModel['roles'];
  departments?: AccessModel['departments'];
  grants?: GrantInput[];
  /** Area key to fields; write-only fields never appear (see `secrets`). */
  settings?: Record<string, Record<string, unknown>>;
  ipRules?: IpRuleEntry[];
  secrets?: SecretRef[];
  /** Single sign-on providers (AUTH-13): every setting; the client secret by its secret-store name only. */
  identityProviders?: ProviderEntry[];
}

export const SECTIONS = ['version', 'collections', 'roles', 'departments', 'grants', 'settings', 'ipRules', 'secrets', 'identityProviders'] as const;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The generic input bounds of the HTTP pipeline, for a document that did not come through it (the CLI, a string body). */
function boundsProblems(v: unknown, depth: number, path: string, out: string[]): void {
  if (out.length >= 20) return;
  if (typeof v === 'string') {
    const p = textProblem(v);
    if (p) out.push(`${path || '/'}: ${p === 'nul' ? 'a NUL character' : 'text that is not well-formed Unicode'}`);
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  if (depth > LIMITS.depth) {
    out.push(`${path || '/'}: nested more than ${LIMITS.depth} levels`);
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    if (FORBIDDEN_KEYS.has(k) || textProblem(k) !== null) out.push(`${path}/${k.split('\u0000').join('\\0')}: a forbidden key`);
    else boundsProblems(x, depth + 1, `${path}/${k}`, out);
  }
}

const invalid = (problems: string[]) => new AppError('CONFIG_INVALID', { problems: problems.slice(0, 50) });

/** Text into a document, or CONFIG_TOO_LARGE / CONFIG_VERSION_UNSUPPORTED / CONFIG_INVALID listing every problem. */
export function parseConfigDocument(text: string, format: Format, areas: readonly SettingsArea[]): ConfigDocument {
  if (text.length > LIMITS.chars) throw new AppError('CONFIG_TOO_LARGE', { maxChars: LIMITS.chars });
  let doc: unknown;
  try {
    doc = parseStructured(text, format);
  } catch (e) {
    if (e instanceof StructuredTextError) throw invalid([e.message]);
    throw e;
  }
  return checkConfigDocument(doc, areas);
}

/** Checks a parsed document; returns it typed, or throws with every problem found. */
export function checkConfigDocument(doc: unknown, areas: readonly SettingsArea[]): ConfigDocument {
  if (!isObj(doc)) throw invalid(['the document must be an object with "version": 1']);
  const problems: string[] = [];
  boundsProblems(doc, 0, '', problems);
  if (problems.length > 0) throw invalid(problems);
  if (!('version' in doc)) throw invalid(['"version" is required (1)']);
  if (doc.version !== CONFIG_VERSION)
    throw new AppError('CONFIG_VERSION_UNSUPPORTED', { version: String(doc.version).slice(0, 20), supported: [CONFIG_VERSION] });
  for (const k of Object.keys(doc)) if (!(SECTIONS as readonly string[]).includes(k)) problems.push(`unknown top-level key "${k.slice(0, 60)}"`);
  for (const [key, max] of [
    ['collections', LIMITS.collections],
    ['roles', LIMITS.roles],
    ['departments', LIMITS.departments],
    ['grants', LIMITS.grants],
    ['ipRules', LIMITS.ipRules],
    ['secrets', LIMITS.secrets],
    ['identityProviders', LIMITS.identityProviders],
  ] as const) {
    const v = doc[key];
    if (v === undefined) continue;
    if (!Array.isArray(v)) problems.push(`"${key}" must be a list`);
    else if (v.length > max) throw new AppError('CONFIG_TOO_LARGE', { section: key, max });
  }
  if (problems.length > 0) throw invalid(problems);
  problems.push(...schemaProblems(doc));
  problems.push(...settingsProblems(doc.settings, areas));
  problems.push(...ipRuleProblems(doc.ipRules));
  problems.push(...secretProblems(doc.secrets));
  if (doc.identityProviders !== undefined) problems.push(...providerProblems(doc.identityProviders as unknown[]));
  if (problems.length > 0) throw invalid(problems);
  return doc as unknown as ConfigDocument;
}

/** Collections, roles, departments and grants: the schema file's own strict rules (records/schema-file.ts). */
function schemaProblems(doc: Record<string, unknown>): string[] {
  const part: Record<string, unknown> = { collections: doc.collections ?? [] };
  for (const k of ['roles', 'departments', 'grants'] as const) if (doc[k] !== undefined) part[k] = doc[k];
  try {
    parseSchemaFile(JSON.stringify(part), 'config.json');
    return [];
  } catch (e) {
    if (e instanceof AppError && e.code === 'SCHEMA_INVALID') return ((e.details as { problems?: string[] }).problems ?? []).map(String);
    throw e;
  }
}

function settingsProblems(settings: unknown, areas: readonly SettingsArea[]): string[] {
  if (settings === undefined) return [];
  if (!isObj(settings)) return ['"settings" must be an object of settings areas'];
  const out: string[] = [];
  const byKey = new Map(areas.map((a) => [a.key, a]));
  for (const [key, value] of Object.entries(settings)) {
    const area = byKey.get(key);
    if (!area) {
      out.push(`settings: unknown area "${key.slice(0, 60)}"`);
      continue;
    }
    if (!isObj(value)) {
      out.push(`settings.${key}: must be an object of fields`);
      continue;
    }
    for (const f of Object.keys(value)) {
      if (area.writeOnly.includes(f))
        out.push(`settings.${key}.${f}: write-only, never read from a file; set the secret "${key}.${f}" in the secret store instead`);
      else if (!(f in area.schema.properties)) out.push(`settings.${key}: unknown field "${f.slice(0, 60)}"`);
    }
  }
  return out;
}

function ipRuleProblems(rules: unknown): string[] {
  if (rules === undefined) return [];
  const out: string[] = [];
  const seen = new Set<string>();
  for (const [i, r] of (rules as unknown[]).entries()) {
    const at = `ipRules[${i}]`;
    if (!isObj(r)) {
      out.push(`${at}: must be an object`);
      continue;
    }
    for (const k of Object.keys(r)) if (!['action', 'cidr', 'scope', 'note'].includes(k)) out.push(`${at}: unknown key "${k.slice(0, 60)}"`);
    if (r.action !== 'allow' && r.action !== 'block') out.push(`${at}: "action" is allow or block`);
    if (r.scope !== 'all' && r.scope !== 'admin') out.push(`${at}: "scope" is all or admin`);
    if (r.note !== undefined && !(typeof r.note === 'string' && r.note.length <= LIMITS.note))
      out.push(`${at}: "note" is text of at most ${LIMITS.note} characters`);
    const range = typeof r.cidr === 'string' && r.cidr.length <= 64 ? parseCidr(r.cidr) : null;
    if (!range) out.push(`${at}: "cidr" must be an IPv4 or IPv6 address or CIDR range`);
    else if (range.text !== r.cidr) out.push(`${at}: write the range as ${range.text}`);
    else {
      const key = `${String(r.action)} ${range.text} ${String(r.scope)}`;
      if (seen.has(key)) out.push(`${at}: ${key} is listed twice`);
      seen.add(key);
    }
  }
  return out;
}

function secretProblems(refs: unknown): string[] {
  if (refs === undefined) return [];
  const out: string[] = [];
  const seen = new Set<string>();
  for (const [i, r] of (refs as unknown[]).entries()) {
    const at = `secrets[${i}]`;
    if (!isObj(r)) {
      out.push(`${at}: must be an object with a "name"`);
      continue;
    }
    // A value has no key to go in: a file that carries one is refused rather than half read.
    for (const k of Object.keys(r))
      if (!['name', 'usedBy', 'set'].includes(k))
        out.push(`${at}: unknown key "${k.slice(0, 60)}" (secrets are referred to by name; values are never imported)`);
    if (typeof r.name !== 'string' || nameProblem(r.name) !== null) out.push(`${at}: "name" must be a secret name`);
    else if (seen.has(r.name)) out.push(`${at}: ${r.name} is listed twice`);
    else seen.add(r.name);
    if (r.usedBy !== undefined && !(typeof r.usedBy === 'string' && r.usedBy.length <= 200)) out.push(`${at}: "usedBy" is text`);
    if (r.set !== undefined && typeof r.set !== 'boolean') out.push(`${at}: "set" is true or false`);
  }
  return out;
}

/** The document as text; JSON with two-space indents, or YAML. */
export function formatConfigDocument(doc: ConfigDocument, format: Format): string {
  return format === 'yaml' ? YAML.stringify(doc, { aliasDuplicateObjects: false }) : `${JSON.stringify(doc, null, 2)}\n`;
}

/** The format a file name says (.yaml, .yml), else JSON. */
export const formatOfName = (name: string): Format => (/\.ya?ml$/i.test(name) ? 'yaml' : 'json');
