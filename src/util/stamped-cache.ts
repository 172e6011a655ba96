/**
 * A bounded cache of values loaded under a version stamp (D360): an entry serves only callers holding the stamp it
 * was loaded under, so a change (which moves the stamp) is never served stale to a caller that read the new stamp.
 * Without a stamp the value is loaded afresh. Values are shared between requests: they are frozen, and a caller that
 * needs to change one copies it. A load that fails is not kept. The oldest entry goes when `max` is reached.
 */
export class StampedCache<V> {
  private readonly entries = new Map<string, { stamp: number; value: Promise<V>; settled?: { value: V } }>();

  constructor(private readonly max = 1000) {}

  get(key: string, stamp: number | undefined, load: () => Promise<V>): Promise<V> {
    if (stamp === undefined) return load();
    const hit = this.entries.get(key);
    if (hit?.stamp === stamp) return hit.value;
    const entry: { stamp: number; value: Promise<V>; settled?: { value: V } } = { stamp, value: load().then(deepFreeze) };
    entry.value.then((value) => {
      entry.settled = { value };
    }, noop);
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
    entry.value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return entry.value;
  }

  /**
   * The value kept for `key` under `stamp`, once its load has ended, without waiting (the hot path of a request, issue
   * 14); undefined when there is none: the caller then takes `get`.
   */
  peek(key: string, stamp: number): V | undefined {
    const hit = this.entries.get(key);
    return hit?.stamp === stamp ? hit.settled?.value : undefined;
  }

  clear(): void {
    this.entries.clear();
  }
}

const noop = () => {};

/** Freezes a value and everything it holds (plain objects, arrays, sets and maps are walked). */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (value instanceof Map)
    for (const [k, v] of value) {
      deepFreeze(k);
      deepFreeze(v);
    }
  else if (value instanceof Set) for (const v of value) deepFreeze(v);
  else for (const v of Object.values(value)) deepFreeze(v);
  return value;
}
