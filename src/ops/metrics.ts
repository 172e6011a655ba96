/**
 * Metrics (OPS): what the pipeline and the security log count. Served at `/metrics` only behind a token or an address
 * list (metrics-env.ts); without either nothing can read them, so nothing is counted and prom-client is never loaded
 * (it and its dependencies are about 80 of the 900 modules that every process start would otherwise load: the server,
 * each CLI command, each test file).
 */
import type { MetricsSources } from './prometheus.js';

export type { MetricsSources };

export interface Metrics {
  /** One answered request; `route` is the matched pattern (never the raw path), or `unmatched`. */
  request(method: string, route: string | undefined, status: number, seconds: number): void;
  event(type: string, outcome: string): void;
  refusal(code: string): void;
  text(): Promise<string>;
  readonly contentType: string;
}

/** Metrics that no one can read: nothing is counted. */
const OFF: Metrics = Object.freeze({
  request() {},
  event() {},
  refusal() {},
  text: async () => '',
  contentType: 'text/plain; charset=utf-8',
});

/** The Prometheus registry of one app instance when metrics are served (`served`), else counters that count nothing. */
export async function createMetrics(src: MetricsSources, served: boolean): Promise<Metrics> {
  if (!served) return OFF;
  const { PrometheusMetrics } = await import('./prometheus.js');
  const metrics: Metrics = new PrometheusMetrics(src);
  return metrics;
}
