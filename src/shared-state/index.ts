import type { Db } from '../db/index.js';

/**
 * State that every instance must see at once and change atomically.
 * Database-backed by default; Redis when REDIS_URL is set (OPS-4). What a security guarantee rests
 * on (renewal claims, failed-attempt counts, locks, revocations) is always kept in the database;
 * Redis holds only what may be lost (see docs/architecture.md, "Where state lives").
 */
export interface RenewalClaim {
  newJti: string;
  newIat: number;
  newExp: number;
  kid: string;
  /** Epoch ms when the renewal was claimed; starts the grace window. */
  createdAt: number;
}

/** One addition to a counter in a batch (`SharedState.addCounts`). */
export interface CountHit {
  key: string;
  by: number;
  /** Lifetime of the counter when this hit creates it. */
  ttlMs: number;
}

export interface SharedState {
  readonly kind: 'database' | 'redis';
  /**
   * Atomically records that token `jti` was renewed into `claim`, unless it already was.
   * Returns the claim that holds: ours when we won, the earlier one otherwise. Always durable (the
   * database, in the transaction `db` when given), whichever backend holds the counters.
   */
  claimRenewal(jti: string, sessionId: string, claim: RenewalClaim, ttlMs: number, db?: Db): Promise<{ won: boolean; claim: RenewalClaim }>;
  /**
   * Atomically adds 1 to counter `key` and returns the new value. A new counter lives `ttlMs`.
   * Callers put the time window in the key, so expiry is only garbage collection.
   */
  incr(key: string, ttlMs: number): Promise<number>;
  /** Like incr, adding `by` (bytes, for upload budgets). */
  incrBy(key: string, by: number, ttlMs: number): Promise<number>;
  /** The counter's value, 0 when absent or expired. */
  count(key: string): Promise<number>;
  /**
   * A sliding-window hit in one round trip: atomically adds `by` to counter `key` (a new one lives
   * `ttlMs`) and returns its new value with the value of counter `prevKey` (0 when absent).
   */
  hitWindow(key: string, prevKey: string, by: number, ttlMs: number): Promise<{ curr: number; prev: number }>;
  /**
   * Adds each hit to its counter (keys distinct) in as few round trips as possible, for the
   * background flush of the in-process rate windows. Returns the new values in order; null for a
   * counter this backend refused alone (a Redis key of the wrong type), which was left unchanged.
   */
  addCounts(hits: readonly CountHit[]): Promise<Array<number | null>>;
  /** False while calls are known to fail at once (Redis disconnected, its breaker open); no round trip. */
  isAvailable(): boolean;
  /** Sets `key` to `value` unless it holds a live value; true when this call set it. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Sets `key` to `value` whatever it held. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** A live value set with setIfAbsent or set, or null. */
  getValue(key: string): Promise<string | null>;
  del(...keys: string[]): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
