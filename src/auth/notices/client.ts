import { parseCidr, parseIp } from '../../edge/ip.js';

// Order matters: Edge and Opera name Chrome too, and Chrome names Safari.
const BROWSERS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bedg(e|a|ios)?\//i, 'Edge'],
  [/\b(opr|opera)\//i, 'Opera'],
  [/\b(firefox|fxios)\//i, 'Firefox'],
  [/(chrome|crios|chromium)\//i, 'Chrome'],
  [/\bsafari\//i, 'Safari'],
];
const SYSTEMS: ReadonlyArray<readonly [RegExp, string]> = [
  [/windows/i, 'Windows'],
  [/android/i, 'Android'],
  [/iphone|ipad|ipod|\bios\b/i, 'iOS'],
  [/mac os x|macintosh/i, 'macOS'],
  [/\bcros\b/i, 'ChromeOS'],
  [/linux/i, 'Linux'],
];

/**
 * The family of a client from its user agent: the browser and the operating system ("Firefox on Linux"), or the
 * product name of another client ("curl"). Versions are left out, so that an update is no new client.
 */
export function clientFamily(userAgent: string | null | undefined): string {
  const ua = (userAgent ?? '').slice(0, 512);
  const browser = BROWSERS.find(([re]) => re.test(ua))?.[1] ?? /^[A-Za-z][\w.-]{0,31}/.exec(ua.trim())?.[0] ?? 'an unknown client';
  const system = SYSTEMS.find(([re]) => re.test(ua))?.[1];
  return system ? `${browser} on ${system}` : browser;
}

/**
 * The network of a client address as a sign-in notice compares it: its /24 (IPv4) or /48 (IPv6, one site), so that
 * a new address from the same provider's pool is no new place. `unknown` for no address or an unreadable one.
 */
export function networkOf(ip: string | null | undefined): string {
  const a = ip ? parseIp(ip) : null;
  if (!a) return 'unknown';
  return parseCidr(`${a.toString()}/${a.kind() === 'ipv4' ? 24 : 48}`)?.text ?? 'unknown';
}
