/**
 * Files of records (DATA-3) under the caller's grants: a file field is read and written like any other field.
 * A record outside the caller's scope is 404; a field they cannot read or write is refused as for other
 * fields. Uploads, replacements, deletions and restores are checked inside their transaction (the same holding
 * and writable checks as `write.ts`) and recorded in the record's change log; the bytes are committed under
 * their key inside the transaction and removed only after a commit that dropped their rows.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { PostgresAdapter, sql } from 'kysely';
import type { Db } from '../db/index.js';
import type { FilesTable } from '../db/types.js';
import { AppError, HIDDEN } from '../errors.js';
import { auditOptionsOf, isSecretField, tableOf, type CollectionDef, type FieldDef } from '../collections/schema.js';
import { unwritable, writable, type Plan } from '../access/plan.js';
import { FileService, type FileMeta, type LinkClaims, type LinkCredential } from '../files/service.js';
import type { Staged } from '../files/store.js';
import { plan } from './planning.js';
import { holding, OUTSIDE, outsideAs403 } from './write.js';
import { writeTransaction } from './transaction.js';
import { recordAccess } from './audit.js';
import type { Caller, RecordsContext } from './context.js';

export interface UploadOptions {
  /** The uploader's consent to store the file with its metadata; refused unless the field's `keepMetadata` allows it. */
  keepMetadata?: boolean;
}

export interface FileTarget {
  collection: string;
  id: string;
  field: string;
}

function servicesOf(rc: RecordsContext): FileService {
  if (!rc.files) throw new TypeError('records: no FileService wired');
  return rc.files;
}

/** The file field `name` of `p`'s collection as the caller knows it: FIELD_UNKNOWN, NOT_A_FILE_FIELD. */
function fileField(p: Plan, name: string): FieldDef {
  const f = p.def.fields.find((x) => x.name === name);
  if (!f || (!p.bypass && !p.known.has(name))) throw new AppError('FIELD_UNKNOWN', { field: name.slice(0, 60) });
  if (f.type !== 'file') throw new AppError('NOT_A_FILE_FIELD', { field: name });
  return f;
}

/**
 * Inside `trx`: the record is in the caller's update scope (404 otherwise) and they may write the field. On
 * PostgreSQL the record's row is locked first, so that concurrent file changes of one record (the count of a
 * multiple field, version numbers) run one after the other; SQLite runs one write transaction at a time.
 */
async function checkWrite(trx: Db, p: Plan, id: string, field: string): Promise<void> {
  if (trx.getExecutor().adapter instanceof PostgresAdapter) {
    const t = tableOf(p.def.name);
    await sql`select 1 from ${sql.table(t)} where ${sql.ref(`${t}.id`)} = ${id} for update`.execute(trx);
  }
  if (p.bypass) {
    const t = tableOf(p.def.name);
    const found = await sql`select 1 as one from ${sql.table(t)} where ${sql.ref(`${t}.id`)} = ${id}`.execute(trx);
    if (found.rows.length === 0) throw new AppError('NOT_FOUND');
    return;
  }
  const held = await holding(trx, p, p.grants, id);
  if (held.length === 0) throw new AppError('NOT_FOUND', undefined, OUTSIDE);
  if (writable({ ...p, grants: held }, [field]).length === 0) throw new AppError('FIELD_NOT_WRITABLE', { fields: unwritable(p, held, [field]) });
}

/** The caller's update plan with the field, checked outside a transaction (before any bytes are read). */
async function writePlan(rc: RecordsContext, caller: Caller, t: FileTarget): Promise<{ p: Plan; f: FieldDef }> {
  const p = await plan(rc, caller, t.collection, 'update');
  const f = fileField(p, t.field);
  await outsideAs403(rc, caller, t.collection, t.id, () => checkWrite(rc.db, p, t.id, t.field));
  return { p, f };
}

/** Reads: the record in the caller's view scope (404), the field readable on it (FIELD_NOT_READABLE). */
async function readCheck(rc: RecordsContext, caller: Caller, t: FileTarget): Promise<{ p: Plan; f: FieldDef }> {
  let p: Plan;
  try {
    p = await plan(rc, caller, t.collection, 'view');
  } catch (e) {
    if (e instanceof AppError && e.code === 'FORBIDDEN') throw new AppError('NOT_FOUND', undefined, HIDDEN.grant);
    throw e;
  }
  const f = fileField(p, t.field);
  const rec = await rc.get(caller, t.collection, t.id);
  if (!(t.field in rec)) throw new AppError('FIELD_NOT_READABLE', { field: t.field });
  return { p, f };
}

/** The record's change log entry of a file change (the field's current files before and after). */
async function logChange(rc: RecordsContext, trx: Db, caller: Caller, def: CollectionDef, f: FieldDef, id: string, before: FileMeta[], after: FileMeta[]) {
  if (!auditOptionsOf(def).changeLog) return;
  await rc.trail.changes(trx, caller.ctx, def.name, [{ name: f.name, secret: isSecretField(f), status: false }], true, [
    { operation: 'update', id, before: { [f.name]: before }, after: { [f.name]: after } },
  ]);
}

const views = (rows: FilesTable[]): FileMeta[] => rows.map(FileService.view).sort((a, b) => a.version - b.version);

/** The record's row is touched: a file change is a change of the record. */
async function touch(rc: RecordsContext, trx: Db, def: CollectionDef, caller: Caller, id: string): Promise<void> {
  const t = tableOf(def.name);
  await sql`update ${sql.table(t)} set updated_at = ${rc.now()}, updated_by = ${caller.user.id} where ${sql.ref(`${t}.id`)} = ${id}`.execute(trx);
}

/**
 * Uploads a file: access first, then the bytes streamed into staging within the field's limits and recognised,
 * then, in one transaction, the access again, the count, the row (quarantined, or unscanned without a scanner),
 * the replaced file kept as a version or removed, and the change log. Scanning follows in the background.
 */
export async function uploadFile(
  rc: RecordsContext,
  caller: Caller,
  t: FileTarget,
  name: string,
  input: Readable,
  opts: UploadOptions = {},
): Promise<FileMeta> {
  const files = servicesOf(rc);
  const { p, f } = await writePlan(rc, caller, t);
  // The uploader's consent to keep the metadata counts only where the field offers it (ASVS V14.2.8, D441).
  if (opts.keepMetadata === true && f.keepMetadata !== true) throw new AppError('FILE_METADATA_KEEP_NOT_ALLOWED', { field: f.name });
  const limits = files.limitsOf(f);
  if (f.multiple && (await files.rows(rc.db, t.collection, t.id, t.field)).length >= limits.maxFiles)
    throw new AppError('FILE_LIMIT_REACHED', { maxFiles: limits.maxFiles });
  const got = await files.receive(input, limits, name, opts.keepMetadata === true, f.keepMetadata === true);
  const fileId = randomUUID();
  const withOutcome = (v: FileMeta): FileMeta => (v.id === fileId ? { ...v, metadata: got.metadata } : v);
  let moved = false;
  const removed: string[] = [];
  let row: FilesTable;
  try {
    row = await outsideWrite(rc, caller, t, async (trx) => {
      removed.length = 0;
      await checkWrite(trx, p, t.id, t.field);
      const all = await files.rows(trx, t.collection, t.id, t.field, true);
      const current = all.filter((r) => Number(r.current) === 1);
      if (f.multiple && current.length >= limits.maxFiles) throw new AppError('FILE_LIMIT_REACHED', { maxFiles: limits.maxFiles });
      const r: FilesTable = {
        id: fileId,
        collection: t.collection,
        field: t.field,
        record_id: t.id,
        version: all.reduce((m, x) => Math.max(m, Number(x.version)), 0) + 1,
        current: 1,
        name: got.name,
        type: got.sniffed.type,
        size: got.staged.size,
        sha256: got.staged.sha256,
        state: files.initialState(),
        signature: null,
        uploaded_by: caller.user.id,
        uploaded_at: rc.now(),
        scanned_at: null,
        scan_attempts: 0,
        next_scan_at: null,
      };
      if (!f.multiple && current.length > 0) {
        const ids = current.map((c) => c.id);
        if (limits.versions > 0) await trx.updateTable('files').set({ current: 0 }).where('id', 'in', ids).execute();
        else {
          await trx.deleteFrom('files').where('id', 'in', ids).execute();
          removed.push(...ids);
        }
        // Kept versions beyond the field's number go, oldest first.
        const kept = all.filter((x) => limits.versions > 0 || Number(x.current) === 0).sort((a, b) => Number(b.version) - Number(a.version));
        const over = kept
          .slice(limits.versions)
          .map((x) => x.id)
          .filter((id) => !removed.includes(id));
        if (over.length > 0) {
          await trx.deleteFrom('files').where('id', 'in', over).execute();
          removed.push(...over);
        }
      }
      await trx.insertInto('files').values(r).execute();
      await touch(rc, trx, p.def, caller, t.id);
      const after = f.multiple ? [...current, r] : [r];
      // The change log says what became of the new file's metadata (removed, or kept by the uploader's consent).
      await logChange(rc, trx, caller, p.def, f, t.id, views(current), views(after).map(withOutcome));
      // The bytes go under their key last, so that only a failed commit can leave them without a row.
      if (!moved) {
        await files.commit(got.staged, fileId);
        moved = true;
      }
      return r;
    });
  } catch (e) {
    if (moved) files.removeLater([fileId]);
    else await files.discard(got.staged as Staged);
    throw e;
  }
  files.removeLater(removed);
  files.scanSoon(fileId);
  return withOutcome(FileService.view(row));
}

/** A write transaction whose refusal for a record outside the write grants answers 403 when the caller can see it. */
async function outsideWrite<T>(rc: RecordsContext, caller: Caller, t: FileTarget, fn: (trx: Db) => Promise<T>): Promise<T> {
  let out: T | undefined;
  await outsideAs403(rc, caller, t.collection, t.id, async () => {
    out = await writeTransaction(rc, fn);
  });
  return out as T;
}

/** The field's current files; with `versions`, every kept version too (for those who may write the field). */
export async function listFiles(rc: RecordsContext, caller: Caller, t: FileTarget, versions: boolean): Promise<FileMeta[]> {
  const files = servicesOf(rc);
  await readCheck(rc, caller, t);
  if (versions) await writePlan(rc, caller, t);
  return (await files.rows(rc.db, t.collection, t.id, t.field, versions)).map(FileService.view);
}

/** A file's row of the record's field, or NOT_FOUND. */
async function rowOf(db: Db, t: FileTarget, fileId: string): Promise<FilesTable> {
  const row = await db
    .selectFrom('files')
    .selectAll()
    .where('id', '=', fileId)
    .where('collection', '=', t.collection)
    .where('record_id', '=', t.id)
    .where('field', '=', t.field)
    .executeTakeFirst();
  if (!row) throw new AppError('NOT_FOUND');
  return row;
}

/** The bytes of a file the caller may read: current ones by readers, kept versions by writers; clean or unscanned only. */
export async function openFile(rc: RecordsContext, caller: Caller, t: FileTarget, fileId: string): Promise<{ meta: FileMeta; body: Readable }> {
  const files = servicesOf(rc);
  const { p } = await readCheck(rc, caller, t);
  const row = await rowOf(rc.db, t, fileId);
  if (Number(row.current) !== 1) await writePlan(rc, caller, t);
  FileService.checkDownloadable(row);
  // The access is recorded first: once the store's stream is open, only microtasks pass until the route takes it (an
  // error event in between would find no listener).
  await recordAccess(rc, caller, p.def, 'read', [t.id], {});
  const body = await files.open(row);
  return { meta: FileService.view(row), body };
}

/** A signed link to a file the caller may read now (and that may be downloaded). */
export async function linkFile(rc: RecordsContext, caller: Caller, t: FileTarget, fileId: string, credential: LinkCredential, role: string | null) {
  const files = servicesOf(rc);
  await readCheck(rc, caller, t);
  const row = await rowOf(rc.db, t, fileId);
  if (Number(row.current) !== 1) await writePlan(rc, caller, t);
  FileService.checkDownloadable(row);
  return files.links.sign({ fileId, userId: caller.user.id, role, asKey: credential.kind === 'apikey', credential });
}

/** The file a redeemed link names, re-checked under the caller the link's user is now: any refusal is FILE_LINK_INVALID. */
export async function openLinked(rc: RecordsContext, caller: Caller, claims: LinkClaims): Promise<{ meta: FileMeta; body: Readable }> {
  const row = await rc.db.selectFrom('files').selectAll().where('id', '=', claims.fileId).executeTakeFirst();
  if (!row || caller.user.id !== claims.userId) throw new AppError('FILE_LINK_INVALID', undefined, 'no such file');
  try {
    return await openFile(rc, caller, { collection: row.collection, id: row.record_id, field: row.field }, claims.fileId);
  } catch (e) {
    // A failure of the server or its store (a missing file, a store that is down) is not the link's: it is not hidden.
    if (!(e instanceof AppError) || e.code === 'FILE_QUARANTINED' || e.code === 'FILE_INFECTED' || e.code === 'FILE_CONTENT_MISSING' || e.status >= 500)
      throw e;
    throw new AppError('FILE_LINK_INVALID', undefined, `refused: ${e instanceof AppError ? e.code : 'error'}`);
  }
}

/** Deletes a file (a current one or a kept version); its bytes go after the commit. */
export async function deleteFile(rc: RecordsContext, caller: Caller, t: FileTarget, fileId: string): Promise<void> {
  const files = servicesOf(rc);
  const { p, f } = await writePlan(rc, caller, t);
  await outsideWrite(rc, caller, t, async (trx) => {
    await checkWrite(trx, p, t.id, t.field);
    const row = await rowOf(trx, t, fileId);
    const current = await files.rows(trx, t.collection, t.id, t.field);
    await trx.deleteFrom('files').where('id', '=', fileId).execute();
    if (Number(row.current) === 1) {
      await touch(rc, trx, p.def, caller, t.id);
      await logChange(rc, trx, caller, p.def, f, t.id, views(current), views(current.filter((c) => c.id !== fileId)));
    }
  });
  files.removeLater([fileId]);
}

/** Makes a kept version of a single-file field current again; the current file becomes a kept version. */
export async function restoreFile(rc: RecordsContext, caller: Caller, t: FileTarget, fileId: string): Promise<FileMeta> {
  const files = servicesOf(rc);
  const { p, f } = await writePlan(rc, caller, t);
  return outsideWrite(rc, caller, t, async (trx) => {
    await checkWrite(trx, p, t.id, t.field);
    const row = await rowOf(trx, t, fileId);
    if (Number(row.current) === 1 || f.multiple) throw new AppError('NOT_FOUND', undefined, 'not a kept version');
    if (row.state === 'infected') throw new AppError('FILE_INFECTED');
    const current = await files.rows(trx, t.collection, t.id, t.field);
    if (current.length > 0)
      await trx
        .updateTable('files')
        .set({ current: 0 })
        .where(
          'id',
          'in',
          current.map((c) => c.id),
        )
        .execute();
    await trx.updateTable('files').set({ current: 1 }).where('id', '=', fileId).execute();
    await touch(rc, trx, p.def, caller, t.id);
    const restored = { ...row, current: 1 };
    await logChange(rc, trx, caller, p.def, f, t.id, views(current), views([restored]));
    return FileService.view(restored);
  });
}
