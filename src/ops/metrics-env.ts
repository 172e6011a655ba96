import { secretVar, type Env } from '../config/env.js';
import type { ConfigSection } from '../config/index.js';
import { parseCidr, type Cidr } from '../edge/ip.js';

export interface MetricsConfig {
  /** Off (null) unless a token or an address list guards `/metrics`. */
  readonly metrics: { readonly token: string | null; readonly allow: readonly Cidr[] } | null;
}

/** METRICS_TOKEN (or METRICS_TOKEN_FILE) and METRICS_ALLOW: `/metrics` is served only behind them (OPS). */
export const metricsEnv: ConfigSection<MetricsConfig> = {
  read(env: Env, problems: string[]): MetricsConfig {
    const token = secretVar(env, 'METRICS_TOKEN', problems).value ?? null;
    if (token !== null && token.length < 32) problems.push('METRICS_TOKEN must be at least 32 characters (openssl rand -base64 32)');
    const allow: Cidr[] = [];
    for (const item of (env.METRICS_ALLOW ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)) {
      const c = parseCidr(item);
      if (c) allow.push(c);
      else problems.push(`METRICS_ALLOW: "${item.slice(0, 60)}" is not an IP address or CIDR range`);
    }
    return { metrics: token === null && allow.length === 0 ? null : { token, allow } };
  },
};
