import type { SharedState } from '../shared-state/index.js';
import Type, { type Static } from 'typebox';
import type { SettingsStore } from '../config/settings.js';
import { defineSettingsArea } from '../config/settings-area.js';
import { AppError } from '../errors.js';
import { hitWindow } from './windows.js';
import { parseIp } from './ip.js';

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
});
export type RateLimits = Static<typeof RateLimitSchema>;

export const rateLimitArea = defineSettingsArea({ key: 'rateLimits', label: 'rate limits', schema: RateLimitSchema });

export const RATE_LIMIT_DEFAULTS: Readonly<RateLimits> = rateLimitArea.defaults;

/**
 * The budget key of a client address. IPv6 clients are keyed by their /64, which one subscriber
 * controls whole: keying by full address would let one attacker spread over 2^64 budgets.
 */
export function ipBudgetKey(ip: string): string {
  const a = parseIp(ip);
  if (!a) return `x:${ip.slice(0, 64)}`;
  if (a.kind() === 'ipv4') return a.toString();
  const b = a.toByteArray().slice(0, 8);
  return `${Buffer.from(b).toString('hex')}/64`;
}

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

/**
 * Request throttling (EDGE-4). Budget keys come only from the resolved client address and the
 * verified user id, never from a path, header or body field the client can vary; the sign-in
 * bucket is per address only (per account is the lockout's job).
 */
export class RateLimiter {
  constructor(
    private readonly shared: SharedState,
    private readonly settings: SettingsStore,
    private readonly now: () => number,
  ) {}

  /** The budgets in force; the pipeline reads them once per request for both budgets it takes. */
  limits(): Promise<RateLimits> {
    return this.settings.get(rateLimitArea);
  }

  /** Counts one request (and its bytes) against a budget; throws RATE_LIMITED past it. */
  async consume(bucket: Bucket, who: 'ip' | 'user', subject: string, bytes = 0, limits?: RateLimits): Promise<Budget | null> {
    const l = limits ?? (await this.limits());
    if ((bucket === 'auth' || bucket === 'reset') && who === 'user') return null;
    const lim = limitsFor(l, bucket, who);
    const key = `rl:${bucket}:${who}:${subject}`;
    const { count, resetMs } = await hitWindow(this.shared, key, l.window, this.now());
    const resetSeconds = Math.max(1, Math.ceil(resetMs / 1000));
    let over = count > lim.count;
    if (lim.bytes !== undefined && bytes > 0) {
      const b = await hitWindow(this.shared, `${key}:bytes`, l.window, this.now(), bytes);
      over ||= b.count > lim.bytes;
    }
    if (over) {
      throw new AppError('RATE_LIMITED', undefined, `${bucket} budget per ${who}`, {
        'retry-after': String(resetSeconds),
        'ratelimit-limit': String(lim.count),
        'ratelimit-remaining': '0',
        'ratelimit-reset': String(resetSeconds),
      });
    }
    return { limit: lim.count, remaining: Math.max(0, lim.count - count), resetSeconds };
  }
}
