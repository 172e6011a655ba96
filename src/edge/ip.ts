import ipaddr from 'ipaddr.js';

export type Addr = ipaddr.IPv4 | ipaddr.IPv6;

/** A parsed CIDR range; a single address is /32 or /128. */
export interface Cidr {
  addr: Addr;
  bits: number;
  /** Canonical text: network address / prefix length. */
  text: string;
}

/**
 * Parses one address strictly: IPv4 dotted quad or IPv6, no zone id, no brackets, no port.
 * IPv4-mapped IPv6 (::ffff:192.0.2.1) becomes the IPv4 address.
 */
export function parseIp(raw: string): Addr | null {
  const s = raw.trim();
  if (s.length === 0 || s.length > 45 || s.includes('%')) return null;
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s);
  if (!s.includes(':') || !ipaddr.IPv6.isValid(s)) return null;
  const v6 = ipaddr.IPv6.parse(s);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

export function ipText(a: Addr): string {
  return a.toString();
}

/** Parses "203.0.113.0/24", "2001:db8::/32" or a bare address; the host bits are cleared. */
export function parseCidr(raw: string): Cidr | null {
  const s = raw.trim();
  const slash = s.indexOf('/');
  const rawAddr = slash < 0 ? s : s.slice(0, slash);
  const addr = parseIp(rawAddr);
  if (!addr) return null;
  // An IPv4-mapped range (::ffff:10.0.0.0/104) is the IPv4 range (10.0.0.0/8).
  const mapped = addr.kind() === 'ipv4' && rawAddr.includes(':');
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const b = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b)) return null;
    bits = Number(b) - (mapped ? 96 : 0);
    if (bits < 0 || bits > max) return null;
  }
  const network =
    addr.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`)
      : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${bits}`);
  return { addr: network, bits, text: `${network.toString()}/${bits}` };
}

export function inCidr(a: Addr, c: Cidr): boolean {
  return a.kind() === c.addr.kind() && a.match(c.addr as never, c.bits);
}

export function inAny(a: Addr, list: readonly Cidr[]): boolean {
  return list.some((c) => inCidr(a, c));
}

/**
 * The IPv4 address inside a transition address, which carries IPv4 traffic: 6to4 (2002::/16),
 * NAT64 (64:ff9b::/96) and Teredo (2001::/32, client address inverted). Null for anything else.
 */
export function embeddedIpv4(a: Addr): ipaddr.IPv4 | null {
  if (a.kind() !== 'ipv6') return null;
  const b = a.toByteArray();
  if (b[0] === 0x20 && b[1] === 0x02) return new ipaddr.IPv4(b.slice(2, 6));
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b.slice(4, 12).every((x) => x === 0)) return new ipaddr.IPv4(b.slice(12, 16));
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x00 && b[3] === 0x00) return new ipaddr.IPv4(b.slice(12, 16).map((x) => x ^ 0xff));
  return null;
}
