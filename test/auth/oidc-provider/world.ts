// Palisade as an OpenID Provider, for its tests: one Palisade on a real port, clients registered through the admin
// API, a browser by hand (a cookie jar, redirects followed one at a time, the consent form submitted) and
// `openid-client` as the relying party.
import assert from 'node:assert/strict';
import * as oc from 'openid-client';
import { Jar, go } from '../sso/browser.js';
import { api, type SsoWorld } from '../sso/world.js';

export interface Registered {
  clientId: string;
  clientSecret: string | null;
  redirectUri: string;
}

export async function register(w: SsoWorld, body: Record<string, unknown>): Promise<Registered> {
  const r = await api(w, 'POST', '/api/admin/oidc/clients', body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { clientId: r.body.client.clientId, clientSecret: r.body.clientSecret, redirectUri: (body.redirectUris as string[])[0]! };
}

/** openid-client's view of Palisade for a client: discovery over HTTP (a test address). */
export async function rp(w: SsoWorld, c: Registered): Promise<oc.Configuration> {
  return oc.discovery(
    new URL(`${w.base}/oidc`),
    c.clientId,
    { redirect_uris: [c.redirectUri] },
    c.clientSecret === null ? oc.None() : oc.ClientSecretBasic(c.clientSecret),
    { execute: [oc.allowInsecureRequests] },
  );
}

/** A browser signed in to Palisade (the session cookie), by the JSON sign-in the admin UI uses. */
export async function signedIn(w: SsoWorld, username: string, password: string): Promise<Jar> {
  const jar = new Jar();
  const res = await go(jar, `${w.base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, mode: 'cookie' }),
  });
  assert.equal(res.status, 200, await res.text());
  return jar;
}

export interface Walk {
  /** The address at `stopAt` the browser was sent to (not followed), or null. */
  arrived: string | null;
  /** The last answer when the walk stopped elsewhere (an error page, the sign-in page's redirect). */
  last: { status: number; location: string | null; body: string };
  /** Whether a consent page was shown on the way. */
  consentShown: boolean;
}

/**
 * Follows redirects from `url` in the jar's browser until one leads to `stopAt`; a consent page is answered with
 * `decision`. Stops at anything else (an error page, a redirect to the sign-in page).
 */
export async function walk(jar: Jar, url: string, stopAt: string, decision: 'allow' | 'deny' = 'allow'): Promise<Walk> {
  let next = url;
  let init: RequestInit = {};
  let consentShown = false;
  for (let i = 0; i < 15; i++) {
    const res = await go(jar, next, init);
    init = {};
    const loc = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && loc) {
      const abs = new URL(loc, next).href;
      if (abs.startsWith(stopAt)) return { arrived: abs, last: { status: res.status, location: abs, body: '' }, consentShown };
      if (new URL(abs).pathname === '/sign-in') return { arrived: null, last: { status: res.status, location: abs, body: '' }, consentShown };
      next = abs;
      continue;
    }
    const body = await res.text();
    const action = /<form method="post" action="([^"]+)"/.exec(body)?.[1];
    const token = /name="token" value="([^"]+)"/.exec(body)?.[1];
    if (res.status === 200 && action && token) {
      consentShown = true;
      next = new URL(action.replace(/&amp;/g, '&'), next).href;
      init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token, decision }).toString() };
      continue;
    }
    return { arrived: null, last: { status: res.status, location: loc, body }, consentShown };
  }
  throw new Error('too many redirects');
}

export interface Started {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

/** An authorisation request with PKCE S256, state and nonce; `extra` adds or overrides parameters. */
export async function authorizeUrl(cfg: oc.Configuration, c: Registered, scope: string, extra: Record<string, string> = {}): Promise<Started> {
  const verifier = oc.randomPKCECodeVerifier();
  const state = oc.randomState();
  const nonce = oc.randomNonce();
  const url = oc.buildAuthorizationUrl(cfg, {
    redirect_uri: c.redirectUri,
    scope,
    state,
    nonce,
    code_challenge: await oc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  for (const [k, v] of Object.entries(extra)) if (v === '') url.searchParams.delete(k);
  return { url, verifier, state, nonce };
}

/** A token request by hand (for the refusals openid-client would not even send). */
export async function tokenRequest(w: SsoWorld, form: Record<string, string>, basic?: { id: string; secret: string }): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (basic) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(basic.id)}:${encodeURIComponent(basic.secret)}`).toString('base64')}`;
  const res = await fetch(`${w.base}/oidc/token`, { method: 'POST', headers, body: new URLSearchParams(form).toString() });
  return { status: res.status, body: await res.json() };
}
