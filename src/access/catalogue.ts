/**
 * What one caller may do with one collection, as a client shows it (the data browser's home): the
 * actions their grants give, and per field whether they may read, filter, create or update it. Built
 * from the same plans and rules as every records request (pure: no database), never from the raw
 * definition: a field the caller knows nothing of is absent, and so is a collection without a grant.
 */
import { classOf, grantedFields, isClassSecret, ownershipField, type CollectionDef, type DataClass, type FieldDef } from '../collections/schema.js';
import { fieldsOf, planOf, type Asker } from './plan.js';
import { bypassesOwnership, knownFields, readableUnder } from './rules.js';
import { ACTIONS, type Action, type Grant } from './types.js';

export interface CatalogueField {
  name: string;
  type: FieldDef['type'];
  required: boolean;
  unique: boolean;
  values?: string[];
  target?: string;
  /** A file field's upload rules, so that a client can say what an upload takes before sending it (DATA-3). */
  file?: {
    multiple: boolean;
    accept: string[] | null;
    maxBytes: number | null;
    maxFiles: number | null;
    maxPixels: number | null;
    versions: number;
    /** An upload may ask to keep its metadata (ASVS V14.2.8). */
    keepMetadata: boolean;
  };
  /** The protection level (D431): a client masks a secret value until asked to show it. */
  classification: DataClass;
  /** Readable on some record the caller sees. */
  read: boolean;
  /** Readable on every record the caller sees: may be filtered and sorted on. */
  filter: boolean;
  create: boolean;
  update: boolean;
}

export interface CatalogueEntry {
  name: string;
  actions: Action[];
  fields: CatalogueField[];
}

/** The fields the grants for one write action let the caller write (the ownership field only for its bypass roles). */
function writableUnder(def: CollectionDef, grants: readonly Grant[], action: Action): Set<string> {
  const of = ownershipField(def);
  const out = new Set<string>();
  for (const g of grants) {
    if (!g.actions.includes(action)) continue;
    for (const n of grantedFields(def, g.fields)) if (!(of && n === of.name && !bypassesOwnership(def, g))) out.add(n);
  }
  return out;
}

/** The caller's view of one collection, or null when no grant of theirs names it. */
export function catalogueEntry(def: CollectionDef, who: Asker, grants: readonly Grant[], now: number): CatalogueEntry | null {
  let actions: Action[];
  let read: ReadonlySet<string>;
  let filter: ReadonlySet<string>;
  let create: Set<string>;
  let update: Set<string>;
  let known: Set<string>;
  if (who.admin) {
    actions = [...ACTIONS];
    read = readableUnder(def, null, who.roles);
    filter = new Set([...read].filter((n) => !def.fields.some((x) => x.name === n && isClassSecret(x))));
    create = new Set(def.fields.map((f) => f.name));
    update = create;
    known = new Set([...read]);
  } else {
    if (grants.length === 0) return null;
    actions = ACTIONS.filter((a) => grants.some((g) => g.actions.includes(a)));
    const view = grants.filter((g) => g.actions.includes('view'));
    const f = fieldsOf(planOf(def, who, grants, 'view', view, now));
    read = f.anyReadable;
    filter = f.filterable;
    create = writableUnder(def, grants, 'create');
    update = writableUnder(def, grants, 'update');
    known = knownFields(def, grants, who.roles);
  }
  const fields = def.fields
    .filter((x) => known.has(x.name) || read.has(x.name) || create.has(x.name) || update.has(x.name))
    .filter((x) => !who.admin || read.has(x.name) || x.hidden === undefined || x.hidden === false)
    .map(
      (x): CatalogueField => ({
        name: x.name,
        type: x.type,
        required: x.required === true,
        unique: x.unique === true,
        ...(x.values ? { values: [...x.values] } : {}),
        ...(x.target ? { target: x.target } : {}),
        ...(x.type === 'file'
          ? {
              file: {
                multiple: x.multiple === true,
                accept: x.accept ? [...x.accept] : null,
                maxBytes: x.maxBytes ?? null,
                maxFiles: x.maxFiles ?? null,
                maxPixels: x.maxPixels ?? null,
                versions: x.versions ?? 0,
                keepMetadata: x.keepMetadata === true,
              },
            }
          : {}),
        classification: classOf(x),
        read: read.has(x.name),
        filter: filter.has(x.name),
        create: actions.includes('create') && create.has(x.name),
        update: actions.includes('update') && update.has(x.name),
      }),
    );
  return { name: def.name, actions, fields };
}
