import { durationVar, type Env } from '../config/env.js';
import type { ConfigSection } from '../config/index.js';

export interface CorsConfig {
  /** The exact origins (scheme, host, port) that may read the API from a browser, with credentials; empty: none. */
  readonly origins: readonly string[];
  /** How long a browser may cache a preflight answer, in seconds (Access-Control-Max-Age). */
  readonly maxAge: number;
}

/** Chromium caps the preflight cache at two hours; a longer value would only mislead. */
export const CORS_MAX_AGE_LIMIT = 7200;
const MAX_ORIGINS = 50;
/** scheme://host[:port] with at most a trailing slash: no path, query, fragment or user part. */
const ORIGIN_SHAPE = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\\\s]+\/?$/i;

/** The origin as a browser serialises it in the Origin header (lower case, no default port, punycode), or null. */
export function normaliseOrigin(text: string): string | null {
  if (!ORIGIN_SHAPE.test(text)) return null;
  try {
    const u = new URL(text);
    return ['http:', 'https:'].includes(u.protocol) && u.hostname !== '' ? u.origin : null;
  } catch {
    return null;
  }
}

const isLoopback = (host: string): boolean => host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127\./.test(host);

/** CORS_ORIGINS and CORS_MAX_AGE (EDGE-5). Unset: no cross-origin access at all. */
export const corsEnv: ConfigSection<{ cors: CorsConfig }> = {
  read(env: Env, problems: string[], warnings: string[]): { cors: CorsConfig } {
    const listed = (env.CORS_ORIGINS ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    const origins: string[] = [];
    for (const item of listed.slice(0, MAX_ORIGINS)) {
      if (item.includes('*')) {
        problems.push(
          `CORS_ORIGINS: "${item.slice(0, 80)}" is a wildcard; list each origin that may call the API (a wildcard would let any site read it with the user's credentials)`,
        );
        continue;
      }
      const origin = normaliseOrigin(item);
      if (origin === null) {
        problems.push(`CORS_ORIGINS: "${item.slice(0, 80)}" must be an origin such as https://app.example.org (http or https, host, port; no path)`);
        continue;
      }
      if (origin.startsWith('http:') && !isLoopback(new URL(origin).hostname)) {
        warnings.push(`CORS_ORIGINS: ${origin} is plain http; anyone on its network path can run script there with your users' credentials`);
      }
      if (!origins.includes(origin)) origins.push(origin);
    }
    if (listed.length > MAX_ORIGINS) problems.push(`CORS_ORIGINS lists at most ${MAX_ORIGINS} origins`);
    const maxAge = durationVar(env, 'CORS_MAX_AGE', 600, 0, problems, CORS_MAX_AGE_LIMIT);
    return { cors: Object.freeze({ origins: Object.freeze(origins), maxAge }) };
  },
};
