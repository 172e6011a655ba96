/** Export and import (ACCESS-8): the same scope, masks and write checks as lists and creates. */
import { parse as parseCsv } from 'csv-parse/sync';
import { AppError } from '../errors.js';
import { isUniqueViolation } from '../db/errors.js';
import { fieldsOf } from '../access/plan.js';
import { isClassSecret, type CollectionDef } from '../collections/schema.js';
import { SYSTEM_OUT, fromCell } from './codec.js';
import { plan } from './planning.js';
import { insertOne, refuseUnreachable, unreachable } from './write.js';
import { writeTransaction } from './transaction.js';
import { BULK_MAX, type Caller, type ListQuery, type RecordOut, type RecordsContext } from './context.js';

/**
 * Export (ACCESS-8): the same scope, masks and filter rules as a list, under the caller's export
 * grants, page by page so that memory stays flat. Yields the field names first, then records.
 */
export async function* exportRecords(
  rc: RecordsContext,
  caller: Caller,
  collection: string,
  q: Omit<ListQuery, 'page' | 'perPage'>,
  done?: (def: CollectionDef, total: number) => Promise<void>,
): AsyncGenerator<RecordOut | string[]> {
  const p = await plan(rc, caller, collection, 'export');
  // A secret field never leaves in an export (D431): it is read one record at a time.
  const secret = p.def.fields.filter(isClassSecret).map((f) => f.name);
  const names = new Set([...fieldsOf(p).anyReadable].filter((n) => !secret.includes(n)));
  const strip = (item: RecordOut): RecordOut => {
    if (secret.length === 0) return item;
    const out = { ...item };
    for (const n of secret) delete out[n];
    return out;
  };
  // The first page runs before anything is sent, so a refused filter or sort is a clean 400.
  let r = await rc.list(caller, collection, { ...q, page: 1, perPage: 200, total: true }, 'export', p);
  yield [...SYSTEM_OUT.map(([n]) => n), ...p.def.fields.filter((f) => names.has(f.name)).map((f) => f.name)];
  // Recorded before the first record leaves (the access log names who exported what, even a cut-off export).
  await done?.(p.def, r.total ?? r.items.length);
  for (let page = 2; ; page++) {
    for (const item of r.items) yield strip(item);
    if (!r.hasMore || page > 10_000) return;
    r = await rc.list(caller, collection, { ...q, page, perPage: 200 }, 'export', p);
  }
}

/**
 * Import (ACCESS-8): every row is checked like a create under the caller's import grants, in one
 * transaction. Any refused row rolls back the whole import; the answer lists every row's error.
 */
export async function importRecords(rc: RecordsContext, caller: Caller, collection: string, rows: unknown[]): Promise<{ imported: number }> {
  const p = await plan(rc, caller, collection, 'import');
  if (rows.length > BULK_MAX) throw new AppError('VALIDATION_FAILED', [{ path: '/records', message: `at most ${BULK_MAX} rows` }]);
  const errors: Array<{ row: number; code: string; details?: unknown }> = [];
  const bad = await unreachable(rc, caller, p, rows);
  await writeTransaction(rc, async (trx) => {
    errors.length = 0; // a run aborted by the database starts again from the first row
    for (let i = 0; i < rows.length; i++) {
      try {
        refuseUnreachable(p.def, rows[i], bad);
        // A savepoint per row would let later rows be checked after a failed one; rows are
        // independent inserts, so a failed row simply adds its error and the loop goes on.
        await insertOne(rc, trx, p, caller, rows[i]);
      } catch (e) {
        if (e instanceof AppError) {
          errors.push({ row: i + 1, code: e.code, ...(e.details !== undefined ? { details: e.details } : {}) });
          if (errors.length >= 100) break;
          continue;
        }
        // A database refusal (a unique value taken) ends the transaction on PostgreSQL: stop here.
        if (isUniqueViolation(e)) {
          errors.push({ row: i + 1, code: 'CONFLICT' });
          break;
        }
        throw e;
      }
    }
    if (errors.length > 0) throw new AppError('IMPORT_REJECTED', { errors });
  });
  return { imported: rows.length };
}

/** CSV import: a header row of field names; cells are converted by field type; an empty cell leaves the field unset (its default applies). */
export async function importCsv(rc: RecordsContext, caller: Caller, collection: string, text: string): Promise<{ imported: number }> {
  const def = await rc.registry.get(collection);
  if (!def) throw new AppError('NOT_FOUND');
  let rows: Record<string, string>[];
  try {
    rows = parseCsv(text, { columns: true, skip_empty_lines: true, bom: true, max_record_size: 100_000, to: BULK_MAX + 1 }) as Record<string, string>[];
  } catch {
    throw new AppError('VALIDATION_FAILED', [{ path: '/csv', message: 'not valid CSV with a header row' }]);
  }
  return importRecords(
    rc,
    caller,
    collection,
    rows.map((r) =>
      Object.fromEntries(
        Object.entries(r)
          .filter(([, v]) => v !== '')
          .map(([k, v]) => [
            k,
            fromCell(
              def.fields.find((f) => f.name === k),
              v,
            ),
          ]),
      ),
    ),
  );
}
