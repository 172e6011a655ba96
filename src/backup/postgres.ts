/**
 * PostgreSQL's part of a backup: a logical export through the application (D211). Every table of the schema is
 * written as JSON Lines by PostgreSQL itself (`row_to_json`) inside one REPEATABLE READ, READ ONLY transaction,
 * so the tables agree with one another; a restore rebuilds the schema by the migrations the backup was made at,
 * recreates the collections' tables from their definitions, and loads every row back through
 * `json_populate_recordset`, which turns each value back into its column's type. It all runs in one transaction.
 */
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import { migrate } from '../db/migrations/index.js';
import { createCollectionTables } from '../collections/registry.js';
import type { CollectionDef } from '../collections/schema.js';
import { AppError } from '../errors.js';
import { IDENT, MIGRATION_TABLES, chainHead, latestMigration, tableNames } from './manifest.js';

const FETCH = 2000;
const BATCH = 1000;
/** Serialises restores and backups of one schema across instances (any constant). */
const RESTORE_LOCK = '7160002';

export const tableFile = (dir: string, table: string) => path.join(dir, 'db', 'tables', `${table}.jsonl`);

/** The schema's tables, without the migration tables; a name that is not a plain identifier is refused. */
const tables = (db: Db) => tableNames(db, 'postgres');

/** Writes every table into `dir`/db/tables/<table>.jsonl; answers the latest migration and the row counts. */
export async function dumpPostgres(db: Db, dir: string): Promise<{ migration: string; tables: Record<string, number>; chain: { seq: number; hash: string } }> {
  mkdirSync(path.join(dir, 'db', 'tables'), { recursive: true, mode: 0o700 });
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const migration = await latestMigration(trx);
      const chain = await chainHead(trx);
      const counts: Record<string, number> = {};
      for (const t of await tables(trx)) {
        const out = createWriteStream(tableFile(dir, t), { mode: 0o600, flags: 'wx' });
        let n = 0;
        // The row's alias is upper case and quoted: no field (lower case) can take its place in row_to_json.
        await sql`declare palisade_backup no scroll cursor for select row_to_json("R")::text as j from ${sql.id(t)} as "R"`.execute(trx);
        for (;;) {
          const rows = (await sql<{ j: string }>`fetch ${sql.raw(String(FETCH))} from palisade_backup`.execute(trx)).rows;
          if (rows.length === 0) break;
          n += rows.length;
          if (!out.write(`${rows.map((r) => r.j).join('\n')}\n`)) await once(out, 'drain');
        }
        await sql`close palisade_backup`.execute(trx);
        out.end();
        await once(out, 'close');
        counts[t] = n;
      }
      return { migration, tables: counts, chain };
    });
}

async function* lines(file: string): AsyncGenerator<string> {
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) if (line !== '') yield line;
}

/** Tables ordered so that each comes after the tables its foreign keys point to (a self-reference is left aside). */
async function loadOrder(trx: Db, names: string[]): Promise<string[]> {
  const fks = await sql<{ child: string; parent: string }>`select c.relname as child, p.relname as parent
    from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_class p on p.oid = k.confrelid
    join pg_namespace n on n.oid = c.relnamespace
    where k.contype = 'f' and n.nspname = current_schema()`.execute(trx);
  const parents = new Map<string, Set<string>>(names.map((n) => [n, new Set<string>()]));
  for (const { child, parent } of fks.rows) if (child !== parent) parents.get(child)?.add(parent);
  const order: string[] = [];
  const placed = new Set<string>();
  while (order.length < names.length) {
    const ready = names.filter((n) => !placed.has(n) && [...(parents.get(n) ?? [])].every((p) => placed.has(p) || !parents.has(p)));
    if (ready.length === 0) throw new Error('the tables reference one another in a cycle');
    for (const n of ready) {
      placed.add(n);
      order.push(n);
    }
  }
  return order;
}

/** True when some table of the schema holds a row. */
export async function holdsData(db: Db): Promise<boolean> {
  for (const t of await tables(db)) {
    const r = await sql<{ one: number }>`select 1 as one from ${sql.id(t)} limit 1`.execute(db);
    if (r.rows.length > 0) return true;
  }
  return false;
}

/**
 * Loads a dump into the connection's schema, in one transaction: the tables there are dropped (the caller has
 * checked that they hold nothing, or was told to force it), the migrations up to `migration` rebuild the schema,
 * the collections' tables are made from their definitions, then every row is loaded and the sequences set past it.
 * `beforeCommit` checks the result inside the transaction: when it throws, nothing stays.
 */
export async function loadPostgres(
  db: Db,
  dir: string,
  migration: string,
  dumped: readonly string[],
  beforeCommit?: (trx: Db) => Promise<void>,
): Promise<Record<string, number>> {
  // One connection and a transaction begun by hand: the migrations run inside it (see migrate's inOpenTransaction).
  return db.connection().execute(async (trx) => {
    await sql`begin`.execute(trx);
    try {
      const counts = await load(trx, dir, migration, dumped);
      if (beforeCommit) await beforeCommit(trx);
      await sql`commit`.execute(trx);
      return counts;
    } catch (e) {
      await sql`rollback`.execute(trx).catch(() => undefined);
      throw e;
    }
  });
}

async function load(trx: Db, dir: string, migration: string, dumped: readonly string[]): Promise<Record<string, number>> {
  await sql`select pg_advisory_xact_lock(${sql.raw(RESTORE_LOCK)})`.execute(trx);
  // What a forced restore removes: the schema's tables and plain functions, except what an extension owns (pgcrypto,
  // PostGIS… live in `public` too). Names come from the catalogue and must be plain identifiers.
  const existing = await sql<{ t: string }>`select c.relname as t from pg_class c
    where c.relnamespace = (select oid from pg_namespace where nspname = current_schema()) and c.relkind in ('r', 'p')
      and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')`.execute(trx);
  for (const { t } of existing.rows) {
    if (!IDENT.test(t)) throw new Error(`table ${JSON.stringify(t.slice(0, 64))} is not a plain identifier`);
    await sql`drop table if exists ${sql.id(t)} cascade`.execute(trx);
  }
  // The migrations' trigger functions, which a forced restore finds in place.
  const fns = await sql<{ f: string }>`select p.oid::regprocedure::text as f from pg_proc p
    where p.pronamespace = (select oid from pg_namespace where nspname = current_schema()) and p.prokind = 'f'
      and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')`.execute(trx);
  for (const { f } of fns.rows) await sql`drop function if exists ${sql.raw(f)} cascade`.execute(trx);
  await migrate(trx, 'postgres', { to: migration, inOpenTransaction: true });
  if (dumped.includes('collections'))
    for await (const line of lines(tableFile(dir, 'collections'))) {
      const row = JSON.parse(line) as { definition: string };
      await createCollectionTables(trx, JSON.parse(row.definition) as CollectionDef);
    }
  const present = await tables(trx);
  const missing = dumped.filter((t) => !present.includes(t));
  const extra = present.filter((t) => !dumped.includes(t));
  if (missing.length > 0 || extra.length > 0)
    throw new AppError('BACKUP_ARCHIVE_INVALID', {
      reason: `the backup's tables do not match its schema (${[...missing.map((t) => `+${t}`), ...extra.map((t) => `-${t}`)].join(', ')})`,
    });
  // The migrations seed some rows (the chain's head, defaults): the backup's rows replace them.
  const order = await loadOrder(trx, present);
  for (const t of [...order].reverse()) await sql`delete from ${sql.id(t)}`.execute(trx);
  const counts: Record<string, number> = {};
  for (const t of order) {
    let batch: string[] = [];
    let n = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      await sql`insert into ${sql.id(t)} overriding system value
        select * from json_populate_recordset(null::${sql.id(t)}, ${`[${batch.join(',')}]`}::json)`.execute(trx);
      n += batch.length;
      batch = [];
    };
    for await (const line of lines(tableFile(dir, t))) {
      batch.push(line);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
    counts[t] = n;
  }
  // Serial and identity columns continue after the rows loaded.
  const seqs = await sql<{ t: string; c: string }>`select table_name as t, column_name as c from information_schema.columns
    where table_schema = current_schema() and (column_default like 'nextval(%' or is_identity = 'YES')`.execute(trx);
  for (const { t, c } of seqs.rows) {
    if (MIGRATION_TABLES.has(t) || !IDENT.test(t) || !IDENT.test(c)) continue;
    await sql`select setval(pg_get_serial_sequence(${t}, ${c}), coalesce(max(${sql.ref(c)}), 0) + 1, false) from ${sql.id(t)}`.execute(trx);
  }
  return counts;
}
