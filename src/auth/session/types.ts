import { randomBytes } from 'node:crypto';
import type { SessionsTable, UsersTable } from '../../db/types.js';

export type SessionMode = 'cookie' | 'bearer';

/** The ways of proving identity that end in a session (API key, second factor and SSO next). */
export type SignInMethod = 'password';

export interface IssuedToken {
  token: string;
  /** Epoch ms when this token stops being accepted (it may then still be renewed). */
  expiresAt: number;
  /** Epoch ms of the session's absolute end. */
  sessionExpiresAt: number;
}

/** Who the caller of a request is, and how they proved it. */
export interface AuthState {
  /** How the caller proved who they are on this request: a session token today (API keys next). */
  method: 'session';
  via: SessionMode;
  user: UsersTable;
  session: SessionsTable;
  /** Set when this request renewed the token (browser mode sends it back as a cookie). */
  renewed?: IssuedToken;
}

export const newId = (): string => randomBytes(16).toString('base64url');
