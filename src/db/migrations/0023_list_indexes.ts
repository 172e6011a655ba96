import type { Kysely, Migration } from 'kysely';

/**
 * Issue 14, lists that read their page: every non-unique index on a collection's field, and the index on
 * `created_by`, becomes (field, id), so that a row scope or filter on the field also gives a list's
 * default id order, and the list reads 50 index entries instead of sorting every matching row (D357).
 * New collections get these indexes from `src/collections/registry.ts`; this replaces those of existing
 * ones. Each index is dropped if it exists and made again, so running it twice (a restore that rebuilt
 * the tables with the new indexes, then migrates) changes nothing. Self-contained: the rule for which
 * fields are indexed is the one of this release, as a migration must not follow later code.
 */
const INDEXED_TYPES = new Set(['status', 'user', 'relation', 'group']);
const NO_COLUMN = new Set(['members', 'file']);

interface StoredField {
  name: string;
  type: string;
  unique?: boolean;
  indexed?: boolean;
}

export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      const rows = (await db.selectFrom('collections').select(['name', 'definition']).execute()) as Array<{ name: string; definition: string }>;
      for (const row of rows) {
        const fields = (JSON.parse(row.definition) as { fields?: StoredField[] }).fields ?? [];
        const table = `col_${row.name}`;
        const columns = [
          'created_by',
          ...fields.filter((f) => !NO_COLUMN.has(f.type) && !f.unique && (f.indexed === true || INDEXED_TYPES.has(f.type))).map((f) => f.name),
        ];
        for (const column of columns) {
          const name = `ix_${row.name}__${column}`;
          await db.schema.dropIndex(name).ifExists().execute();
          await db.schema.createIndex(name).on(table).columns([column, 'id']).execute();
        }
      }
    },
  };
}
