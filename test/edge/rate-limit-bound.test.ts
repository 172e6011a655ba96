// Issue 14 (from its review): the documented bound of in-process rate windows (D351), under schedules that move the clock
// across windows and flush at random, with 2 and 3 instances: per key and fixed window, at most
// budget + (n - 1) x floor(share x budget) grants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type TestApp, useApp } from '../helpers/app.js';
import { LOCAL_SHARE, RATE_LIMIT_DEFAULTS, RateLimiter, type RateLimits } from '../../src/edge/rate-limit.js';

let t: TestApp;
useApp(
  async (app) => {
    t = app;
  },
  { realRateLimits: true },
);

function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

async function granted(rl: RateLimiter, ip: string, l: RateLimits): Promise<boolean> {
  try {
    await rl.consume('read', 'ip', ip, 0, l);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'RATE_LIMITED') return false;
    throw e;
  }
}

for (const n of [2, 3]) {
  test(`${n} instances, clock across windows, random flushes: grants per fixed window stay within budget + (n-1) x share x budget`, async () => {
    const budget = 20;
    const windowSec = 10;
    const bound = budget + (n - 1) * Math.floor(LOCAL_SHARE.read * budget);
    const l: RateLimits = { ...RATE_LIMIT_DEFAULTS, window: windowSec, readPerIp: budget, refusalDelay: 0 };
    let worst = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const next = prng(seed * 31 + n);
      const inst = Array.from({ length: n }, () => new RateLimiter(t.s.durable, t.s.settings, t.clock.now));
      const ip = `198.51.100.${seed}-${randomBytes(3).toString('hex')}`;
      const perWindow = new Map<number, number>();
      for (let i = 0; i < 600; i++) {
        t.clock.t += Math.floor(next() * (next() < 0.05 ? 8000 : 120));
        if (next() < 0.08) await inst[Math.floor(next() * n)]!.flush();
        // Sometimes one instance fires several hits in flight together.
        const who = inst[Math.floor(next() * n)]!;
        const burst = next() < 0.1 ? 1 + Math.floor(next() * 6) : 1;
        const idx = Math.floor(t.clock.now() / (windowSec * 1000));
        const got = await Promise.all(Array.from({ length: burst }, () => granted(who, ip, l)));
        const g = got.filter(Boolean).length;
        perWindow.set(idx, (perWindow.get(idx) ?? 0) + g);
      }
      for (const [idx, g] of perWindow) {
        worst = Math.max(worst, g);
        assert.ok(g <= bound, `seed ${seed}, window ${idx}: ${g} granted, bound ${bound}`);
      }
    }
    console.log(`n=${n}: worst fixed window ${worst}, bound ${bound}`);
  });
}
