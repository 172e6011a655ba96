import { isIP } from 'node:net';
import type { Env } from '../../config/env.js';
import type { Config, ConfigSection } from '../../config/index.js';
import { AppError } from '../../errors.js';

/** Where passkeys are valid (WebAuthn's relying party): fixed at boot, never per request. */
export interface PasskeyConfig {
  /** The RP ID: a domain name (no scheme, no port); credentials are bound to it by the authenticator. */
  readonly rpId: string;
  /** Shown by the browser and the authenticator. */
  readonly rpName: string;
  /** The exact origins (scheme, host, port) a ceremony may come from; each host is the RP ID or under it. */
  readonly origins: readonly string[];
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * WEBAUTHN_RP_ID, WEBAUTHN_ORIGINS and WEBAUTHN_RP_NAME (AUTH-12, passkeys). Without them the RP ID is
 * the host of PUBLIC_URL (else of the listening address) and the one origin is PUBLIC_URL's. An IP
 * address cannot be an RP ID: with no domain name to derive, passkeys are off (`passkeys: null`).
 */
export const passkeyEnv: ConfigSection<{ passkeys: PasskeyConfig | null }> = {
  read: (env, problems, warnings, base) => ({ passkeys: readPasskeys(env, problems, warnings, base) }),
};

function originOf(text: string): URL | null {
  try {
    const u = new URL(text);
    return ['http:', 'https:'].includes(u.protocol) && !u.username && !u.password ? u : null;
  } catch {
    return null;
  }
}

function readPasskeys(env: Env, problems: string[], warnings: string[], listen: Pick<Config, 'host' | 'port'>): PasskeyConfig | null {
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  // PUBLIC_URL's own problems are reported by the mail section; an unusable one falls back to the listening address.
  const publicUrl = originOf(env.PUBLIC_URL || '') ?? originOf(`http://${host}:${listen.port}`);
  const rpName = env.WEBAUTHN_RP_NAME || 'Palisade';
  if (rpName.length > 64 || [...rpName].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f))
    problems.push('WEBAUTHN_RP_NAME must be at most 64 characters without control characters');
  const rpId = (env.WEBAUTHN_RP_ID || (publicUrl ? publicUrl.hostname.replace(/^\[|\]$/g, '') : '')).toLowerCase();
  if (isIP(rpId) !== 0 || rpId === '') {
    if (env.WEBAUTHN_RP_ID) problems.push('WEBAUTHN_RP_ID must be a domain name, not an IP address');
    else if (env.PUBLIC_URL || env.WEBAUTHN_ORIGINS)
      warnings.push('passkeys are off: an IP address cannot be a WebAuthn RP ID; set WEBAUTHN_RP_ID or a PUBLIC_URL with a domain name');
    return null;
  }
  if (!DOMAIN.test(rpId)) {
    problems.push('WEBAUTHN_RP_ID must be a domain name such as example.org (no scheme, port or path)');
    return null;
  }
  const listed = env.WEBAUTHN_ORIGINS
    ? env.WEBAUTHN_ORIGINS.split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : [publicUrl!.origin];
  const origins: string[] = [];
  for (const item of listed.slice(0, 20)) {
    const u = originOf(item);
    if (!u || u.origin !== item.replace(/\/$/, '')) {
      problems.push(`WEBAUTHN_ORIGINS: "${item.slice(0, 80)}" must be an origin such as https://app.example.org (scheme, host, port; no path)`);
      continue;
    }
    if (u.hostname !== rpId && !u.hostname.endsWith(`.${rpId}`)) {
      problems.push(`WEBAUTHN_ORIGINS: the host of ${u.origin} is neither the RP ID ${rpId} nor under it`);
      continue;
    }
    if (u.protocol === 'http:' && u.hostname !== 'localhost' && !u.hostname.endsWith('.localhost')) {
      warnings.push(`WEBAUTHN_ORIGINS: ${u.origin} is plain http; browsers offer passkeys only on https (or localhost)`);
    }
    origins.push(u.origin);
  }
  if (listed.length > 20) problems.push('WEBAUTHN_ORIGINS lists at most 20 origins');
  return { rpId, rpName, origins };
}

/** The configuration, or PASSKEYS_NOT_CONFIGURED when there is no RP ID to bind passkeys to. */
export function requirePasskeys(cfg: PasskeyConfig | null): PasskeyConfig {
  if (cfg === null) throw new AppError('PASSKEYS_NOT_CONFIGURED');
  return cfg;
}
