import type { Kysely, Migration } from 'kysely';

/**
 * DATA-3, private files: one row per stored file version. The bytes live in the file store under the row's id
 * (an opaque key); `current` marks the versions a record's field shows now, the others are kept versions. A file
 * is downloadable only when `state` is clean or unscanned; quarantined ones wait for the scanner, infected ones
 * never leave.
 */
export function migration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('files')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('collection', 'text', (c) => c.notNull())
        .addColumn('field', 'text', (c) => c.notNull())
        .addColumn('record_id', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('current', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('signature', 'text')
        .addColumn('uploaded_by', 'text')
        .addColumn('uploaded_at', 'bigint', (c) => c.notNull())
        .addColumn('scanned_at', 'bigint')
        // Failed scans of this file while the scanner answered: the sweep backs off, then gives up (kept quarantined).
        .addColumn('scan_attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_scan_at', 'bigint')
        .execute();
      await db.schema.createIndex('ix_files_record').on('files').columns(['collection', 'record_id', 'field']).execute();
      await db.schema.createIndex('ix_files_state').on('files').column('state').execute();
    },
  };
}
