import type { Readable } from 'node:stream';
import type { Db } from '../db/index.js';
import type { UsersTable } from '../db/types.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import type { AuditTrail } from '../audit/trail.js';
import type { CollectionRegistry } from '../collections/registry.js';
import type { AccessStore } from '../access/grants.js';
import type { Plan } from '../access/plan.js';
import type { Caller, ListQuery, ListResult, RecordOut, RecordsContext } from './context.js';
import { get, list } from './list.js';
import { aggregate } from './aggregate.js';
import { create, remove, update } from './write.js';
import { bulkDelete, bulkUpdate } from './bulk.js';
import { exportRecords, importCsv, importRecords } from './transfer.js';
import { explain } from './explain.js';
import { catalogue } from './catalogue.js';
import { plan } from './planning.js';
import { recordAccess, removeMember } from './audit.js';
import { diffRevision, getRevision, listRevisions, restoreRevision, type FieldDiff, type RevisionOut, type RevisionSummary } from './revisions.js';
import { statusTimes, type StatusTimes } from './status-times.js';
import type { CatalogueEntry } from '../access/catalogue.js';
import type { FileMeta, FileService, LinkClaims, LinkCredential } from '../files/service.js';
import { deleteFile, linkFile, listFiles, openFile, openLinked, restoreFile, uploadFile, type FileTarget, type UploadOptions } from './files.js';

export type { Caller, ListQuery, RecordOut } from './context.js';

/**
 * The records service (ACCESS-3 to ACCESS-8): every read and write of records goes through here.
 * Each operation takes the caller's access plan (`src/access/plan.ts`): the row scope is compiled into
 * the SQL WHERE, fields no grant lets the caller read are never selected, each row shows only the
 * fields of the grants that hold for it, and writes are checked before and after the change inside
 * the transaction. One file per operation; this class only wires them.
 */
export class RecordService {
  private readonly rc: RecordsContext;

  constructor(
    db: Db,
    registry: CollectionRegistry,
    access: AccessStore,
    log: SecurityLog,
    trail: AuditTrail,
    now: () => number,
    dialect: 'sqlite' | 'postgres',
    files: FileService | null = null,
  ) {
    this.rc = {
      db,
      registry,
      access,
      log,
      trail,
      now,
      dialect,
      files,
      // Operations read through these without an access-log entry; the public list and get record it.
      list: (caller, collection, q, action, planned) => list(this.rc, caller, collection, q, action, planned),
      get: (caller, collection, id, expand) => get(this.rc, caller, collection, id, expand),
    };
  }

  /** Takes a user being deleted out of every member list, with change entries, in the deletion's transaction. */
  removeMember(trx: Db, userId: string, ctx: EventContext): Promise<void> {
    return removeMember(this.rc, trx, userId, ctx);
  }

  /** A page of records; recorded in the access log where the collection keeps one. */
  async list(caller: Caller, collection: string, q: ListQuery, action: 'view' | 'export' = 'view', planned?: Plan): Promise<ListResult> {
    const p = planned ?? (await plan(this.rc, caller, collection, action));
    const r = await list(this.rc, caller, collection, q, action, p);
    await recordAccess(
      this.rc,
      caller,
      p.def,
      'list',
      r.items.map((i) => String(i.id)),
      { ...q, total: r.total },
    );
    return r;
  }

  /** One record; recorded in the access log where the collection keeps one. */
  async get(caller: Caller, collection: string, id: string, expand?: string): Promise<RecordOut> {
    const r = await get(this.rc, caller, collection, id, expand);
    const def = await this.rc.registry.get(collection);
    if (def) await recordAccess(this.rc, caller, def, 'read', [id], {});
    return r;
  }

  /** The collections the caller has a grant on, with the fields and actions their grants give (`admin`: the principal's, never a key's). */
  catalogue(caller: Caller): Promise<CatalogueEntry[]> {
    return catalogue(this.rc, caller);
  }

  /** Aggregates; recorded in the access log (filter, grouping, number of groups) where the collection keeps one. */
  async aggregate(
    caller: Caller,
    collection: string,
    q: { filter?: unknown; groupBy?: string; metrics: string },
  ): Promise<{ groups: Array<Record<string, unknown>> }> {
    const r = await aggregate(this.rc, caller, collection, q);
    const def = await this.rc.registry.get(collection);
    if (def)
      await recordAccess(this.rc, caller, def, 'list', [], {
        filter: q.filter,
        total: r.groups.length,
        aggregate: { ...(q.groupBy ? { groupBy: q.groupBy } : {}), metrics: q.metrics },
      });
    return r;
  }

  exportRecords(caller: Caller, collection: string, q: Omit<ListQuery, 'page' | 'perPage'>): AsyncGenerator<RecordOut | string[]> {
    return exportRecords(this.rc, caller, collection, q, (def, count) => recordAccess(this.rc, caller, def, 'export', [], { ...q, total: count }));
  }

  create(caller: Caller, collection: string, body: unknown): Promise<RecordOut> {
    return create(this.rc, caller, collection, body);
  }

  importRecords(caller: Caller, collection: string, rows: unknown[]): Promise<{ imported: number }> {
    return importRecords(this.rc, caller, collection, rows);
  }

  importCsv(caller: Caller, collection: string, text: string): Promise<{ imported: number }> {
    return importCsv(this.rc, caller, collection, text);
  }

  update(caller: Caller, collection: string, id: string, body: unknown): Promise<RecordOut> {
    return update(this.rc, caller, collection, id, body);
  }

  remove(caller: Caller, collection: string, id: string): Promise<void> {
    return remove(this.rc, caller, collection, id);
  }

  bulkDelete(caller: Caller, collection: string, filter: unknown): Promise<number> {
    return bulkDelete(this.rc, caller, collection, filter);
  }

  bulkUpdate(caller: Caller, collection: string, filter: unknown, set: unknown): Promise<number> {
    return bulkUpdate(this.rc, caller, collection, filter, set);
  }

  /** A record's revisions, newest first (AUDIT-4); 404 when the caller cannot view the record. */
  revisions(
    caller: Caller,
    collection: string,
    id: string,
    q: { beforeRev?: number; limit: number },
  ): Promise<{ revisions: RevisionSummary[]; next: number | null; kept: boolean }> {
    return listRevisions(this.rc, caller, collection, id, q);
  }

  /** One stored version, masked like a read of the record. */
  revision(caller: Caller, collection: string, id: string, rev: number): Promise<RevisionOut> {
    return getRevision(this.rc, caller, collection, id, rev);
  }

  revisionDiff(
    caller: Caller,
    collection: string,
    id: string,
    rev: number,
    against: number | 'current',
  ): Promise<{ rev: number; against: number | 'current'; changes: FieldDiff[] }> {
    return diffRevision(this.rc, caller, collection, id, rev, against);
  }

  /** Restores a revision's fields through the normal update path (operation 'restore'). */
  restoreRevision(
    caller: Caller,
    collection: string,
    id: string,
    rev: number,
    fields?: string[],
  ): Promise<{ record: RecordOut; restored: string[]; skipped: string[] }> {
    return restoreRevision(this.rc, caller, collection, id, rev, fields);
  }

  /** Transitions and time spent in each status of the status fields the caller reads on a record. */
  statusTimes(caller: Caller, collection: string, id: string, field?: string): Promise<{ at: string; fields: StatusTimes[]; truncated?: true }> {
    return statusTimes(this.rc, caller, collection, id, field);
  }

  /** Uploads a file into a record's file field (DATA-3): update access to the record, write access to the field. */
  uploadFile(caller: Caller, t: FileTarget, name: string, input: Readable, opts: UploadOptions = {}): Promise<FileMeta> {
    return uploadFile(this.rc, caller, t, name, input, opts);
  }

  /** A file field's current files, or every kept version (`versions`, for those who may write the field). */
  listFiles(caller: Caller, t: FileTarget, versions: boolean): Promise<FileMeta[]> {
    return listFiles(this.rc, caller, t, versions);
  }

  /** A file's bytes, when the caller may read the field and the file is clean or unscanned. */
  openFile(caller: Caller, t: FileTarget, fileId: string): Promise<{ meta: FileMeta; body: Readable }> {
    return openFile(this.rc, caller, t, fileId);
  }

  deleteFile(caller: Caller, t: FileTarget, fileId: string): Promise<void> {
    return deleteFile(this.rc, caller, t, fileId);
  }

  restoreFile(caller: Caller, t: FileTarget, fileId: string): Promise<FileMeta> {
    return restoreFile(this.rc, caller, t, fileId);
  }

  /** A signed download link (60 s, once) for the caller; `credential`/`role`: what the caller acts with, re-checked on use. */
  linkFile(caller: Caller, t: FileTarget, fileId: string, credential: LinkCredential, role: string | null): Promise<{ token: string; expiresAt: string }> {
    return linkFile(this.rc, caller, t, fileId, credential, role);
  }

  /** The file a redeemed link names, under the grants the link's user holds now. */
  openLinked(caller: Caller, claims: LinkClaims): Promise<{ meta: FileMeta; body: Readable }> {
    return openLinked(this.rc, caller, claims);
  }

  explain(user: UsersTable, roles: string[], departments: string[], collection: string, id: string | undefined): ReturnType<typeof explain> {
    return explain(this.rc, user, roles, departments, collection, id);
  }
}
