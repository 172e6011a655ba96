import type { IncomingHttpHeaders } from 'node:http';
import { inAny, parseIp, ipText, type Cidr } from './ip.js';

export interface ClientIpOptions {
  /** Proxies whose forwarding headers are believed. Empty: none, the socket address is the client. */
  trustedProxies: readonly Cidr[];
  /** A single header (lower-case) that a trusted proxy sets to the client address, e.g. cf-connecting-ip. */
  header: string | null;
}

const MAX_HOPS = 32;

/** The `for=` addresses of a Forwarded header, in order; null when any element is malformed. */
function forwardedFor(value: string): string[] | null {
  const out: string[] = [];
  for (const element of value.split(',')) {
    const m = /(?:^|;)\s*for=("?)([^";,]*)\1\s*(?:;|$)/i.exec(element.trim());
    if (!m) continue;
    let v = m[2]!;
    if (v.startsWith('[')) v = v.slice(1, v.indexOf(']') > 0 ? v.indexOf(']') : undefined);
    else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(v)) v = v.slice(0, v.indexOf(':'));
    out.push(v);
  }
  return out;
}

/**
 * Resolves the client address (EDGE-1). Forwarding headers count only when the socket peer is a
 * trusted proxy; then the client is the right-most address that is not a trusted proxy. A
 * malformed hop stops the walk at the last trusted address, so a spoofed or broken header can
 * never make an arbitrary address the client.
 */
export function resolveClientIp(socketAddress: string | undefined, headers: IncomingHttpHeaders, o: ClientIpOptions): string {
  const peer = parseIp(socketAddress ?? '');
  if (!peer) return socketAddress ?? 'unknown';
  if (o.trustedProxies.length === 0 || !inAny(peer, o.trustedProxies)) return ipText(peer);
  if (o.header) {
    const raw = headers[o.header];
    const v = typeof raw === 'string' ? parseIp(raw) : null;
    return v ? ipText(v) : ipText(peer);
  }
  let hops: string[] = [];
  const fwd = headers.forwarded;
  const xff = headers['x-forwarded-for'];
  if (typeof fwd === 'string') hops = forwardedFor(fwd) ?? [];
  else if (xff !== undefined) hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
  let client = peer;
  for (let i = hops.length - 1, n = 0; i >= 0 && n < MAX_HOPS; i--, n++) {
    const hop = parseIp(hops[i]!);
    if (!hop) break;
    client = hop;
    if (!inAny(hop, o.trustedProxies)) break;
  }
  return ipText(client);
}
