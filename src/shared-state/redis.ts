import { Redis } from 'ioredis';
import type { RenewalClaim, SharedState } from './index.js';

/** INCR that gives a new key its lifetime, in one atomic step. */
const INCR_WITH_TTL = `local c = redis.call('INCRBY', KEYS[1], ARGV[2])
if c == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return c`;

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

  incr(key: string, ttlMs: number): Promise<number> {
    return this.incrBy(key, 1, ttlMs);
  }

  async incrBy(key: string, by: number, ttlMs: number): Promise<number> {
    const n = await this.redis.eval(INCR_WITH_TTL, 1, `${this.prefix}${key}`, String(Math.max(1, Math.ceil(ttlMs))), String(by));
    return Number(n);
  }

  async count(key: string): Promise<number> {
    return Number((await this.redis.get(`${this.prefix}${key}`)) ?? 0);
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}${key}`, value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(`${this.prefix}${key}`, value, 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async getValue(key: string): Promise<string | null> {
    return this.redis.get(`${this.prefix}${key}`);
  }

  async del(...keys: string[]): Promise<void> {
    if (keys.length > 0) await this.redis.del(...keys.map((k) => `${this.prefix}${k}`));
  }

  async ping() {
    try { return (await this.redis.ping()) === 'PONG'; } catch { return false; }
  }

  async close() { this.redis.disconnect(); }
}
