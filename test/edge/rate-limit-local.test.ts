// EDGE-4 with in-process windows (D350), on the database's shared state and on Redis. Bug classes: a flood
// that costs the shared storage a round trip per request, instances that together grant more than the
// documented bound, a restart or an eviction that lets a refused address start afresh, a failing shared
// state that crashes, hangs or silently opens the budgets.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_URL, type TestApp, useApp } from '../helpers/app.js';
import { LOCAL_SHARE, RATE_LIMIT_DEFAULTS, RateLimiter, type RateLimiterOptions, type RateLimits } from '../../src/edge/rate-limit.js';
import { hitWindow } from '../../src/edge/windows.js';
import { RedisSharedState } from '../../src/shared-state/redis.js';
import type { SharedState } from '../../src/shared-state/index.js';
import { AppError } from '../../src/errors.js';

const prefix = `palisade-test:${randomBytes(6).toString('hex')}:`;
let t: TestApp;
let redis: RedisSharedState;
useApp(
  async (app) => {
    t = app;
    redis = new RedisSharedState(REDIS_URL, prefix, t.s.durable);
    await redis.connected;
  },
  { realRateLimits: true },
);
after(async () => {
  await redis.close();
  const r = new Redis(REDIS_URL);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
});

const ROUND_TRIPS = ['hitWindow', 'addCounts', 'incr', 'incrBy', 'count', 'setIfAbsent', 'set', 'getValue', 'del'] as const;

/** The shared state with every round trip counted, and switches that make it fail or look unavailable. */
function counted(inner: SharedState) {
  const calls: Record<string, number> = {};
  const ctl = { down: false, unavailable: false };
  const proxy = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'isAvailable') return () => !ctl.unavailable && target.isAvailable();
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || !(ROUND_TRIPS as readonly string[]).includes(prop as string)) return v;
      return (...args: unknown[]) => {
        calls[prop as string] = (calls[prop as string] ?? 0) + 1;
        if (ctl.down) return Promise.reject(new AppError('SERVICE_UNAVAILABLE', undefined, 'test: shared state down'));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const sum = () => Object.values(calls).reduce((a, b) => a + b, 0);
  return { shared: proxy as SharedState, calls, ctl, sum };
}

const backends = () => [
  { name: 'database', shared: t.s.durable as SharedState },
  { name: 'redis', shared: redis as SharedState },
];
const lim = (o: Partial<RateLimits>): RateLimits => ({ ...RATE_LIMIT_DEFAULTS, window: 60, refusalDelay: 0, ...o });
const limiter = (shared: SharedState, opts?: RateLimiterOptions) => new RateLimiter(shared, t.s.settings, t.clock.now, opts);
const subject = () => `192.0.2.${randomBytes(2).readUInt16BE() % 250}-${randomBytes(4).toString('hex')}`;
const windowKey = (key: string, windowSec = 60) => `${key}:${Math.floor(t.clock.now() / (windowSec * 1000))}`;
const isRateLimited = (e: unknown) => (e as { code?: string }).code === 'RATE_LIMITED';

/** Whether a hit is granted (true) or refused with RATE_LIMITED (false); anything else throws. */
async function granted(rl: RateLimiter, bucket: 'read' | 'auth' | 'upload', ip: string, l: RateLimits, bytes = 0): Promise<boolean> {
  try {
    await rl.consume(bucket, 'ip', ip, bytes, l);
    return true;
  } catch (e) {
    if (isRateLimited(e)) return false;
    throw e;
  }
}

/** A small deterministic generator, so that a failing schedule can be replayed. */
function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

test('the shares: reads, writes and uploads decide half their budget in process; sign-in, reset and export are exact', () => {
  assert.deepEqual({ ...LOCAL_SHARE }, { read: 0.5, write: 0.5, upload: 0.5, auth: 0, reset: 0, export: 0 });
  assert.throws(() => limiter(t.s.durable, { localShare: { read: 1.5 } }), TypeError);
});

for (const backend of ['database', 'redis'] as const) {
  const pick = () => backends().find((b) => b.name === backend)!.shared;

  test(`${backend}: a flood past the budget from one address is refused with no round trip; a client under the budget gets through; one flush sends it all`, async () => {
    const { shared, calls, sum } = counted(pick());
    const rl = limiter(shared);
    const l = lim({ readPerIp: 10 });
    const flood = subject();
    for (let i = 0; i < 10; i++) assert.ok(await granted(rl, 'read', flood, l), `hit ${i + 1} is within the budget`);
    // The first hit reads the unknown key (1), hits 2-5 are within half the budget (0), hits 6-10 are exact (5).
    assert.equal(calls.hitWindow, 6);
    const before = sum();
    for (let i = 0; i < 100; i++) assert.equal(await granted(rl, 'read', flood, l), false, `flood hit ${i + 1} is refused`);
    assert.equal(sum(), before, 'a refused flood costs the shared state nothing');
    const legit = subject();
    for (let i = 0; i < 5; i++) assert.ok(await granted(rl, 'read', legit, l), 'another address under its budget gets through');
    assert.equal(sum(), before + 1, 'its first hit reads its key; the rest are decided in process');
    await rl.flush();
    assert.equal(calls.addCounts, 1, 'one batch for every pending key');
    assert.equal(sum(), before + 2);
    assert.equal(await pick().count(windowKey(`rl:read:ip:${flood}`)), 110, 'the refused hits are counted too');
    assert.equal(await pick().count(windowKey(`rl:read:ip:${legit}`)), 5);
    await rl.flush();
    assert.equal(calls.addCounts, 1, 'nothing pending: no round trip');
  });

  test(`${backend}: one instance decides exactly as one shared counter, whatever the clock and the flushes do`, async () => {
    const next = prng(backend === 'database' ? 7 : 11);
    const { shared } = counted(pick());
    const rl = limiter(shared);
    const l = lim({ readPerIp: 7, window: 10 });
    const ip = subject();
    const decisions: string[] = [];
    for (let step = 0; step < 400; step++) {
      t.clock.t += Math.floor(next() * (next() < 0.1 ? 25_000 : 2_500));
      if (next() < 0.2) await rl.flush();
      const ours = await granted(rl, 'read', ip, l);
      const exact = (await hitWindow(pick(), `ref:${ip}`, 10, t.clock.now())).count <= 7;
      assert.equal(ours, exact, `step ${step}: ${decisions.slice(-5).join(' ')}`);
      decisions.push(ours ? 'y' : 'n');
    }
    assert.ok(decisions.includes('y') && decisions.includes('n'), 'the schedule reaches both answers');
  });

  test(`${backend}: two instances on one storage grant at most budget + share x budget per window, and at least the budget`, async () => {
    const budget = 20;
    const bound = budget + Math.floor(LOCAL_SHARE.read * budget);
    const l = lim({ readPerIp: budget });
    for (let seed = 1; seed <= 6; seed++) {
      const next = prng(seed);
      const a = limiter(pick());
      const b = limiter(pick());
      const ip = subject();
      t.clock.t = Math.ceil(t.clock.t / 60_000) * 60_000 + 1000; // a fresh window with 59 s left
      let grants = 0;
      for (let i = 0; i < 120; i++) {
        const one = seed === 1 ? i % 2 === 0 : next() < 0.5; // seed 1: strictly alternating
        if (next() < 0.1) await (next() < 0.5 ? a : b).flush();
        if (await granted(one ? a : b, 'read', ip, l)) grants++;
      }
      assert.ok(grants <= bound, `seed ${seed}: ${grants} granted, bound ${bound}`);
      assert.ok(grants >= budget, `seed ${seed}: ${grants} granted, budget ${budget}`);
    }
    // All at once: every hit in flight together.
    const a = limiter(pick());
    const b = limiter(pick());
    const ip = subject();
    const all = await Promise.all(Array.from({ length: 120 }, (_, i) => granted(i % 2 ? a : b, 'read', ip, l)));
    assert.ok(all.filter(Boolean).length <= bound, `concurrent: ${all.filter(Boolean).length} granted`);
  });

  test(`${backend}: sign-in budgets are exact across instances (share 0)`, async () => {
    const a = limiter(pick());
    const b = limiter(pick());
    const ip = subject();
    const l = lim({ authPerIp: 5 });
    let grants = 0;
    for (let i = 0; i < 40; i++) if (await granted(i % 3 ? a : b, 'auth', ip, l)) grants++;
    assert.equal(grants, 5);
  });

  test(`${backend}: the background flush makes instance B see instance A's hits`, async () => {
    const a = limiter(pick());
    const b = limiter(pick());
    const ip = subject();
    const l = lim({ readPerIp: 20 });
    const remaining = async (rl: RateLimiter) => (await rl.consume('read', 'ip', ip, 0, l))!.remaining;
    for (let i = 0; i < 4; i++) await remaining(a); // 1 exact, 3 in process on A
    assert.equal(await remaining(b), 18, "B's first hit reads the shared count: A's first hit and its own");
    await a.flush();
    assert.equal(await remaining(b), 17, "in process: B has not read A's three pending hits yet");
    await b.flush();
    assert.equal(await remaining(b), 13, "after B's flush it counts A's hits: 4 of A's and 3 of its own, plus this one");
    // A key refused on A is refused on B at its first hit.
    const flood = subject();
    for (let i = 0; i < 30; i++) await granted(a, 'read', flood, l);
    await a.flush();
    assert.equal(await granted(b, 'read', flood, l), false);
  });

  test(`${backend}: a restart loses nothing that matters: close() sends what is pending, and a refused address stays refused even after a crash`, async () => {
    const l = lim({ readPerIp: 6 });
    const ip = subject();
    const a = limiter(pick());
    for (let i = 0; i < 6; i++) assert.ok(await granted(a, 'read', ip, l));
    for (let i = 0; i < 10; i++) assert.equal(await granted(a, 'read', ip, l), false);
    await a.close();
    assert.equal(await pick().count(windowKey(`rl:read:ip:${ip}`)), 16, 'close() sent the pending hits');
    assert.equal(await granted(limiter(pick()), 'read', ip, l), false, 'the next process refuses it at once');

    // A crash (no close): the hits in process are lost, but a budget is only ever granted past half its size
    // by counting in the shared state, so the shared count already holds the whole budget.
    const ip2 = subject();
    const c = limiter(pick());
    for (let i = 0; i < 6; i++) assert.ok(await granted(c, 'read', ip2, l));
    for (let i = 0; i < 10; i++) assert.equal(await granted(c, 'read', ip2, l), false);
    assert.equal(await granted(limiter(pick()), 'read', ip2, l), false, 'refused by a new process without any flush');
  });

  test(`${backend}: byte budgets: bytes are counted in process, refused in process past the budget, and bounded across instances`, async () => {
    const { shared, calls, sum } = counted(pick());
    const rl = limiter(shared);
    const l = lim({ uploadPerIp: 100, uploadBytesPerIp: 1000 });
    const ip = subject();
    assert.ok(await granted(rl, 'upload', ip, l, 300));
    assert.equal(calls.hitWindow, 2, 'the first upload reads both unknown keys');
    assert.ok(await granted(rl, 'upload', ip, l, 100), '400 bytes: within half the byte budget');
    assert.equal(calls.hitWindow, 2, 'decided in process');
    assert.ok(await granted(rl, 'upload', ip, l, 500), '900 bytes: counted exactly');
    assert.equal(calls.hitWindow, 3);
    assert.equal(await granted(rl, 'upload', ip, l, 200), false, '1100 bytes: refused');
    const before = sum();
    for (let i = 0; i < 20; i++) assert.equal(await granted(rl, 'upload', ip, l, 500), false);
    assert.equal(sum(), before, 'a byte flood past the budget costs no round trip');
    await rl.flush();
    assert.equal(await pick().count(windowKey(`rl:upload:ip:${ip}:bytes`)), 900 + 200 + 20 * 500);

    // Two instances: at most budget + half of it in bytes.
    const a = limiter(pick());
    const b = limiter(pick());
    const ip2 = subject();
    let bytes = 0;
    for (let i = 0; i < 40; i++) if (await granted(i % 2 ? a : b, 'upload', ip2, l, 50)) bytes += 50;
    assert.ok(bytes >= 1000 && bytes <= 1500, `${bytes} bytes granted`);
  });

  test(`${backend}: memory is bounded; an evicted key is read back exactly, so a refused address cannot escape; when memory is full of pending hits, new keys are counted exactly`, async () => {
    const { shared, calls } = counted(pick());
    const rl = limiter(shared, { maxKeys: 2 });
    const l = lim({ readPerIp: 4 });
    const flood = subject();
    for (let i = 0; i < 8; i++) await granted(rl, 'read', flood, l);
    await rl.flush();
    for (const ip of [subject(), subject()]) {
      assert.ok(await granted(rl, 'read', ip, l));
      await rl.flush();
    }
    assert.equal(rl.trackedKeys, 2, 'the refused address was the least recently used: evicted');
    const n = calls.hitWindow ?? 0;
    assert.equal(await granted(rl, 'read', flood, l), false, 'still refused');
    assert.equal(calls.hitWindow, n + 1, 'read back in one round trip');

    // Both tracked keys have unsent hits: a new key cannot evict them and is counted exactly on every hit.
    const full = limiter(shared, { maxKeys: 2 });
    const [x, y, z] = [subject(), subject(), subject()];
    for (const ip of [x, y]) for (let i = 0; i < 2; i++) await granted(full, 'read', ip, l);
    const m = calls.hitWindow;
    for (let i = 0; i < 6; i++) await granted(full, 'read', z, l);
    assert.equal(full.trackedKeys, 2);
    assert.equal(calls.hitWindow, m + 6, 'every hit of the untracked key is counted in the shared state');
    assert.equal(await pick().count(windowKey(`rl:read:ip:${z}`)), 6);
  });

  test(`${backend}: a failing shared state: the flush neither throws nor hangs, reports once, keeps the hits; admissions fail closed; refusals stay local`, async () => {
    const { shared, calls, ctl } = counted(pick());
    const rl = limiter(shared);
    const reports: string[] = [];
    rl.start({ onError: () => reports.push('error'), onRecovered: () => reports.push('recovered') }, 3_600_000);
    try {
      const l = lim({ readPerIp: 20 });
      const ip = subject();
      const spent = subject();
      for (let i = 0; i < 4; i++) assert.ok(await granted(rl, 'read', ip, l)); // 1 exact, 3 pending
      for (let i = 0; i < 25; i++) await granted(rl, 'read', spent, l);
      ctl.down = true;
      await rl.flush();
      await rl.flush();
      assert.deepEqual(reports, ['error'], 'reported once');
      await assert.rejects(
        rl.consume('read', 'ip', ip, 0, l),
        (e: { code?: string }) => e.code === 'SERVICE_UNAVAILABLE',
        'an admission now needs the shared state: 503',
      );
      assert.equal(await granted(rl, 'read', spent, l), false, 'a spent budget is refused (429) without it');
      ctl.down = false;
      await rl.flush();
      assert.deepEqual(reports, ['error', 'recovered']);
      assert.equal(await pick().count(windowKey(`rl:read:ip:${ip}`)), 4, 'the pending hits were kept and sent; the failed request is not counted');
      const n = calls.hitWindow;
      assert.ok(await granted(rl, 'read', ip, l));
      assert.equal(calls.hitWindow, n, 'decided in process again');

      // A backend known to be down (Redis disconnected, its breaker open): admissions ask it, and get a fast 503.
      ctl.unavailable = true;
      ctl.down = true;
      await assert.rejects(rl.consume('read', 'ip', ip, 0, l), (e: { code?: string }) => e.code === 'SERVICE_UNAVAILABLE');
      assert.equal(calls.hitWindow, n + 1);
    } finally {
      ctl.down = false;
      ctl.unavailable = false;
      await rl.close();
    }
  });
}

test('redis: a budget key of the wrong type: the flush keeps its hits and goes on with the others; counting it exactly answers 503', async () => {
  const r = new Redis(REDIS_URL);
  try {
    const rl = limiter(redis);
    const l = lim({ readPerIp: 20 });
    const [bad, good] = [subject(), subject()];
    for (const ip of [bad, good]) for (let i = 0; i < 3; i++) assert.ok(await granted(rl, 'read', ip, l));
    const badKey = `${prefix}${windowKey(`rl:read:ip:${bad}`)}`;
    await r.del(badKey);
    await r.hset(badKey, 'a', 'b');
    await rl.flush();
    assert.equal(await redis.count(windowKey(`rl:read:ip:${good}`)), 3, 'the other key was sent');
    await assert.rejects(rl.consume('read', 'ip', bad, 0, lim({ readPerIp: 5 })), (e: { code?: string }) => e.code === 'SERVICE_UNAVAILABLE');
    await r.del(badKey);
    await rl.flush();
    assert.equal(await redis.count(windowKey(`rl:read:ip:${bad}`)), 2, 'its pending hits went once the key was sound');
  } finally {
    r.disconnect();
  }
});
