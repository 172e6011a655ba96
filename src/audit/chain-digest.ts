/**
 * What the audit chain's entries and links are (AUDIT-6): each entry's content in a canonical form, its digest in the
 * two forms a chain may hold (numbered, and `v2.` without the number, D464), and the link that binds an entry to the
 * one before. Shared by the append (`chain.ts`) and the walk (`verify.ts`), so both read one definition.
 */
import { createHash } from 'node:crypto';
import type { AuditLogTable, SecurityEventsTable } from '../db/types.js';

/** The chain's first "previous hash": binds the security events written before the chain existed. */
export const genesisHash = (unchainedCount: number, unchainedMaxId: number): string =>
  createHash('sha256').update(`palisade-audit-chain:v1:${unchainedCount}:${unchainedMaxId}`).digest('hex');

export type SecurityRow = Omit<SecurityEventsTable, 'id' | 'seq'>;
/** `key_salt` (D459) is stored with the entry but is not its content: the chain's digest leaves it out. */
export type LogRow = Omit<AuditLogTable, 'seq' | 'key_salt'> & { key_salt?: string | null };
export type Pending = { table: 'security_events'; row: SecurityRow } | { table: 'audit_log'; row: LogRow };

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * A security event's content in its canonical form: every stored value, in a fixed order. `seq` null: the form of the
 * digests made before the entry has its number (`v2.`, D464), which the link binds instead.
 */
export function securityCanon(seq: number | null, r: SecurityRow): string {
  return JSON.stringify([
    seq ?? 'v2',
    'security',
    Number(r.at),
    r.type,
    r.outcome,
    r.actor_id,
    r.actor_name,
    r.subject_id,
    r.ip,
    r.user_agent,
    r.request_id,
    r.details,
  ]);
}

/** An audit log entry's content in its canonical form (`seq` null: as `securityCanon`'s). */
export function logCanon(seq: number | null, r: LogRow): string {
  return JSON.stringify([
    seq ?? 'v2',
    r.kind,
    Number(r.at),
    r.collection,
    r.record_id,
    r.operation,
    r.actor_id,
    r.actor_name,
    r.via,
    r.ip,
    r.user_agent,
    r.request_id,
    r.data,
  ]);
}

export const digestOf = (canon: string): string => sha256(canon);

/** The mark of a digest made without the entry's number (D464): PostgreSQL's entries, numbered inside COMMIT. */
const V2 = 'v2.';
/** The digest of an entry's content without its number (`v2.`), as PostgreSQL's pending entries carry it. */
export const digestV2 = (e: Pending): string => V2 + sha256(canonOf(e, null));
/** An entry's canonical form, numbered `seq` (null: the `v2.` form). */
export const canonOf = (e: Pending, seq: number | null): string => (e.table === 'security_events' ? securityCanon(seq, e.row) : logCanon(seq, e.row));

/** Whether a stored row's content is what the chain's `digest` (either form) says it was at number `seq`. */
export function contentMatches(digest: string, seq: number, e: Pending): boolean {
  if (digest.startsWith(V2)) return digestV2(e) === digest;
  return digestOf(canonOf(e, seq)) === digest;
}
/** A link binds its number, kind and time as well as the content's digest: retention decides on kind and time. */
export const linkHash = (prev: string, seq: number, kind: string, at: number, digest: string): string => sha256(`${prev}\n${seq}\n${kind}\n${at}\n${digest}`);
