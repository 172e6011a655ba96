import { Redis } from 'ioredis';
import type { RenewalClaim, SharedState } from './index.js';

export class RedisSharedState implements SharedState {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  constructor(url: string, private readonly prefix = 'palisade:') {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
    this.redis.on('error', () => { /* surfaced through ping() and failed commands */ });
  }

  async claimRenewal(jti: string, _sessionId: string, claim: RenewalClaim, ttlMs: number) {
    const key = `${this.prefix}renewal:${jti}`;
    const ok = await this.redis.set(key, JSON.stringify(claim), 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
    if (ok === 'OK') return { won: true, claim };
    const raw = await this.redis.get(key);
    if (raw === null) throw new Error('renewal claim vanished');
    return { won: false, claim: JSON.parse(raw) as RenewalClaim };
  }

  async ping() {
    try { return (await this.redis.ping()) === 'PONG'; } catch { return false; }
  }

  async close() { this.redis.disconnect(); }
}
