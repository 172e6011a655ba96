import { createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { inTransaction, type Db } from '../db/index.js';
import type { EventContext, SecurityLog } from '../audit/events.js';

/**
 * The signing key ring (AUTH-1). Only key ids live in the database; each key is derived
 * from APP_KEY and its id with HKDF, so no key material is ever stored, and a changed
 * APP_KEY changes every key and invalidates every token.
 */
export interface KeyRingEntry {
  kid: string;
  createdAt: number;
  retiredAt: number | null;
}

export function deriveKey(appKey: string, salt: string, info: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', appKey, salt, info, 32));
}

/** The longest a ring read from the database is trusted: a rotation elsewhere reaches this instance within it. */
export const KEY_RING_MAX_STALENESS_MS = 1000;

export class KeyRing {
  private entries: KeyRingEntry[] = [];
  private loadedAt = -Infinity;
  private forcedAt = -Infinity;
  private readonly derived = new Map<string, KeyObject>();
  private readonly cacheMs: number;

  constructor(
    private readonly db: Db,
    private readonly log: SecurityLog,
    private readonly appKey: string,
    /** The service clock: cache ages are measured with it, so tests can move it. */
    private readonly now: () => number,
    /** How long a cached ring is trusted; capped at KEY_RING_MAX_STALENESS_MS. */
    cacheMs = KEY_RING_MAX_STALENESS_MS,
  ) {
    this.cacheMs = Math.min(Math.max(cacheMs, 0), KEY_RING_MAX_STALENESS_MS);
  }

  /** Fresh while the clock is within [loadedAt, loadedAt + cacheMs): a clock moved back re-reads too. */
  private fresh(at: number): boolean {
    const age = this.now() - at;
    return age >= 0 && age < this.cacheMs;
  }

  private async load(force = false): Promise<void> {
    if (!force && this.fresh(this.loadedAt)) return;
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').orderBy('kid', 'desc').execute();
    this.entries = rows.map((r) => ({ kid: r.kid, createdAt: r.created_at, retiredAt: r.retired_at }));
    this.loadedAt = this.now();
  }

  /**
   * Rotates (see rotateKey) and drops this instance's cache at once, so the very next token is signed
   * with the new key here; other instances re-read within KEY_RING_MAX_STALENESS_MS, or at once when
   * they meet a token with the new kid. The rotation and its `key.rotated` event share one transaction.
   */
  async rotate(ctx: EventContext): Promise<{ kid: string; retired: string[] }> {
    const r = await this.db.transaction().execute(async (trx) => {
      const rotated = await rotateKey(trx, this.now());
      await this.log.record(ctx, { type: 'key.rotated', outcome: 'success', details: { kid: rotated.kid, retired: rotated.retired } }, trx);
      return rotated;
    });
    await this.load(true);
    return r;
  }

  /** The key of a kid, derived once and kept as a KeyObject (jose would import raw bytes again on every token). */
  private secret(kid: string): KeyObject {
    let k = this.derived.get(kid);
    if (!k) {
      k = createSecretKey(deriveKey(this.appKey, kid, 'palisade/token-signing/v1'));
      this.derived.set(kid, k);
    }
    return k;
  }

  /** The newest key, used for every new token. */
  async current(): Promise<{ kid: string; key: KeyObject }> {
    await this.load();
    let active = this.entries.find((e) => e.retiredAt === null);
    if (!active) {
      await this.load(true);
      active = this.entries.find((e) => e.retiredAt === null);
    }
    if (!active) throw new Error('no active signing key; run migrations');
    return { kid: active.kid, key: this.secret(active.kid) };
  }

  /**
   * The key for verifying a token with this kid, or null when the kid is unknown or was
   * retired longer ago than `maxTokenAgeMs` (its tokens can no longer be renewed).
   */
  async forVerify(kid: string, maxTokenAgeMs: number): Promise<KeyObject | null> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(kid)) return null;
    await this.load();
    let e = this.entries.find((x) => x.kid === kid);
    // An unknown kid re-reads the ring (a rotation on another instance), at most once a second,
    // so tokens with made-up kids cannot turn every request into a database query.
    const sinceForced = this.now() - this.forcedAt;
    if (!e && (sinceForced < 0 || sinceForced >= 1000)) {
      this.forcedAt = this.now();
      await this.load(true);
      e = this.entries.find((x) => x.kid === kid);
    }
    if (!e) return null;
    if (e.retiredAt !== null && this.now() > e.retiredAt + maxTokenAgeMs) return null;
    return this.secret(kid);
  }

  async list(): Promise<KeyRingEntry[]> {
    await this.load(true);
    return [...this.entries];
  }
}

/** Adds a new key and retires the active ones, in one transaction (`db`'s when it is one). Returns the new kid. */
export async function rotateKey(db: Db, now: number): Promise<{ kid: string; retired: string[] }> {
  const kid = `k${now.toString(36)}${randomBytes(6).toString('base64url')}`;
  return inTransaction(db, async (trx) => {
    const active = await trx.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).execute();
    await trx.updateTable('signing_keys').set({ retired_at: now }).where('retired_at', 'is', null).execute();
    await trx.insertInto('signing_keys').values({ kid, created_at: now, retired_at: null }).execute();
    return { kid, retired: active.map((r) => r.kid) };
  });
}

/** Makes sure one active key exists (first boot). */
export async function ensureKey(db: Db, now: number): Promise<void> {
  const any = await db.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).executeTakeFirst();
  if (!any) await rotateKey(db, now);
}
