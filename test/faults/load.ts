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
  /** The phase when the request was sent. */
  phase: string;
  /** The phase when its answer came. */
  ended: string;
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
 * with the phase that was current when it was sent and when it came back; the ids of acknowledged
 * (201) writes too. An answer belongs to the outage only if both are 'outage': the test sets that
 * phase once the dependency is dead and leaves it before starting the dependency again, so such a
 * request ran entirely while nothing could serve it. A request that overlaps the kill or the restart
 * may legitimately succeed (under load it can reach the dependency after the restart).
 */
export function writeLoop(instances: TestApp[], write: (t: TestApp, title: string) => Promise<Res>) {
  const answers: Answer[] = [];
  const acked: string[] = [];
  const ackedBy = instances.map(() => 0);
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
        ended: phase,
      });
      if (res.statusCode === 201) {
        acked.push(res.json().id);
        ackedBy[n]!++;
      }
      await sleep(20);
    }
  });
  const outage = () => answers.filter((x) => x.phase === 'outage' && x.ended === 'outage');
  return {
    answers,
    acked,
    setPhase(p: string) {
      phase = p;
    },
    /**
     * Resolves once every instance has acknowledged a write (a fixed sleep is not enough on a loaded
     * machine, where one write can take longer); fails after `ms` milliseconds.
     */
    async untilAcked(ms: number) {
      const t0 = performance.now();
      while (ackedBy.some((c) => c === 0)) {
        assert.ok(
          performance.now() - t0 < ms,
          `no write acknowledged within ${ms} ms on every instance: ${ackedBy.join(',')} ${JSON.stringify(answers.slice(-4))}`,
        );
        await sleep(20);
      }
    },
    /** Polls until at least `n` answers belong to the outage; fails after `ms` milliseconds. */
    async untilOutageAnswers(n: number, ms: number) {
      const t0 = performance.now();
      while (outage().length < n) {
        assert.ok(performance.now() - t0 < ms, `requests during the outage within ${ms} ms: ${outage().length}`);
        await sleep(20);
      }
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
    /**
     * During the outage: at least a few answers, each a 503 with `code` and Retry-After. Every 503,
     * whenever it was sent, within the bound (a refusal is fast, never a timeout). A success is not
     * held to the bound: on a loaded machine a write that needs no dead dependency can take longer.
     */
    checkOutage(code: string, boundMs: number) {
      const during = outage();
      assert.ok(during.length >= 4, `requests during the outage: ${during.length}`);
      for (const x of during) {
        assert.equal(x.status, 503, JSON.stringify(x));
        assert.equal(x.code, code);
        assert.ok(Number(x.retryAfter) >= 1, 'Retry-After is sent');
      }
      for (const x of answers) {
        assert.ok(x.status === 201 || x.status === 503, `only successes and 503s: ${JSON.stringify(x)}`);
        if (x.status === 503) assert.ok(x.ms < boundMs, `every 503 within the bound: ${JSON.stringify(x)}`);
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
