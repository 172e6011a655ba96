import { api, ApiError, onSignedOut } from './api';

export interface User {
  id: string;
  username: string;
  email: string | null;
  status: 'active' | 'disabled';
  isAdmin: boolean;
  hasPassword: boolean;
  passwordChangedAt: string | null;
  mustChangePassword: boolean;
  ssoOnly: boolean;
}

export interface Access {
  held: string[];
  activeRole: string | null;
  roles: string[];
  departments: string[];
  permissions: string[];
  menus: string[];
}

export interface Me {
  user: User;
  session: { id: string; expiresAt: string; rememberMe: boolean };
  access: Access;
}

/** The signed-in user as /api/auth/me describes them; null when signed out, undefined while loading. */
class SessionState {
  me = $state<Me | null | undefined>(undefined);
  /** The error code with which the server ended the session (shown once on the sign-in page). */
  endedBy = $state<string | null>(null);
  /**
   * The identity provider's single-logout address after a sign-out, kept in memory only: the sign-in page names its
   * host and lets the user go there or stay (ASVS V3.7.3); it is never read from a URL, so no link can set it.
   */
  leavingTo = $state<string | null>(null);

  async load(): Promise<void> {
    try {
      this.me = await api.get<Me>('/api/auth/me', { quiet401: true });
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) this.me = null;
      else throw e;
    }
  }

  /**
   * Ends the session on the server. Only a 204, or a 401 (the session was already gone), counts as signed
   * out: any other refusal leaves the session alive, so the error is thrown and the user stays where they
   * are, told that they are still signed in (on a shared computer, a silent failure would hand the session on).
   * A 200 also counts: the session was opened by a SAML provider with single logout, and the answer names the
   * provider's address (`redirect`) for the browser to go to next, to end the provider's session too.
   */
  async signOut(): Promise<{ redirect: string | null }> {
    let answer: { redirect?: string } | undefined;
    try {
      answer = await api.post<{ redirect?: string } | undefined>('/api/auth/logout', undefined, { quiet401: true });
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) throw e;
    }
    this.me = null;
    return { redirect: typeof answer?.redirect === 'string' ? answer.redirect : null };
  }

  get isAdmin(): boolean {
    return this.me?.user.isAdmin ?? false;
  }

  can(permission: string): boolean {
    return this.me?.access.permissions.includes(permission) ?? false;
  }

  /**
   * Whether a page's menu key is shown. A role lists the pages its holders see; no list means every page
   * their permissions allow. `*` (administrators) is every page; a key also opens its sub-pages.
   */
  menu(key: string): boolean {
    const menus = this.me?.access.menus ?? [];
    if (menus.length === 0 || menus.includes('*')) return true;
    return menus.some((m) => m === key || key.startsWith(`${m}.`));
  }
}

export const session = new SessionState();
onSignedOut((e) => {
  // Why the server ended it (ACCOUNT_LOCKED, SESSION_ENDED...), for the sign-in page to say.
  session.endedBy = e.code;
  session.me = null;
});
