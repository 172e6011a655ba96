// A browser by hand for the SSO tests: fetch without automatic redirects, a cookie jar per origin,
// and the oidc-provider dev login and consent forms filled in.
import assert from 'node:assert/strict';

export class Jar {
  private readonly byOrigin = new Map<string, Map<string, string>>();
  header(url: string): string {
    const jar = this.byOrigin.get(new URL(url).origin);
    return jar ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }
  take(url: string, res: Response): void {
    const origin = new URL(url).origin;
    const jar = this.byOrigin.get(origin) ?? new Map<string, string>();
    this.byOrigin.set(origin, jar);
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i).trim();
      const value = pair!.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
  }
  get(origin: string, name: string): string | undefined {
    return this.byOrigin.get(origin)?.get(name);
  }
}

export async function go(jar: Jar, url: string, init: RequestInit = {}): Promise<Response> {
  const cookie = jar.header(url);
  const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) } });
  jar.take(url, res);
  return res;
}

/**
 * Follows redirects from `url`, filling oidc-provider's dev login form (`login`, any password) and
 * submitting its consent form, until a redirect leads to `stopAt` (Palisade's callback): that address
 * is answered, not followed, so a test can use, replay or alter it.
 */
export async function throughProvider(jar: Jar, url: string, login: string, stopAt: string): Promise<string> {
  let next = url;
  let init: RequestInit = {};
  for (let i = 0; i < 20; i++) {
    const res = await go(jar, next, init);
    init = {};
    const loc = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && loc) {
      const abs = new URL(loc, next).href;
      if (abs.startsWith(stopAt)) return abs;
      next = abs;
      continue;
    }
    const html = await res.text();
    assert.equal(res.status, 200, `unexpected ${res.status} at ${next}: ${html.slice(0, 300)}`);
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    assert.ok(action, `a form at ${next}: ${html.slice(0, 300)}`);
    const form = new URLSearchParams();
    for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) form.set(m[1]!, m[2]!);
    if (/name="login"/.test(html)) {
      form.set('login', login);
      form.set('password', 'any');
    }
    next = new URL(action.replace(/&amp;/g, '&'), next).href;
    init = { method: 'POST', body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  }
  throw new Error('too many steps at the provider');
}

/** Signs out at oidc-provider (RP-less end_session, confirmed for every client): it posts its back-channel logout tokens. */
export async function signOutAtPeer(jar: Jar, issuer: string): Promise<void> {
  const page = await go(jar, `${issuer}/session/end`);
  const html = await page.text();
  assert.equal(page.status, 200, html.slice(0, 300));
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(action && xsrf, `a logout form: ${html.slice(0, 300)}`);
  const done = await go(jar, new URL(action, issuer).href, {
    method: 'POST',
    body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.ok(done.status === 302 || done.status === 303 || done.status === 200, `logout confirmed: ${done.status}`);
}
