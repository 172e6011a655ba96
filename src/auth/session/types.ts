import type { Stamps } from '../../db/stamps.js';
import { randomBytes } from 'node:crypto';
import type { ApiKeysTable, SessionsTable, UsersTable } from '../../db/types.js';
import type { EventContext } from '../../audit/events.js';

export type SessionMode = 'cookie' | 'bearer';

/** A second factor a user can prove (AUTH-12). */
export type SecondFactor = 'totp' | 'email' | 'sms' | 'recovery' | 'passkey';

/**
 * The ways of proving identity that pass the sign-in gates: 'password' ends in a session; 'basic' (HTTP
 * basic authentication, per request) passes the same gates without one, and a gate that would ask for
 * more (a second factor) refuses it instead. A password sign-in completed by a second factor names the
 * factor it proved (`src/auth/mfa/`): the second-factor gate lets only that form through. 'passkey': a
 * passwordless sign-in with a user-verified passkey (`src/auth/credentials/passkey.ts`).
 */
export type SignInMethod = 'password' | 'basic' | 'passkey' | { readonly method: 'password'; readonly factor: SecondFactor } | SsoMethod;

/**
 * A single sign-on (`src/auth/sso/`): the provider's slug, and whether it asserted a multi-factor
 * sign-in that the provider's settings trust (then it stands in for the second factor).
 */
export interface SsoMethod {
  readonly method: 'sso';
  readonly provider: string;
  readonly mfa: boolean;
  /** Who the provider said signed in, and its own session (OIDC `sid`, SAML SessionIndex): a single logout names them. */
  readonly subject: string;
  readonly providerSession: string | null;
  /** The second factor proven after the provider's sign-in, if one was asked for. */
  readonly factor?: SecondFactor;
}

/** The second factor proven in this sign-in, if any. */
export const secondFactorOf = (m: SignInMethod): SecondFactor | null => (typeof m === 'object' ? (m.factor ?? null) : null);

/**
 * The method of a sign-in finished by a second step: the first step's method (kept with the challenge; null: a
 * password) with the factor proven.
 */
export function withSecondFactor(first: string | null, factor: SecondFactor): SignInMethod {
  let sso: SsoMethod | null = null;
  try {
    sso = first === null ? null : (JSON.parse(first) as SsoMethod);
  } catch {
    // Unreadable (never written so): the session is opened as after a password, without a provider to log it out.
  }
  if (sso?.method === 'sso' && typeof sso.provider === 'string' && typeof sso.subject === 'string') return { ...sso, mfa: false, factor };
  return { method: 'password', factor };
}

/**
 * The session token a sign-in request carried (the session cookie, or a bearer token), unverified: the funnel ends
 * the session it names, whoever's it is, once the new one is opened (ASVS V7.2.4, D365). Never recorded.
 */
export interface CarriedToken {
  token: string;
  via: SessionMode;
}

/** The audit context of a sign-in request, with the session token it carried, if any. */
export type SignInContext = Omit<EventContext, 'actor'> & { carried?: CarriedToken | null };

export interface IssuedToken {
  token: string;
  /** Epoch ms when this token stops being accepted (it may then still be renewed). */
  expiresAt: number;
  /** Epoch ms of the session's absolute end. */
  sessionExpiresAt: number;
}

/** A caller who proved themselves with a session token. */
export interface SessionAuth {
  method: 'session';
  via: SessionMode;
  user: UsersTable;
  session: SessionsTable;
  /** Set when this request renewed the token (browser mode sends it back as a cookie). */
  renewed?: IssuedToken;
  /** The version stamps read with the session: this request's caches are those of these stamps (D360). */
  stamps?: Stamps;
}

/** A program that presented an API key: it acts as the key's owner with the key's one role. */
export interface ApiKeyAuth {
  method: 'apikey';
  user: UsersTable;
  key: ApiKeysTable;
  /** The version stamps read with the key (D360). */
  stamps?: Stamps;
}

/** An API client that sent its username and password with the request (HTTP basic). */
export interface BasicAuth {
  method: 'basic';
  user: UsersTable;
}

/** Who the caller of a request is, and how they proved it on this request. */
export type AuthState = SessionAuth | ApiKeyAuth | BasicAuth;

export const newId = (): string => randomBytes(16).toString('base64url');
