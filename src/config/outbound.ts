import ipaddr from 'ipaddr.js';
import { AppError } from '../errors.js';
import type { Env } from './env.js';

type Entry = { kind: 'name'; name: string } | { kind: 'suffix'; suffix: string } | { kind: 'range'; range: [ipaddr.IPv4 | ipaddr.IPv6, number] };

const NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * OUTBOUND_ALLOW (ASVS V13.2.4, V13.2.5, D435): the systems Palisade may connect to, as host names, `*.domain`
 * suffixes, addresses and CIDR ranges. Set, every destination of the environment must be on it (the start refuses
 * otherwise), and every destination an administrator sets (an SSO provider, the reCAPTCHA verifier) is refused when
 * saved and again before each connection. Loopback is a destination like any other (an administrator pointing the
 * verifier at 127.0.0.1:6379 is the request forgery the list stops), so it is allowed only when listed; a Unix
 * socket, which has no host, always is. Unset: no list.
 */
export class OutboundAllowlist {
  private constructor(private readonly entries: readonly Entry[]) {}

  /** The list from OUTBOUND_ALLOW, null when unset; a malformed entry is a problem. */
  static fromEnv(env: Env, problems: string[]): OutboundAllowlist | null {
    const raw = env.OUTBOUND_ALLOW?.trim();
    if (!raw) return null;
    const entries: Entry[] = [];
    for (const item of raw
      .split(',')
      .map((x) => x.trim().toLowerCase())
      .filter(Boolean)) {
      if (item.includes('/')) {
        try {
          entries.push({ kind: 'range', range: ipaddr.parseCIDR(item) });
        } catch {
          problems.push(`OUTBOUND_ALLOW: ${item.slice(0, 64)} is not a CIDR range`);
        }
      } else if (ipaddr.isValid(item)) {
        const a = ipaddr.process(item);
        entries.push({ kind: 'range', range: [a, a.kind() === 'ipv4' ? 32 : 128] });
      } else if (item.startsWith('*.') && NAME.test(item.slice(2))) entries.push({ kind: 'suffix', suffix: item.slice(1) });
      else if (NAME.test(item)) entries.push({ kind: 'name', name: item });
      else problems.push(`OUTBOUND_ALLOW: ${item.slice(0, 64)} is not a host name, *.domain, address or CIDR range`);
    }
    return new OutboundAllowlist(entries);
  }

  /** Whether a host (a name or an address, IPv6 with or without brackets) is on the list; a socket path always is. */
  allows(host: string): boolean {
    const h = host
      .toLowerCase()
      .replace(/^\[(.*)\]$/, '$1')
      .replace(/\.$/, '');
    if (h === '' || h.startsWith('/')) return true;
    const addr = ipaddr.isValid(h) ? ipaddr.process(h) : null;
    return this.entries.some((e) => {
      if (e.kind === 'name') return e.name === h;
      if (e.kind === 'suffix') return h.endsWith(e.suffix) && h.length > e.suffix.length;
      return addr !== null && addr.kind() === e.range[0].kind() && addr.match(e.range);
    });
  }
}

/** The host of a URL, or null when it has none (a Unix socket path, an unreadable URL). */
export function hostOf(url: string): string | null {
  try {
    return new URL(url).hostname || null;
  } catch {
    return null;
  }
}

/** Refuses a destination an administrator set (OUTBOUND_NOT_ALLOWED, 400) when a list is set and it is not on it. */
export function assertOutbound(list: OutboundAllowlist | null, url: string, path: string): void {
  if (list === null) return;
  const host = hostOf(url);
  // An administrator's destination always has a host; one without cannot be checked, so it is refused.
  if (host === null || !list.allows(host)) {
    throw new AppError('OUTBOUND_NOT_ALLOWED', [{ path, message: `${host ?? 'an address without a host'} is not in OUTBOUND_ALLOW` }]);
  }
}
