import type { Db } from '../db/index.js';
import { append } from './chain.js';

/** Every security event type, in one list, so the API can validate filters against it. */
export const SECURITY_EVENT_TYPES = [
  'auth.login',
  'auth.logout',
  'auth.logout_all',
  'auth.password_changed',
  'auth.password_rehashed',
  'token.renewed',
  'token.reuse_detected',
  'session.ended',
  'key.rotated',
  'auth.api_key',
  'auth.basic',
  'apikey.created',
  'apikey.rotated',
  'apikey.revoked',
  'mfa.challenged',
  'mfa.verified',
  'mfa.code_sent',
  'mfa.enrolment_started',
  'mfa.enrolled',
  'mfa.removed',
  'mfa.recovery_codes_created',
  'mfa.reset',
  'mfa.address_trusted',
  'mfa.skipped_trusted_address',
  'mfa.trusted_address_forgotten',
  'sso.provider_created',
  'sso.provider_updated',
  'sso.provider_deleted',
  'sso.login',
  'sso.linked',
  'sso.unlinked',
  'sso.logout',
  'sso.access_synced',
  'oidc_provider.client_created',
  'oidc_provider.client_updated',
  'oidc_provider.client_secret_rotated',
  'oidc_provider.client_deleted',
  'oidc_provider.keys_rotated',
  'oidc_provider.signed_in',
  'oidc_provider.consent_given',
  'oidc_provider.consent_revoked',
  'oidc_provider.code_issued',
  'oidc_provider.token_issued',
  'oidc_provider.refused',
  'passkey.registered',
  'passkey.renamed',
  'passkey.removed',
  'passkey.clone_detected',
  'settings.changed',
  'config.exported',
  'config.imported',
  'secret.set',
  'secret.deleted',
  'secrets.key_rotated',
  'backup.created',
  'backup.copy_failed',
  'backup.pruned',
  'backup.restored',
  'backup.verified',
  'file.infected',
  'file.scan_failed',
  'user.created',
  'user.updated',
  'user.deleted',
  'user.password_set',
  'user.email_changed',
  'password.reset_requested',
  'password.link_sent',
  'password.reset_completed',
  'password.reset_refused',
  'password.reminder_sent',
  'account.locked',
  'account.unlocked',
  'signin.paused',
  'signin.resumed',
  'ip.rejected',
  'botcheck.refused',
  'botcheck.recaptcha',
  'ip_rule.created',
  'ip_rule.deleted',
  'schema.changed',
  'access.changed',
  'access.refused',
  'record.bypass',
  'audit.read',
  'audit.verified',
] as const;
export type SecurityEventType = (typeof SECURITY_EVENT_TYPES)[number];

/** Who did it and from where. Work done by the system itself names the system actor. */
export interface Actor {
  id: string | null;
  name: string;
}
export const SYSTEM_ACTOR: Actor = Object.freeze({ id: null, name: 'system' });
export const CLI_ACTOR: Actor = Object.freeze({ id: null, name: 'cli' });

export interface EventContext {
  actor: Actor;
  /** How the actor proved itself when not with a session: recorded with every event it causes. */
  via?: { method: 'apikey' | 'basic'; keyId?: string };
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

export interface SecurityEvent {
  type: SecurityEventType;
  outcome: 'success' | 'failure' | 'info';
  subjectId?: string | null;
  /** Server-side detail (reasons, changed keys). Never a secret. */
  details?: Record<string, unknown>;
}

export interface EventFilter {
  type?: SecurityEventType;
  outcome?: 'success' | 'failure' | 'info';
  actorId?: string;
  subjectId?: string;
  ip?: string;
  since?: number;
  until?: number;
  beforeId?: number;
  limit: number;
}

export interface StoredEvent {
  id: number;
  at: string;
  type: string;
  outcome: string;
  actor: { id: string | null; name: string | null };
  subjectId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, unknown> | null;
}

/** The one append-only store of security events (AUDIT-1). Every feature writes through it. */
export class SecurityLog {
  /** Told of each event written (metrics count them by type and outcome); nothing by default. */
  observe: (type: string, outcome: string) => void = () => undefined;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {}

  /** Writes the event on the audit chain, in `db`'s transaction when it is one (its change and its record commit together). */
  async record(ctx: EventContext, ev: SecurityEvent, db: Db = this.db): Promise<void> {
    await append(db, [
      {
        table: 'security_events',
        row: {
          at: this.now(),
          type: ev.type,
          outcome: ev.outcome,
          actor_id: ctx.actor.id,
          actor_name: ctx.actor.name,
          subject_id: ev.subjectId ?? null,
          ip: ctx.ip ?? null,
          user_agent: ctx.userAgent ? ctx.userAgent.slice(0, 512) : null,
          request_id: ctx.requestId ?? null,
          details: ev.details || ctx.via ? JSON.stringify({ ...ev.details, ...(ctx.via ? { via: ctx.via } : {}) }) : null,
        },
      },
    ]);
    this.observe(ev.type, ev.outcome);
  }

  async list(f: EventFilter): Promise<StoredEvent[]> {
    let q = this.db.selectFrom('security_events').selectAll();
    if (f.type) q = q.where('type', '=', f.type);
    if (f.outcome) q = q.where('outcome', '=', f.outcome);
    if (f.actorId) q = q.where('actor_id', '=', f.actorId);
    if (f.subjectId) q = q.where('subject_id', '=', f.subjectId);
    if (f.ip) q = q.where('ip', '=', f.ip);
    if (f.since !== undefined) q = q.where('at', '>=', f.since);
    if (f.until !== undefined) q = q.where('at', '<', f.until);
    if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
    const rows = await q.orderBy('id', 'desc').limit(f.limit).execute();
    return rows.map((r) => ({
      id: Number(r.id),
      at: new Date(r.at).toISOString(),
      type: r.type,
      outcome: r.outcome,
      actor: { id: r.actor_id, name: r.actor_name },
      subjectId: r.subject_id,
      ip: r.ip,
      userAgent: r.user_agent,
      requestId: r.request_id,
      details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null,
    }));
  }
}
