import type { IncomingHttpHeaders } from 'node:http';
import { inAny, parseIp, ipText, type Cidr } from './ip.js';
import { memoBounded } from '../util/memo.js';

export interface ClientIpOptions {
  /** Proxies whose forwarding headers are believed. Empty: none, the socket address is the client. */
  trustedProxies: readonly Cidr[];
  /**
   * The one header (lower-case) the trusted proxies write: `x-forwarded-for` (the default when null),
   * `forwarded` (RFC 7239), or a single-address header such as `cf-connecting-ip`. Only this header
   * is read: proxies pass the others through from the client unchanged.
   */
  header: string | null;
}

const MAX_HOPS = 32;

/**
 * A socket address as the client's, when no proxy is trusted: canonical where it parses, as it is otherwise; kept for
 * the addresses met lately (a connection's requests all come from one).
 */
const socketText = memoBounded(4096, (socketAddress: string): string => {
  const peer = parseIp(socketAddress);
  return peer ? ipText(peer) : socketAddress;
});

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
  if (o.trustedProxies.length === 0 && socketAddress !== undefined) return socketText(socketAddress);
  const peer = parseIp(socketAddress ?? '');
  if (!peer) return socketAddress ?? 'unknown';
  if (o.trustedProxies.length === 0 || !inAny(peer, o.trustedProxies)) return ipText(peer);
  const name = o.header ?? 'x-forwarded-for';
  const raw = headers[name];
  if (name !== 'x-forwarded-for' && name !== 'forwarded') {
    const v = typeof raw === 'string' ? parseIp(raw) : null;
    return v ? ipText(v) : ipText(peer);
  }
  let hops: string[] = [];
  if (raw !== undefined) {
    const joined = Array.isArray(raw) ? raw.join(',') : raw;
    hops = name === 'forwarded' ? (forwardedFor(joined) ?? []) : joined.split(',');
  }
  let client = peer;
  for (let i = hops.length - 1, n = 0; i >= 0 && n < MAX_HOPS; i--, n++) {
    const hop = parseIp(hops[i]!);
    if (!hop) break;
    client = hop;
    if (!inAny(hop, o.trustedProxies)) break;
  }
  return ipText(client);
}

/**
 * Whether the client is on this machine with nothing in between: the socket peer is loopback (127.0.0.0/8
 * or ::1, also IPv4-mapped) and is not a trusted proxy (a reverse proxy on the same host forwards
 * requests from anywhere).
 */
export function isDirectLoopback(socketAddress: string | undefined, trustedProxies: readonly Cidr[]): boolean {
  const peer = parseIp(socketAddress ?? '');
  return peer !== null && peer.range() === 'loopback' && !inAny(peer, trustedProxies);
}

/**
 * The scheme the client used (EDGE-5): `https` on a TLS socket; from a trusted proxy, what its last
 * value says (the one the proxy in front of us wrote; a client's own value sits before it) in
 * `X-Forwarded-Proto`, or `proto=` of the last element of `Forwarded` when that is the configured header;
 * `unknown` when a trusted proxy says nothing (never redirected: that would loop behind a proxy that
 * does not send it); `http` for a plain socket from anyone else.
 */
export function requestScheme(
  encrypted: boolean,
  socketAddress: string | undefined,
  headers: IncomingHttpHeaders,
  o: ClientIpOptions,
): 'https' | 'http' | 'unknown' {
  if (encrypted || o.trustedProxies.length === 0) return encrypted ? 'https' : 'http';
  const peer = parseIp(socketAddress ?? '');
  if (!peer || !inAny(peer, o.trustedProxies)) return 'http';
  const raw = o.header === 'forwarded' ? headers.forwarded : headers['x-forwarded-proto'];
  if (raw === undefined) return 'unknown';
  const last = (Array.isArray(raw) ? raw.join(',') : raw).split(',').pop() ?? '';
  const proto = (o.header === 'forwarded' ? (/(?:^|;)\s*proto=("?)([a-z]+)\1\s*(?:;|$)/i.exec(last.trim())?.[2] ?? '') : last.trim()).toLowerCase();
  return proto === 'https' ? 'https' : proto === 'http' ? 'http' : 'unknown';
}
