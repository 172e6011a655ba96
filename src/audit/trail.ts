/**
 * The record audit log (AUDIT-3): change, status, access and system entries, each on the audit chain
 * in the transaction of what it records. Personal values (a change's old and new values) are
 * encrypted under a key per record: erasing a record's history destroys its key and leaves every
 * entry, and so the chain, as it was (D100). The key is derived from APP_KEY and a random salt kept
 * in the first change entry encrypted under it (`audit_log.key_salt`, D459); keys from before, and
 * salts whose entry retention removed, are in `audit_subject_keys`. Values of hidden and sensitive
 * fields never reach an entry: it names the field only.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import { secureRandom } from '../util/random.js';
import type { AuditLogTable } from '../db/types.js';
import { append, linkPending, lockChainNow } from './chain.js';
import type { LogRow } from './chain-digest.js';
import { SYSTEM_ACTOR, type EventContext } from './events.js';

/** The sealer of `config/seal.ts`, by shape (audit sits below config): it opens the keys sealed before D459. */
export interface KeySealer {
  open(sealed: string, field: string): string | null;
}

/** A record's audit key from its salt (D459). */
export interface SubjectKeyDeriver {
  derive(subject: string, salt: Buffer): Buffer;
}

/** How a salt is stored (`audit_log.key_salt`, `audit_subject_keys.sealed`): `v2.` and 16 bytes in base64url. */
const SALT_PREFIX = 'v2.';
const SALT_BYTES = 16;

/**
 * HMAC-SHA256 of the subject and the salt under a key HKDF derives from APP_KEY for this use alone: without APP_KEY
 * a salt gives nothing, and without the salt (erased) APP_KEY gives nothing.
 */
export function subjectKeyDeriver(appKey: string): SubjectKeyDeriver {
  const master = Buffer.from(hkdfSync('sha256', appKey, 'audit-subject', 'palisade/audit-subject-key/v2', 32));
  return { derive: (subject, salt) => createHmac('sha256', master).update(subject).update('\0').update(salt).digest() };
}

export const AUDIT_KINDS = ['change', 'status', 'access', 'system'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];
export const AUDIT_OPERATIONS = [
  'create',
  'update',
  'delete',
  'restore',
  'anonymise',
  'erase',
  'transition',
  'read',
  'list',
  'export',
  'retention',
  'checkpoint',
  'policy',
] as const;
export type AuditOperation = (typeof AUDIT_OPERATIONS)[number];

/** A field as the trail sees it: whether its values are secret, whether it is a status. */
export interface TrailField {
  name: string;
  secret: boolean;
  status: boolean;
}

/** One record's change, values as clients see them. */
export interface RecordChange {
  operation: 'create' | 'update' | 'delete' | 'restore' | 'anonymise';
  id: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export interface AuditFilter {
  kind?: AuditKind;
  collection?: string;
  recordId?: string;
  actorId?: string;
  operation?: AuditOperation;
  since?: number;
  until?: number;
  beforeSeq?: number;
  limit: number;
}

export interface FieldChangeOut {
  field: string;
  old?: unknown;
  new?: unknown;
  /** Hidden or sensitive: the values were never logged. */
  secret?: true;
}

export interface AuditEntryOut {
  seq: number;
  at: string;
  kind: string;
  collection: string | null;
  recordId: string | null;
  operation: string;
  actor: { id: string | null; name: string | null; via?: unknown };
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  changes?: FieldChangeOut[];
  /** The values of this change were erased (the record's key is destroyed). */
  erased?: true;
  data?: Record<string, unknown>;
}

/** Equal as logged: scalars compared directly, lists and objects by their JSON. */
const sameValue = (a: unknown, b: unknown): boolean => {
  const x = a ?? null;
  const y = b ?? null;
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  return JSON.stringify(x) === JSON.stringify(y);
};
export const subjectOf = (collection: string, id: string): string => `${collection}:${id}`;

/** A collection's fields as the trail must judge them when showing old entries; null: the collection is gone. */
export type FieldsNow = (collection: string) => Promise<{ secret: ReadonlySet<string>; known: ReadonlySet<string> } | null>;

/** A change entry whose values are encrypted once its record's key is known. */
interface Sealed {
  row: LogRow;
  id: string;
  created: boolean;
  changed: Array<{ field: string; secret?: true }>;
  values: Record<string, [unknown, unknown]>;
}

export class AuditTrail {
  /**
   * @param fieldsNow the collection's fields today: a field marked hidden or sensitive since an entry
   * was written, or removed since, no longer shows the values logged before.
   */
  constructor(
    private readonly db: Db,
    private readonly now: () => number,
    private readonly sealer: KeySealer,
    private readonly deriver: SubjectKeyDeriver,
    private readonly fieldsNow: FieldsNow = async () => null,
  ) {}

  private base(ctx: EventContext): Pick<LogRow, 'at' | 'actor_id' | 'actor_name' | 'via' | 'ip' | 'user_agent' | 'request_id'> {
    return {
      at: this.now(),
      actor_id: ctx.actor.id,
      actor_name: ctx.actor.name,
      via: ctx.via ? JSON.stringify(ctx.via) : null,
      ip: ctx.ip ?? null,
      user_agent: ctx.userAgent ? ctx.userAgent.slice(0, 512) : null,
      request_id: ctx.requestId ?? null,
    };
  }

  /**
   * Records changes inside `trx`: a change entry per record (when `changeLog`), and a status entry per
   * status field whose value moved. Values are encrypted under the record's key.
   */
  async changes(trx: Db, ctx: EventContext, collection: string, fields: TrailField[], changeLog: boolean, changes: RecordChange[]): Promise<void> {
    if (changes.length === 0) return;
    const base = this.base(ctx);
    // Every row is made whole here, in one shape (its salt null until set): the append reads them all alike.
    const entry = (kind: AuditKind, id: string, operation: AuditOperation, data: string | null): LogRow => ({
      at: base.at,
      actor_id: base.actor_id,
      actor_name: base.actor_name,
      via: base.via,
      ip: base.ip,
      user_agent: base.user_agent,
      request_id: base.request_id,
      kind,
      collection,
      record_id: id,
      operation,
      data,
      key_salt: null,
    });
    const rows: LogRow[] = [];
    const sealed: Sealed[] = [];
    for (const c of changes) {
      const changed: Array<{ field: string; secret?: true }> = [];
      let values: Record<string, [unknown, unknown]> | null = null;
      let transitions: LogRow[] | null = null;
      for (const f of fields) {
        const old = c.before ? (c.before[f.name] ?? null) : null;
        const now = c.after ? (c.after[f.name] ?? null) : null;
        const same = sameValue(old, now);
        if (same && !(c.operation === 'delete' && old !== null)) continue;
        if (f.secret) changed.push({ field: f.name, secret: true });
        else {
          changed.push({ field: f.name });
          values = values ?? {};
          values[f.name] = [old, now];
          if (f.status && !same) {
            transitions = transitions ?? [];
            transitions.push(entry('status', c.id, 'transition', JSON.stringify({ field: f.name, from: old, to: now })));
          }
        }
      }
      // The change entry first: a record's create entry is its first entry, where its key's salt is found (D459).
      if (changeLog) {
        // An entry with values gets its data once encrypted, below.
        const row = entry('change', c.id, c.operation, values ? null : JSON.stringify({ changed }));
        if (values) sealed.push({ row, id: c.id, created: c.operation === 'create', changed, values });
        rows.push(row);
      }
      if (transitions) for (const r of transitions) rows.push(r);
    }
    if (sealed.length > 0) {
      // A record created in this write has no key yet: its key is made without a lookup, its salt kept in its create
      // entry (D459). The others' keys are looked up (and made, kept apart, for a record that has none).
      const created = new Set(sealed.filter((p) => p.created).map((p) => p.id));
      const lookup = [...new Set(sealed.map((p) => p.id))].filter((id) => !created.has(id));
      // Entries this transaction appended before are linked first (PostgreSQL, D464): a key's salt may be in one.
      if (lookup.length > 0) await linkPending(trx);
      const keys = lookup.length > 0 ? await this.keysFor(trx, collection, lookup, true) : new Map<string, Buffer[]>();
      for (const p of sealed) {
        const subject = subjectOf(collection, p.id);
        let key = keys.get(p.id)?.[0];
        if (!key && p.created) {
          const salt = secureRandom(SALT_BYTES);
          key = this.deriver.derive(subject, salt);
          keys.set(p.id, [key]);
          p.row.key_salt = `${SALT_PREFIX}${salt.toString('base64url')}`;
        }
        if (!key) throw new Error('audit subject key missing');
        p.row.data = JSON.stringify({ changed: p.changed, values: encrypt(key, subject, JSON.stringify(p.values)) });
      }
    }
    await append(
      trx,
      rows.map((row) => ({ table: 'audit_log', row })),
    );
  }

  /** An access entry (reads, lists, exports); in `db`'s transaction when it is one. */
  async access(
    db: Db,
    ctx: EventContext,
    collection: string,
    operation: 'read' | 'list' | 'export',
    recordId: string | null,
    data: Record<string, unknown>,
  ): Promise<void> {
    await append(db, [
      { table: 'audit_log', row: { ...this.base(ctx), kind: 'access', collection, record_id: recordId, operation, data: JSON.stringify(data) } },
    ]);
  }

  /** An entry the system writes about the trail itself (retention runs, checkpoints, policies, erasures). */
  async system(db: Db, ctx: EventContext, operation: AuditOperation, data: Record<string, unknown>, collection: string | null = null): Promise<void> {
    await append(db, [{ table: 'audit_log', row: { ...this.base(ctx), kind: 'system', collection, record_id: null, operation, data: JSON.stringify(data) } }]);
  }

  /**
   * Destroys the keys of records' histories: their logged values can no longer be read by anyone. The
   * erasure is itself on the chain (a system entry with the number of records), inside the window the
   * database's trigger asks for; a key deleted any other way is refused.
   */
  async erase(trx: Db, collection: string, ids: string[], ctx: EventContext = { actor: SYSTEM_ACTOR }, reason = 'erasure'): Promise<number> {
    const n = await this.deleteKeys(trx, collection, ids);
    await this.system(trx, ctx, 'erase', { reason, records: ids.length, keys: n }, collection);
    return n;
  }

  /** Destroys the keys of `collection`'s records `ids`: sealed keys and salts kept apart, and salts in their entries. */
  private async deleteKeys(trx: Db, collection: string, ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    // Before anything is read: a retention run copying this record's salt apart either committed (its copy is deleted
    // here) or waits, and then finds the salt gone (D459).
    await lockChainNow(trx);
    await trx
      .insertInto('audit_prune')
      .values({ kind: 'erase', before_at: 0 })
      .onConflict((oc) => oc.column('kind').doNothing())
      .execute();
    let n = 0;
    for (let i = 0; i < ids.length; i += 200) {
      const part = ids.slice(i, i + 200);
      const r = await trx
        .deleteFrom('audit_subject_keys')
        .where(
          'subject',
          'in',
          part.map((id) => subjectOf(collection, id)),
        )
        .executeTakeFirst();
      const u = await trx
        .updateTable('audit_log')
        .set({ key_salt: null })
        .where('collection', '=', collection)
        .where('record_id', 'in', part)
        .where('key_salt', 'is not', null)
        .executeTakeFirst();
      n += Number(r.numDeletedRows ?? 0n) + Number(u.numUpdatedRows ?? 0n);
    }
    await trx.deleteFrom('audit_prune').where('kind', '=', 'erase').execute();
    return n;
  }

  /** Newest first; page with `beforeSeq` = the last `seq` of the previous page. */
  async list(f: AuditFilter): Promise<AuditEntryOut[]> {
    let q = this.db.selectFrom('audit_log').selectAll();
    if (f.kind) q = q.where('kind', '=', f.kind);
    if (f.collection) q = q.where('collection', '=', f.collection);
    if (f.recordId) q = q.where('record_id', '=', f.recordId);
    if (f.actorId) q = q.where('actor_id', '=', f.actorId);
    if (f.operation) q = q.where('operation', '=', f.operation);
    if (f.since !== undefined) q = q.where('at', '>=', f.since);
    if (f.until !== undefined) q = q.where('at', '<', f.until);
    if (f.beforeSeq !== undefined) q = q.where('seq', '<', f.beforeSeq);
    const rows = await q.orderBy('seq', 'desc').limit(f.limit).execute();
    return this.shape(rows);
  }

  /** Entries in API form, the values decrypted where the record's key still exists. */
  async shape(rows: AuditLogTable[]): Promise<AuditEntryOut[]> {
    const wanted = new Map<string, Set<string>>();
    for (const r of rows)
      if (r.kind === 'change' && r.collection && r.record_id) wanted.set(r.collection, (wanted.get(r.collection) ?? new Set()).add(r.record_id));
    const keys = new Map<string, Buffer[]>();
    for (const [c, ids] of wanted) for (const [id, k] of await this.keysFor(this.db, c, [...ids], false)) keys.set(subjectOf(c, id), k);
    const fields = new Map<string, Awaited<ReturnType<FieldsNow>>>();
    for (const c of new Set(rows.filter((r) => r.kind === 'change' && r.collection).map((r) => r.collection!))) fields.set(c, await this.fieldsNow(c));
    return rows.map((r) => {
      const out: AuditEntryOut = {
        seq: Number(r.seq),
        at: new Date(Number(r.at)).toISOString(),
        kind: r.kind,
        collection: r.collection,
        recordId: r.record_id,
        operation: r.operation,
        actor: { id: r.actor_id, name: r.actor_name, ...(r.via ? { via: JSON.parse(r.via) } : {}) },
        ip: r.ip,
        userAgent: r.user_agent,
        requestId: r.request_id,
      };
      const data = r.data ? (JSON.parse(r.data) as Record<string, unknown>) : {};
      if (r.kind !== 'change') {
        out.data = data;
        return out;
      }
      const changed = (data.changed ?? []) as Array<{ field: string; secret?: true }>;
      let values: Record<string, [unknown, unknown]> | null = null;
      if (typeof data.values === 'string') {
        const subject = subjectOf(r.collection ?? '', r.record_id ?? '');
        let opened: string | null = null;
        for (const key of keys.get(subject) ?? []) {
          opened = decrypt(key, subject, data.values);
          if (opened !== null) break;
        }
        if (opened === null) out.erased = true;
        else values = JSON.parse(opened) as Record<string, [unknown, unknown]>;
      }
      const now = fields.get(r.collection ?? '');
      out.changes = changed.map((c) => {
        if (c.secret || !now || now.secret.has(c.field) || !now.known.has(c.field)) return { field: c.field, secret: true };
        const v = values?.[c.field];
        return v ? { field: c.field, old: v[0], new: v[1] } : { field: c.field };
      });
      return out;
    });
  }

  /**
   * The keys of `collection`'s records `ids`, by id, in one statement: a key kept apart (`audit_subject_keys`: sealed
   * before D459, or a salt retention moved there or a later write made) and the salt in the record's first entry
   * (found through the record index at once, however many entries the record has). Normally one per record; should
   * there ever be two, every entry still opens with one of them. With `create` (a write): a record without a key gets
   * one, kept apart; a record whose keys all fail to open (sealed under another APP_KEY, altered) counts as erased:
   * its keys are destroyed and the replacement recorded, so the record stays writable.
   */
  private async keysFor(db: Db, collection: string, ids: string[], create: boolean): Promise<Map<string, Buffer[]>> {
    const out = new Map<string, Buffer[]>();
    const unreadable = new Set<string>();
    const prefix = `${collection}:`;
    const read = async (list: string[]) => {
      // One branch per record, each a lookup by number (`seq = (...)`): with `seq in (...)` the planner may scan the log.
      for (let i = 0; i < list.length; i += 100) {
        const part = list.slice(i, i + 100);
        const firsts = part.map(
          (id) =>
            sql`select record_id as id, key_salt as stored from audit_log where seq = (select min(seq) from audit_log where collection = ${collection} and record_id = ${id}) and key_salt is not null`,
        );
        const rows = (
          await sql<{
            id: string;
            stored: string;
          }>`select substr(subject, ${prefix.length + 1}) as id, sealed as stored from audit_subject_keys where subject in (${sql.join(
            part.map((id) => prefix + id),
          )}) union all ${sql.join(firsts, sql` union all `)}`.execute(db)
        ).rows;
        for (const r of rows) {
          const key = this.openKey(prefix + r.id, r.stored);
          if (key === null) {
            unreadable.add(r.id);
            continue;
          }
          const got = out.get(r.id);
          if (got) got.push(key);
          else out.set(r.id, [key]);
        }
      }
    };
    if (ids.length === 0) return out;
    await read(ids);
    if (!create) return out;
    const missing = ids.filter((id) => !out.has(id));
    if (missing.length === 0) return out;
    const lost = missing.filter((id) => unreadable.has(id));
    if (lost.length > 0) {
      await this.deleteKeys(db, collection, lost);
      await this.system(db, { actor: SYSTEM_ACTOR }, 'erase', { reason: 'unreadable key replaced', keys: lost.length });
    }
    const at = this.now();
    for (let i = 0; i < missing.length; i += 200) {
      await db
        .insertInto('audit_subject_keys')
        .values(
          missing
            .slice(i, i + 200)
            .map((id) => ({ subject: prefix + id, sealed: `${SALT_PREFIX}${secureRandom(SALT_BYTES).toString('base64url')}`, created_at: at })),
        )
        .onConflict((oc) => oc.column('subject').doNothing())
        .execute();
    }
    await read(missing);
    return out;
  }

  /** A stored key: a salt (D459) gives its derived key, a sealed key (before D459) is opened; null when it cannot be. */
  private openKey(subject: string, stored: string): Buffer | null {
    if (stored.startsWith(SALT_PREFIX)) {
      const salt = Buffer.from(stored.slice(SALT_PREFIX.length), 'base64url');
      return salt.length === SALT_BYTES && salt.toString('base64url') === stored.slice(SALT_PREFIX.length) ? this.deriver.derive(subject, salt) : null;
    }
    const k = this.sealer.open(stored, `audit-subject:${subject}`);
    return k === null ? null : Buffer.from(k, 'base64');
  }

  /** One record's status entries, oldest first: at most `limit` after `afterSeq` (status times, `records/status-times.ts`). */
  async transitions(collection: string, recordId: string, afterSeq: number, limit: number): Promise<StatusTransition[]> {
    const rows = await this.db
      .selectFrom('audit_log')
      .select(['seq', 'at', 'actor_id', 'actor_name', 'data'])
      .where('collection', '=', collection)
      .where('record_id', '=', recordId)
      .where('kind', '=', 'status')
      .where('seq', '>', afterSeq)
      .orderBy('seq', 'asc')
      .limit(limit)
      .execute();
    return rows.map((r) => {
      const d = (r.data ? JSON.parse(r.data) : {}) as { field?: string; from?: unknown; to?: unknown };
      return {
        seq: Number(r.seq),
        at: Number(r.at),
        actor: { id: r.actor_id, name: r.actor_name },
        field: String(d.field),
        from: d.from ?? null,
        to: d.to ?? null,
      };
    });
  }
}

/** A status entry as `AuditTrail.transitions` reads it. */
export interface StatusTransition {
  seq: number;
  at: number;
  actor: { id: string | null; name: string | null };
  field: string;
  from: unknown;
  to: unknown;
}

function encrypt(key: Buffer, subject: string, plain: string): string {
  const iv = secureRandom(12);
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  c.setAAD(Buffer.from(subject));
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return `v1.${iv.toString('base64url')}.${body.toString('base64url')}.${c.getAuthTag().toString('base64url')}`;
}

function decrypt(key: Buffer, subject: string, sealed: string): string | null {
  const [v, iv, body, tag] = sealed.split('.');
  if (v !== 'v1' || iv === undefined || body === undefined || tag === undefined) return null;
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
    d.setAAD(Buffer.from(subject));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
  } catch {
    return null;
  }
}
