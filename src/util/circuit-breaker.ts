/**
 * A circuit breaker for a dependency (Redis, the PostgreSQL pool). After `threshold` consecutive
 * outage failures, calls fail at once for `cooldownMs` instead of each waiting for its own timeout;
 * then one trial call goes through, and its outcome closes or reopens the breaker. It runs on the
 * real clock, never on an injected one: timeouts are real.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trialRunning = false;

  constructor(private readonly opts: { threshold: number; cooldownMs: number; now?: () => number }) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** True while calls are refused without being tried. */
  get isOpen(): boolean {
    return this.failures >= this.opts.threshold && (this.now() < this.openUntil || this.trialRunning);
  }

  /** Seconds a client should wait before retrying. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.openUntil - this.now()) / 1000));
  }

  /**
   * Runs `fn` unless the breaker is open; `isOutage` tells a dependency failure (true) from an error
   * that shows the dependency answering (false), or null for one that says neither (left uncounted).
   */
  async run<T>(fn: () => Promise<T>, isOutage: (e: unknown) => boolean | null): Promise<T> {
    let trial = false;
    if (this.failures >= this.opts.threshold) {
      if (this.now() < this.openUntil || this.trialRunning) throw new BreakerOpenError();
      trial = true;
      this.trialRunning = true;
    }
    try {
      const r = await fn();
      this.reset();
      return r;
    } catch (e) {
      const outage = isOutage(e);
      if (outage === true) this.failure();
      else if (outage === false) this.reset(); // the dependency answered: it is up
      throw e;
    } finally {
      if (trial) this.trialRunning = false;
    }
  }

  failure(): void {
    this.failures++;
    if (this.failures >= this.opts.threshold) this.openUntil = this.now() + this.opts.cooldownMs;
  }

  /** The dependency is known to be up again (a call succeeded, or the client reconnected). */
  reset(): void {
    this.failures = 0;
    this.openUntil = 0;
  }
}

export class BreakerOpenError extends Error {
  constructor() {
    super('circuit breaker open');
    this.name = 'BreakerOpenError';
  }
}
