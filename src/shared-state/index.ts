/**
 * State that every instance must see at once and change atomically.
 * Database-backed by default; Redis when REDIS_URL is set (OPS-4).
 */
export interface RenewalClaim {
  newJti: string;
  newIat: number;
  newExp: number;
  kid: string;
  /** Epoch ms when the renewal was claimed; starts the grace window. */
  createdAt: number;
}

export interface SharedState {
  readonly kind: 'database' | 'redis';
  /**
   * Atomically records that token `jti` was renewed into `claim`, unless it already was.
   * Returns the claim that holds: ours when we won, the earlier one otherwise.
   */
  claimRenewal(jti: string, sessionId: string, claim: RenewalClaim, ttlMs: number): Promise<{ won: boolean; claim: RenewalClaim }>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
