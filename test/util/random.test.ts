import { test } from 'node:test';
import assert from 'node:assert/strict';
import { secureRandom } from '../../src/util/random.js';

test('secureRandom: each call gets its own bytes, across pool refills and for large requests [ASVS V11.5.2]', () => {
  const seen = new Set<string>();
  // 4 KB pool: 3 000 calls of 12 to 44 bytes refill it many times, including calls that do not fit the rest of a pool.
  for (let i = 0; i < 3000; i++) {
    const n = 12 + (i % 33);
    const b = secureRandom(n);
    assert.equal(b.length, n);
    const hex = b.toString('hex');
    assert.ok(!seen.has(hex), 'a value was handed out twice');
    seen.add(hex);
  }
  const big = secureRandom(5000);
  assert.equal(big.length, 5000);
  assert.notEqual(big.subarray(0, 32).toString('hex'), '00'.repeat(32));
  // A value handed out is a copy: changing it changes no later value.
  const a = secureRandom(32);
  a.fill(0);
  assert.notEqual(secureRandom(32).toString('hex'), '00'.repeat(32));
});
