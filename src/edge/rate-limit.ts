import type { SharedState } from '../shared-state/index.js';
import Type, { type Static } from 'typebox';
import type { SettingsStore } from '../config/settings.js';
import { defineSettingsArea } from '../config/settings-area.js';
import { AppError } from '../errors.js';
import { type FlushReports, LocalWindows, type WindowCount } from './windows.js';
import { parseIp } from './ip.js';
import { memoBounded } from '../util/memo.js';
import { type Closable, HOLD_MAX, HOLD_MAX_PER_SUBJECT, RefusalDelay } from './refusal-delay.js';

export type Bucket = 'auth' | 'reset' | 'read' | 'write' | 'export' | 'upload';

const MiB = 1024 * 1024;
const Budget = (def: number, description: string) => Type.Integer({ minimum: 1, maximum: 1_000_000_000_000, default: def, description });

/** Requests per window (and bytes for uploads), per client IP and per signed-in user. */
export const RateLimitSchema = Type.Object({
  window: Type.Integer({ minimum: 1, maximum: 3600, default: 60, unit: 'seconds', description: 'Seconds of the sliding window.' }),
  authPerIp: Budget(30, 'Sign-in requests per window from one client address (IPv6: its /64).'),
  resetPerIp: Budget(10, 'Forgot-password and reset requests per window from one client address.'),
  readPerIp: Budget(1200, 'Reads (GET) per window from one client address.'),
  readPerUser: Budget(600, 'Reads (GET) per window by one signed-in user.'),
  writePerIp: Budget(300, 'Writes (other methods, token renewal included) per window from one client address.'),
  writePerUser: Budget(120, 'Writes per window by one signed-in user.'),
  exportPerIp: Budget(20, 'Exports per window from one client address.'),
  exportPerUser: Budget(10, 'Exports per window by one signed-in user.'),
  uploadPerIp: Budget(60, 'Uploads (imports, files) per window from one client address.'),
  uploadPerUser: Budget(30, 'Uploads (imports, files) per window by one signed-in user.'),
  uploadBytesPerIp: Budget(200 * MiB, 'Bytes uploaded per window from one client address.'),
  uploadBytesPerUser: Budget(100 * MiB, 'Bytes uploaded per window by one signed-in user.'),
  refusalDelay: Type.Integer({
    minimum: 0,
    maximum: 10_000,
    default: 1000,
    unit: 'milliseconds',
    description: `A request past its budget is answered after this long (0: at once), so that a flooding client sends fewer requests. At most ${HOLD_MAX_PER_SUBJECT} requests per address or user and ${HOLD_MAX} in all are held; the others are answered at once and their connection closed.`,
  }),
});
export type RateLimits = Static<typeof RateLimitSchema>;

export const rateLimitArea = defineSettingsArea({ key: 'rateLimits', label: 'rate limits', schema: RateLimitSchema });

export const RATE_LIMIT_DEFAULTS: Readonly<RateLimits> = rateLimitArea.defaults;

/**
 * The budget key of a client address. IPv6 clients are keyed by their /64, which one subscriber
 * controls whole: keying by full address would let one attacker spread over 2^64 budgets.
 */
export const ipBudgetKey: (ip: string) => string = memoBounded(4096, (ip: string): string => {
  // Kept for the addresses met lately: every request takes one, most from an address seen before (issue 14).
  const a = parseIp(ip);
  if (!a) return `x:${ip.slice(0, 64)}`;
  if (a.kind() === 'ipv4') return a.toString();
  const b = a.toByteArray().slice(0, 8);
  return `${Buffer.from(b).toString('hex')}/64`;
});

function limitsFor(l: RateLimits, bucket: Bucket, who: 'ip' | 'user'): { count: number; bytes?: number } {
  switch (bucket) {
    case 'auth':
      return { count: l.authPerIp };
    case 'reset':
      return { count: l.resetPerIp };
    case 'read':
      return { count: who === 'ip' ? l.readPerIp : l.readPerUser };
    case 'write':
      return { count: who === 'ip' ? l.writePerIp : l.writePerUser };
    case 'export':
      return { count: who === 'ip' ? l.exportPerIp : l.exportPerUser };
    case 'upload':
      return who === 'ip' ? { count: l.uploadPerIp, bytes: l.uploadBytesPerIp } : { count: l.uploadPerUser, bytes: l.uploadBytesPerUser };
  }
}

export interface Budget {
  limit: number;
  remaining: number;
  resetSeconds: number;
}

const budgetOf = (limit: number, { count, resetMs }: WindowCount): Budget => ({
  limit,
  remaining: Math.max(0, limit - count),
  resetSeconds: Math.max(1, Math.ceil(resetMs / 1000)),
});

/**
 * The share of a budget one instance may grant from its own counts, with no round trip (D350). Reads,
 * writes and uploads (requests and bytes) decide in process up to half their budget. Sign-in, reset
 * and export budgets guard against guessing and heavy work and are small; a request they grant costs
 * far more than a round trip, so each one is counted exactly across instances (0). Every bucket
 * refuses in process once its budget is spent, so a flood costs the shared state nothing.
 */
export const LOCAL_SHARE: Readonly<Record<Bucket, number>> = Object.freeze({ read: 0.5, write: 0.5, upload: 0.5, auth: 0, reset: 0, export: 0 });

/** How often the counts go to the shared state (ms, real time). */
export const FLUSH_EVERY_MS = 250;

export interface RateLimiterOptions {
  /** Overrides of LOCAL_SHARE (tests), each from 0 to 1. */
  localShare?: Partial<Record<Bucket, number>>;
  /** Keys tracked in memory at most (MAX_TRACKED_KEYS). */
  maxKeys?: number;
}

/**
 * Request throttling (EDGE-4). Budget keys come only from the resolved client address and the
 * verified user id, never from a path, header or body field the client can vary; the sign-in
 * bucket is per address only (per account is the lockout's job). Counted in process and sent to
 * the shared state in the background (LocalWindows, D350); `start` runs the flush, `close` ends it.
 */
export class RateLimiter {
  private readonly windows: LocalWindows;
  private readonly share: Readonly<Record<Bucket, number>>;
  /** Refusals held before they are answered (D451). */
  readonly delay = new RefusalDelay();

  constructor(
    shared: SharedState,
    private readonly settings: SettingsStore,
    now: () => number,
    opts: RateLimiterOptions = {},
  ) {
    this.share = { ...LOCAL_SHARE, ...opts.localShare };
    for (const v of Object.values(this.share)) if (!(v >= 0 && v <= 1)) throw new TypeError('localShare must be from 0 to 1');
    this.windows = new LocalWindows(shared, now, opts.maxKeys);
  }

  /** The budgets in force; the pipeline reads them once per request for both budgets it takes. */
  limits(): Promise<RateLimits> {
    return this.settings.get(rateLimitArea);
  }

  /** `limits` when they are kept under the stamps in force (SettingsStore.peek); undefined otherwise. */
  limitsNow(): RateLimits | undefined {
    return this.settings.peek(rateLimitArea);
  }

  /**
   * `consume` when this instance grants the request alone, without a promise (issue 14: the hot path of a request);
   * undefined, and nothing counted, when it cannot (a request with bytes, a round trip to take, a refusal): the caller
   * then takes `consume`, which decides the same request as if this had not been asked.
   */
  consumeNow(bucket: Bucket, who: 'ip' | 'user', subject: string, bytes: number, limits: RateLimits): Budget | null | undefined {
    if ((bucket === 'auth' || bucket === 'reset') && who === 'user') return null;
    if (bytes > 0) return undefined;
    const lim = limitsFor(limits, bucket, who);
    const r = this.windows.hitNow(`rl:${bucket}:${who}:${subject}`, limits.window, 1, Math.floor(this.share[bucket] * lim.count));
    return r && budgetOf(lim.count, r);
  }

  /**
   * Counts one request (and its bytes) against a budget; throws RATE_LIMITED past it, after the refusal delay
   * (D451), which `conn` closing ends early.
   */
  async consume(bucket: Bucket, who: 'ip' | 'user', subject: string, bytes = 0, limits?: RateLimits, conn?: Closable): Promise<Budget | null> {
    const l = limits ?? (await this.limits());
    if ((bucket === 'auth' || bucket === 'reset') && who === 'user') return null;
    const lim = limitsFor(l, bucket, who);
    const share = this.share[bucket];
    const key = `rl:${bucket}:${who}:${subject}`;
    const hit = await this.windows.hit(key, l.window, 1, lim.count, Math.floor(share * lim.count));
    const { count } = hit;
    const budget = budgetOf(lim.count, hit);
    const { resetSeconds } = budget;
    let over = count > lim.count;
    if (lim.bytes !== undefined && bytes > 0) {
      const b = await this.windows.hit(`${key}:bytes`, l.window, bytes, lim.bytes, Math.floor(share * lim.bytes));
      over ||= b.count > lim.bytes;
    }
    if (over) {
      const held = await this.delay.hold(`${who}:${subject}`, l.refusalDelay, conn);
      throw new AppError('RATE_LIMITED', undefined, `${bucket} budget per ${who}`, {
        'retry-after': String(resetSeconds),
        'ratelimit-limit': String(lim.count),
        'ratelimit-remaining': '0',
        'ratelimit-reset': String(resetSeconds),
        // A refused upload closes its connection, held or not: kept open, the server would read the rest of its body.
        ...(held && bytes === 0 ? {} : { connection: 'close' }),
      });
    }
    return budget;
  }

  /** Starts the background flush (the service wiring calls it; tests call `flush` when they need one). */
  start(reports: FlushReports = {}, everyMs = FLUSH_EVERY_MS): void {
    this.windows.start(everyMs, reports);
  }

  /** Sends the counts not sent yet to the shared state now. */
  flush(): Promise<void> {
    return this.windows.flush();
  }

  /** Keys tracked in memory. */
  get trackedKeys(): number {
    return this.windows.size;
  }

  /** Stops the flush and sends what is left; before the shared state closes. */
  close(): Promise<void> {
    return this.windows.stop();
  }
}
