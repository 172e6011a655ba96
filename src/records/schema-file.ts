import YAML from 'yaml';
import type { EventContext } from '../audit/events.js';
import { AppError } from '../errors.js';
import { deepTextProblem } from '../util/text.js';
import { parseStructured, StructuredTextError } from '../util/structured.js';
import type { CollectionRegistry } from '../collections/registry.js';
import type { AccessModel, AccessStore } from '../access/grants.js';
import { auditOptionsOf, checkCollection, type CollectionDef, type FieldDef } from '../collections/schema.js';

/** A schema file: the collections of an environment and, optionally, its access model (roles, departments, grants). */
export interface SchemaFile extends Partial<AccessModel> {
  collections: CollectionDef[];
}

const KEYS: Record<'roles' | 'departments' | 'grants', readonly string[]> = {
  roles: ['name', 'description', 'permissions', 'menus'],
  departments: ['name', 'description', 'roles'],
  grants: ['role', 'collection', 'actions', 'fields', 'statuses', 'scope'],
};

const FIELD_KEYS = new Set([
  'name',
  'type',
  'required',
  'unique',
  'indexed',
  'default',
  'values',
  'target',
  'hidden',
  'block',
  'sensitive',
  'classification',
  // file fields (DATA-3)
  'multiple',
  'accept',
  'maxBytes',
  'maxFiles',
  'maxPixels',
  'versions',
  'keepMetadata',
]);

/** Parses JSON or YAML strictly: unknown keys anywhere are refused, so a typo cannot silently drop a rule. */
export function parseSchemaFile(text: string, filename: string): SchemaFile {
  let doc: unknown;
  try {
    doc = parseStructured(text, /\.ya?ml$/i.test(filename) ? 'yaml' : 'json');
  } catch (e) {
    if (e instanceof StructuredTextError) throw new AppError('SCHEMA_INVALID', { problems: [`${filename}: ${e.message}`] });
    throw e;
  }
  const problems: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(doc)) throw new AppError('SCHEMA_INVALID', { problems: ['the file must hold an object with "collections"'] });
  const bad = deepTextProblem(doc);
  if (bad) throw new AppError('SCHEMA_INVALID', { problems: [bad === 'nul' ? 'text holds a NUL character' : 'text is not well-formed Unicode'] });
  for (const k of Object.keys(doc)) if (!['collections', 'roles', 'departments', 'grants'].includes(k)) problems.push(`unknown top-level key "${k}"`);
  for (const key of ['roles', 'departments', 'grants'] as const) {
    if (doc[key] === undefined) continue;
    if (!Array.isArray(doc[key])) {
      problems.push(`"${key}" must be a list`);
      continue;
    }
    for (const item of doc[key] as unknown[]) {
      if (!isObj(item)) {
        problems.push(`${key}: each entry must be an object`);
        continue;
      }
      for (const k of Object.keys(item)) if (!KEYS[key].includes(k)) problems.push(`${key} ${String(item.name ?? item.role)}: unknown key "${k}"`);
      const lists = key === 'roles' ? ['permissions', 'menus'] : key === 'departments' ? ['roles'] : ['actions', 'fields'];
      for (const l of lists) {
        const v = item[l];
        if ((v !== undefined || key !== 'roles') && !(Array.isArray(v) && v.every((x) => typeof x === 'string')))
          problems.push(`${key} ${String(item.name ?? item.role)}: "${l}" must be a list of strings`);
      }
      if (typeof (item.name ?? item.role) !== 'string') problems.push(`${key}: each entry needs a name`);
    }
  }
  if ((doc.grants !== undefined || doc.departments !== undefined) && doc.roles === undefined)
    problems.push('"grants" and "departments" come with "roles": the roles whose grants the file defines');
  const cols = doc.collections;
  if (!Array.isArray(cols)) problems.push('"collections" must be a list');
  for (const c of Array.isArray(cols) ? cols : []) {
    if (!isObj(c)) {
      problems.push('a collection must be an object');
      continue;
    }
    for (const k of Object.keys(c))
      if (!['name', 'fields', 'ownership', 'ownershipBypass', 'audit'].includes(k)) problems.push(`collection ${String(c.name)}: unknown key "${k}"`);
    for (const f of Array.isArray(c.fields) ? c.fields : []) {
      if (!isObj(f)) {
        problems.push(`collection ${String(c.name)}: a field must be an object`);
        continue;
      }
      for (const k of Object.keys(f)) if (!FIELD_KEYS.has(k)) problems.push(`collection ${String(c.name)}, field ${String(f.name)}: unknown key "${k}"`);
    }
  }
  if (problems.length > 0) throw new AppError('SCHEMA_INVALID', { problems });
  return doc as unknown as SchemaFile;
}

export interface ApplyResult {
  created: string[];
  fieldsAdded: string[];
  fieldsRemoved: string[];
  /** Present when the file holds an access model. */
  access?: { roles: string[]; departments: string[]; grants: number; removed: string[] };
}

const same = (a: FieldDef, b: FieldDef) => JSON.stringify({ ...a, name: '' }) === JSON.stringify({ ...b, name: '' });

/**
 * Makes the database's collections match the file: creates missing collections, adds missing
 * fields, and with `prune` removes fields the file no longer has. Everything is checked before
 * anything changes; a changed field definition is refused (remove and add it instead).
 */
export async function applySchema(
  reg: CollectionRegistry,
  access: AccessStore,
  file: SchemaFile,
  opts: { prune: boolean },
  ctx: EventContext,
): Promise<ApplyResult> {
  const existing = new Map((await reg.list()).map((c) => [c.name, c]));
  const allNames = new Set([...existing.keys(), ...file.collections.map((c) => c.name)]);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const c of file.collections) {
    if (seen.has(c.name)) problems.push(`collection ${c.name}: defined twice`);
    seen.add(c.name);
    const others = new Set([...allNames].filter((n) => n !== c.name));
    problems.push(...checkCollection(c, others).map((p) => `collection ${c.name}: ${p}`));
    const old = existing.get(c.name);
    for (const f of old ? c.fields : []) {
      const was = old!.fields.find((x) => x.name === f.name);
      if (was && !same(was, f)) problems.push(`collection ${c.name}, field ${f.name}: changing a field is not supported; remove it and add it again`);
    }
  }
  const model: AccessModel | null = file.roles ? { roles: file.roles, departments: file.departments ?? [], grants: file.grants ?? [] } : null;
  if (model) {
    const defs = new Map<string, CollectionDef>([...existing, ...file.collections.map((c) => [c.name, c] as const)]);
    problems.push(...(await access.checkModel(model, defs, opts.prune)));
  }
  if (problems.length > 0) throw new AppError('SCHEMA_INVALID', { problems });

  const result: ApplyResult = { created: [], fieldsAdded: [], fieldsRemoved: [] };
  // New collections first without their relations, so that collections may refer to each other.
  const fresh = file.collections.filter((c) => !existing.has(c.name));
  for (const c of fresh) {
    await reg.create({ ...c, fields: c.fields.filter((f) => f.type !== 'relation') }, ctx);
    result.created.push(c.name);
  }
  for (const c of file.collections) {
    const current = (await reg.get(c.name))!;
    for (const f of c.fields) {
      if (!current.fields.some((x) => x.name === f.name)) {
        await reg.addField(c.name, f, ctx);
        if (existing.has(c.name)) result.fieldsAdded.push(`${c.name}.${f.name}`);
      }
    }
    // The file's audit options win over the database's (missing keys take their defaults).
    if (existing.has(c.name) && JSON.stringify(auditOptionsOf(current)) !== JSON.stringify(auditOptionsOf(c)))
      await reg.setAudit(c.name, auditOptionsOf(c), ctx);
    if (opts.prune) {
      for (const f of current.fields) {
        if (!c.fields.some((x) => x.name === f.name)) {
          await reg.removeField(c.name, f.name, ctx);
          result.fieldsRemoved.push(`${c.name}.${f.name}`);
        }
      }
    }
  }
  if (model) result.access = await access.applyModel(model, opts.prune, ctx);
  return result;
}

export function exportSchema(collections: CollectionDef[], model: AccessModel, format: 'json' | 'yaml'): string {
  const doc: SchemaFile = { collections, ...model };
  return format === 'yaml' ? YAML.stringify(doc) : `${JSON.stringify(doc, null, 2)}\n`;
}
