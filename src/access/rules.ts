/**
 * The access rules, each written once (pure: no database, no HTTP). The plan compiler (`plan.ts`) and
 * the "nobody grants more than they hold" check (`principal.ts`) both build on these.
 */
import { grantedFields, isSystemField, type CollectionDef, type FieldDef } from '../collections/schema.js';
import type { Action, Grant } from './types.js';

export const READ_ACTIONS: readonly Action[] = ['view', 'export'];
export const WRITE_ACTIONS: readonly Action[] = ['create', 'update', 'import'];

/** Backend-only fields never leave the server, except to the roles a field lists. */
export function visibleTo(f: FieldDef, roles: readonly string[]): boolean {
  if (f.hidden === undefined || f.hidden === false) return true;
  if (f.hidden === true) return false;
  return f.hidden.exceptRoles.some((r) => roles.includes(r));
}

/** The fields a grant lets these roles read (null: every field, for a bypass), backend-only ones left out. */
export function readableUnder(def: CollectionDef, g: Grant | null, roles: readonly string[]): Set<string> {
  const names = g ? grantedFields(def, g.fields) : new Set(def.fields.map((f) => f.name));
  return new Set([...names].filter((n) => visibleTo(def.fields.find((f) => f.name === n)!, roles)));
}

/**
 * The fields that may be filtered, sorted, searched, grouped or measured on: those readable under
 * every one of `readSets` (one per grant that lets the caller see rows), so that no filter tells
 * anything about a value the caller cannot read on some row they see. No grant: no field.
 */
export function filterableOf(readSets: ReadonlyArray<ReadonlySet<string>>): Set<string> {
  if (readSets.length === 0) return new Set();
  return new Set([...readSets[0]!].filter((f) => readSets.every((x) => x.has(f))));
}

export { isSystemField };

/** Whether a grant's role is on the collection's ownership bypass list. */
export const bypassesOwnership = (def: CollectionDef, g: Grant): boolean => (def.ownershipBypass ?? []).includes(g.role);

/** Whether the collection's ownership mode adds its row filter to this grant. */
export const ownedBy = (def: CollectionDef, g: Grant): boolean => !!def.ownership && !bypassesOwnership(def, g);

/**
 * Whether grant `h` reaches every row grant `g` reaches, on scope and statuses: `h` has no scope or
 * the same one, and no status list or one that holds all of `g`'s. (Ownership is the caller's to add.)
 */
export function rowsCover(h: Pick<Grant, 'scope' | 'statuses'>, g: Pick<Grant, 'scope' | 'statuses'>): boolean {
  return (
    (h.scope === null || JSON.stringify(h.scope) === JSON.stringify(g.scope)) &&
    (h.statuses === null || (g.statuses?.every((s) => h.statuses!.includes(s)) ?? false))
  );
}

/** The fields a scope filter names (keys that are not operators), anywhere in it. */
export function scopeFields(node: unknown, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(node)) for (const n of node) scopeFields(n, out);
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if (!k.startsWith('$')) out.add(k);
      scopeFields(v, out);
    }
  }
  return out;
}

/** The fields a caller's grants (any action) let them read or write: the fields they know exist. */
export function knownFields(def: CollectionDef, grants: readonly Grant[], roles: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const g of grants) {
    const writes = g.actions.some((a) => WRITE_ACTIONS.includes(a));
    const reads = g.actions.some((a) => READ_ACTIONS.includes(a));
    for (const n of grantedFields(def, g.fields)) if (writes || (reads && visibleTo(def.fields.find((f) => f.name === n)!, roles))) out.add(n);
  }
  return out;
}

/** The fields a caller reads on every record: those of a view grant without scope, statuses or ownership filter. */
export function wholeView(def: CollectionDef, grants: readonly Grant[], roles: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const g of grants) {
    if (!g.actions.includes('view') || g.scope !== null || g.statuses !== null || ownedBy(def, g)) continue;
    for (const n of readableUnder(def, g, roles)) out.add(n);
  }
  return out;
}
