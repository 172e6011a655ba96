// API keys as the server answers them (src/http/routes/api-keys.ts), shared by "My API keys" and the
// administrators' "API keys" screen: the shape, the state in words, and the refusals in sentences.
import { ApiError, describeError } from './api';

export interface ApiKey {
  id: string;
  userId: string;
  name: string;
  /** The last four characters of the key. */
  hint: string;
  role: string;
  readOnly: boolean;
  ipAllow: string[] | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  revokedAt: string | null;
  rotatedFrom: string | null;
}

/** POST /api/auth/api-keys and /rotate: the key itself, shown this once. */
export interface CreatedKey {
  key: ApiKey;
  secret: string;
}

export type KeyState = 'active' | 'revoked' | 'expired';

export function keyState(k: ApiKey, now = Date.now()): KeyState {
  if (k.revokedAt) return 'revoked';
  if (k.expiresAt && Date.parse(k.expiresAt) <= now) return 'expired';
  return 'active';
}

/** A date in the reader's own words; `fallback` for none. */
export function dateText(iso: string | null | undefined, fallback = ''): string {
  if (!iso) return fallback;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

const MESSAGES: Record<string, string> = {
  FORBIDDEN: 'You may not do this: only holders of the apikeys.manage permission may create or manage API keys here.',
  PRIVILEGE_ESCALATION: 'A key can only act with a role you hold yourself.',
  API_KEY_EXPIRY_REQUIRED: 'Keys that never expire are not allowed on this server. Choose an expiry.',
  SESSION_REQUIRED: 'Managing API keys needs a signed-in session.',
  NOT_FOUND: 'This key no longer exists, or has expired.',
};

export function keyMessage(e: unknown): string {
  if (e instanceof ApiError) return MESSAGES[e.code] ?? describeError(e);
  return describeError(e);
}
