import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/index.js';
import type { ApiKeysTable } from '../../db/types.js';
import type { SettingsStore } from '../../config/settings.js';
import type { SharedState } from '../../shared-state/index.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { inAny, parseCidr, parseIp, type Cidr } from '../../edge/ip.js';
import { apiKeyArea, type ApiKeySettings } from './settings.js';
import { KEY_PATTERN, keyHash, newKeySecret } from './secret.js';
import type { StateStamps } from '../../db/stamps.js';
import { credentialLookup, splitAccount, type AccountRow } from '../account-row.js';

export { apiKeyArea, type ApiKeySettings } from './settings.js';
export { KEY_PATTERN } from './secret.js';

/**
 * Who creates a key: the key's role must be one they hold, administrators too (a key never carries
 * administrator power, and at each use it acts only while its owner still holds the role).
 */
export interface KeyCreator {
  ctx: EventContext;
  userId: string;
  /** The roles the creator holds (their own and their departments'). */
  held: readonly string[];
  /** Holds the apikeys.manage permission; without it, only where the selfService setting allows. */
  manager: boolean;
}

export interface NewKey {
  name: string;
  role: string;
  /** Seconds from now; absent: the maximum lifetime; null: never (only where the setting allows it). */
  expiresIn?: number | null;
  readOnly?: boolean;
  /** Addresses or CIDR ranges the key may be used from. */
  ipAllow?: string[];
}

export interface ApiKeyView {
  id: string;
  userId: string;
  name: string;
  hint: string;
  role: string;
  readOnly: boolean;
  ipAllow: string[] | null;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  lastUsedIp: string | null;
  revokedAt: number | null;
  rotatedFrom: string | null;
}

/** How often a key's last use is written, at most: one write a minute per key, not one per request. */
const LAST_USED_EVERY_MS = 60_000;

export function keyView(k: ApiKeysTable): ApiKeyView {
  return {
    id: k.id,
    userId: k.user_id,
    name: k.name,
    hint: k.hint,
    role: k.role,
    readOnly: k.read_only === 1,
    ipAllow: k.ip_allow === null ? null : (JSON.parse(k.ip_allow) as string[]),
    createdAt: k.created_at,
    expiresAt: k.expires_at,
    lastUsedAt: k.last_used_at,
    lastUsedIp: k.last_used_ip,
    revokedAt: k.revoked_at,
    rotatedFrom: k.rotated_from,
  };
}

/**
 * API keys (AUTH-11): long-lived credentials for programs. A key is shown once and stored as its hash;
 * it acts as its owner with the one role it is bound to (never as an administrator), reaches what a
 * session of that role reaches through the same pipeline, and never creates a session.
 */
export class ApiKeyService {
  readonly area = apiKeyArea;

  constructor(
    private readonly db: Db,
    private readonly settings: SettingsStore,
    private readonly shared: SharedState,
    private readonly log: SecurityLog,
    private readonly now: () => number,
    private readonly stamps?: StateStamps,
  ) {
    this.keyRow = credentialLookup(db, 'api_keys', 'key_hash', stamps?.changeMark);
  }

  /** The key, its owner, the owner's lock and the version stamps, by key hash: one statement, compiled once. */
  private readonly keyRow;

  current(): Promise<ApiKeySettings> {
    return this.settings.get(this.area);
  }

  /** Creates a key for `owner`; returns it with its secret, which is never shown again. */
  async create(ownerId: string, input: NewKey, by: KeyCreator): Promise<{ key: ApiKeyView; secret: string }> {
    const s = await this.current();
    const row = await this.prepare(ownerId, input, by, s);
    const secret = newKeySecret();
    row.key_hash = keyHash(secret);
    row.hint = secret.slice(-4);
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('api_keys').values(row).execute();
      await this.log.record(by.ctx, { type: 'apikey.created', outcome: 'success', subjectId: ownerId, details: eventDetails(row) }, trx);
    });
    return { key: keyView(row), secret };
  }

  /**
   * Rotation: a new key with the same name, role, kind and address list; the old one keeps working for
   * at most `grace` seconds (the setting's maximum by default), so clients can move over without a gap.
   */
  async rotate(keyId: string, ownerId: string | null, by: KeyCreator, graceSeconds?: number): Promise<{ key: ApiKeyView; secret: string }> {
    const s = await this.current();
    const old = await this.live(keyId, ownerId);
    const grace = Math.min(graceSeconds ?? s.rotationGrace, s.rotationGrace);
    const lifetime = old.expires_at === null ? null : Math.max(Math.ceil((old.expires_at - old.created_at) / 1000), 60);
    const input: NewKey = {
      name: old.name,
      role: old.role,
      expiresIn: lifetime,
      readOnly: old.read_only === 1,
      ...(old.ip_allow ? { ipAllow: JSON.parse(old.ip_allow) as string[] } : {}),
    };
    const row = await this.prepare(old.user_id, input, by, s);
    const secret = newKeySecret();
    row.key_hash = keyHash(secret);
    row.hint = secret.slice(-4);
    row.rotated_from = old.id;
    const now = this.now();
    const oldEnds = Math.min(old.expires_at ?? Number.MAX_SAFE_INTEGER, now + grace * 1000);
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('api_keys').values(row).execute();
      if (grace === 0) {
        await trx.updateTable('api_keys').set({ revoked_at: now, revoked_reason: 'rotated' }).where('id', '=', old.id).execute();
      } else {
        await trx.updateTable('api_keys').set({ expires_at: oldEnds }).where('id', '=', old.id).execute();
      }
      await this.log.record(
        by.ctx,
        {
          type: 'apikey.rotated',
          outcome: 'success',
          subjectId: old.user_id,
          details: { ...eventDetails(row), replaced: old.id, oldEndsAt: new Date(grace === 0 ? now : oldEnds).toISOString() },
        },
        trx,
      );
    });
    return { key: keyView(row), secret };
  }

  /** Revokes a key at once, on every instance (each request reads the key). `ownerId` null: any owner's. */
  async revoke(keyId: string, ownerId: string | null, ctx: EventContext): Promise<void> {
    const key = await this.live(keyId, ownerId);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('api_keys')
        .set({ revoked_at: this.now(), revoked_reason: 'revoked' })
        .where('id', '=', key.id)
        .where('revoked_at', 'is', null)
        .execute();
      await this.log.record(ctx, { type: 'apikey.revoked', outcome: 'success', subjectId: key.user_id, details: { id: key.id, name: key.name } }, trx);
    });
  }

  /** The keys of one owner (`ownerId`) or of everyone (null), newest first; revoked and expired ones included. */
  async list(ownerId: string | null, limit = 200, offset = 0): Promise<ApiKeyView[]> {
    let q = this.db.selectFrom('api_keys').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(limit).offset(offset);
    if (ownerId !== null) q = q.where('user_id', '=', ownerId);
    return (await q.execute()).map(keyView);
  }

  /** Live keys that never expire: each is a warning (`palisade doctor`, the admin list). */
  async neverExpiring(): Promise<ApiKeyView[]> {
    const rows = await this.db.selectFrom('api_keys').selectAll().where('expires_at', 'is', null).where('revoked_at', 'is', null).execute();
    return rows.map(keyView);
  }

  /**
   * Whether the key of this id, owned by the user, still works from `ip`: not revoked, not expired, the address in
   * its list (a signed link made with the key is re-checked with this when it is used, D280).
   */
  async usableFrom(keyId: string, userId: string, ip: string): Promise<boolean> {
    const key = await this.db.selectFrom('api_keys').selectAll().where('id', '=', keyId).where('user_id', '=', userId).executeTakeFirst();
    return refusalOf(key, this.now(), ip) === null;
  }

  /**
   * The key presented on a request, or a refusal: unknown, revoked, expired (API_KEY_INVALID) or used
   * from an address outside its list (API_KEY_ADDRESS_REFUSED). The owner's standing (disabled,
   * locked) is the pipeline's account stage, as for every method. Each refusal is a security event,
   * sampled to one a minute per key (or per address for unknown keys), so a flood cannot fill the log.
   */
  async identify(secret: string, ctx: Omit<EventContext, 'actor'>): Promise<{ key: ApiKeysTable } & AccountRow> {
    // The key, its owner, the owner's lock and the version stamps in one statement (issue 14).
    const read = this.stamps?.begin();
    const row = KEY_PATTERN.test(secret) ? await this.keyRow(keyHash(secret)) : undefined;
    const split = row ? splitAccount(row, 'api_keys', this.now) : undefined;
    const key: ApiKeysTable | undefined = split?.own;
    const refusal = refusalOf(key, this.now(), ctx.ip ?? '');
    if (refusal !== null || !key) {
      await this.refused(key, refusal ?? 'unknown', ctx);
      throw new AppError(refusal === 'address' ? 'API_KEY_ADDRESS_REFUSED' : 'API_KEY_INVALID', undefined, refusal ?? 'unknown');
    }
    const account = split?.account;
    if (!account) throw new AppError('API_KEY_INVALID', undefined, 'owner gone');
    if (read) this.stamps!.settle(account.stamps, read);
    return { key, ...account };
  }

  private async refused(key: ApiKeysTable | undefined, reason: string, ctx: Omit<EventContext, 'actor'>): Promise<void> {
    const sample = key ? `keylog:${key.id}` : `keylog:ip:${(ctx.ip ?? '').slice(0, 64)}`;
    if (!(await this.shared.setIfAbsent(sample, '1', 60_000))) return;
    await this.log.record(
      { ...ctx, actor: { id: key?.user_id ?? null, name: key ? `api key ${key.name}`.slice(0, 64) : 'anonymous' } },
      { type: 'auth.api_key', outcome: 'failure', subjectId: key?.user_id ?? null, details: { reason, keyId: key?.id ?? null, sampled: 'once a minute' } },
    );
  }

  /** Records a use: at most one write a minute per key. */
  async used(key: ApiKeysTable, ip: string): Promise<void> {
    const now = this.now();
    if (key.last_used_at !== null && now - key.last_used_at < LAST_USED_EVERY_MS && key.last_used_ip === ip) return;
    await this.db
      .updateTable('api_keys')
      .set({ last_used_at: now, last_used_ip: ip.slice(0, 64) })
      .where('id', '=', key.id)
      .execute();
  }

  private async live(keyId: string, ownerId: string | null): Promise<ApiKeysTable> {
    let q = this.db.selectFrom('api_keys').selectAll().where('id', '=', keyId).where('revoked_at', 'is', null);
    if (ownerId !== null) q = q.where('user_id', '=', ownerId);
    const k = await q.executeTakeFirst();
    // Another user's key answers like a missing one; so does a revoked or expired one.
    if (!k || (k.expires_at !== null && k.expires_at <= this.now())) throw new AppError('NOT_FOUND');
    return k;
  }

  /** Checks a new key against the rules and the settings; returns its row without secret. */
  private async prepare(ownerId: string, input: NewKey, by: KeyCreator, s: ApiKeySettings): Promise<ApiKeysTable> {
    if (!by.manager && !s.selfService) throw new AppError('FORBIDDEN', undefined, 'api keys: neither apikeys.manage nor self-service');
    const role = await this.db.selectFrom('roles').select('name').where('name', '=', input.role).executeTakeFirst();
    if (!role) throw new AppError('VALIDATION_FAILED', [{ path: '/role', message: 'no such role' }]);
    // Never more power than the creator: the role must be one the creator holds.
    if (!by.held.includes(input.role)) throw new AppError('PRIVILEGE_ESCALATION', { subject: 'api key', exceeds: `role ${input.role}` });
    let expiresAt: number | null;
    if (input.expiresIn === null) {
      if (!s.allowNever) throw new AppError('API_KEY_EXPIRY_REQUIRED');
      expiresAt = null;
    } else {
      const seconds = input.expiresIn ?? s.maxLifetime;
      if (seconds > s.maxLifetime)
        throw new AppError('VALIDATION_FAILED', [{ path: '/expiresIn', message: `at most ${s.maxLifetime} seconds (the maximum lifetime)` }]);
      expiresAt = this.now() + seconds * 1000;
    }
    const ranges = (input.ipAllow ?? []).map((r, i) => {
      const c = parseCidr(r);
      if (!c) throw new AppError('VALIDATION_FAILED', [{ path: `/ipAllow/${i}`, message: 'must be an IPv4 or IPv6 address or CIDR range' }]);
      return c.text;
    });
    return {
      id: randomUUID(),
      user_id: ownerId,
      name: input.name,
      key_hash: '',
      hint: '',
      role: input.role,
      read_only: input.readOnly ? 1 : 0,
      ip_allow: input.ipAllow === undefined || input.ipAllow.length === 0 ? null : JSON.stringify(ranges),
      created_at: this.now(),
      created_by: by.userId,
      expires_at: expiresAt,
      last_used_at: null,
      last_used_ip: null,
      revoked_at: null,
      revoked_reason: null,
      rotated_from: null,
    };
  }
}

/** Why a key may not act from `ip` now, or null when it may. */
function refusalOf(key: ApiKeysTable | undefined, now: number, ip: string): 'unknown' | 'revoked' | 'expired' | 'address' | null {
  if (!key) return 'unknown';
  if (key.revoked_at !== null) return 'revoked';
  if (key.expires_at !== null && key.expires_at <= now) return 'expired';
  if (key.ip_allow !== null && !allowedFrom(key.ip_allow, ip)) return 'address';
  return null;
}

function allowedFrom(list: string, ip: string): boolean {
  const addr = parseIp(ip);
  if (!addr) return false;
  const ranges = (JSON.parse(list) as string[]).map(parseCidr).filter((c): c is Cidr => c !== null);
  return inAny(addr, ranges);
}

function eventDetails(row: ApiKeysTable): Record<string, unknown> {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    readOnly: row.read_only === 1,
    expiresAt: row.expires_at === null ? 'never' : new Date(row.expires_at).toISOString(),
    ipAllow: row.ip_allow === null ? null : (JSON.parse(row.ip_allow) as string[]),
  };
}
