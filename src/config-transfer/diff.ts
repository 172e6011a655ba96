/**
 * What an import would change, section by section: added, changed (per field, from and to) and removed,
 * and what stays because the file does not list it. Pure: it compares two documents.
 */
import { auditOptionsOf, type CollectionDef, type FieldDef } from '../collections/schema.js';
import type { GrantInput } from '../access/grants.js';
import { canonical } from './current.js';
import type { ConfigDocument, IpRuleEntry } from './document.js';
import { entryOf, inputOf, type ProviderEntry } from '../auth/sso/entry.js';

export interface FieldChange {
  field: string;
  /** Absent: the field is new. Settings values are never secrets: write-only fields are not in documents. */
  from?: unknown;
  /** Absent: the field goes. */
  to?: unknown;
}

export interface ItemChange {
  name: string;
  changes: FieldChange[];
}

export interface SectionDiff {
  /** Whether the file has the section; a section it lacks is left as it is. */
  inFile: boolean;
  added: string[];
  changed: ItemChange[];
  removed: string[];
  /** Here but not in the file, and left as they are (without `prune`; collections always). */
  kept: string[];
}

export const DIFF_SECTIONS = ['collections', 'roles', 'departments', 'grants', 'settings', 'ipRules', 'identityProviders'] as const;
export type DiffSection = (typeof DIFF_SECTIONS)[number];

export interface ConfigDiff {
  sections: Record<DiffSection, SectionDiff>;
  /** Secrets the file refers to that are not set here: set them (`palisade secrets set NAME`); values are never imported. */
  missingSecrets: string[];
  /** How many items are added, changed or removed in all. */
  total: number;
}

const empty = (inFile: boolean): SectionDiff => ({ inFile, added: [], changed: [], removed: [], kept: [] });

/** A field definition without the options that mean their default, for comparing. */
export function normalField(f: FieldDef): Record<string, unknown> {
  const out: Record<string, unknown> = { ...f };
  for (const k of ['required', 'unique', 'indexed', 'sensitive', 'hidden', 'multiple'] as const) if (out[k] === false) delete out[k];
  if (out.default === null) delete out.default;
  return out;
}

const ownershipOf = (c: CollectionDef) => ({ ownership: c.ownership ?? null, ownershipBypass: [...(c.ownershipBypass ?? [])].sort() });

/** Whether two definitions mean the same (field order and options at their defaults aside). */
export function sameCollection(a: CollectionDef, b: CollectionDef): boolean {
  const fields = (c: CollectionDef) => canonical([...c.fields].sort((x, y) => (x.name < y.name ? -1 : 1)).map(normalField));
  return fields(a) === fields(b) && canonical(auditOptionsOf(a)) === canonical(auditOptionsOf(b)) && canonical(ownershipOf(a)) === canonical(ownershipOf(b));
}

function collectionChanges(was: CollectionDef, next: CollectionDef, prune: boolean): FieldChange[] {
  const out: FieldChange[] = [];
  for (const f of next.fields) {
    const old = was.fields.find((x) => x.name === f.name);
    if (!old) out.push({ field: `fields.${f.name}`, to: f });
    else if (canonical(normalField(old)) !== canonical(normalField(f))) out.push({ field: `fields.${f.name}`, from: old, to: f });
  }
  if (prune) for (const f of was.fields) if (!next.fields.some((x) => x.name === f.name)) out.push({ field: `fields.${f.name}`, from: f });
  for (const [k, from, to] of [
    ['ownership', ownershipOf(was).ownership, ownershipOf(next).ownership],
    ['ownershipBypass', ownershipOf(was).ownershipBypass, ownershipOf(next).ownershipBypass],
    ['audit', auditOptionsOf(was), auditOptionsOf(next)],
  ] as const)
    if (canonical(from) !== canonical(to)) out.push({ field: k, from, to });
  return out;
}

/** Items keyed by name: added, changed property by property, removed with `prune` (else kept). */
function keyed<T extends { name: string }>(here: T[], file: T[] | undefined, prune: boolean, view: (x: T) => Record<string, unknown>): SectionDiff {
  if (!file) return empty(false);
  const d = empty(true);
  const now = new Map(here.map((x) => [x.name, x]));
  for (const x of file) {
    const was = now.get(x.name);
    if (!was) {
      d.added.push(x.name);
      continue;
    }
    const a = view(was);
    const b = view(x);
    const changes = Object.keys({ ...a, ...b })
      .filter((k) => canonical(a[k]) !== canonical(b[k]))
      .map((k) => ({ field: k, from: a[k], to: b[k] }));
    if (changes.length > 0) d.changed.push({ name: x.name, changes });
  }
  for (const x of here) if (!file.some((y) => y.name === x.name)) (prune ? d.removed : d.kept).push(x.name);
  return d;
}

const roleView = (r: NonNullable<ConfigDocument['roles']>[number]) => ({
  description: r.description ?? null,
  permissions: [...new Set(r.permissions ?? [])].sort(),
  menus: [...new Set(r.menus ?? [])].sort(),
});
const deptView = (d: NonNullable<ConfigDocument['departments']>[number]) => ({ description: d.description ?? null, roles: [...new Set(d.roles)].sort() });

function grantKey(g: GrantInput): string {
  return canonical({
    ...g,
    actions: [...new Set(g.actions)].sort(),
    fields: [...new Set(g.fields)].sort(),
    statuses: g.statuses ?? null,
    scope: g.scope ?? null,
  });
}
export function grantName(g: GrantInput): string {
  const extra = [g.statuses ? `statuses ${g.statuses.join(', ')}` : '', g.scope ? `scope ${canonical(g.scope)}` : ''].filter(Boolean).join('; ');
  return `${g.role} on ${g.collection}: ${[...g.actions].join(', ')} (${g.fields.join(', ') || 'no fields'})${extra ? `; ${extra}` : ''}`;
}

/**
 * Grants as `schema apply` treats them: each role in the file gets exactly the file's grants; with `prune`
 * the roles it removes lose theirs; other roles' grants stay.
 */
function grantDiff(here: GrantInput[], doc: ConfigDocument, prune: boolean): SectionDiff {
  if (!doc.roles) return empty(false);
  const d = empty(true);
  const fileRoles = new Set(doc.roles.map((r) => r.name));
  const pool = new Map<string, GrantInput[]>();
  for (const g of here) pool.set(grantKey(g), [...(pool.get(grantKey(g)) ?? []), g]);
  for (const g of doc.grants ?? []) {
    const same = pool.get(grantKey(g));
    if (same && same.length > 0 && fileRoles.has(g.role)) same.pop();
    else d.added.push(grantName(g));
  }
  for (const g of [...pool.values()].flat()) (fileRoles.has(g.role) || prune ? d.removed : d.kept).push(grantName(g));
  return d;
}

const ruleName = (r: IpRuleEntry) => `${r.action} ${r.cidr} (${r.scope})`;

function ipRuleDiff(here: IpRuleEntry[], file: IpRuleEntry[] | undefined, prune: boolean): SectionDiff {
  return keyed(
    here.map((r) => ({ ...r, name: ruleName(r) })),
    file?.map((r) => ({ ...r, name: ruleName(r) })),
    prune,
    (r) => ({ note: r.note ?? null }),
  );
}

function settingsDiff(here: NonNullable<ConfigDocument['settings']>, file: ConfigDocument['settings']): SectionDiff {
  if (!file) return empty(false);
  const d = empty(true);
  for (const [key, fields] of Object.entries(file)) {
    const was = here[key] ?? {};
    const changes = Object.entries(fields)
      .filter(([f, v]) => canonical(was[f]) !== canonical(v))
      .map(([f, v]) => ({ field: f, from: was[f], to: v }));
    if (changes.length > 0) d.changed.push({ name: key, changes });
  }
  return d;
}

/** `here`: the environment's own document (currentDocument); `setSecrets`: the names set in its store. */
export function diffDocuments(here: ConfigDocument, doc: ConfigDocument, prune: boolean, setSecrets: ReadonlySet<string>): ConfigDiff {
  const cols = doc.collections ? empty(true) : empty(false);
  if (doc.collections) {
    const now = new Map((here.collections ?? []).map((c) => [c.name, c]));
    for (const c of doc.collections) {
      const was = now.get(c.name);
      if (!was) cols.added.push(c.name);
      else {
        const changes = collectionChanges(was, c, prune);
        if (changes.length > 0) cols.changed.push({ name: c.name, changes });
      }
    }
    for (const c of here.collections ?? []) if (!doc.collections.some((x) => x.name === c.name)) cols.kept.push(c.name);
  }
  const sections: Record<DiffSection, SectionDiff> = {
    collections: cols,
    roles: keyed(here.roles ?? [], doc.roles, prune, roleView),
    // Departments are pruned with the roles (schema apply): only when the file has roles.
    departments: keyed(here.departments ?? [], doc.roles ? (doc.departments ?? []) : undefined, prune, deptView),
    grants: grantDiff(here.grants ?? [], doc, prune),
    settings: settingsDiff(here.settings ?? {}, doc.settings),
    ipRules: ipRuleDiff(here.ipRules ?? [], doc.ipRules, prune),
    identityProviders: keyed(
      (here.identityProviders ?? []).map((p) => ({ ...providerView(p), name: p.slug })),
      doc.identityProviders?.map((p) => ({ ...providerView(p), name: p.slug })),
      prune,
      ({ name: _, ...rest }) => rest,
    ),
  };
  if (doc.roles && !doc.departments) sections.departments = { ...sections.departments, inFile: false };
  const missingSecrets = (doc.secrets ?? []).map((s) => s.name).filter((n) => !setSecrets.has(n));
  const total = Object.values(sections).reduce((n, s) => n + s.added.length + s.changed.length + s.removed.length, 0);
  return { sections, missingSecrets, total };
}

/** A provider entry with what it leaves out at the store's defaults, so that a file's short form compares equal. */
export function providerView(p: ProviderEntry): Record<string, unknown> {
  const i = inputOf(p);
  const settings =
    p.type === 'ldap'
      ? { type: 'ldap' as const, settings: i.ldap as never }
      : p.type === 'saml' || p.type === 'cas'
        ? { type: p.type, settings: i[p.type] as never }
        : { type: 'oidc' as const, settings: { ...i.oidc!, clientSecretName: i.oidc!.clientSecretName ?? null } as never };
  const { slug: _, ...rest } = entryOf({
    slug: p.slug,
    ...settings,
    displayName: p.displayName,
    enabled: i.enabled!,
    provisioning: i.provisioning!,
    defaultRoles: i.defaultRoles!,
    defaultDepartments: i.defaultDepartments!,
    mappings: i.mappings!,
    emailDomains: i.emailDomains!,
    trustEmail: i.trustEmail!,
    trustMfa: i.trustMfa!,
    createdAt: 0,
    updatedAt: 0,
  });
  return rest;
}
