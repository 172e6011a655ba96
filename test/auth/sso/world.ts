// One Palisade listening on a real port (PUBLIC_URL pointing at it, so the callback the provider is told
// is reachable) and the helpers the SSO tests share.
import assert from 'node:assert/strict';
import { bearer, makeApp, login, type MakeOptions, type TestApp } from '../../helpers/app.js';
import { freePort } from '../passkeys/world.js';
import { go, type Jar, throughProvider } from './browser.js';

export const SESSION_COOKIE = '__Host-palisade_session';

export interface SsoWorld {
  t: TestApp;
  base: string;
  admin: string;
  close(): Promise<void>;
}

export async function startPalisade(o: MakeOptions = {}): Promise<SsoWorld> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const t = await makeApp({ ...o, env: { PUBLIC_URL: base, ...o.env } });
  await t.app.listen({ port, host: '127.0.0.1' });
  const admin = (await login(t)).token;
  return { t, base, admin, close: () => t.close() };
}

export const callbackOf = (w: SsoWorld, slug: string) => `${w.base}/api/auth/sso/${slug}/callback`;

/** An admin API call through inject, answering status and body. */
export async function api(w: SsoWorld, method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: object, token = w.admin) {
  const r = await w.t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
  return { status: r.statusCode, body: r.body ? (JSON.parse(r.body) as any) : null };
}

export async function addProvider(w: SsoWorld, slug: string, issuer: string, clientSecret: string | null, extra: Record<string, unknown> = {}) {
  const { oidc, ...rest } = extra as { oidc?: object };
  const r = await api(w, 'POST', '/api/admin/sso/providers', {
    slug,
    type: 'oidc',
    displayName: `Provider ${slug}`,
    ...rest,
    oidc: { issuer, clientId: 'palisade', ...(clientSecret ? { clientSecret } : { clientSecretName: null }), ...oidc },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.provider;
}

/** Starts at Palisade, signs in at the provider as `loginName`, answers the callback address (not yet followed). */
export async function toCallback(w: SsoWorld, jar: Jar, slug: string, loginName: string, ret?: string): Promise<string> {
  const start = await go(jar, `${w.base}/api/auth/sso/${slug}/start${ret ? `?return=${encodeURIComponent(ret)}` : ''}`);
  assert.equal(start.status, 302, await start.text());
  return throughProvider(jar, start.headers.get('location')!, loginName, callbackOf(w, slug));
}

/** Follows the callback: answers where Palisade sends the browser. */
export async function finish(_w: SsoWorld, jar: Jar, callback: string): Promise<string> {
  const res = await go(jar, callback);
  assert.equal(res.status, 302, await res.text());
  return res.headers.get('location')!;
}

/** The signed-in user of the jar's session cookie, or the refusal's status. */
export async function me(w: SsoWorld, jar: Jar): Promise<{ status: number; user?: any }> {
  const res = await go(jar, `${w.base}/api/auth/me`);
  return res.status === 200 ? { status: 200, user: ((await res.json()) as any).user } : { status: res.status };
}

export async function eventsOf(w: SsoWorld, type: string): Promise<any[]> {
  const r = await api(w, 'GET', `/api/admin/security-events?type=${type}&limit=200`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.events;
}
