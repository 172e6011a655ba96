import type { CountHit, SharedState } from '../shared-state/index.js';

/**
 * Sliding-window counts: the current fixed window plus the previous one, weighted by how much of it
 * still overlaps the sliding window. The window index comes from the injected clock, so tests can
 * move time.
 */
export interface WindowCount {
  /** The sliding-window count, this hit included. */
  count: number;
  resetMs: number;
}

interface Position {
  w: number;
  idx: number;
  frac: number;
  resetMs: number;
}

function position(windowSec: number, now: number): Position {
  const w = windowSec * 1000;
  const idx = Math.floor(now / w);
  return { w, idx, frac: (now - idx * w) / w, resetMs: (idx + 1) * w - now };
}

/** One exact hit on the shared state, in one round trip; atomic per window on every instance. */
export async function hitWindow(shared: SharedState, key: string, windowSec: number, now: number, by = 1): Promise<WindowCount> {
  const p = position(windowSec, now);
  const { curr, prev } = await shared.hitWindow(`${key}:${p.idx}`, `${key}:${p.idx - 1}`, by, 2 * p.w);
  return { count: curr + Math.floor(prev * (1 - p.frac)), resetMs: p.resetMs };
}

/**
 * One fixed window of a key as this instance sees it. Our own hits are known exactly; the other
 * instances' only as a lower bound, read back from the shared counts: a shared count minus every
 * hit of ours sent so far (some of which it may not hold yet) never exceeds theirs.
 */
interface Slot {
  idx: number;
  /** Every hit of ours in this window, refused ones too. */
  own: number;
  /** Those not sent to the shared state yet. */
  unsent: number;
  /** A lower bound of the other instances' hits in this window. */
  others: number;
}

interface Entry {
  w: number;
  cur: Slot;
  prev: Slot;
  /** Round trips in flight that carry this key's hits. */
  inflight: number;
  /** The number of the last `set` that put this entry at the end of the map (the recency order). */
  at: number;
}

const slot = (idx: number): Slot => ({ idx, own: 0, unsent: 0, others: 0 });
const total = (s: Slot) => s.own + s.others;
/** Reads a shared count `v` back into a slot. */
const learn = (s: Slot, v: number) => {
  s.others = Math.max(s.others, v - (s.own - s.unsent));
};
const pending = (e: Entry) => e.inflight > 0 || e.cur.unsent + e.prev.unsent > 0;
const slotAt = (e: Entry, idx: number) => (e.cur.idx === idx ? e.cur : e.prev.idx === idx ? e.prev : undefined);

/** Moves an entry to window `idx`, dropping older windows; false when `idx` is before the entry's (a clock that went back). */
function roll(e: Entry, idx: number): boolean {
  if (e.cur.idx === idx) return true;
  if (e.cur.idx > idx) return false;
  e.prev = e.cur.idx === idx - 1 ? e.cur : slot(idx - 1);
  e.cur = slot(idx);
  return true;
}

export interface FlushReports {
  /** A flush failed; told once until one succeeds again. */
  onError?: (err: unknown) => void;
  onRecovered?: () => void;
}

/** Keys tracked in memory at most (a few hundred bytes each); past it, new keys are counted synchronously. */
export const MAX_TRACKED_KEYS = 50_000;

/**
 * In-process sliding windows synchronised with the shared state in the background (D350).
 *
 * Each key keeps, per window, our own hits (and which are not sent yet) and a lower bound of the
 * other instances' hits read back from the shared counts. A hit is decided here, with no round trip,
 * while the estimate (this hit included) stays within `localLimit`, and refused here once it is past
 * `limit` (the estimate never exceeds the true count, so that refusal is sure).
 * In between, or for a key this instance does not know yet (a first hit, a restart, an evicted key),
 * or while the shared state is failing, the hit is counted exactly in one round trip. A flush sends
 * every pending hit in one batch. One instance decides exactly as one shared counter would; n
 * instances grant at most (n - 1) * localLimit more than the budget per window (docs/decisions.md).
 */
export class LocalWindows {
  private readonly entries = new Map<string, Entry>();
  /** Sets made at the end of `entries` so far: an entry set fewer than size / 2 sets ago is in the newer half. */
  private sets = 0;
  /** The last flush failed: every admission asks the shared state until a round trip succeeds. */
  private degraded = false;
  private reported = false;
  /** A counter refused alone was reported; again only after a flush without one. */
  private keyReported = false;
  private flushing: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reports: FlushReports = {};

  constructor(
    private readonly shared: SharedState,
    private readonly now: () => number,
    private readonly maxKeys = MAX_TRACKED_KEYS,
  ) {}

  /** Keys tracked now (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** Counts a hit of `by` on `key` and returns the sliding-window count with it; see the class. */
  async hit(key: string, windowSec: number, by: number, limit: number, localLimit: number): Promise<WindowCount> {
    const p = position(windowSec, this.now());
    let e = this.entries.get(key);
    // A new window length re-indexes every window: counting starts afresh, as it does in the shared state.
    if (e && e.w !== p.w) {
      this.entries.delete(key);
      e = undefined;
    }
    if (!e || !roll(e, p.idx)) return this.exact(key, undefined, p, by, 0);
    const count = total(e.cur) + by + Math.floor(total(e.prev) * (1 - p.frac));
    if (count > limit || this.grantsHere(count, localLimit)) return this.countHere(key, e, by, count, p);
    return this.exact(key, e, p, by, count);
  }

  /**
   * `hit` when this instance grants it alone (the estimate within `localLimit`), without a promise (issue 14: the
   * hot path of a request); undefined, and nothing counted, in every other case (a refusal, a round trip): the caller
   * then takes `hit`.
   */
  hitNow(key: string, windowSec: number, by: number, localLimit: number): WindowCount | undefined {
    const p = position(windowSec, this.now());
    const e = this.entries.get(key);
    if (!e || e.w !== p.w || !roll(e, p.idx)) return undefined;
    const count = total(e.cur) + by + Math.floor(total(e.prev) * (1 - p.frac));
    return this.grantsHere(count, localLimit) ? this.countHere(key, e, by, count, p) : undefined;
  }

  private grantsHere(count: number, localLimit: number): boolean {
    return count <= localLimit && !this.degraded && this.shared.isAvailable();
  }

  /** A hit decided here: counted as ours, to be sent at the next flush. */
  private countHere(key: string, e: Entry, by: number, count: number, p: Position): WindowCount {
    e.cur.own += by; // a refused hit counts too, as in the shared counter
    e.cur.unsent += by;
    // Most recently used last: eviction takes the front. An entry already in the newer half stays where it is (moving
    // a busy key at every hit is a delete and an insert in the map per request, issue 14): in a full map (MAX_TRACKED_KEYS)
    // eviction, which looks at the first 64 entries only, never reaches it; in a map of a few dozen keys the order is
    // approximate, which costs an evicted key one round trip at its next hit, never its count (only keys with nothing
    // unsent are evicted).
    if (this.sets - e.at > this.entries.size >> 1) {
      this.entries.delete(key);
      this.entries.set(key, e);
      e.at = ++this.sets;
    }
    return { count, resetMs: p.resetMs };
  }

  /**
   * The hit counted in the shared state, with our unsent hits of the window, in one round trip. The
   * answer is the larger of the shared count and our estimate (our own hits not yet in the shared
   * state are real): with one instance both are the exact count.
   */
  private async exact(key: string, e: Entry | undefined, p: Position, by: number, estimate: number): Promise<WindowCount> {
    const cur = e?.cur;
    const carry = cur ? cur.unsent : 0;
    if (e && cur) {
      cur.unsent = 0;
      cur.own += by;
      e.inflight++;
    }
    let r: { curr: number; prev: number };
    try {
      r = await this.shared.hitWindow(`${key}:${p.idx}`, `${key}:${p.idx - 1}`, carry + by, 2 * p.w);
    } catch (err) {
      if (e && cur) {
        cur.own -= by; // this request failed and is not counted; the earlier ones still are
        cur.unsent += carry;
      }
      throw err;
    } finally {
      if (e) e.inflight--;
    }
    this.succeeded();
    const shared = r.curr + Math.floor(r.prev * (1 - p.frac));
    const entry = e ?? this.track(key, p, by);
    if (entry) {
      const c = slotAt(entry, p.idx);
      if (c) learn(c, r.curr);
      const pr = slotAt(entry, p.idx - 1);
      if (pr) learn(pr, r.prev);
    }
    return { count: Math.max(shared, estimate), resetMs: p.resetMs };
  }

  /** A new entry for `key` holding the hit just counted, when there is room; undefined when memory is full of unsent hits. */
  private track(key: string, p: Position, by: number): Entry | undefined {
    const have = this.entries.get(key);
    // Another request made it meanwhile: reading our shared count back counts this hit among the others'.
    if (have && have.w === p.w) return have;
    if (have) this.entries.delete(key);
    else if (this.entries.size >= this.maxKeys && !this.evictOne()) return undefined;
    const e: Entry = { w: p.w, cur: slot(p.idx), prev: slot(p.idx - 1), inflight: 0, at: ++this.sets };
    e.cur.own = by;
    this.entries.set(key, e);
    return e;
  }

  /**
   * Drops the least recently used key that has nothing unsent: all it counted is in the shared
   * state, so its next hit reads it back exactly and a refused key stays refused.
   */
  private evictOne(): boolean {
    let looked = 0;
    for (const [k, e] of this.entries) {
      if (!pending(e)) {
        this.entries.delete(k);
        return true;
      }
      if (++looked >= 64) break;
    }
    return false;
  }

  private succeeded(): void {
    this.degraded = false;
    if (this.reported) {
      this.reported = false;
      this.reports.onRecovered?.();
    }
  }

  private failed(err: unknown): void {
    this.degraded = true;
    if (!this.reported) {
      this.reported = true;
      this.reports.onError?.(err);
    }
  }

  /**
   * Sends every hit unsent at the call in one batch and reads back the shared counts; never throws. One at a time: a
   * call during a flush waits for it and then flushes again (the running one took only what was unsent when it began),
   * and calls meanwhile share that second flush.
   */
  flush(): Promise<void> {
    if (!this.flushing) {
      this.flushing = this.flushOnce().finally(() => {
        this.flushing = null;
      });
      return this.flushing;
    }
    this.queued ??= this.flushing.then(() => {
      this.queued = null;
      return this.flush();
    });
    return this.queued;
  }

  private async flushOnce(): Promise<void> {
    const now = this.now();
    const batch: Array<{ entry: Entry; slot: Slot; hit: CountHit }> = [];
    for (const [key, e] of this.entries) {
      roll(e, Math.floor(now / e.w));
      if (!pending(e) && total(e.cur) + total(e.prev) === 0) {
        this.entries.delete(key); // both windows over: nothing left to know
        continue;
      }
      for (const s of [e.prev, e.cur]) {
        if (s.unsent === 0) continue;
        batch.push({ entry: e, slot: s, hit: { key: `${key}:${s.idx}`, by: s.unsent, ttlMs: 2 * e.w } });
        s.unsent = 0;
        e.inflight++;
      }
    }
    if (batch.length === 0) return;
    let values: Array<number | null>;
    try {
      values = await this.shared.addCounts(batch.map((b) => b.hit));
    } catch (err) {
      for (const b of batch) {
        b.entry.inflight--;
        b.slot.unsent += b.hit.by; // kept for the next flush
      }
      this.failed(err);
      return;
    }
    this.succeeded();
    let refused: string | null = null;
    for (const [i, b] of batch.entries()) {
      b.entry.inflight--;
      const v = values[i];
      if (v === null || v === undefined) {
        // A counter the backend refused alone (a Redis key of the wrong type) keeps its hits for the next flush.
        b.slot.unsent += b.hit.by;
        refused ??= b.hit.key;
      } else learn(b.slot, v);
    }
    if (refused === null) this.keyReported = false;
    else if (!this.keyReported) {
      this.keyReported = true;
      this.reports.onError?.(new Error(`the shared state refused the counter ${refused.slice(0, 120)}`));
    }
  }

  /** Flushes every `everyMs` on the real clock, not the injected one; the timer holds no process open. */
  start(everyMs: number, reports: FlushReports = {}): void {
    this.reports = reports;
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.flush().catch((err) => this.failed(err));
    }, everyMs);
    this.timer.unref();
  }

  /** Stops the timer and sends what is left (a failure is reported, not thrown). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush().catch((err) => this.failed(err));
    await this.flush().catch((err) => this.failed(err));
  }
}
