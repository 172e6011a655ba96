/**
 * The record audit log (AUDIT-3): change, status, access and system entries, each on the audit chain
 * in the transaction of what it records. Personal values (a change's old and new values) are
 * encrypted under a key per record (`audit_subject_keys`, itself sealed under APP_KEY): erasing a
 * record's history destroys its key and leaves every entry, and so the chain, as it was (D100).
 * Values of hidden and sensitive fields never reach an entry: it names the field only.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Db } from '../db/index.js';
import { secureRandom } from '../util/random.js';
import type { AuditLogTable } from '../db/types.js';
import { append, type LogRow, type NewSubjectKey } from './chain.js';
import { SYSTEM_ACTOR, type EventContext } from './events.js';

/** The sealer of `config/seal.ts`, by shape (audit sits below config). */
export interface KeySealer {
  seal(plain: string, field: string): string;
  open(sealed: string, field: string): string | null;
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

export class AuditTrail {
  /**
   * @param fieldsNow the collection's fields today: a field marked hidden or sensitive since an entry
   * was written, or removed since, no longer shows the values logged before.
   */
  constructor(
    private readonly db: Db,
    private readonly now: () => number,
    private readonly sealer: KeySealer,
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
    const rows: LogRow[] = [];
    const plain: Array<{ subject: string; row: LogRow; changed: unknown[]; values: Record<string, [unknown, unknown]> }> = [];
    for (const c of changes) {
      const changed: Array<{ field: string; secret?: true }> = [];
      const values: Record<string, [unknown, unknown]> = {};
      for (const f of fields) {
        const old = c.before ? (c.before[f.name] ?? null) : null;
        const now = c.after ? (c.after[f.name] ?? null) : null;
        if (sameValue(old, now) && !(c.operation === 'delete' && old !== null)) continue;
        if (f.secret) changed.push({ field: f.name, secret: true });
        else {
          changed.push({ field: f.name });
          values[f.name] = [old, now];
        }
        if (f.status && !f.secret && !sameValue(old, now))
          rows.push({
            ...base,
            kind: 'status',
            collection,
            record_id: c.id,
            operation: 'transition',
            data: JSON.stringify({ field: f.name, from: old, to: now }),
          });
      }
      if (!changeLog) continue;
      const row: LogRow = { ...base, kind: 'change', collection, record_id: c.id, operation: c.operation, data: JSON.stringify({ changed }) };
      if (Object.keys(values).length > 0) plain.push({ subject: subjectOf(collection, c.id), row, changed, values });
      rows.push(row);
    }
    const fresh: NewSubjectKey[] = [];
    if (plain.length > 0) {
      // A record just created has no key yet: its key is made without a lookup and stored with the entries.
      const created = new Set(changes.filter((c) => c.operation === 'create').map((c) => subjectOf(collection, c.id)));
      const keys = this.newKeys(
        [...new Set(plain.map((p) => p.subject))].filter((s) => created.has(s)),
        fresh,
      );
      for (const [s, k] of await this.keysFor(
        trx,
        [...new Set(plain.map((p) => p.subject))].filter((s) => !created.has(s)),
        true,
      ))
        keys.set(s, k);
      for (const p of plain) {
        const key = keys.get(p.subject);
        if (!key) throw new Error('audit subject key missing');
        p.row.data = JSON.stringify({ changed: p.changed, values: encrypt(key, p.subject, JSON.stringify(p.values)) });
      }
    }
    await append(
      trx,
      rows.map((row) => ({ table: 'audit_log', row })),
      fresh,
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
    const n = await this.deleteKeys(
      trx,
      ids.map((id) => subjectOf(collection, id)),
    );
    await this.system(trx, ctx, 'erase', { reason, records: ids.length, keys: n }, collection);
    return n;
  }

  private async deleteKeys(trx: Db, subjects: string[]): Promise<number> {
    if (subjects.length === 0) return 0;
    await trx
      .insertInto('audit_prune')
      .values({ kind: 'erase', before_at: 0 })
      .onConflict((oc) => oc.column('kind').doNothing())
      .execute();
    let n = 0;
    for (let i = 0; i < subjects.length; i += 200) {
      const r = await trx
        .deleteFrom('audit_subject_keys')
        .where('subject', 'in', subjects.slice(i, i + 200))
        .executeTakeFirst();
      n += Number(r.numDeletedRows ?? 0n);
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
    const subjects = [...new Set(rows.filter((r) => r.kind === 'change' && r.collection && r.record_id).map((r) => subjectOf(r.collection!, r.record_id!)))];
    const keys = await this.keysFor(this.db, subjects, false);
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
        const key = keys.get(subject);
        const opened = key ? decrypt(key, subject, data.values) : null;
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

  /** New keys for subjects that cannot have one yet (records created in this transaction); their sealed rows go to `rows`. */
  private newKeys(subjects: string[], rows: NewSubjectKey[]): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    const at = this.now();
    for (const subject of subjects) {
      const key = secureRandom(32);
      out.set(subject, key);
      rows.push({ subject, sealed: this.sealer.seal(key.toString('base64'), `audit-subject:${subject}`), created_at: at });
    }
    return out;
  }

  /** The keys of `subjects`; with `create`, a new key for each that has none (inside `trx`). */
  private async keysFor(db: Db, subjects: string[], create: boolean): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const unreadable: string[] = [];
    const read = async (list: string[]) => {
      for (let i = 0; i < list.length; i += 200) {
        const rows = await db
          .selectFrom('audit_subject_keys')
          .select(['subject', 'sealed'])
          .where('subject', 'in', list.slice(i, i + 200))
          .execute();
        for (const r of rows) {
          const k = this.sealer.open(r.sealed, `audit-subject:${r.subject}`);
          if (k !== null) out.set(r.subject, Buffer.from(k, 'base64'));
          else unreadable.push(r.subject);
        }
      }
    };
    if (subjects.length === 0) return out;
    await read(subjects);
    if (!create) return out;
    const missing = subjects.filter((s) => !out.has(s));
    if (missing.length === 0) return out;
    // A key this deployment cannot open (sealed under another APP_KEY, altered) counts as erased: it is
    // replaced, and the replacement is recorded, so the record stays writable.
    if (unreadable.length > 0) {
      await this.deleteKeys(db, unreadable);
      await this.system(db, { actor: SYSTEM_ACTOR }, 'erase', { reason: 'unreadable key replaced', keys: unreadable.length });
    }
    const at = this.now();
    for (let i = 0; i < missing.length; i += 200) {
      await db
        .insertInto('audit_subject_keys')
        .values(
          missing
            .slice(i, i + 200)
            .map((subject) => ({ subject, sealed: this.sealer.seal(secureRandom(32).toString('base64'), `audit-subject:${subject}`), created_at: at })),
        )
        .onConflict((oc) => oc.column('subject').doNothing())
        .execute();
    }
    await read(missing);
    return out;
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
