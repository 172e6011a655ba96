import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import type { RenewalClaim, SharedState } from './index.js';

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
