/**
 * The environment as a configuration document: what export writes and what an import is compared with.
 * Deterministic (sorted where storage order is not meaningful), so that an export imported elsewhere
 * exports the same document again. Write-only settings appear only as secret names.
 */
import type { Db } from '../db/index.js';
import type { SettingsArea, SettingsStore } from '../config/settings.js';
import { secretNameOf } from '../config/settings.js';
import type { CollectionRegistry } from '../collections/registry.js';
import type { AccessStore } from '../access/grants.js';
import { providerOf } from '../auth/sso/providers.js';
import { entryOf, type ProviderEntry } from '../auth/sso/entry.js';
import { CONFIG_VERSION, type ConfigDocument, type IpRuleEntry, type SecretRef } from './document.js';

/** What reading the environment needs; every read goes through `db` when given (inside a transaction). */
export interface Readers {
  collections: CollectionRegistry;
  access: AccessStore;
  settings: SettingsStore;
  areas: readonly SettingsArea[];
  db: Db;
}

/** Stable JSON: object keys sorted, for comparing and ordering values. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Every area's effective value (env seed and stored override), without its write-only fields. */
export async function currentSettings(r: Pick<Readers, 'settings' | 'areas'>): Promise<Record<string, Record<string, unknown>>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const area of r.areas) {
    const value = { ...((await r.settings.get(area)) as Record<string, unknown>) };
    for (const f of area.writeOnly) delete value[f];
    out[area.key] = value;
  }
  return out;
}

export async function currentIpRules(db: Db): Promise<IpRuleEntry[]> {
  const rows = await db.selectFrom('ip_rules').select(['action', 'cidr', 'scope', 'note']).execute();
  return rows
    .map((r) => ({ action: r.action as IpRuleEntry['action'], cidr: r.cidr, scope: r.scope as IpRuleEntry['scope'], ...(r.note ? { note: r.note } : {}) }))
    .sort((a, b) => canonical([a.scope, a.action, a.cidr]).localeCompare(canonical([b.scope, b.action, b.cidr])));
}

/** The identity providers, by slug; their client secrets by name only. */
export async function currentProviders(db: Db): Promise<ProviderEntry[]> {
  return (await db.selectFrom('identity_providers').selectAll().orderBy('slug').execute()).map((r) => entryOf(providerOf(r)));
}

/** The secrets a configuration refers to: every one set, and the settings' write-only fields even while unset. */
export function secretRefs(areas: readonly SettingsArea[], store: ReadonlyArray<{ name: string; usedBy: string | null; set: boolean }>): SecretRef[] {
  const written = new Set(areas.flatMap((a) => a.writeOnly.map((f) => secretNameOf(a, f))));
  return store
    .filter((s) => s.set || written.has(s.name))
    .map((s) => ({ name: s.name, ...(s.usedBy ? { usedBy: s.usedBy } : {}), set: s.set }))
    .sort(byName);
}

/** The whole configuration of the environment; `secrets` from `secretRefs` (the store is read outside any transaction). */
export async function currentDocument(r: Readers, secrets: SecretRef[]): Promise<ConfigDocument> {
  const collections = (await r.collections.list(r.db)).sort(byName);
  const model = await r.access.exportModel();
  const roles = model.roles.map((x) => ({ ...x, permissions: [...(x.permissions ?? [])].sort(), menus: [...(x.menus ?? [])].sort() })).sort(byName);
  const departments = model.departments.map((d) => ({ ...d, roles: [...d.roles].sort() })).sort(byName);
  const grants = [...model.grants].sort((a, b) => canonical(a).localeCompare(canonical(b)));
  return {
    version: CONFIG_VERSION,
    collections,
    roles,
    departments,
    grants,
    settings: await currentSettings(r),
    ipRules: await currentIpRules(r.db),
    secrets,
    identityProviders: await currentProviders(r.db),
  };
}
