// The request loop that the outage tests run on two instances while they kill a dependency, and
// the checks they share: every answer a success or the expected 503 within the bound, and every
// acknowledged write still there afterwards.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestApp, Res } from '../helpers/app.js';

export interface Answer {
  status: number;
  code?: string;
  retryAfter?: string;
  ms: number;
  phase: string;
}

/** Runs `fn` until it answers below 300, failing after `ms` milliseconds; returns how long it took. */
export async function untilOk(fn: () => Promise<Res>, ms: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const r = await fn();
    if (r.statusCode < 300) return performance.now() - t0;
    assert.ok(performance.now() - t0 < ms, `no success within ${ms} ms: ${r.statusCode} ${r.body}`);
    await sleep(50);
  }
}

/** One request and how long it took. */
export async function timed(t: TestApp, opts: Parameters<TestApp['app']['inject']>[0]): Promise<{ res: Res; ms: number }> {
  const t0 = performance.now();
  const res = (await t.app.inject(opts)) as unknown as Res;
  return { res, ms: performance.now() - t0 };
}

/**
 * Writes in a loop on each instance (one request every 20 ms) until `stop()`. Each answer is kept
 * with the phase that was current when it was sent; the ids of acknowledged (201) writes too.
 */
export function writeLoop(instances: TestApp[], write: (t: TestApp, title: string) => Promise<Res>) {
  const answers: Answer[] = [];
  const acked: string[] = [];
  let phase = 'before';
  let running = true;
  const loops = instances.map(async (t, n) => {
    let i = 0;
    while (running) {
      const started = phase;
      const t0 = performance.now();
      const res = await write(t, `w${n}-${i++}`);
      const ms = performance.now() - t0;
      answers.push({
        status: res.statusCode,
        code: res.statusCode >= 400 ? res.json().error?.code : undefined,
        retryAfter: res.headers['retry-after'] as string | undefined,
        ms,
        phase: started,
      });
      if (res.statusCode === 201) acked.push(res.json().id);
      await sleep(20);
    }
  });
  return {
    answers,
    acked,
    setPhase(p: string) {
      phase = p;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
    /** During the outage: at least a few answers, each a 503 with `code` and Retry-After; all within the bound. */
    checkOutage(code: string, boundMs: number) {
      const during = answers.filter((x) => x.phase === 'outage');
      assert.ok(during.length >= 4, `requests during the outage: ${during.length}`);
      for (const x of during) {
        assert.equal(x.status, 503, JSON.stringify(x));
        assert.equal(x.code, code);
        assert.ok(Number(x.retryAfter) >= 1, 'Retry-After is sent');
      }
      for (const x of answers) {
        assert.ok(x.status === 201 || x.status === 503, `only successes and 503s: ${JSON.stringify(x)}`);
        assert.ok(x.ms < boundMs, `every answer within the bound: ${JSON.stringify(x)}`);
      }
      assert.ok(answers.some((x) => x.phase === 'before' && x.status === 201));
      assert.ok(acked.length > 0);
    },
    /** Every acknowledged write is there, read through the instances in turn. */
    async checkAcked(read: (t: TestApp, id: string) => Promise<Res>) {
      for (const [i, id] of acked.entries()) {
        assert.equal((await read(instances[i % instances.length]!, id)).statusCode, 200, `acknowledged record ${id} is kept`);
      }
    },
  };
}
