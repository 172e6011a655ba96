/**
 * Configuration as code (DATA-5): `ConfigTransfer` exports everything an environment's behaviour depends on
 * (collections, the access model, every settings area, IP rules, the names of the secrets it refers to) and
 * imports such a document: the diff first, then every change in one transaction with its audit record.
 */
import { createHash } from 'node:crypto';
import { PostgresAdapter, sql } from 'kysely';
import type { Db } from '../db/index.js';
import { SecurityLog, type EventContext } from '../audit/events.js';
import { SettingsStore, type SecretBackend, type SettingsArea, type SettingsChange } from '../config/settings.js';
import type { Sealer } from '../config/seal.js';
import { CollectionRegistry } from '../collections/registry.js';
import { AccessStore } from '../access/grants.js';
import { joinedTransaction } from './joined.js';
import { currentDocument, secretRefs } from './current.js';
import { diffDocuments, DIFF_SECTIONS, type ConfigDiff } from './diff.js';
import { applyDocument } from './apply.js';
import { formatConfigDocument, parseConfigDocument, type ConfigDocument, type Format } from './document.js';
import type { OutboundAllowlist } from '../config/outbound.js';

export { formatOfName, LIMITS as CONFIG_LIMITS, type ConfigDocument, type Format } from './document.js';
export type { ConfigDiff, SectionDiff, ItemChange, FieldChange } from './diff.js';

/** What the store lists of secrets: names and whether set, never a value. */
interface SecretLister {
  list(): Promise<Array<{ name: string; set: boolean; usedBy: string | null }>>;
}

export interface TransferDeps {
  db: Db;
  now: () => number;
  securityLog: SecurityLog;
  collections: CollectionRegistry;
  access: AccessStore;
  settings: SettingsStore;
  areas: readonly SettingsArea[];
  /** The settings store's own parts, for the copy that joins an import's transaction. */
  settingsSeeds: Readonly<Record<string, object>>;
  sealer: Sealer;
  secrets: SecretLister & SecretBackend;
  /** OUTBOUND_ALLOW: an imported provider the server would connect to must be on it (D435). */
  outbound: OutboundAllowlist | null;
  /** Told after the commit: IP rules and settings are kept up to a second per instance; this one forgets them at once. */
  committed: () => void;
  /** Told of each settings area stored, after the commit (the system log). */
  onSettingsChange?: (c: SettingsChange) => void;
}

export interface ImportOptions {
  dryRun: boolean;
  /** Remove fields, roles, departments and IP rules the file does not list (never collections). */
  prune: boolean;
  /** The administrator's address over HTTP: a result that would refuse it on the admin routes is SELF_LOCKOUT. */
  requesterIp?: string;
}

export interface ImportResult {
  dryRun: boolean;
  diff: ConfigDiff;
  /** SHA-256 of the document as given, recorded with the import. */
  digest: string;
}

/** Thrown inside a dry run's transaction to roll everything back once every check has run. */
class DryRun extends Error {}

/** The PostgreSQL advisory-lock key of schema changes: the same as the registry's (collections/registry.ts). */
const SCHEMA_LOCK = '7160001';

export class ConfigTransfer {
  constructor(private readonly d: TransferDeps) {}

  /** The environment's configuration; the export itself is recorded (`config.exported`). */
  async export(ctx: EventContext): Promise<ConfigDocument> {
    const secrets = secretRefs(this.d.areas, await this.d.secrets.list());
    const doc = await currentDocument({ ...this.d }, secrets);
    await this.d.securityLog.record(ctx, { type: 'config.exported', outcome: 'success', details: { digest: digestOf(formatConfigDocument(doc, 'json')) } });
    return doc;
  }

  async exportText(format: Format, ctx: EventContext): Promise<string> {
    return formatConfigDocument(await this.export(ctx), format);
  }

  /**
   * Checks the document against this environment and, unless `dryRun`, applies it: every change, each with its
   * own event, and `config.imported` in one transaction. A dry run runs the same steps and rolls them back, so
   * it refuses exactly what the import would. Sections the file lacks are left as they are.
   */
  async importText(text: string, format: Format, opts: ImportOptions, ctx: EventContext): Promise<ImportResult> {
    const doc = parseConfigDocument(text, format, this.d.areas);
    const digest = digestOf(text);
    const setSecrets = new Set((await this.d.secrets.list()).filter((s) => s.set).map((s) => s.name));
    const changes: SettingsChange[] = [];
    let diff: ConfigDiff | undefined;
    try {
      await this.d.db.transaction().execute(async (trx) => {
        await lockSchema(trx);
        const db = joinedTransaction(trx);
        // A dry run's events are rolled back; a log of its own keeps them out of the metrics too.
        const log = opts.dryRun ? new SecurityLog(db, this.d.now) : this.d.securityLog;
        const collections = new CollectionRegistry(db, log, this.d.now);
        const access = new AccessStore(db, collections, log, this.d.now);
        const settings = new SettingsStore(db, log, this.d.now, this.d.settingsSeeds, this.d.sealer, (c) => changes.push(c), this.d.secrets);
        const t = { db, log, now: this.d.now, collections, access, settings, areas: this.d.areas, secrets: this.d.secrets, outbound: this.d.outbound };
        diff = diffDocuments(await currentDocument(t, []), doc, opts.prune, setSecrets);
        await applyDocument(t, doc, { prune: opts.prune, requesterIp: opts.requesterIp }, ctx);
        if (opts.dryRun) throw new DryRun();
        await log.record(ctx, { type: 'config.imported', outcome: 'success', details: summary(diff, digest, opts.prune) }, db);
      });
    } catch (e) {
      if (!(e instanceof DryRun)) throw e;
    }
    if (!opts.dryRun) {
      this.d.committed();
      for (const c of changes) this.d.onSettingsChange?.(c);
    }
    return { dryRun: opts.dryRun, diff: diff!, digest };
  }
}

function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** What `config.imported` records: counts per section, the file's digest; the details are in each change's own event. */
function summary(diff: ConfigDiff, digest: string, prune: boolean): Record<string, unknown> {
  const sections = Object.fromEntries(
    DIFF_SECTIONS.filter((k) => diff.sections[k].inFile).map((k) => {
      const s = diff.sections[k];
      return [k, { added: s.added.length, changed: s.changed.length, removed: s.removed.length }];
    }),
  );
  return { digest, prune, sections, ...(diff.missingSecrets.length > 0 ? { missingSecrets: diff.missingSecrets } : {}) };
}

/**
 * Takes the schema lock first, as the registry's changes do (registry.ts: `schemaChange`), so that an import
 * runs after or before any other schema change, never between its reads and writes. SQLite: a no-op write
 * takes the database's write lock before anything is read.
 */
async function lockSchema(trx: Db): Promise<void> {
  if (trx.getExecutor().adapter instanceof PostgresAdapter) await sql`select pg_advisory_xact_lock(${sql.raw(SCHEMA_LOCK)})`.execute(trx);
  else await sql`update collections set updated_at = updated_at where 1 = 0`.execute(trx);
}
