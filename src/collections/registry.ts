import { PostgresAdapter, sql, type Kysely } from 'kysely';
import { StampedCache } from '../util/stamped-cache.js';
import type { Db } from '../db/index.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { AppError } from '../errors.js';
import { auditOptionsOf, checkCollection, membersTableOf, tableOf, type AuditOptions, type CollectionDef, type FieldDef } from './schema.js';

/** Told the storage keys of files whose rows a committed schema change removed (a dropped file field or collection). */
export type FilesRemoved = (keys: string[]) => void;

/** The field options a change may set (null or false clears one; `default: null` clears the default). */
export const FIELD_CHANGE_KEYS = [
  'required',
  'default',
  'values',
  'hidden',
  'block',
  'sensitive',
  'classification',
  'accept',
  'maxBytes',
  'maxFiles',
  'maxPixels',
  'versions',
  'keepMetadata',
] as const;
export type FieldChange = { [K in (typeof FIELD_CHANGE_KEYS)[number]]?: FieldDef[K] | null };

/** SQL column type per field type; identical on SQLite and PostgreSQL. Member lists have a join table; files, rows in `files`. */
function columnType(f: FieldDef): 'text' | 'bigint' | 'numeric' | 'integer' | null | 'none' {
  switch (f.type) {
    case 'file':
      return 'none';
    case 'integer':
    case 'datetime':
      return 'bigint';
    case 'decimal':
      return 'numeric';
    case 'boolean':
      return 'integer';
    case 'members':
      return null;
    default:
      return 'text';
  }
}

/** True when a filter names the field anywhere. */
function scopeNames(node: unknown, field: string): boolean {
  if (Array.isArray(node)) return node.some((n) => scopeNames(n, field));
  if (typeof node !== 'object' || node === null) return false;
  return Object.entries(node).some(([k, v]) => k === field || scopeNames(v, field));
}

/** The advisory-lock key of schema changes on PostgreSQL (any constant; one per database). */
const SCHEMA_LOCK = '7160001';

const indexName = (collection: string, field: string, unique: boolean) => `${unique ? 'ux' : 'ix'}_${collection}__${field}`;

/** Whether a field's column gets a (non-unique) index: asked for, or a type that scopes and relations look up. */
export const indexedField = (f: FieldDef): boolean =>
  !f.unique && (f.indexed === true || f.type === 'status' || f.type === 'user' || f.type === 'relation' || f.type === 'group');

/**
 * The columns of a field's index: the field, then `id`, so that a row scope or filter on the field
 * also serves a list's default id order and the list reads its page, not every matching row (D357).
 */
export const indexColumns = (field: string): [string, string] => [field, 'id'];

// biome-ignore lint/suspicious/noExplicitAny: collection tables are defined at run time, outside the static schema
async function addColumn(trx: Kysely<any>, collection: string, f: FieldDef): Promise<void> {
  const type = columnType(f);
  if (type === 'none') return;
  if (type === null) {
    await trx.schema
      .createTable(membersTableOf(collection, f.name))
      .addColumn('record_id', 'text', (c) =>
        c
          .notNull()
          .references(`${tableOf(collection)}.id`)
          .onDelete('cascade'),
      )
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addPrimaryKeyConstraint(`pk_${collection}__${f.name}`, ['record_id', 'user_id'])
      .execute();
    await trx.schema.createIndex(`ix_${collection}__${f.name}_user`).on(membersTableOf(collection, f.name)).column('user_id').execute();
    return;
  }
  await trx.schema.alterTable(tableOf(collection)).addColumn(f.name, type).execute();
  if (f.unique)
    await trx.schema
      .createIndex(indexName(collection, f.name, true))
      .on(tableOf(collection))
      .column(f.name)
      .unique()
      .execute();
  else if (indexedField(f)) {
    await trx.schema
      .createIndex(indexName(collection, f.name, false))
      .on(tableOf(collection))
      .columns(indexColumns(f.name))
      .execute();
  }
}

/**
 * Creates a collection's tables (its own, and a join table per members field) from its definition: used by
 * `create`, and by a restore (src/backup/) that rebuilds the tables of the collections a backup holds.
 */
// biome-ignore lint/suspicious/noExplicitAny: collection tables are defined at run time, outside the static schema
export async function createCollectionTables(trx: Kysely<any>, def: CollectionDef): Promise<void> {
  await trx.schema
    .createTable(tableOf(def.name))
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('updated_by', 'text')
    .execute();
  await trx.schema.createIndex(`ix_${def.name}__created_by`).on(tableOf(def.name)).columns(indexColumns('created_by')).execute();
  for (const f of def.fields) await addColumn(trx, def.name, f);
}

/**
 * The collections registry: definitions in the `collections` table, real tables per collection,
 * every schema change in one transaction with its DDL (SQLite and PostgreSQL both run DDL
 * transactionally) and audited as `schema.changed`.
 */
export class CollectionRegistry {
  constructor(
    private readonly db: Db,
    private readonly log: SecurityLog,
    private readonly now: () => number,
    /** Removes the stored bytes of files whose rows a committed change removed (src/files/, wired by services). */
    public filesRemoved: FilesRemoved = () => {},
    /**
     * Where schema changes run: PostgreSQL's DDL role (DATABASE_MIGRATION_URL) when the requests' role may only read
     * and write rows (D376); otherwise `db`.
     */
    private readonly ddl: Db = db,
  ) {}

  /**
   * After a collection was dropped or a field removed: SQLite empties its write-ahead log there, so that the values are
   * gone from the files as from the table (services.ts sets it, D462).
   */
  deleted: () => Promise<void> = async () => undefined;

  /** Deletes the `files` rows of a collection (or one of its fields) inside `trx`; returns their storage keys. */
  private async dropFiles(trx: Db, collection: string, field?: string): Promise<string[]> {
    let q = trx.selectFrom('files').select('id').where('collection', '=', collection);
    if (field !== undefined) q = q.where('field', '=', field);
    const keys = (await q.execute()).map((r) => r.id);
    let d = trx.deleteFrom('files').where('collection', '=', collection);
    if (field !== undefined) d = d.where('field', '=', field);
    await d.execute();
    return keys;
  }

  /**
   * Runs a schema change in a transaction that first takes the schema lock, so that concurrent
   * changes (parallel requests, or several instances on one database) run one after the other and
   * each reads the definitions the previous one committed: of two identical changes, one wins and the
   * other answers CONFLICT (or NOT_FOUND for a removal of what is gone), never a database error.
   * PostgreSQL: a transaction-scoped advisory lock. SQLite: a no-op write, which takes the database's
   * write lock before anything is read (a read-then-write transaction could not wait for it).
   */
  private schemaChange<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    return this.ddl.transaction().execute(async (trx) => {
      if (this.ddl.getExecutor().adapter instanceof PostgresAdapter) await sql`select pg_advisory_xact_lock(${sql.raw(SCHEMA_LOCK)})`.execute(trx);
      else await sql`update collections set updated_at = updated_at where 1 = 0`.execute(trx);
      return fn(trx);
    });
  }

  /** Every definition; `db`: read inside that transaction (SQLite has one connection). */
  async list(db: Db = this.db): Promise<CollectionDef[]> {
    const rows = await db.selectFrom('collections').select('definition').orderBy('name').execute();
    return rows.map((r) => JSON.parse(r.definition) as CollectionDef);
  }

  private readonly defs = new StampedCache<CollectionDef | null>(1000);

  /**
   * A collection's definition. With `stamp` (the `access` stamp read with the request's credential, D360) it is kept
   * per instance until a change moves the stamp, and comes frozen; without, it is read afresh.
   */
  async get(name: string, stamp?: number): Promise<CollectionDef | null> {
    return this.defs.get(name, stamp, async () => {
      const row = await this.db.selectFrom('collections').select('definition').where('name', '=', name).executeTakeFirst();
      return row ? (JSON.parse(row.definition) as CollectionDef) : null;
    });
  }

  private async names(trx: Db, except?: string): Promise<Set<string>> {
    const rows = await trx.selectFrom('collections').select('name').execute();
    return new Set(rows.map((r) => r.name).filter((n) => n !== except));
  }

  // biome-ignore lint/suspicious/noExplicitAny: collection tables are defined at run time, outside the static schema
  private async dropColumn(trx: Kysely<any>, collection: string, f: FieldDef): Promise<void> {
    if (columnType(f) === 'none') return;
    if (columnType(f) === null) {
      await trx.schema.dropTable(membersTableOf(collection, f.name)).execute();
      return;
    }
    await trx.schema
      .dropIndex(indexName(collection, f.name, true))
      .ifExists()
      .execute();
    await trx.schema
      .dropIndex(indexName(collection, f.name, false))
      .ifExists()
      .execute();
    await trx.schema.alterTable(tableOf(collection)).dropColumn(f.name).execute();
  }

  private async store(trx: Db, def: CollectionDef, created: boolean): Promise<void> {
    const now = this.now();
    const definition = JSON.stringify(def);
    if (created) await trx.insertInto('collections').values({ name: def.name, definition, created_at: now, updated_at: now }).execute();
    else await trx.updateTable('collections').set({ definition, updated_at: now }).where('name', '=', def.name).execute();
  }

  async create(def: CollectionDef, ctx: EventContext): Promise<CollectionDef> {
    return this.schemaChange(async (trx) => {
      const names = await this.names(trx);
      if (names.has(def.name)) throw new AppError('CONFLICT', { field: 'name' });
      const problems = checkCollection(def, names);
      if (problems.length > 0) throw new AppError('SCHEMA_INVALID', { problems });
      await createCollectionTables(trx, def);
      await this.store(trx, def, true);
      await this.log.record(
        ctx,
        { type: 'schema.changed', outcome: 'success', details: { change: 'collection.created', collection: def.name, fields: def.fields.map((f) => f.name) } },
        trx,
      );
      return def;
    });
  }

  async addField(collection: string, f: FieldDef, ctx: EventContext): Promise<CollectionDef> {
    return this.schemaChange(async (trx) => {
      const def = await this.getIn(trx, collection);
      if (def.fields.some((x) => x.name === f.name)) throw new AppError('CONFLICT', { field: f.name });
      const next = { ...def, fields: [...def.fields, f] };
      const problems = checkCollection(next, await this.names(trx, collection));
      if (problems.length > 0) throw new AppError('SCHEMA_INVALID', { problems });
      await addColumn(trx, collection, f);
      await this.store(trx, next, false);
      await this.log.record(
        ctx,
        { type: 'schema.changed', outcome: 'success', details: { change: 'field.added', collection, field: f.name, type: f.type } },
        trx,
      );
      return next;
    });
  }

  /**
   * Changes a field's options that need no change to its column: required, default, the values of an
   * enum or status field (added, never removed: records may hold a value), hidden and block. The name,
   * type, target, unique and indexed stay (a new field and a copy of the data change those).
   */
  async updateField(collection: string, field: string, change: FieldChange, ctx: EventContext): Promise<CollectionDef> {
    return this.schemaChange(async (trx) => {
      const def = await this.getIn(trx, collection);
      const before = def.fields.find((x) => x.name === field);
      if (!before) throw new AppError('NOT_FOUND');
      const after: FieldDef = { ...before };
      for (const k of FIELD_CHANGE_KEYS) {
        if (!(k in change)) continue;
        const v = change[k];
        if (v === undefined || (v === null && k !== 'default') || ((k === 'hidden' || k === 'sensitive' || k === 'keepMetadata') && v === false))
          delete after[k];
        else (after as unknown as Record<string, unknown>)[k] = v;
      }
      const problems: string[] = [];
      const removed = (before.values ?? []).filter((v) => !(after.values ?? []).includes(v));
      if (removed.length > 0) problems.push(`field ${JSON.stringify(field)}: values may be added, not removed (records may hold ${removed.join(', ')})`);
      const next = { ...def, fields: def.fields.map((x) => (x.name === field ? after : x)) };
      problems.push(...checkCollection(next, await this.names(trx, collection)));
      if (problems.length > 0) throw new AppError('SCHEMA_INVALID', { problems });
      await this.store(trx, next, false);
      const changed = FIELD_CHANGE_KEYS.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
      await this.log.record(ctx, { type: 'schema.changed', outcome: 'success', details: { change: 'field.changed', collection, field, changed } }, trx);
      return next;
    });
  }

  /** Removes a field and its data. (Grants naming it go with it once grants exist: issue 3.) */
  async removeField(collection: string, field: string, ctx: EventContext): Promise<CollectionDef> {
    const removedKeys: string[] = [];
    const out = await this.schemaChange(async (trx) => {
      const def = await this.getIn(trx, collection);
      const f = def.fields.find((x) => x.name === field);
      if (!f) throw new AppError('NOT_FOUND');
      const next = { ...def, fields: def.fields.filter((x) => x.name !== field) };
      const problems = checkCollection(next, await this.names(trx, collection));
      if (problems.length > 0) throw new AppError('SCHEMA_INVALID', { problems });
      // How many records lose a value is recorded with the change (the values themselves stay in the change log's history).
      const t = f.type === 'members' ? membersTableOf(collection, f.name) : f.type === 'file' ? 'files' : tableOf(collection);
      const held =
        f.type === 'members'
          ? await sql<{ n: number | string }>`select count(distinct record_id) as n from ${sql.table(t)}`.execute(trx)
          : f.type === 'file'
            ? await sql<{
                n: number | string;
              }>`select count(distinct record_id) as n from files where collection = ${collection} and field = ${f.name}`.execute(trx)
            : await sql<{ n: number | string }>`select count(*) as n from ${sql.table(t)} where ${sql.ref(f.name)} is not null`.execute(trx);
      const records = Number(held.rows[0]?.n ?? 0);
      if (f.type === 'file') removedKeys.push(...(await this.dropFiles(trx, collection, f.name)));
      await this.dropColumn(trx, collection, f);
      await this.store(trx, next, false);
      // Grants forget the field: a later field of the same name inherits nothing. A grant whose
      // scope used the field can no longer mean what it said, so it goes entirely.
      const grants = await trx.selectFrom('grants').select(['id', 'fields', 'scope']).where('collection', '=', collection).execute();
      for (const g of grants) {
        if (g.scope !== null && scopeNames(JSON.parse(g.scope), field)) {
          await trx.deleteFrom('grants').where('id', '=', g.id).execute();
        } else {
          const fields = (JSON.parse(g.fields) as string[]).filter((x) => x !== field);
          await trx
            .updateTable('grants')
            .set({ fields: JSON.stringify(fields) })
            .where('id', '=', g.id)
            .execute();
        }
      }
      await this.log.record(ctx, { type: 'schema.changed', outcome: 'success', details: { change: 'field.removed', collection, field, records } }, trx);
      return next;
    });
    // The bytes go once the rows are gone for good (a rollback keeps both).
    if (removedKeys.length > 0) this.filesRemoved(removedKeys);
    await this.deleted();
    return out;
  }

  /**
   * Changes a collection's options in one transaction: the ownership mode and its bypass roles (an
   * access change), and what the audit trail keeps; each change recorded with its before and after.
   */
  async setOptions(collection: string, change: Pick<CollectionDef, 'ownership' | 'ownershipBypass' | 'audit'>, ctx: EventContext): Promise<CollectionDef> {
    return this.schemaChange(async (trx) => {
      const def = await this.getIn(trx, collection);
      const next: CollectionDef = { ...def };
      if (change.ownership !== undefined) next.ownership = change.ownership;
      if (change.ownershipBypass !== undefined) next.ownershipBypass = change.ownershipBypass;
      if (change.audit !== undefined) next.audit = { ...def.audit, ...change.audit };
      const problems = checkCollection(next, await this.names(trx, collection));
      if (problems.length > 0) throw new AppError('SCHEMA_INVALID', { problems });
      await this.store(trx, next, false);
      if (change.ownership !== undefined || change.ownershipBypass !== undefined) {
        const view = (d: CollectionDef) => ({ ownership: d.ownership ?? null, ownershipBypass: d.ownershipBypass ?? [] });
        await this.log.record(
          ctx,
          { type: 'schema.changed', outcome: 'success', details: { change: 'collection.ownership', collection, before: view(def), after: view(next) } },
          trx,
        );
      }
      if (change.audit !== undefined) {
        await this.log.record(
          ctx,
          {
            type: 'schema.changed',
            outcome: 'success',
            details: { change: 'collection.audit', collection, before: auditOptionsOf(def), after: auditOptionsOf(next) },
          },
          trx,
        );
      }
      return next;
    });
  }

  /** Changes the ownership mode and its bypass roles; the rest of the definition stays. */
  setOwnership(collection: string, change: Pick<CollectionDef, 'ownership' | 'ownershipBypass'>, ctx: EventContext): Promise<CollectionDef> {
    return this.setOptions(collection, { ownership: change.ownership, ownershipBypass: change.ownershipBypass }, ctx);
  }

  /** Changes what the audit trail keeps of a collection. */
  setAudit(collection: string, change: Partial<AuditOptions>, ctx: EventContext): Promise<CollectionDef> {
    return this.setOptions(collection, { audit: change }, ctx);
  }

  async drop(collection: string, ctx: EventContext): Promise<void> {
    const removedKeys: string[] = [];
    await this.schemaChange(async (trx) => {
      const def = await this.getIn(trx, collection);
      const others = (await trx.selectFrom('collections').select('definition').where('name', '!=', collection).execute()).map(
        (r) => JSON.parse(r.definition) as CollectionDef,
      );
      const referrers = others.filter((o) => o.fields.some((f) => f.type === 'relation' && f.target === collection)).map((o) => o.name);
      if (referrers.length > 0) throw new AppError('SCHEMA_INVALID', { problems: [`referenced by ${referrers.join(', ')}`] });
      const records = Number((await sql<{ n: number | string }>`select count(*) as n from ${sql.table(tableOf(collection))}`.execute(trx)).rows[0]?.n ?? 0);
      for (const f of def.fields) if (f.type === 'members') await trx.schema.dropTable(membersTableOf(collection, f.name)).execute();
      removedKeys.push(...(await this.dropFiles(trx, collection)));
      await trx.schema.dropTable(tableOf(collection)).execute();
      await trx.deleteFrom('collections').where('name', '=', collection).execute();
      await trx.deleteFrom('grants').where('collection', '=', collection).execute();
      await this.log.record(ctx, { type: 'schema.changed', outcome: 'success', details: { change: 'collection.deleted', collection, records } }, trx);
    });
    if (removedKeys.length > 0) this.filesRemoved(removedKeys);
    await this.deleted();
  }

  private async getIn(trx: Db, name: string): Promise<CollectionDef> {
    const row = await trx.selectFrom('collections').select('definition').where('name', '=', name).executeTakeFirst();
    if (!row) throw new AppError('NOT_FOUND');
    return JSON.parse(row.definition) as CollectionDef;
  }

  /** Row count, for tests and the admin UI. */
  async count(collection: string): Promise<number> {
    await this.getIn(this.db, collection);
    const r = await sql<{ n: number }>`select count(*) as n from ${sql.table(tableOf(collection))}`.execute(this.db);
    return Number(r.rows[0]?.n ?? 0);
  }
}
