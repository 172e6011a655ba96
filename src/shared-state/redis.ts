import { Redis, ReplyError, type RedisOptions } from 'ioredis';
import type { ClientTls } from '../config/index.js';
import type { Db } from '../db/index.js';
import { AppError } from '../errors.js';
import { BreakerOpenError, CircuitBreaker } from '../util/circuit-breaker.js';
import type { CountHit, RenewalClaim, SharedState } from './index.js';

/** INCR that gives a new key its lifetime, in one atomic step. */
const INCR_WITH_TTL = `local c = redis.call('INCRBY', KEYS[1], ARGV[2])
if c == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return c`;

/** INCR_WITH_TTL on the current window, and the previous window's value (nil when absent): one sliding-window hit. */
const HIT_WINDOW = `local c = redis.call('INCRBY', KEYS[1], ARGV[2])
if c == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local p = redis.call('GET', KEYS[2])
return {c, p}`;

/**
 * INCR_WITH_TTL for each key (ARGV: by and ttl per key), each under pcall: a key of the wrong type
 * answers false and is left alone, so one bad key neither stops the batch nor half-applies it.
 */
const ADD_COUNTS = `local out = {}
for i, k in ipairs(KEYS) do
  local by = tonumber(ARGV[2 * i - 1])
  local c = redis.pcall('INCRBY', k, by)
  if type(c) == 'number' then
    if c == by then redis.call('PEXPIRE', k, ARGV[2 * i]) end
    out[i] = c
  else
    out[i] = false
  end
end
return out`;

/** Counters one flush script adds at most. */
const BATCH_KEYS = 500;

/** How long one Redis command may take before the request gets a 503 (ms). */
const COMMAND_TIMEOUT_MS = 800;

/** Redis answered, but cannot serve now (loading, out of memory, failing to persist, a replica). */
const UNAVAILABLE_REPLY = /^(LOADING|MISCONF|OOM|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|NOAUTH|NOPERM|WRONGPASS)\b/;

/**
 * The TLS options of a rediss:// connection with REDIS_TLS_* (D437): the server's certificate is verified (against
 * REDIS_TLS_CA, else the system's CAs), and the client certificate is offered for `tls-auth-clients`.
 */
function tlsOptions(tls: ClientTls | null): Pick<RedisOptions, 'tls'> {
  if (tls === null) return {};
  return {
    tls: {
      rejectUnauthorized: true,
      ...(tls.ca === null ? {} : { ca: tls.ca }),
      ...(tls.cert === null || tls.key === null ? {} : { cert: tls.cert, key: tls.key }),
    },
  };
}

/**
 * Closes the client. A TLS socket ended during its handshake can report a second error (the server's certificate
 * refused, then the server's alert) after ioredis's one-time listeners are spent: an uncaught exception, at shutdown.
 */
function disconnectQuietly(r: Redis): void {
  (r as unknown as { stream?: { on(event: 'error', fn: () => void): unknown } }).stream?.on('error', () => {
    /* the connection is being closed */
  });
  r.disconnect();
}

/** A connection-level failure (refused, reset, timed out, not connected). */
function isConnectionFailure(e: unknown): boolean {
  return !(e instanceof ReplyError) && !(e instanceof AppError);
}

/**
 * What an error tells the breaker. A connection failure or an unavailable reply (LOADING, OOM, ...)
 * is an outage. Any other error reply to our fixed commands (WRONGTYPE at a key, a script error)
 * concerns that one key: it neither opens the breaker (one bad key must not stop every Redis-backed
 * request) nor closes it (it is no proof that Redis serves).
 */
function outageKind(e: unknown): boolean | null {
  if (e instanceof ReplyError) return UNAVAILABLE_REPLY.test((e as Error).message) ? true : null;
  return isConnectionFailure(e);
}

/** What must survive a loss of Redis's data lives in the database; see RedisSharedState. */
export interface DurableClaims {
  claimRenewal(jti: string, sessionId: string, claim: RenewalClaim, ttlMs: number, db?: Db): Promise<{ won: boolean; claim: RenewalClaim }>;
}

/**
 * Counters and flags in Redis (OPS-4): rate-limit windows, the spread-attack window and pause, log
 * sampling. Redis may lose them (a restart without persistence) at the cost of a fresh window.
 * Renewal claims are not kept here: they go to `durable` (the token_renewals table), because the
 * one-renewal rule must survive a loss of Redis's data.
 *
 * Failing fast (issue 9): no offline queue (a command while disconnected fails at once), one short
 * command timeout, no retry of a command, and a circuit breaker, so that a dead Redis costs a
 * request a few milliseconds, not a timeout each. Every failure is a 503 SERVICE_UNAVAILABLE with
 * Retry-After. The client reconnects by itself every second at most; the first request after that
 * succeeds, without a restart.
 */
export class RedisSharedState implements SharedState {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private readonly breaker = new CircuitBreaker({ threshold: 2, cooldownMs: 1000 });
  /** Resolves once the first connection attempt has succeeded or failed (at most 2 s). */
  readonly connected: Promise<void>;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly durable: DurableClaims,
    tls: ClientTls | null = null,
  ) {
    this.redis = new Redis(url, {
      ...tlsOptions(tls),
      lazyConnect: false,
      connectTimeout: 1000,
      commandTimeout: COMMAND_TIMEOUT_MS,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times: number) => Math.min(100 * times, 1000),
    });
    this.redis.on('error', () => {
      /* surfaced through ping() and failed commands */
    });
    this.redis.on('ready', () => this.breaker.reset());
    this.connected = new Promise((resolve) => {
      const timer = setTimeout(done, 2000);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.redis.once('ready', done);
      this.redis.once('error', done);
    });
  }

  private unavailable(what: string, why: string): AppError {
    return new AppError('SERVICE_UNAVAILABLE', undefined, `redis ${what}: ${why}`, { 'retry-after': String(Math.max(1, this.breaker.retryAfterSeconds())) });
  }

  /** Runs one Redis call; any failure to serve becomes a 503 at once. */
  private async call<T>(what: string, fn: (r: Redis) => Promise<T>): Promise<T> {
    const unavailable = (why: string) => this.unavailable(what, why);
    if (this.redis.status !== 'ready') throw unavailable(`not connected (${this.redis.status})`);
    try {
      return await this.breaker.run(() => fn(this.redis), outageKind);
    } catch (e) {
      if (e instanceof BreakerOpenError) throw unavailable('circuit open');
      if (isConnectionFailure(e)) throw unavailable(e instanceof Error ? e.message.slice(0, 80) : 'failed');
      // Every error reply to these fixed commands means Redis cannot serve this request: a 503 with
      // Retry-After, the reply kept as the internal reason only (never a raw error, never a 500).
      if (e instanceof ReplyError) throw unavailable(`reply ${(e as Error).message.slice(0, 80)}`);
      throw e;
    }
  }

  /** Durable: the database's claim, whatever Redis holds or has lost. */
  claimRenewal(jti: string, sessionId: string, claim: RenewalClaim, ttlMs: number, db?: Db) {
    return this.durable.claimRenewal(jti, sessionId, claim, ttlMs, db);
  }

  incr(key: string, ttlMs: number): Promise<number> {
    return this.incrBy(key, 1, ttlMs);
  }

  async incrBy(key: string, by: number, ttlMs: number): Promise<number> {
    const n = await this.call('incr', (r) => r.eval(INCR_WITH_TTL, 1, `${this.prefix}${key}`, String(Math.max(1, Math.ceil(ttlMs))), String(by)));
    return Number(n);
  }

  async count(key: string): Promise<number> {
    return this.integer('get', await this.call('get', (r) => r.get(`${this.prefix}${key}`)));
  }

  /** A counter read back: absent is 0; one that is not an integer would count as nothing (NaN), so it fails closed like a failed command. */
  private integer(what: string, v: string | null): number {
    if (v === null) return 0;
    const n = Number(v);
    if (!/^-?\d{1,16}$/.test(v) || !Number.isSafeInteger(n)) throw this.unavailable(what, 'counter is not an integer');
    return n;
  }

  async hitWindow(key: string, prevKey: string, by: number, ttlMs: number): Promise<{ curr: number; prev: number }> {
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    const r = (await this.call('hit', (c) => c.eval(HIT_WINDOW, 2, `${this.prefix}${key}`, `${this.prefix}${prevKey}`, ttl, String(by)))) as [
      number,
      string | null,
    ];
    return { curr: Number(r[0]), prev: this.integer('hit', r[1]) };
  }

  async addCounts(hits: readonly CountHit[]): Promise<Array<number | null>> {
    const chunks: Array<Promise<Array<number | null>>> = [];
    for (let i = 0; i < hits.length; i += BATCH_KEYS) {
      const chunk = hits.slice(i, i + BATCH_KEYS);
      const keys = chunk.map((h) => `${this.prefix}${h.key}`);
      const args = chunk.flatMap((h) => [String(h.by), String(Math.max(1, Math.ceil(h.ttlMs)))]);
      // Sent together, the chunks share one round trip (ioredis writes them without waiting for answers).
      chunks.push(
        this.call('add', (c) => c.eval(ADD_COUNTS, keys.length, ...keys, ...args)).then((r) =>
          (r as Array<number | null>).map((v) => (typeof v === 'number' ? v : null)),
        ),
      );
    }
    return (await Promise.all(chunks)).flat();
  }

  isAvailable(): boolean {
    return this.redis.status === 'ready' && !this.breaker.isOpen;
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.call('set', (r) => r.set(`${this.prefix}${key}`, value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'))) === 'OK';
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.call('set', (r) => r.set(`${this.prefix}${key}`, value, 'PX', Math.max(1, Math.ceil(ttlMs))));
  }

  async getValue(key: string): Promise<string | null> {
    return this.call('get', (r) => r.get(`${this.prefix}${key}`));
  }

  async del(...keys: string[]): Promise<void> {
    if (keys.length > 0) await this.call('del', (r) => r.del(...keys.map((k) => `${this.prefix}${k}`)));
  }

  async ping() {
    try {
      return (await this.call('ping', (r) => r.ping())) === 'PONG';
    } catch {
      return false;
    }
  }

  async close() {
    disconnectQuietly(this.redis);
  }
}

export type RedisPersistence = { state: 'persistent'; detail: string } | { state: 'none'; detail: string } | { state: 'unknown'; detail: string };

/**
 * Whether a Redis keeps its data over a restart (`palisade config check`): RDB snapshots
 * (`save` not empty) or the append-only file. Managed services often forbid CONFIG: then the
 * answer is that persistence could not be verified.
 */
export async function redisPersistence(url: string, tls: ClientTls | null = null): Promise<RedisPersistence> {
  const r = new Redis(url, {
    ...tlsOptions(tls),
    lazyConnect: true,
    connectTimeout: 2000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  r.on('error', () => {
    /* reported below */
  });
  try {
    await r.connect();
    let save: unknown;
    let aof: unknown;
    try {
      save = await r.config('GET', 'save');
      aof = await r.config('GET', 'appendonly');
    } catch (e) {
      return { state: 'unknown', detail: `CONFIG GET is not allowed (${e instanceof Error ? e.message.slice(0, 80) : 'refused'})` };
    }
    const value = (reply: unknown): string | null => (Array.isArray(reply) && reply.length >= 2 ? String(reply[1]) : null);
    const s = value(save);
    const a = value(aof);
    if (s === null && a === null) return { state: 'unknown', detail: 'CONFIG GET gave no answer' };
    if (a === 'yes') return { state: 'persistent', detail: 'appendonly yes' };
    if (s !== null && s.trim() !== '') return { state: 'persistent', detail: `save "${s}"` };
    return { state: 'none', detail: 'save "" and appendonly no' };
  } catch (e) {
    return { state: 'unknown', detail: `Redis could not be reached (${e instanceof Error ? e.message.slice(0, 80) : 'failed'})` };
  } finally {
    disconnectQuietly(r);
  }
}
