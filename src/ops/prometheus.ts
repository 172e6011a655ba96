/**
 * Prometheus metrics (OPS), loaded by `ops/metrics.ts` only where metrics are served: requests by route and status and their latency, security events by type
 * and outcome (sign-ins, lockouts, ...), refusals by error code (rate limits, IP rules, ...), the
 * password-hash queue, PostgreSQL's pool and the shared state. One registry per instance of the app,
 * so that two apps in one process (the tests) count apart. Served at `/metrics` only behind a token or
 * an address list (metrics-env.ts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the gauges read when scraped. */
export interface MetricsSources {
  hashQueue: () => { running: number; waiting: number };
  /** PostgreSQL's pool; absent on SQLite. */
  pool?: () => { total: number; idle: number; waiting: number };
  sharedState: 'database' | 'redis';
  /** Process metrics (CPU, memory, event loop lag). */
  processMetrics?: boolean;
}

/** The `Metrics` of `ops/metrics.ts`, by shape (this module is loaded from there). */
export class PrometheusMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly latency: Histogram<'method' | 'route'>;
  private readonly events: Counter<'type' | 'outcome'>;
  private readonly refusals: Counter<'code'>;

  constructor(src: MetricsSources) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'palisade_http_requests_total',
      help: 'Requests answered, by method, route pattern and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'palisade_http_request_duration_seconds',
      help: 'Time to answer, by method and route pattern.',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.events = new Counter({
      name: 'palisade_security_events_total',
      help: 'Security events written, by type and outcome (sign-ins, lockouts, key use...).',
      labelNames: ['type', 'outcome'],
      registers,
    });
    this.refusals = new Counter({
      name: 'palisade_refusals_total',
      help: 'Error answers by stable code (RATE_LIMITED, IP_BLOCKED, ACCOUNT_LOCKED...).',
      labelNames: ['code'],
      registers,
    });
    new Gauge({
      name: 'palisade_password_hash_queue',
      help: 'Password hashes running and waiting.',
      labelNames: ['state'],
      registers,
      collect() {
        const d = src.hashQueue();
        this.set({ state: 'running' }, d.running);
        this.set({ state: 'waiting' }, d.waiting);
      },
    });
    const pool = src.pool;
    if (pool)
      new Gauge({
        name: 'palisade_db_pool_clients',
        help: 'PostgreSQL pool: clients open, idle, and requests waiting for one.',
        labelNames: ['state'],
        registers,
        collect() {
          const p = pool();
          this.set({ state: 'total' }, p.total);
          this.set({ state: 'idle' }, p.idle);
          this.set({ state: 'waiting' }, p.waiting);
        },
      });
    new Gauge({ name: 'palisade_shared_state_redis', help: '1 when counters are shared through Redis, 0 through the database.', registers }).set(
      src.sharedState === 'redis' ? 1 : 0,
    );
    if (src.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'palisade_' });
  }

  /** One answered request; `route` is the matched pattern (never the raw path), or `unmatched`. */
  request(method: string, route: string | undefined, status: number, seconds: number): void {
    const r = route ?? 'unmatched';
    this.requests.inc({ method, route: r, status: String(status) });
    this.latency.observe({ method, route: r }, seconds);
  }

  event(type: string, outcome: string): void {
    this.events.inc({ type, outcome });
  }

  refusal(code: string): void {
    this.refusals.inc({ code });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
