import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * A loopback host: exactly `localhost`, or an address literal in 127.0.0.0/8 or ::1 (IPv4-mapped too), with or
 * without IPv6 brackets; never a name that merely starts with "127.". The one test of "this host" for every
 * connection rule (plain-text connections, SSO endpoints, the doctor).
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 0) return false;
  return ipaddr.process(h).range() === 'loopback';
}
