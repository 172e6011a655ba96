import { AppError } from '../../errors.js';
import { parseCidr, parseIp } from '../../edge/ip.js';
import type { SessionsTable } from '../../db/types.js';

/**
 * How closely an administrator's session is bound to where it was signed in (ASVS V8.4.2, D444): `network` (the
 * default) the same IPv4 /24 or IPv6 /48, `address` the same address, `off` no binding. The client's address is the
 * one the edge resolved (TRUSTED_PROXIES); the user agent is not compared: any client can send any. A session that moves is not ended: its next administrator request gets SESSION_CONTEXT_CHANGED (an
 * `access.refused` event with the change), and signing in again opens a session bound to the new place. Ordinary routes are not bound: a phone that changes networks keeps its data pages.
 */
export type AdminSessionBinding = 'network' | 'address' | 'off';

/** The network of an address at the binding's granularity; the text itself when it is no address. */
function placeOf(ip: string, binding: AdminSessionBinding): string {
  const a = parseIp(ip);
  if (!a) return ip;
  if (binding === 'address') return a.toString();
  return parseCidr(`${a.toString()}/${a.kind() === 'ipv4' ? 24 : 48}`)?.text ?? a.toString();
}

export function assertSameContext(session: Pick<SessionsTable, 'ip'>, request: { ip: string }, binding: AdminSessionBinding): void {
  if (binding === 'off') return;
  if (placeOf(session.ip, binding) === placeOf(request.ip, binding)) return;
  throw new AppError('SESSION_CONTEXT_CHANGED', { changed: binding }, 'admin session used from another place');
}
