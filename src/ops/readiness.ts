import type { Db } from '../db/index.js';
import { probeDatabase } from '../db/index.js';
import type { StorageHealth } from '../db/outage.js';
import { OUTAGE_RETRY_AFTER } from '../db/errors.js';
import type { SharedState } from '../shared-state/index.js';

export interface Readiness {
  ready: boolean;
  /** Each dependency by name: `database` ok, down or unwritable; `redis` (or `sharedState`) ok or down. */
  checks: Record<string, string>;
  /** Seconds a probe should wait before asking again, when not ready. */
  retryAfter: number;
}

/**
 * Whether this instance can serve (/readyz): the database answers and can write (a small probe write,
 * or a recent real write that failed for lack of storage), and the shared state answers. The checks
 * run at most once a second per instance, so a flood of probes cannot become a flood of writes.
 */
export class ReadinessProbe {
  private last: { at: number; value: Promise<Readiness> } | null = null;

  constructor(
    private readonly db: Db,
    private readonly storage: StorageHealth,
    private readonly shared: SharedState,
    private readonly now: () => number,
  ) {}

  check(): Promise<Readiness> {
    const t = Date.now();
    if (!this.last || t - this.last.at >= 1000) this.last = { at: t, value: this.run() };
    return this.last.value;
  }

  private async run(): Promise<Readiness> {
    const [database, shared] = await Promise.all([probeDatabase(this.db, this.storage, this.now()), this.shared.ping()]);
    return {
      ready: database === 'ok' && shared,
      checks: { database, [this.shared.kind === 'redis' ? 'redis' : 'sharedState']: shared ? 'ok' : 'down' },
      retryAfter: OUTAGE_RETRY_AFTER,
    };
  }
}
