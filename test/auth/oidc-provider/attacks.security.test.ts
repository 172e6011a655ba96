import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as oc from 'openid-client';
import { createUser, login, makeApp } from '../../helpers/app.js';
import { freePort } from '../passkeys/world.js';
import { go, type Jar } from '../sso/browser.js';
import { api, eventsOf, startPalisade, type SsoWorld } from '../sso/world.js';
import { authorizeUrl, register, rp, signedIn, tokenRequest, walk, type Registered } from './world.js';

// AUTH-13, Palisade as an OpenID Provider: each attack on the code flow is refused (the bug class it guards
// against is named in each case), and the legitimate path beside it passes.

const PASSWORD = 'Oidc-attacks-pass-42';

describe('Palisade as an OpenID Provider: refusals', () => {
  let w: SsoWorld;
  let a: Registered;
  let b: Registered;
  let pub: Registered;
  let jar: Jar;
  let userId: string;

  /** A fresh code for `c` in the signed-in browser, with its verifier. */
  const codeFor = async (c: Registered, extra: Record<string, string> = {}) => {
    const cfg = await rp(w, c);
    const start = await authorizeUrl(cfg, c, 'openid', extra);
    const r = await walk(jar, start.url.href, c.redirectUri);
    assert.ok(r.arrived, JSON.stringify(r.last));
    const code = new URL(r.arrived).searchParams.get('code');
    return { code, verifier: start.verifier, arrived: new URL(r.arrived), cfg, start };
  };
  const exchange = (c: Registered, code: string, verifier: string, secret = c.clientSecret) =>
    tokenRequest(
      w,
      { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: c.redirectUri, ...(secret === null ? { client_id: c.clientId } : {}) },
      secret === null ? undefined : { id: c.clientId, secret },
    );

  before(async () => {
    w = await startPalisade();
    userId = await createUser(w.t, w.admin, 'carol', PASSWORD, { email: 'carol@example.test' });
    a = await register(w, { name: 'A', redirectUris: ['https://a.example.test/cb'], confidential: true, consentRequired: false });
    b = await register(w, { name: 'B', redirectUris: ['https://b.example.test/cb'], confidential: true, consentRequired: false });
    pub = await register(w, { name: 'P', redirectUris: ['http://127.0.0.1:9/cb'], confidential: false, consentRequired: false });
    jar = await signedIn(w, 'carol', PASSWORD);
  });
  after(async () => {
    await w?.close();
  });

  it('the legitimate exchange passes (the baseline of every refusal below) [ASVS V10.4.1, V10.4.6, V10.4.10, V3.7.2]', async () => {
    const { code, verifier } = await codeFor(a);
    const r = await exchange(a, code!, verifier);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.id_token);
  });

  it('open redirect: an unregistered redirect_uri gets an error page, never a redirect to it [ASVS V10.4.1, V3.7.2]', async () => {
    const cfg = await rp(w, a);
    const start = await authorizeUrl(cfg, a, 'openid', { redirect_uri: 'https://evil.example.test/cb' });
    const res = await go(jar, start.url.href);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
    assert.match(await res.text(), /redirect_uri/);
    // A registered address with another path or a query added is not the registered address either.
    const near = await authorizeUrl(cfg, a, 'openid', { redirect_uri: 'https://a.example.test/cb/../evil' });
    assert.equal((await go(jar, near.url.href)).status, 400);
  });

  it('code interception: PKCE is required, S256 only [ASVS V10.4.6]', async () => {
    const cfg = await rp(w, a);
    const missing = await authorizeUrl(cfg, a, 'openid', { code_challenge: '', code_challenge_method: '' });
    const r1 = await walk(jar, missing.url.href, a.redirectUri);
    assert.equal(new URL(r1.arrived!).searchParams.get('error'), 'invalid_request');
    const plain = await authorizeUrl(cfg, a, 'openid', { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
    const r2 = await walk(jar, plain.url.href, a.redirectUri);
    assert.equal(new URL(r2.arrived!).searchParams.get('code'), null);
    assert.ok(new URL(r2.arrived!).searchParams.get('error'));
  });

  it('token leakage through the front channel: only the code response type [ASVS V10.1.1, V10.4.4, V10.6.1]', async () => {
    const cfg = await rp(w, a);
    for (const rt of ['token', 'id_token', 'code id_token', 'none', 'code token']) {
      const s = await authorizeUrl(cfg, a, 'openid', { response_type: rt });
      const res = await go(jar, s.url.href);
      const loc = res.headers.get('location');
      if (loc) {
        const u = new URL(loc, w.base);
        assert.ok(!u.href.includes('access_token') && !u.href.includes('id_token='), rt);
        assert.equal(u.searchParams.get('code'), null, rt);
        assert.ok(u.searchParams.get('error') ?? new URLSearchParams(u.hash.slice(1)).get('error'), rt);
      } else assert.equal(res.status, 400, rt);
    }
  });

  it('a wrong code_verifier, a code used twice, a code of another client: invalid_grant [ASVS V10.4.2, V10.4.6]', async () => {
    const one = await codeFor(a);
    const wrong = await exchange(a, one.code!, oc.randomPKCECodeVerifier());
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, 'invalid_grant');

    const two = await codeFor(a);
    assert.equal((await exchange(a, two.code!, two.verifier)).status, 200);
    const replay = await exchange(a, two.code!, two.verifier);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');

    const three = await codeFor(a);
    const stolen = await tokenRequest(
      w,
      { grant_type: 'authorization_code', code: three.code!, code_verifier: three.verifier, redirect_uri: a.redirectUri },
      { id: b.clientId, secret: b.clientSecret! },
    );
    assert.equal(stolen.status, 400);
    assert.equal(stolen.body.error, 'invalid_grant');
    assert.ok((await eventsOf(w, 'oidc_provider.refused')).some((e) => e.details?.error === 'invalid_grant'));
  });

  it('client impersonation: a wrong secret, or none for a confidential client, is invalid_client [ASVS V10.4.10]', async () => {
    const c = await codeFor(a);
    const bad = await exchange(a, c.code!, c.verifier, 'not-the-secret');
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error, 'invalid_client');
    const none = await tokenRequest(w, {
      grant_type: 'authorization_code',
      code: c.code!,
      code_verifier: c.verifier,
      redirect_uri: a.redirectUri,
      client_id: a.clientId,
    });
    assert.equal(none.status, 401);
    // The public client passes with its verifier alone.
    const p = await codeFor(pub);
    assert.equal((await exchange(pub, p.code!, p.verifier)).status, 200);
  });

  it('a rotated secret: the old one stops working at once, the new one works', async () => {
    const rot = await api(w, 'POST', `/api/admin/oidc/clients/${b.clientId}/secret`);
    assert.equal(rot.status, 200);
    const c = await codeFor(b);
    assert.equal((await exchange(b, c.code!, c.verifier)).status, 401);
    const c2 = await codeFor(b);
    assert.equal((await exchange(b, c2.code!, c2.verifier, rot.body.clientSecret)).status, 200);
    b = { ...b, clientSecret: rot.body.clientSecret };
    assert.equal((await eventsOf(w, 'oidc_provider.client_secret_rotated')).length, 1);
    assert.equal((await api(w, 'POST', `/api/admin/oidc/clients/${pub.clientId}/secret`)).body.error.code, 'OIDC_CLIENT_PUBLIC');
  });

  it('a disabled client gets no code and no token', async () => {
    const pending = await codeFor(b);
    assert.equal((await api(w, 'PATCH', `/api/admin/oidc/clients/${b.clientId}`, { enabled: false })).status, 200);
    assert.equal((await exchange(b, pending.code!, pending.verifier)).status, 401);
    const cfg = await rp(w, a);
    const url = new URL(cfg.serverMetadata().authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: b.clientId,
      redirect_uri: b.redirectUri,
      response_type: 'code',
      scope: 'openid',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
    }).toString();
    const res = await go(jar, url.href);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
    assert.equal((await api(w, 'PATCH', `/api/admin/oidc/clients/${b.clientId}`, { enabled: true })).status, 200);
  });

  it('silent or forced sign-in: prompt=none and a prompt=login older than the session are login_required [ASVS V7.6.1, V7.6.2]', async () => {
    // Every authorisation asks Palisade's session through the interaction, so a silent one cannot complete.
    const none = await codeFor(a, { prompt: 'none' });
    assert.ok(['login_required', 'interaction_required'].includes(none.arrived.searchParams.get('error')!));
    assert.equal(none.code, null);
    const forced = await codeFor(a, { prompt: 'login' });
    assert.equal(forced.arrived.searchParams.get('error'), 'login_required');
    // A max_age the session is within passes.
    const fresh = await codeFor(a, { max_age: '3600' });
    assert.ok(fresh.code);
  });

  it('a disabled user: the code already issued cannot be redeemed, and no new one is issued', async () => {
    const c = await codeFor(a);
    assert.equal((await api(w, 'PATCH', `/api/admin/users/${userId}`, { status: 'disabled' })).status, 200);
    const r = await exchange(a, c.code!, c.verifier);
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    const cfg = await rp(w, a);
    const s = await authorizeUrl(cfg, a, 'openid');
    const again = await walk(jar, s.url.href, a.redirectUri);
    assert.equal(again.arrived, null);
    assert.equal(new URL(again.last.location!).pathname, '/sign-in');
    assert.equal((await api(w, 'PATCH', `/api/admin/users/${userId}`, { status: 'active' })).status, 200);
  });

  it('registration: exact https or loopback redirect URIs, known scopes, administrators only [ASVS V10.4.1, V10.4.11]', async () => {
    const bad = async (body: Record<string, unknown>) => {
      const r = await api(w, 'POST', '/api/admin/oidc/clients', { name: 'x', confidential: true, ...body });
      assert.equal(r.status, 400, JSON.stringify(body));
    };
    await bad({ redirectUris: ['http://app.example.test/cb'] });
    await bad({ redirectUris: ['https://app.example.test/cb#frag'] });
    await bad({ redirectUris: ['https://user:pw@app.example.test/cb'] });
    await bad({ redirectUris: ['javascript:alert(1)'] });
    await bad({ redirectUris: ['https://app.example.test/cb'], scopes: ['openid', 'offline_access'] });
    await bad({ redirectUris: ['https://app.example.test/cb'], scopes: ['profile'] });
    const change = await api(w, 'PATCH', `/api/admin/oidc/clients/${a.clientId}`, { confidential: false });
    assert.equal(change.status, 400);
    const user = await login(w.t, 'carol', PASSWORD);
    const r = await api(w, 'GET', '/api/admin/oidc/clients', undefined, user.token);
    assert.equal(r.status, 403);
  });

  it('hostile input to the provider never gets a 5xx', async () => {
    const nulForm = {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${a.clientId}:${a.clientSecret}`).toString('base64')}`,
    };
    const tries: Array<[string, RequestInit]> = [
      ['/oidc/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":' }],
      ['/oidc/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=authorization_code&code=%ZZ' }],
      ['/oidc/token', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(200_000) }],
      ['/oidc/token', { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x' }) }],
      ['/oidc/token', { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials' }) }],
      ['/oidc/me', { headers: { authorization: 'Bearer not-a-token' } }],
      ['/oidc/auth?client_id=%00&response_type=code', {}],
      ['/oidc/auth?client_id=nope&redirect_uri=https://evil.test', {}],
      ['/oidc/interaction/unknown-uid', {}],
      ['/oidc/reg', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }],
      ['/oidc/../api/auth/me', {}],
      ['/oidc/%2e%2e/x', {}],
      // A NUL in a body value: PostgreSQL refuses it in a query, which must still be "not found" (D335).
      [
        '/oidc/token',
        { method: 'POST', headers: nulForm, body: `grant_type=authorization_code&code=%00x&redirect_uri=${a.redirectUri}&code_verifier=${'a'.repeat(43)}` },
      ],
      [
        '/oidc/token',
        { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=authorization_code&code=x&client_id=%00' },
      ],
      ['/oidc/me', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'access_token=%00' }],
    ];
    for (const [path, init] of tries) {
      const res = await fetch(`${w.base}${path}`, init);
      assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status}`);
      await res.arrayBuffer();
    }
    // Another spelling of the mount is Palisade's own 404, never handed to the provider cut in the wrong place (D337).
    for (const path of ['/%6Fidc/.well-known/openid-configuration', '/%6fidc/jwks']) {
      const res = await fetch(`${w.base}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as any).error.code, 'NOT_FOUND', path);
    }
    // Revoking a token that names nothing is answered 200 (RFC 7009), not a 500.
    {
      const res = await fetch(`${w.base}/oidc/token/revocation`, { method: 'POST', headers: nulForm, body: 'token=%00' });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
  });

  it('a code redeemed twice at once, on two instances: one token, the other invalid_grant, the grant ended (D333) [ASVS V10.4.2]', async () => {
    // The race a plain replay check misses: both requests find the code unspent, then both spend it. Made
    // deterministic: between this instance's look-up and its spending, a second instance on the same storage
    // redeems the same code over HTTP.
    jar = await signedIn(w, 'carol', PASSWORD); // disabling carol above ended her sessions
    const peer = await makeApp({ peerOf: w.t, env: { PUBLIC_URL: w.base } });
    const port = await freePort();
    await peer.app.listen({ port, host: '127.0.0.1' });
    const AC = ((await w.t.s.oidcProvider.provider()) as unknown as { AuthorizationCode: { find: (...a: unknown[]) => Promise<unknown> } }).AuthorizationCode;
    const find = AC.find;
    try {
      const { code, verifier } = await codeFor(a);
      let peerAnswer: { status: number; body: any } | undefined;
      AC.find = async function (this: unknown, ...args: unknown[]) {
        const found = await find.apply(this, args);
        AC.find = find;
        const res = await fetch(`http://127.0.0.1:${port}/oidc/token`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: `Basic ${Buffer.from(`${a.clientId}:${a.clientSecret}`).toString('base64')}`,
          },
          body: new URLSearchParams({ grant_type: 'authorization_code', code: code!, code_verifier: verifier, redirect_uri: a.redirectUri }).toString(),
        });
        peerAnswer = { status: res.status, body: await res.json() };
        return found;
      };
      const here = await exchange(a, code!, verifier);
      assert.equal(peerAnswer?.status, 200, JSON.stringify(peerAnswer?.body));
      assert.equal(here.status, 400, JSON.stringify(here.body));
      assert.equal(here.body.error, 'invalid_grant');
      // The code was presented twice: what the first redemption got is ended with its grant.
      const ui = await fetch(`${w.base}/oidc/me`, { headers: { authorization: `Bearer ${peerAnswer!.body.access_token}` } });
      assert.equal(ui.status, 401);
      await ui.arrayBuffer();
    } finally {
      AC.find = find;
      await peer.close();
    }
  });

  it('signing out of Palisade ends the codes and access tokens its sign-in gave a client (D334) [ASVS V10.4.9, V7.6.1]', async () => {
    await createUser(w.t, w.admin, 'erin', PASSWORD);
    const j = await signedIn(w, 'erin', PASSWORD);
    const cfg = await rp(w, a);
    const grab = async () => {
      const st = await authorizeUrl(cfg, a, 'openid');
      const r = await walk(j, st.url.href, a.redirectUri);
      assert.ok(r.arrived, JSON.stringify(r.last));
      return { code: new URL(r.arrived).searchParams.get('code')!, verifier: st.verifier };
    };
    const first = await grab();
    const tok = await exchange(a, first.code, first.verifier);
    assert.equal(tok.status, 200, JSON.stringify(tok.body));
    const userinfo = async () => {
      const res = await fetch(`${w.base}/oidc/me`, { headers: { authorization: `Bearer ${tok.body.access_token}` } });
      await res.arrayBuffer();
      return res.status;
    };
    assert.equal(await userinfo(), 200);
    const pending = await grab();
    const xsrf = j.get(w.base, 'palisade_xsrf') ?? j.get(w.base, '__Host-palisade_xsrf') ?? '';
    assert.equal((await go(j, `${w.base}/api/auth/logout`, { method: 'POST', headers: { 'x-xsrf-token': xsrf } })).status, 204);
    // The access token and the code not yet redeemed die with the Palisade session that signed in.
    assert.equal(await userinfo(), 401);
    const late = await exchange(a, pending.code, pending.verifier);
    assert.equal(late.status, 400, JSON.stringify(late.body));
    assert.equal(late.body.error, 'invalid_grant');
    // Another browser's session (carol's) is untouched.
    const other = await codeFor(a);
    assert.equal((await exchange(a, other.code!, other.verifier)).status, 200);
  });

  it('a forged consent form (a wrong form token) is refused and recorded; the real one still passes (D336)', async () => {
    const c = await register(w, { name: 'Asks', redirectUris: ['https://asks.example.test/cb'], confidential: true, consentRequired: true });
    const st = await authorizeUrl(await rp(w, c), c, 'openid');
    let url = st.url.href;
    let res = await go(jar, url);
    for (let i = 0; i < 6 && res.status >= 300 && res.status < 400; i++) {
      url = new URL(res.headers.get('location')!, url).href;
      res = await go(jar, url);
    }
    const page = await res.text();
    const action = new URL(/<form method="post" action="([^"]+)"/.exec(page)![1]!, url).href;
    const token = /name="token" value="([^"]+)"/.exec(page)![1]!;
    const post = (t: string) =>
      go(jar, action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: t, decision: 'allow' }).toString(),
      });
    const forged = await post(`${token.slice(0, -2)}AA`);
    assert.equal(forged.status, 400);
    assert.equal(((await forged.json()) as any).error.code, 'OIDC_INTERACTION_INVALID');
    assert.ok(
      (await eventsOf(w, 'oidc_provider.refused')).some((e) => e.details?.clientId === c.clientId && /form token/.test(e.details?.reason ?? '')),
      'the forged form is recorded',
    );
    const real = await post(token);
    assert.equal(real.status, 303);
    assert.ok(real.headers.get('location')!.startsWith(`${w.base}/oidc/auth/`));
  });

  /** The userinfo endpoint's status for an access token. */
  const userinfoStatus = async (accessToken: string) => {
    const res = await fetch(`${w.base}/oidc/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    await res.arrayBuffer();
    return res.status;
  };

  it('a code presented a second time, one after the other, also ends the access token its first redemption got [ASVS V10.4.2]', async () => {
    const { code, verifier } = await codeFor(a);
    const first = await exchange(a, code!, verifier);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(await userinfoStatus(first.body.access_token), 200);
    const replay = await exchange(a, code!, verifier);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');
    assert.equal(replay.body.access_token, undefined);
    assert.equal(await userinfoStatus(first.body.access_token), 401, 'the replay revoked what the code had given');
  });

  it('an authorisation code lives 60 seconds: redeemed after 61 it is invalid_grant, after 50 it passes [ASVS V10.4.3]', async () => {
    const late = await codeFor(a);
    w.t.clock.advance(61);
    const r = await exchange(a, late.code!, late.verifier);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, 'invalid_grant');
    const inTime = await codeFor(a);
    w.t.clock.advance(50);
    const ok = await exchange(a, inTime.code!, inTime.verifier);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  it('a client uses the code grant only: client_credentials, password, refresh_token and device grants are refused [ASVS V10.4.4]', async () => {
    const basic = { id: a.clientId, secret: a.clientSecret! };
    for (const form of [
      { grant_type: 'client_credentials', scope: 'openid' },
      { grant_type: 'password', username: 'carol', password: PASSWORD, scope: 'openid' },
      { grant_type: 'refresh_token', refresh_token: 'x'.repeat(43) },
      { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'x'.repeat(43) },
      { grant_type: 'implicit' },
    ] as Array<Record<string, string>>) {
      const r = await tokenRequest(w, form, basic);
      assert.equal(r.status, 400, `${form.grant_type}: ${JSON.stringify(r.body)}`);
      const refused =
        ['unsupported_grant_type', 'unauthorized_client'].includes(r.body.error) || /not allowed for this client/.test(r.body.error_description ?? '');
      assert.ok(refused, `${form.grant_type}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.access_token, undefined, form.grant_type);
    }
    const c = await codeFor(a);
    assert.equal((await exchange(a, c.code!, c.verifier)).status, 200);
  });

  it('token revocation authenticates the confidential client: a wrong secret is invalid_client and the token lives on; its own secret ends it [ASVS V10.4.10]', async () => {
    const c = await codeFor(a);
    const t = await exchange(a, c.code!, c.verifier);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    const revoke = (secret: string) =>
      fetch(`${w.base}/oidc/token/revocation`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${a.clientId}:${secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token: t.body.access_token, token_type_hint: 'access_token' }).toString(),
      });
    const forged = await revoke('not-the-secret');
    assert.equal(forged.status, 401);
    assert.equal(((await forged.json()) as { error: string }).error, 'invalid_client');
    assert.equal(await userinfoStatus(t.body.access_token), 200);
    const own = await revoke(a.clientSecret!);
    assert.equal(own.status, 200);
    await own.arrayBuffer();
    assert.equal(await userinfoStatus(t.body.access_token), 401);
  });

  it("the person ends a sign-in from their sessions list: the access tokens it gave a client end with it, another sign-in's stay [ASVS V10.4.9]", async () => {
    await createUser(w.t, w.admin, 'fay', PASSWORD);
    const browser = await signedIn(w, 'fay', PASSWORD);
    const st = await authorizeUrl(await rp(w, a), a, 'openid');
    const r = await walk(browser, st.url.href, a.redirectUri);
    assert.ok(r.arrived, JSON.stringify(r.last));
    const t = await exchange(a, new URL(r.arrived).searchParams.get('code')!, st.verifier);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(await userinfoStatus(t.body.access_token), 200);
    // The account's security page, elsewhere (signed in a moment later): the sessions list and its "end" button.
    w.t.clock.advance(2);
    const elsewhere = (await login(w.t, 'fay', PASSWORD)).token;
    const list = await api(w, 'GET', '/api/auth/sessions', undefined, elsewhere);
    const target = list.body.sessions.find((x: { current: boolean }) => !x.current);
    assert.ok(target, JSON.stringify(list.body));
    assert.equal((await api(w, 'DELETE', `/api/auth/sessions/${target.id}`, undefined, elsewhere)).status, 204);
    assert.equal(await userinfoStatus(t.body.access_token), 401);
    // carol's token, from her own sign-in, is not fay's to end.
    const other = await codeFor(a);
    const kept = await exchange(a, other.code!, other.verifier);
    assert.equal(await userinfoStatus(kept.body.access_token), 200);
  });

  it("an access token is for the userinfo endpoint alone: Palisade's API refuses it, and userinfo refuses the ID token [ASVS V10.3.1]", async () => {
    const c = await codeFor(a);
    const t = await exchange(a, c.code!, c.verifier);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(await userinfoStatus(t.body.access_token), 200);
    const atApi = await fetch(`${w.base}/api/auth/me`, { headers: { authorization: `Bearer ${t.body.access_token}` } });
    assert.equal(atApi.status, 401);
    await atApi.arrayBuffer();
    assert.equal(await userinfoStatus(t.body.id_token), 401);
  });

  it('a deleted client is gone with what it was issued', async () => {
    assert.equal((await api(w, 'DELETE', `/api/admin/oidc/clients/${b.clientId}`)).status, 204);
    assert.equal((await api(w, 'GET', `/api/admin/oidc/clients/${b.clientId}`)).status, 404);
    assert.equal((await api(w, 'DELETE', `/api/admin/oidc/clients/${b.clientId}`)).status, 404);
    assert.equal((await eventsOf(w, 'oidc_provider.client_deleted')).length, 1);
  });
});

describe('Palisade as an OpenID Provider: signing keys that no longer open', () => {
  let w: SsoWorld;
  before(async () => {
    w = await startPalisade();
  });
  after(async () => {
    await w?.close();
  });

  // Bug class: a stored key set that does not decrypt (SECRETS_KEY changed) read as "none yet", so the provider
  // generated and stored new keys over it without a word, and every client's verification broke.
  it('are refused with SECRETS_UNREADABLE and never replaced; readable keys serve discovery', async () => {
    await register(w, { name: 'Wiki', redirectUris: ['https://wiki.example.test/callback'], confidential: true });
    const now = Date.now();
    await w.t.s.db
      .insertInto('secrets')
      .values({
        name: 'oidcProvider.signingKeys',
        ciphertext: 'bm90.c2VhbGVk.YnlfdXM',
        key_id: 'another-key',
        created_at: now,
        created_by: null,
        created_by_name: 'test',
        updated_at: now,
        updated_by: null,
        updated_by_name: 'test',
      })
      .onConflict((oc) => oc.column('name').doUpdateSet({ ciphertext: 'bm90.c2VhbGVk.YnlfdXM', key_id: 'another-key' }))
      .execute();
    const res = await fetch(`${w.base}/oidc/jwks`);
    assert.equal(res.status, 409, await res.text());
    const row = await w.t.s.db.selectFrom('secrets').select(['ciphertext', 'key_id']).where('name', '=', 'oidcProvider.signingKeys').executeTakeFirstOrThrow();
    assert.deepEqual(row, { ciphertext: 'bm90.c2VhbGVk.YnlfdXM', key_id: 'another-key' });
    // The operator deletes the unreadable set: new keys are made and served.
    assert.equal((await api(w, 'DELETE', '/api/admin/secrets/oidcProvider.signingKeys')).status, 204);
    const ok = await fetch(`${w.base}/oidc/jwks`);
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { keys: unknown[] }).keys.length, 2);
  });
});
