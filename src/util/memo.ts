/** The value kept under `key` in `map`, made and kept first if there is none. */
export function entryOf<K extends object, V>(map: WeakMap<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

/**
 * `make` kept per key for the keys met lately, at most `max` of them (the whole memory is dropped when it is full):
 * for a pure function of a key that repeats, such as an address or a day, on a hot path.
 */
export function memoBounded<K, V>(max: number, make: (key: K) => V): (key: K) => V {
  const kept = new Map<K, V>();
  return (key) => {
    let v = kept.get(key);
    if (v === undefined) {
      v = make(key);
      if (kept.size >= max) kept.clear();
      kept.set(key, v);
    }
    return v;
  };
}
