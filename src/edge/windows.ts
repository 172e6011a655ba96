import type { SharedState } from '../shared-state/index.js';

/**
 * A sliding-window counter over the shared state: the current fixed window plus the previous one,
 * weighted by how much of it still overlaps the sliding window. Atomic per window on every
 * instance; the window index comes from the injected clock, so tests can move time.
 */
export async function hitWindow(shared: SharedState, key: string, windowSec: number, now: number, by = 1): Promise<{ count: number; resetMs: number }> {
  const w = windowSec * 1000;
  const idx = Math.floor(now / w);
  const frac = (now - idx * w) / w;
  const [curr, prev] = await Promise.all([
    by === 1 ? shared.incr(`${key}:${idx}`, 2 * w) : shared.incrBy(`${key}:${idx}`, by, 2 * w),
    shared.count(`${key}:${idx - 1}`),
  ]);
  return { count: curr + Math.floor(prev * (1 - frac)), resetMs: (idx + 1) * w - now };
}
