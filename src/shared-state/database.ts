import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import type { CountHit, RenewalClaim, SharedState } from './index.js';

/** Counters one flush statement adds at most (3 parameters each; far below SQLite's and PostgreSQL's limits). */
const BATCH_ROWS = 500;

export class DatabaseSharedState implements SharedState {
  readonly kind = 'database' as const;
  private claims = 0;
  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {}

  /** `db` is the caller's transaction when the claim must commit or roll back with its other writes. */
  async claimRenewal(jti: string, sessionId: string, claim: RenewalClaim, ttlMs: number, db: Db = this.db) {
    const inserted = await db
      .insertInto('token_renewals')
      .values({
        jti,
        session_id: sessionId,
        new_jti: claim.newJti,
        new_iat: claim.newIat,
        new_exp: claim.newExp,
        kid: claim.kid,
        created_at: claim.createdAt,
        expires_at: claim.createdAt + ttlMs,
      })
      .onConflict((oc) => oc.column('jti').doNothing())
      .returning('jti')
      .executeTakeFirst();
    if (++this.claims % 200 === 0) await this.sweep(db);
    if (inserted) return { won: true, claim };
    const row = await db.selectFrom('token_renewals').selectAll().where('jti', '=', jti).executeTakeFirstOrThrow();
    return {
      won: false,
      claim: { newJti: row.new_jti, newIat: row.new_iat, newExp: row.new_exp, kid: row.kid, createdAt: row.created_at },
    };
  }

  incr(key: string, ttlMs: number): Promise<number> {
    return this.incrBy(key, 1, ttlMs);
  }

  async incrBy(key: string, by: number, ttlMs: number): Promise<number> {
    const now = this.now();
    const r = await sql<{ count: number | string }>`
      INSERT INTO shared_kv (key, count, value, expires_at) VALUES (${key}, ${by}, NULL, ${now + ttlMs})
      ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN shared_kv.expires_at <= ${now} THEN ${by} ELSE shared_kv.count + ${by} END,
        expires_at = CASE WHEN shared_kv.expires_at <= ${now} THEN ${now + ttlMs} ELSE shared_kv.expires_at END
      RETURNING count`.execute(this.db);
    if (++this.claims % 500 === 0) await this.sweep();
    return Number(r.rows[0]!.count);
  }

  async hitWindow(key: string, prevKey: string, by: number, ttlMs: number): Promise<{ curr: number; prev: number }> {
    const now = this.now();
    // One statement on both dialects: the upsert of the current window returns the previous one's count
    // through a subselect (a key this statement does not change, so either engine's view of it is the same).
    const r = await sql<{ count: number | string; prev: number | string | null }>`
      INSERT INTO shared_kv (key, count, value, expires_at) VALUES (${key}, ${by}, NULL, ${now + ttlMs})
      ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN shared_kv.expires_at <= ${now} THEN ${by} ELSE shared_kv.count + ${by} END,
        expires_at = CASE WHEN shared_kv.expires_at <= ${now} THEN ${now + ttlMs} ELSE shared_kv.expires_at END
      RETURNING count, (SELECT p.count FROM shared_kv p WHERE p.key = ${prevKey} AND p.expires_at > ${now}) AS prev`.execute(this.db);
    if (++this.claims % 500 === 0) await this.sweep();
    const row = r.rows[0]!;
    return { curr: Number(row.count), prev: row.prev === null ? 0 : Number(row.prev) };
  }

  async addCounts(hits: readonly CountHit[]): Promise<Array<number | null>> {
    const out = new Map<string, number>();
    const now = this.now();
    for (let i = 0; i < hits.length; i += BATCH_ROWS) {
      const chunk = hits.slice(i, i + BATCH_ROWS);
      const values = sql.join(chunk.map((h) => sql`(${h.key}, ${h.by}, NULL, ${now + h.ttlMs})`));
      // One multi-row upsert: an expired row starts afresh, a live one adds (excluded = the proposed row).
      const r = await sql<{ key: string; count: number | string }>`
        INSERT INTO shared_kv (key, count, value, expires_at) VALUES ${values}
        ON CONFLICT (key) DO UPDATE SET
          count = CASE WHEN shared_kv.expires_at <= ${now} THEN excluded.count ELSE shared_kv.count + excluded.count END,
          expires_at = CASE WHEN shared_kv.expires_at <= ${now} THEN excluded.expires_at ELSE shared_kv.expires_at END
        RETURNING key, count`.execute(this.db);
      for (const row of r.rows) out.set(row.key, Number(row.count));
    }
    const before = this.claims;
    this.claims += hits.length;
    // Garbage collection only: a failed sweep must not make the flush, which has committed, count its hits again.
    if (Math.floor(before / 500) !== Math.floor(this.claims / 500)) await this.sweep().catch(() => undefined);
    return hits.map((h) => out.get(h.key) ?? null);
  }

  isAvailable(): boolean {
    return true;
  }

  async count(key: string): Promise<number> {
    const r = await this.db.selectFrom('shared_kv').select('count').where('key', '=', key).where('expires_at', '>', this.now()).executeTakeFirst();
    return r ? Number(r.count) : 0;
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const r = await sql<{ key: string }>`
      INSERT INTO shared_kv (key, count, value, expires_at) VALUES (${key}, 0, ${value}, ${now + ttlMs})
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, count = 0, expires_at = excluded.expires_at
        WHERE shared_kv.expires_at <= ${now}
      RETURNING key`.execute(this.db);
    return r.rows.length > 0;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const exp = this.now() + ttlMs;
    await this.db
      .insertInto('shared_kv')
      .values({ key, count: 0, value, expires_at: exp })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, count: 0, expires_at: exp }))
      .execute();
  }

  async getValue(key: string): Promise<string | null> {
    const r = await this.db.selectFrom('shared_kv').select('value').where('key', '=', key).where('expires_at', '>', this.now()).executeTakeFirst();
    return r?.value ?? null;
  }

  async del(...keys: string[]): Promise<void> {
    if (keys.length > 0) await this.db.deleteFrom('shared_kv').where('key', 'in', keys).execute();
  }

  /** Drops claims whose token can no longer be presented, and expired counters and flags. */
  async sweep(db: Db = this.db): Promise<void> {
    await db.deleteFrom('token_renewals').where('expires_at', '<', this.now()).execute();
    await db.deleteFrom('shared_kv').where('expires_at', '<', this.now()).execute();
  }

  async ping() {
    return true;
  }
  async close() {
    /* the database handle is closed by its owner */
  }
}
