/**
 * FileService (DATA-3): the files' bytes, their rows' scan states, and signed links, below the records layer.
 * It decides nothing about who may do what: `src/records/files.ts` checks the caller's grants and calls it.
 * Scanning runs after an upload (a background task) and on a timer (the sweep); a scanner that is down keeps a
 * file quarantined, never releases it.
 */
import type { Readable } from 'node:stream';
import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import type { FileState, FilesTable } from '../db/types.js';
import { AppError } from '../errors.js';
import { SYSTEM_ACTOR, type SecurityLog } from '../audit/events.js';
import type { AuditTrail } from '../audit/trail.js';
import type { CollectionRegistry } from '../collections/registry.js';
import { auditOptionsOf, isSecretField, type FieldDef } from '../collections/schema.js';
import { DEFAULT_ACCEPT } from '../collections/file-types.js';
import type { FilesConfig } from './env.js';
import type { FileStore, Staged } from './store.js';
import type { Scanner } from './scanner.js';
import { safeName, sniff, type Sniffed } from './sniff.js';
import { FileLinks } from './links.js';
import { MetadataStripper, metadataTreatment, type MetadataOutcome } from './metadata.js';

export type { LinkClaims, LinkCredential } from './links.js';

/** A file as the API shows it. */
export interface FileMeta {
  id: string;
  name: string;
  type: string;
  size: number;
  state: FileState;
  version: number;
  current: boolean;
  uploadedAt: string;
  /** The scanner's signature name, for an infected file only. */
  signature?: string;
  /** In an upload's answer and its change-log entry only: what became of the file's metadata (ASVS V14.2.8). */
  metadata?: MetadataOutcome;
}

/** The limits that apply to one field: the lower of the field's own and the global caps. */
export interface FieldLimits {
  accept: readonly string[];
  maxBytes: number;
  maxPixels: number;
  maxFiles: number;
  versions: number;
}

/** How long a download waits for the store's first bytes before answering 503. */
const OPEN_TIMEOUT_MS = 15_000;

/** How often quarantined files are retried. */
export const SWEEP_SECONDS = 60;
/** Most files one sweep scans. */
const SWEEP_BATCH = 50;
/** Failed scans of one file (while the scanner answers) before it stays quarantined for good. */
const MAX_SCAN_ATTEMPTS = 8;
/** Stored bytes without a row (a crash between commit and removal, a privacy deletion, a configuration import) go after this long. */
export const ORPHAN_AGE_MS = 60 * 60_000;

export interface FileServiceDeps {
  db: Db;
  store: FileStore;
  scanner: Scanner | null;
  config: FilesConfig;
  log: SecurityLog;
  trail: AuditTrail;
  registry: CollectionRegistry;
  /** Single-use marks of spent links (shared state: every instance sees them). */
  spent: { setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> };
  /** Runs work after the answer (BackgroundTasks.run). */
  background: (task: string, fn: () => Promise<void>) => void;
  appKey: string;
  now: () => number;
  onError: (task: string, err: unknown) => void;
}

export class FileService {
  /** Signed download links (`links.ts`). */
  readonly links: FileLinks;
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<unknown> | null = null;
  /** Removes uploads' metadata; null with FILES_STRIP_METADATA=false. */
  readonly stripper: MetadataStripper | null;

  constructor(private readonly d: FileServiceDeps) {
    this.links = new FileLinks(d.appKey, d.now, d.spent);
    this.stripper = d.config.metadata ? new MetadataStripper(d.config.metadata) : null;
  }

  /** Whether the configured scanner answers PING (false without one). */
  async scannerReachable(): Promise<boolean> {
    return this.d.scanner ? this.d.scanner.ping() : false;
  }

  limitsOf(f: FieldDef): FieldLimits {
    const c = this.d.config;
    return {
      accept: f.accept ?? DEFAULT_ACCEPT,
      maxBytes: Math.min(f.maxBytes ?? c.maxBytes, c.maxBytes),
      maxPixels: Math.min(f.maxPixels ?? c.maxPixels, c.maxPixels),
      maxFiles: f.multiple ? (f.maxFiles ?? 20) : 1,
      versions: f.multiple ? 0 : (f.versions ?? 0),
    };
  }

  /**
   * Streams an upload into staging within the field's byte limit, recognises it, and removes its metadata unless the
   * uploader keeps it (`keepMetadata`, which the caller has checked the field allows: `keepAllowed`); a type whose
   * metadata cannot be removed needs that consent (FILE_METADATA_CONSENT_REQUIRED). A refusal leaves nothing.
   * The bytes that are stored, scanned and hashed are those without the metadata.
   */
  async receive(
    input: Readable,
    limits: FieldLimits,
    name: string,
    keepMetadata = false,
    keepAllowed = false,
  ): Promise<{ staged: Staged; sniffed: Sniffed; name: string; metadata: MetadataOutcome }> {
    let staged = await this.d.store.stage(input, limits.maxBytes);
    try {
      if (staged.size === 0) throw new AppError('FILE_TYPE_NOT_ALLOWED', { type: null, accept: limits.accept }, 'empty');
      const sniffed = await sniff(staged.path, limits.accept, limits.maxPixels);
      let metadata: MetadataOutcome = keepMetadata ? 'kept' : 'untouched';
      // A type whose metadata cannot be removed is stored only with the uploader's consent (D446); `keepable` tells
      // the client whether this field could take it with that consent.
      if (!keepMetadata && this.stripper !== null && metadataTreatment(sniffed.type) === 'consent')
        throw new AppError('FILE_METADATA_CONSENT_REQUIRED', { type: sniffed.type, keepable: keepAllowed });
      if (!keepMetadata && this.stripper?.handles(sniffed.type)) {
        staged = await this.stripper.strip(staged, sniffed.type, sniffed.ext);
        // What is stored must still be what was accepted: the same type, within the field's limits.
        if (staged.size > limits.maxBytes) throw new AppError('FILE_TOO_LARGE', { maxBytes: limits.maxBytes }, 'larger once rewritten');
        const again = await sniff(staged.path, [sniffed.type], limits.maxPixels).catch(() => null);
        if (again?.type !== sniffed.type) throw new AppError('FILE_METADATA_NOT_REMOVABLE', undefined, 'not the same type once rewritten');
        metadata = 'removed';
      }
      return { staged, sniffed, name: safeName(name, sniffed), metadata };
    } catch (e) {
      await this.d.store.discard(staged);
      throw e;
    }
  }

  /** The state a new upload starts in: quarantined until a scanner clears it, or unscanned without one. */
  initialState(): FileState {
    return this.d.scanner ? 'quarantined' : 'unscanned';
  }

  commit(staged: Staged, key: string): Promise<void> {
    return this.d.store.commit(staged, key);
  }

  discard(staged: Staged): Promise<void> {
    return this.d.store.discard(staged);
  }

  /**
   * Opens the bytes of a file that may be downloaded; refuses quarantined and infected ones. Resolves once the store
   * has its first bytes (or its end), so that a store that fails to open it (an S3 endpoint that is down or refuses
   * us: SERVICE_UNAVAILABLE) answers with its error before any header is sent.
   */
  async open(row: Pick<FilesTable, 'id' | 'state'>): Promise<Readable> {
    FileService.checkDownloadable(row);
    return this.opened(row.id);
  }

  /** The stored bytes of `id`, once the store has started them (see `open`); the store's error (a 404 or 503) if not. */
  private async opened(id: string): Promise<Readable> {
    const body = this.d.store.read(id);
    await new Promise<void>((resolve, reject) => {
      // A store that neither answers nor fails (an S3 endpoint that sent nothing) is given up on in OPEN_TIMEOUT_MS.
      const timer = setTimeout(() => {
        finish();
        body.destroy();
        reject(new AppError('SERVICE_UNAVAILABLE', undefined, 'the file store did not start the file in time', { 'retry-after': '5' }));
      }, OPEN_TIMEOUT_MS);
      const finish = () => {
        clearTimeout(timer);
        body.off('readable', done);
        body.off('end', done);
        body.off('error', fail);
      };
      const done = () => {
        finish();
        resolve();
      };
      const fail = (e: Error) => {
        finish();
        // Bytes gone from under a row (removed by hand, an object deleted from the bucket) are the
        // operator's to know of: logged as a system error; the caller gets the store's stable 404 (D457).
        if (e instanceof AppError && e.code === 'FILE_CONTENT_MISSING') this.d.onError('file content', new Error(`file ${id}: its stored content is missing`));
        reject(e);
      };
      body.once('readable', done);
      body.once('end', done);
      body.once('error', fail);
    });
    return body;
  }

  /** Only clean and unscanned files leave: quarantined ones wait, infected ones never do. */
  static checkDownloadable(row: Pick<FilesTable, 'state'>): void {
    if (row.state === 'infected') throw new AppError('FILE_INFECTED');
    if (row.state === 'quarantined') throw new AppError('FILE_QUARANTINED');
    if (row.state !== 'clean' && row.state !== 'unscanned')
      throw new AppError('FILE_QUARANTINED', undefined, `unknown state ${String(row.state).slice(0, 20)}`);
  }

  /** Removes stored bytes after the rows that named them are gone (a failure is logged; the key is never reused). */
  removeLater(keys: string[]): void {
    if (keys.length === 0) return;
    this.d.background('file removal', async () => {
      for (const k of keys) await this.d.store.remove(k);
    });
  }

  /** The rows of a record's field: current ones, or every version; newest version first. */
  async rows(db: Db, collection: string, recordId: string, field: string, all = false): Promise<FilesTable[]> {
    let q = db.selectFrom('files').selectAll().where('collection', '=', collection).where('record_id', '=', recordId).where('field', '=', field);
    if (!all) q = q.where('current', '=', 1);
    return q.orderBy('version', 'desc').execute();
  }

  /** The current files of many records at once (record reads attach them). */
  async currentOf(db: Db, collection: string, recordIds: string[], fields: string[]): Promise<FilesTable[]> {
    if (recordIds.length === 0 || fields.length === 0) return [];
    return db
      .selectFrom('files')
      .selectAll()
      .where('collection', '=', collection)
      .where('record_id', 'in', recordIds)
      .where('field', 'in', fields)
      .where('current', '=', 1)
      .orderBy('version', 'asc')
      .execute();
  }

  static view(r: FilesTable): FileMeta {
    return {
      id: r.id,
      name: r.name,
      type: r.type,
      size: Number(r.size),
      state: r.state,
      version: Number(r.version),
      current: Number(r.current) === 1,
      uploadedAt: new Date(Number(r.uploaded_at)).toISOString(),
      ...(r.state === 'infected' ? { signature: r.signature ?? 'unknown' } : {}),
    };
  }

  /** Scans one file after its upload's commit (a background task). */
  scanSoon(id: string): void {
    if (!this.d.scanner) return;
    this.d.background('file scan', async () => {
      try {
        await this.scan(id);
      } catch (e) {
        // Bytes gone from under the row: `opened` has reported it already, and the sweep tries again with its back-off.
        if (e instanceof AppError && e.code === 'FILE_CONTENT_MISSING') return;
        throw e;
      }
    });
  }

  /**
   * Scans a quarantined file and stores the verdict with its audit entries: `file.infected` for an infected one,
   * the record's change log (as the system) for both. A scanner that is down leaves it quarantined for the sweep.
   */
  async scan(id: string): Promise<FileState | null> {
    const scanner = this.d.scanner;
    if (!scanner) return null;
    const row = await this.d.db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst();
    // Unscanned files (uploaded while no scanner was configured) are scanned once one is.
    if (row?.state !== 'quarantined' && row?.state !== 'unscanned') return row?.state ?? null;
    let verdict: Awaited<ReturnType<Scanner['scan']>>;
    try {
      // Opened first, with its error heard from the start: a file whose bytes are gone fails here (FILE_CONTENT_MISSING)
      // and is not left to fail while the scanner connects, with no one listening. An error after that still reaches
      // the scanner's read of the stream (a destroyed stream's iterator throws its error).
      const body = await this.opened(id);
      body.on('error', () => {});
      verdict = await scanner.scan(body);
    } catch (e) {
      if (e instanceof AppError && e.code === 'FILE_TOO_LARGE_TO_SCAN') {
        // Never clearable: it stays quarantined, and the sweep stops retrying it (D248). The state and its event commit
        // together.
        await this.d.db.transaction().execute(async (trx) => {
          // Once: a scan racing another (the sweep, another instance) records nothing a second time.
          const r = await trx
            .updateTable('files')
            .set({ state: 'quarantined', scanned_at: this.d.now() })
            .where('id', '=', id)
            .where('state', '=', row.state)
            .where('scanned_at', 'is', null)
            .executeTakeFirst();
          if (Number(r.numUpdatedRows) === 0) return;
          await this.d.log.record(
            { actor: SYSTEM_ACTOR },
            {
              type: 'file.scan_failed',
              outcome: 'failure',
              subjectId: id,
              details: { collection: row.collection, field: row.field, recordId: row.record_id, reason: e.code },
            },
            trx,
          );
        });
        return 'quarantined';
      }
      throw e;
    }
    const state: FileState = verdict.verdict === 'clean' ? 'clean' : 'infected';
    const signature = verdict.verdict === 'infected' ? verdict.signature : null;
    const def = await this.d.registry.get(row.collection);
    const f = def?.fields.find((x) => x.name === row.field);
    await this.d.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('files')
        .set({ state, signature, scanned_at: this.d.now() })
        .where('id', '=', id)
        .where('state', '=', row.state)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return;
      if (state === 'infected')
        await this.d.log.record(
          { actor: SYSTEM_ACTOR },
          {
            type: 'file.infected',
            outcome: 'failure',
            subjectId: id,
            details: { collection: row.collection, field: row.field, recordId: row.record_id, signature, uploadedBy: row.uploaded_by, sha256: row.sha256 },
          },
          trx,
        );
      if (def && f && Number(row.current) === 1) {
        const before = FileService.view(row);
        const after = FileService.view({ ...row, state, signature });
        await this.d.trail.changes(
          trx,
          { actor: SYSTEM_ACTOR },
          def.name,
          [{ name: f.name, secret: isSecretField(f), status: false }],
          auditOptionsOf(def).changeLog,
          [{ operation: 'update', id: row.record_id, before: { [f.name]: [before] }, after: { [f.name]: [after] } }],
        );
      }
    });
    return state;
  }

  /** How many stored file versions are in each state (`palisade files status`). */
  async counts(): Promise<Record<FileState, number>> {
    const rows = await this.d.db
      .selectFrom('files')
      .select(['state', (e) => e.fn.countAll<number>().as('n')])
      .groupBy('state')
      .execute();
    const out: Record<FileState, number> = { quarantined: 0, clean: 0, infected: 0, unscanned: 0 };
    for (const r of rows) out[r.state] = Number(r.n);
    return out;
  }

  /**
   * Retries every quarantined file not yet given up on (a scanner that was down, a process that stopped), and scans
   * the files uploaded `unscanned` before a scanner was configured.
   */
  async sweep(): Promise<{ scanned: number; pending: number }> {
    const scanner = this.d.scanner;
    if (!scanner) return { scanned: 0, pending: 0 };
    const now = this.d.now();
    // Files uploaded before a scanner was set are downloadable until scanned: they go first.
    const rows = await this.d.db
      .selectFrom('files')
      .select(['id', 'scan_attempts', 'collection', 'field', 'record_id'])
      .where('state', 'in', ['quarantined', 'unscanned'])
      .where('scanned_at', 'is', null)
      .where((w) => w.or([w('next_scan_at', 'is', null), w('next_scan_at', '<=', now)]))
      .orderBy(sql`case when state = 'unscanned' then 0 else 1 end`)
      .orderBy('uploaded_at')
      .limit(SWEEP_BATCH)
      .execute();
    let scanned = 0;
    for (const r of rows) {
      try {
        const s = await this.scan(r.id);
        if (s !== 'quarantined') scanned++;
      } catch (e) {
        if (e instanceof AppError && e.code === 'SCANNER_UNAVAILABLE') {
          // The scanner is down: the rest would fail the same way; the next sweep tries again.
          if (!(await scanner.ping())) return { scanned, pending: rows.length - scanned };
          // It answers, so this one file is the trouble (a scan past the timeout, an error line): it waits its turn
          // with a growing back-off and never holds up the others; after MAX_SCAN_ATTEMPTS it stays quarantined.
          await this.scanFailed(r.id, Number(r.scan_attempts) + 1, { collection: r.collection, field: r.field, recordId: r.record_id });
          continue;
        }
        // The store itself failing (a bucket gone or not answering, the files directory missing) fails every file alike:
        // as with the scanner down, the next sweep tries again.
        if (e instanceof AppError && e.code === 'SERVICE_UNAVAILABLE') {
          this.d.onError('file scan', e);
          return { scanned, pending: rows.length - scanned };
        }
        // One file's failure (its bytes gone or unreadable) must not hold up the others; it keeps its state, and a file
        // whose bytes are gone waits with the same growing back-off as a failing scan.
        if (e instanceof AppError && e.code === 'FILE_CONTENT_MISSING')
          await this.scanFailed(r.id, Number(r.scan_attempts) + 1, { collection: r.collection, field: r.field, recordId: r.record_id }, e.code);
        else
          this.d.onError(
            'file scan',
            Object.assign(new Error(`file ${r.id}: ${e instanceof Error ? e.message : String(e)}`), { code: (e as { code?: unknown }).code }),
          );
      }
    }
    return { scanned, pending: rows.length - scanned };
  }

  private async scanFailed(
    id: string,
    attempts: number,
    where: { collection: string; field: string; recordId: string },
    reason: 'SCANNER_UNAVAILABLE' | 'FILE_CONTENT_MISSING' = 'SCANNER_UNAVAILABLE',
  ): Promise<void> {
    const now = this.d.now();
    // A file whose bytes are gone is never given up (its state would turn it from 404 into "retry later" for good, and
    // bytes put back, a store remounted, must still be scanned): it is tried again at the longest back-off.
    const givenUp = attempts >= MAX_SCAN_ATTEMPTS && reason !== 'FILE_CONTENT_MISSING';
    // Giving up and its event commit together (and only a file still waiting is given up, once).
    await this.d.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('files')
        .set({
          scan_attempts: attempts,
          next_scan_at: now + Math.min(60_000 * 2 ** (attempts - 1), 3_600_000),
          // Given up: quarantined for good (an unscanned file too: the scanner could not clear it).
          ...(givenUp ? { state: 'quarantined' as const, scanned_at: now } : {}),
        })
        .where('id', '=', id)
        .where('state', 'in', ['quarantined', 'unscanned'])
        .where('scanned_at', 'is', null)
        .executeTakeFirst();
      if (givenUp && Number(r.numUpdatedRows) > 0)
        await this.d.log.record(
          { actor: SYSTEM_ACTOR },
          { type: 'file.scan_failed', outcome: 'failure', subjectId: id, details: { ...where, reason, attempts } },
          trx,
        );
    });
  }

  /**
   * Removes stored bytes that no row names and staging files left behind, both older than ORPHAN_AGE_MS (an
   * upload's bytes are under their key shortly before its row is committed: the age keeps them safe).
   */
  async collectOrphans(): Promise<number> {
    const before = this.d.now() - ORPHAN_AGE_MS;
    let removed = 0;
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const known = new Set((await this.d.db.selectFrom('files').select('id').where('id', 'in', batch).execute()).map((r) => r.id));
      for (const k of batch)
        if (!known.has(k)) {
          await this.d.store.remove(k);
          removed++;
        }
      batch = [];
    };
    for await (const item of this.d.store.older(before)) {
      if ('staged' in item) {
        await this.d.store.discard(item.staged);
        removed++;
        continue;
      }
      batch.push(item.key);
      if (batch.length >= 500) await flush();
    }
    await flush();
    return removed;
  }

  private lastOrphans = 0;

  /** One tick: the quarantine sweep, and the orphan sweep at most hourly. */
  private async tick(): Promise<void> {
    await this.sweep();
    if (this.d.now() - this.lastOrphans >= ORPHAN_AGE_MS) {
      this.lastOrphans = this.d.now();
      await this.collectOrphans();
    }
  }

  start(tickMs = SWEEP_SECONDS * 1000): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = this.tick()
        .catch((e: unknown) => this.d.onError('file sweep', e))
        .finally(() => {
          this.sweeping = null;
        });
    }, tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sweeping;
  }
}
