/** What every records operation shares: the caller, the query and answer shapes, and the services it uses. */
import type { Db } from '../db/index.js';
import type { UsersTable } from '../db/types.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import type { AuditTrail } from '../audit/trail.js';
import type { CollectionRegistry } from '../collections/registry.js';
import type { AccessStore } from '../access/grants.js';
import type { Plan } from '../access/plan.js';
import type { FileService } from '../files/service.js';

export interface Caller {
  user: UsersTable;
  /**
   * Whether the request acts as an administrator (grants bypassed, audited as record.bypass): from the
   * principal, so an administrator's API key, which never acts as one, is false here.
   */
  admin: boolean;
  /** The roles the request acts with (the active role, or the union of all held). */
  roles: string[];
  departments: string[];
  ctx: EventContext;
  /** The `access` stamp read with the request's credential: definitions and grants come from the caches of it (D360). */
  stamp?: number;
}

export interface ListQuery {
  filter?: unknown;
  sort?: string;
  fields?: string;
  /** Relation fields to expand, and `collection:field` reverse relations. */
  expand?: string;
  /** Free text: matches records where any text field the caller may filter on contains it. */
  search?: string;
  page: number;
  perPage: number;
  /** Count the matching records too (D355): a count costs more than a page, so only those who show it ask. */
  total?: boolean;
  /** The read of one record by its id (`get`): the only list that carries secret fields (D431). Never from a client. */
  single?: boolean;
}

export type RecordOut = Record<string, unknown>;

export interface ListResult {
  items: RecordOut[];
  /** Only when asked for (`total: true`): the matching records, counted up to 10,000. */
  total?: number;
  totalCapped?: boolean;
  /** Whether a next page has records (the page was read with one row more). */
  hasMore: boolean;
  page: number;
  perPage: number;
  expandTruncated?: string[];
}

/**
 * The services an operation runs with, and the two reads that operations reuse (expansion, relation
 * checks, export and write read-backs go through the same list and get as a client).
 */
export interface RecordsContext {
  db: Db;
  registry: CollectionRegistry;
  access: Pick<AccessStore, 'grantsFor'>;
  log: SecurityLog;
  trail: AuditTrail;
  now: () => number;
  dialect: 'sqlite' | 'postgres';
  /** Files of records (DATA-3); null where no file store is wired. */
  files: FileService | null;
  list(caller: Caller, collection: string, q: ListQuery, action?: 'view' | 'export', planned?: Plan): Promise<ListResult>;
  get(caller: Caller, collection: string, id: string, expand?: string): Promise<RecordOut>;
}

/** Most records one bulk request (update, delete, import) may change. */
export const BULK_MAX = 10_000;
