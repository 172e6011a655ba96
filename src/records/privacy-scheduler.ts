/**
 * The in-process scheduler of GDPR policies (AUDIT-5): every tick it runs the policies whose time has
 * come. Instances share the work through the database: each due policy is claimed by moving its next
 * time on (`PrivacyService.runDue`), so one instance runs it and the others skip it.
 */
import type { PrivacyService } from './privacy.js';

/** Seconds between ticks: a policy runs at most this late (the shortest schedule is 60 s). */
export const TICK_SECONDS = 30;

export class PrivacyScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly privacy: PrivacyService,
    /** Failures of a tick (the database away): logged, and the next tick tries again. */
    private readonly onError: (err: unknown) => void,
  ) {}

  start(tickMs = TICK_SECONDS * 1000): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runDue()
        .catch(this.onError)
        .finally(() => {
          this.running = null;
        });
    }, tickMs);
    this.timer.unref();
  }

  /** Runs the due policies once (tests call it directly). */
  runDue(): ReturnType<PrivacyService['runDue']> {
    return this.privacy.runDue();
  }

  /** Stops ticking and waits for a tick in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
