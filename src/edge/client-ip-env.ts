import type { Env } from '../config/env.js';
import type { ConfigSection } from '../config/index.js';
import { parseCidr, type Cidr } from './ip.js';

export interface ClientIpConfig {
  /** Client IP resolution (EDGE-1): the proxies whose forwarding headers are believed. */
  readonly trustedProxies: readonly Cidr[];
  readonly clientIpHeader: string | null;
}

/** TRUSTED_PROXIES and CLIENT_IP_HEADER. */
export const clientIpEnv: ConfigSection<ClientIpConfig> = {
  read(env: Env, problems: string[]): ClientIpConfig {
    const trustedProxies: Cidr[] = [];
    for (const item of (env.TRUSTED_PROXIES ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)) {
      const c = parseCidr(item);
      if (c) trustedProxies.push(c);
      else problems.push(`TRUSTED_PROXIES: "${item.slice(0, 60)}" is not an IP address or CIDR range`);
    }
    const clientIpHeader = env.CLIENT_IP_HEADER ? env.CLIENT_IP_HEADER.toLowerCase() : null;
    if (clientIpHeader !== null && !/^[a-z0-9-]{1,64}$/.test(clientIpHeader)) problems.push('CLIENT_IP_HEADER must be a header name');
    if (clientIpHeader !== null && trustedProxies.length === 0) problems.push('CLIENT_IP_HEADER needs TRUSTED_PROXIES: the header is believed only from them');
    return { trustedProxies, clientIpHeader };
  },
};
