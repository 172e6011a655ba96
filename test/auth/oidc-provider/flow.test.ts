import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as oc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { bearer, createUser, login, makeApp } from '../../helpers/app.js';
import { refusingEvents } from '../../helpers/audit.js';
import { go, Jar } from '../sso/browser.js';
import { api, eventsOf, startPalisade, type SsoWorld } from '../sso/world.js';
import { authorizeUrl, register, rp, signedIn, tokenRequest, walk, type Registered } from './world.js';

// AUTH-13, Palisade as an OpenID Provider: openid-client completes the code flow with PKCE against /oidc for a
// confidential and a public client, through Palisade's own sign-in and the consent page; the ID token verifies
// against the published JWKS and userinfo answers the profile's and roles' claims.

const PASSWORD = 'Oidc-provider-pass-42';

describe('Palisade as an OpenID Provider: the code flow', () => {
  let w: SsoWorld;
  let conf: Registered;
  let pub: Registered;
  let aliceId: string;

  before(async () => {
    w = await startPalisade();
    aliceId = await createUser(w.t, w.admin, 'alice', PASSWORD, { email: 'alice@example.test' });
    assert.equal((await api(w, 'POST', '/api/admin/roles', { name: 'editors' })).status, 201);
    assert.equal((await api(w, 'PUT', `/api/admin/users/${aliceId}/roles`, { roles: ['editors'] })).status, 204);
  });
  after(async () => {
    await w?.close();
  });

  it('answers nothing under /oidc until a client is registered and enabled', async () => {
    assert.equal((await fetch(`${w.base}/oidc/.well-known/openid-configuration`)).status, 404);
    conf = await register(w, {
      name: 'Wiki',
      redirectUris: ['https://wiki.example.test/callback'],
      confidential: true,
      scopes: ['openid', 'profile', 'email', 'roles'],
    });
    pub = await register(w, { name: 'CLI tool', redirectUris: ['http://127.0.0.1:8765/cb'], confidential: false, consentRequired: false });
    assert.match(conf.clientSecret!, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(pub.clientSecret, null);
    const disco = (await (await fetch(`${w.base}/oidc/.well-known/openid-configuration`)).json()) as any;
    assert.equal(disco.issuer, `${w.base}/oidc`);
    assert.deepEqual(disco.response_types_supported, ['code']);
    assert.deepEqual(disco.code_challenge_methods_supported, ['S256']);
    assert.equal(disco.authorization_endpoint, `${w.base}/oidc/auth`);
    // The Host header does not move the issuer or the endpoints.
    const spoofed = (await (await fetch(`${w.base}/oidc/.well-known/openid-configuration`, { headers: { 'x-forwarded-host': 'evil.test' } })).json()) as any;
    assert.equal(spoofed.token_endpoint, `${w.base}/oidc/token`);
    // The list never shows a secret.
    const list = await api(w, 'GET', '/api/admin/oidc/clients');
    assert.equal(list.body.clients.length, 2);
    assert.ok(!JSON.stringify(list.body).includes(conf.clientSecret!));
    assert.equal((await eventsOf(w, 'oidc_provider.client_created')).length, 2);
  });

  it('a confidential client: sign-in through the Palisade session, consent, code, tokens, a verified ID token and userinfo [ASVS V10.3.2, V10.3.3, V9.2.4, V10.7.1]', async () => {
    const cfg = await rp(w, conf);
    const jar = await signedIn(w, 'alice', PASSWORD);
    const start = await authorizeUrl(cfg, conf, 'openid profile email roles');
    const r = await walk(jar, start.url.href, conf.redirectUri);
    assert.ok(r.arrived, JSON.stringify(r.last));
    assert.equal(r.consentShown, true);
    const tokens = await oc.authorizationCodeGrant(cfg, new URL(r.arrived), {
      pkceCodeVerifier: start.verifier,
      expectedState: start.state,
      expectedNonce: start.nonce,
    });
    assert.equal(tokens.refresh_token, undefined, 'no refresh tokens');
    const jwks = createRemoteJWKSet(new URL(cfg.serverMetadata().jwks_uri!));
    const { payload, protectedHeader } = await jwtVerify(tokens.id_token!, jwks, {
      issuer: `${w.base}/oidc`,
      audience: conf.clientId,
      algorithms: ['RS256', 'ES256'],
    });
    assert.equal(payload.sub, aliceId);
    assert.equal(payload.nonce, start.nonce);
    assert.equal(protectedHeader.alg, 'RS256');
    const info = await oc.fetchUserInfo(cfg, tokens.access_token, aliceId);
    assert.equal(info.sub, aliceId);
    assert.equal(info.preferred_username, 'alice');
    assert.equal(info.email, 'alice@example.test');
    assert.equal(info.email_verified, false);
    assert.deepEqual(info.roles, ['editors']);
    assert.ok((await eventsOf(w, 'oidc_provider.code_issued')).some((e) => e.subjectId === aliceId));
    assert.ok((await eventsOf(w, 'oidc_provider.token_issued')).some((e) => e.subjectId === aliceId));
    assert.ok((await eventsOf(w, 'oidc_provider.consent_given')).some((e) => e.subjectId === aliceId));

    // Consent is remembered: the second authorisation goes straight to the client.
    const again = await authorizeUrl(cfg, conf, 'openid profile email roles');
    const r2 = await walk(jar, again.url.href, conf.redirectUri);
    assert.ok(r2.arrived);
    assert.equal(r2.consentShown, false);
  });

  it("a sign-in to a client and a consent are saved with their events or not at all: an event's write failing leaves nothing remembered", async () => {
    const gusId = await createUser(w.t, w.admin, 'gus', PASSWORD);
    const cfg = await rp(w, conf);
    const jar = await signedIn(w, 'gus', PASSWORD);
    const grants = async () =>
      (await w.t.s.db.selectFrom('oidc_provider_models').select('id').where('model', '=', 'Grant').where('account_id', '=', gusId).execute()).length;
    const signIns = async () => (await eventsOf(w, 'oidc_provider.signed_in')).filter((e) => e.subjectId === gusId).length;
    // The sign-in's event refused: the interaction keeps no login, so no consent page and no code.
    await refusingEvents(w.t.s.db, 'oidc_provider.signed_in', async () => {
      const r = await walk(jar, (await authorizeUrl(cfg, conf, 'openid profile')).url.href, conf.redirectUri);
      assert.equal(r.arrived, null);
      assert.equal(r.consentShown, false);
    });
    assert.equal(await signIns(), 0);
    // The consent's event refused: no grant is kept, so the next authorisation asks again.
    await refusingEvents(w.t.s.db, 'oidc_provider.consent_given', async () => {
      const r = await walk(jar, (await authorizeUrl(cfg, conf, 'openid profile')).url.href, conf.redirectUri);
      assert.equal(r.arrived, null);
      assert.equal(r.consentShown, true);
    });
    assert.equal(await grants(), 0);
    const r = await walk(jar, (await authorizeUrl(cfg, conf, 'openid profile')).url.href, conf.redirectUri);
    assert.ok(r.arrived, JSON.stringify(r.last));
    assert.equal(r.consentShown, true, 'asked again: the refused consent was not remembered');
    assert.equal(await grants(), 1);
    assert.equal((await eventsOf(w, 'oidc_provider.consent_given')).filter((e) => e.subjectId === gusId).length, 1);
    assert.ok((await signIns()) >= 1);
  });

  it('consent outlives the sign-out until revoked: the person lists it, revokes it (its tokens end), and is asked again; nobody else can revoke it (D434) [ASVS V10.7.3]', async () => {
    const daveId = await createUser(w.t, w.admin, 'dave', PASSWORD);
    await createUser(w.t, w.admin, 'erin', PASSWORD);
    const cfg = await rp(w, conf);
    const first = await authorizeUrl(cfg, conf, 'openid email');
    const r = await walk(await signedIn(w, 'dave', PASSWORD), first.url.href, conf.redirectUri);
    assert.equal(r.consentShown, true);
    const tokens = await oc.authorizationCodeGrant(cfg, new URL(r.arrived!), {
      pkceCodeVerifier: first.verifier,
      expectedState: first.state,
      expectedNonce: first.nonce,
    });
    // A new Palisade session (a new provider session): the consent is remembered for the account.
    const jar = await signedIn(w, 'dave', PASSWORD);
    const again = await walk(jar, (await authorizeUrl(cfg, conf, 'openid email')).url.href, conf.redirectUri);
    assert.ok(again.arrived, JSON.stringify(again.last));
    assert.equal(again.consentShown, false, 'remembered across sign-ins');
    const as = async (username: string) => bearer((await login(w.t, username, PASSWORD)).token);
    const dave = await as('dave');
    const listed = await w.t.app.inject({ method: 'GET', url: '/api/auth/oidc-consents', headers: dave });
    assert.equal(listed.statusCode, 200, listed.body);
    const [consent] = listed.json().consents;
    assert.equal(listed.json().consents.length, 1);
    assert.deepEqual([consent.clientId, consent.clientName, consent.scopes.slice().sort()], [conf.clientId, 'Wiki', ['email', 'openid']]);
    assert.ok(Date.parse(consent.expiresAt) > Date.parse(consent.grantedAt));
    // Another person cannot see or revoke it.
    const erin = await as('erin');
    assert.deepEqual((await w.t.app.inject({ method: 'GET', url: '/api/auth/oidc-consents', headers: erin })).json().consents, []);
    assert.equal((await w.t.app.inject({ method: 'DELETE', url: `/api/auth/oidc-consents/${conf.clientId}`, headers: erin })).statusCode, 404);
    assert.equal((await oc.fetchUserInfo(cfg, tokens.access_token, daveId)).sub, daveId, 'still in force');
    // Revoked by its owner: the access token it gave ends, the list is empty, the next sign-in asks again.
    assert.equal((await w.t.app.inject({ method: 'DELETE', url: `/api/auth/oidc-consents/${conf.clientId}`, headers: dave })).statusCode, 204);
    await assert.rejects(oc.fetchUserInfo(cfg, tokens.access_token, daveId));
    assert.deepEqual((await w.t.app.inject({ method: 'GET', url: '/api/auth/oidc-consents', headers: dave })).json().consents, []);
    assert.equal((await w.t.app.inject({ method: 'DELETE', url: `/api/auth/oidc-consents/${conf.clientId}`, headers: dave })).statusCode, 404);
    const asked = await walk(jar, (await authorizeUrl(cfg, conf, 'openid email')).url.href, conf.redirectUri);
    assert.equal(asked.consentShown, true, 'asked again after the revocation');
    const revoked = (await eventsOf(w, 'oidc_provider.consent_revoked')).filter((e) => e.subjectId === daveId);
    assert.equal(revoked.length, 1);
    assert.equal(revoked[0].details.clientId, conf.clientId);
  });

  it('the consent page names the client, the account, each thing asked for and how long it lasts (D413) [ASVS V10.7.2]', async () => {
    const carl = await createUser(w.t, w.admin, 'carl', PASSWORD);
    assert.ok(carl);
    const jar = await signedIn(w, 'carl', PASSWORD);
    const pageOf = async (c: Registered, scope: string) => {
      let next = (await authorizeUrl(await rp(w, c), c, scope)).url.href;
      for (let i = 0; i < 6; i++) {
        const res = await go(jar, next);
        if (res.status === 200) return res.text();
        next = new URL(res.headers.get('location')!, next).href;
      }
      throw new Error('no consent page');
    };
    const page = await pageOf(conf, 'openid profile email roles');
    assert.match(page, /<h1>Allow Wiki to sign you in\?<\/h1>/);
    assert.match(page, /Signed in to Palisade as <strong>carl<\/strong>/);
    for (const item of ['your Palisade user id', 'your username', 'your email address', 'the names of your roles'])
      assert.ok(page.includes(`<li>${item}</li>`), item);
    assert.match(
      page,
      /valid for 10 minutes, with no refresh token\. Palisade remembers your answer until you revoke it under My account, Connected applications \(at most 180 days\)\./,
    );
    // Only what this request asks for is listed.
    const narrow = await pageOf(pub, 'openid');
    assert.match(narrow, /<h1>Allow CLI tool to sign you in\?<\/h1>/);
    assert.ok(!narrow.includes('your email address') && !narrow.includes('the names of your roles'));
    assert.match(narrow, /Palisade asks you again each time\./);
  });

  it('the published signing keys are RSA of 3072 bits or more and EC on P-256, public parts only (D419) [ASVS V11.2.3, V11.6.1]', async () => {
    const res = await fetch(`${w.base}/oidc/jwks`);
    assert.equal(res.status, 200);
    const { keys } = (await res.json()) as { keys: Array<Record<string, string>> };
    assert.deepEqual(keys.map((k) => k.alg).sort(), ['ES256', 'RS256']);
    for (const k of keys) {
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(k[secret], undefined, `${k.alg} publishes ${secret}`);
      if (k.kty === 'RSA') assert.ok(Buffer.from(k.n!, 'base64url').length * 8 >= 3072, `RSA modulus of ${Buffer.from(k.n!, 'base64url').length * 8} bits`);
      else assert.deepEqual([k.kty, k.crv], ['EC', 'P-256']);
    }
  });

  it('a public client: PKCE only, consent asked every time (registered without it, D412), scopes limited to what it was allowed [ASVS V10.3.2, V10.4.11, V10.7.1]', async () => {
    const cfg = await rp(w, pub);
    const jar = await signedIn(w, 'alice', PASSWORD);
    const start = await authorizeUrl(cfg, pub, 'openid profile email');
    const r = await walk(jar, start.url.href, pub.redirectUri);
    assert.ok(r.arrived, JSON.stringify(r.last));
    assert.equal(r.consentShown, true, 'a public client cannot prove who it is: the person is asked');
    // Denied, it gets no code, even though the person allowed it a moment ago.
    const denied = await walk(jar, (await authorizeUrl(cfg, pub, 'openid')).url.href, pub.redirectUri, 'deny');
    assert.equal(denied.consentShown, true, 'asked again, not remembered');
    assert.equal(new URL(denied.arrived!).searchParams.get('error'), 'access_denied');
    assert.equal(new URL(denied.arrived!).searchParams.get('code'), null);
    const tokens = await oc.authorizationCodeGrant(cfg, new URL(r.arrived), {
      pkceCodeVerifier: start.verifier,
      expectedState: start.state,
      expectedNonce: start.nonce,
    });
    const info = await oc.fetchUserInfo(cfg, tokens.access_token, aliceId);
    assert.equal(info.preferred_username, 'alice');
    assert.equal(info.roles, undefined, 'no roles scope, no roles claim');
    // Asking for a scope the client was not allowed: refused or dropped, never granted.
    const wide = await authorizeUrl(cfg, pub, 'openid roles');
    const rw = await walk(jar, wide.url.href, pub.redirectUri);
    if (rw.arrived && new URL(rw.arrived).searchParams.has('code')) {
      const t = await oc.authorizationCodeGrant(cfg, new URL(rw.arrived), {
        pkceCodeVerifier: wide.verifier,
        expectedState: wide.state,
        expectedNonce: wide.nonce,
      });
      assert.equal((await oc.fetchUserInfo(cfg, t.access_token, aliceId)).roles, undefined);
    }
  });

  it('without a Palisade session the browser goes to the sign-in page, and comes back to finish', async () => {
    const cfg = await rp(w, pub);
    const start = await authorizeUrl(cfg, pub, 'openid');
    const jar = new Jar();
    const r = await walk(jar, start.url.href, pub.redirectUri);
    assert.equal(r.arrived, null);
    const signIn = new URL(r.last.location!);
    assert.equal(signIn.pathname, '/sign-in');
    const back = signIn.searchParams.get('next')!;
    assert.match(back, /^\/oidc\/interaction\/[A-Za-z0-9_-]+$/);
    // The sign-in page signs in (the JSON sign-in), then sends the browser back.
    const login = await go(jar, `${w.base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: PASSWORD, mode: 'cookie' }),
    });
    assert.equal(login.status, 200);
    const done = await walk(jar, `${w.base}${back}`, pub.redirectUri);
    assert.ok(done.arrived, JSON.stringify(done.last));
    assert.ok(new URL(done.arrived).searchParams.get('code'));
  });

  it('a denied consent tells the client access_denied', async () => {
    const bob = await createUser(w.t, w.admin, 'bob', PASSWORD);
    assert.ok(bob);
    const cfg = await rp(w, conf);
    const jar = await signedIn(w, 'bob', PASSWORD);
    const start = await authorizeUrl(cfg, conf, 'openid');
    const r = await walk(jar, start.url.href, conf.redirectUri, 'deny');
    assert.ok(r.arrived);
    assert.equal(new URL(r.arrived).searchParams.get('error'), 'access_denied');
    assert.equal(new URL(r.arrived).searchParams.get('code'), null);
    assert.ok((await eventsOf(w, 'oidc_provider.refused')).some((e) => e.subjectId === bob));
  });

  it('the consent form needs its token, bound to the session that was shown it [ASVS V7.6.2]', async () => {
    const cfg = await rp(w, conf);
    const jar = await signedIn(w, 'bob', PASSWORD);
    const start = await authorizeUrl(cfg, conf, 'openid email');
    let next = start.url.href;
    let page = '';
    for (let i = 0; i < 6; i++) {
      const res = await go(jar, next);
      if (res.status === 200) {
        page = await res.text();
        assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
        break;
      }
      next = new URL(res.headers.get('location')!, next).href;
    }
    const action = /action="([^"]+)"/.exec(page)![1]!;
    const forged = await go(jar, new URL(action, w.base).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'x'.repeat(43), decision: 'allow' }).toString(),
    });
    assert.equal(forged.status, 400);
    assert.equal(((await forged.json()) as any).error.code, 'OIDC_INTERACTION_INVALID');
  });

  it('a second instance on the same storage redeems a code the first issued; expired rows are swept', async () => {
    const peer = await makeApp({ peerOf: w.t, env: { PUBLIC_URL: w.base } });
    try {
      await peer.app.listen({ port: 0, host: '127.0.0.1' });
      const peerBase = `http://127.0.0.1:${(peer.app.server.address() as { port: number }).port}`;
      const cfg = await rp(w, conf);
      const jar = await signedIn(w, 'alice', PASSWORD);
      const start = await authorizeUrl(cfg, conf, 'openid profile email roles');
      const r = await walk(jar, start.url.href, conf.redirectUri);
      const code = new URL(r.arrived!).searchParams.get('code')!;
      const res = await fetch(`${peerBase}/oidc/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${conf.clientId}:${conf.clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: start.verifier, redirect_uri: conf.redirectUri }).toString(),
      });
      assert.equal(res.status, 200, await res.clone().text());
      // The same code at the first instance: already used.
      const again = await tokenRequest(
        w,
        { grant_type: 'authorization_code', code, code_verifier: start.verifier, redirect_uri: conf.redirectUri },
        { id: conf.clientId, secret: conf.clientSecret! },
      );
      assert.equal(again.body.error, 'invalid_grant');
    } finally {
      await peer.close();
    }
    // Past every lifetime but the grant's, the next write sweeps what expired.
    w.t.clock.advance(9 * 3600);
    const start = await authorizeUrl(await rp(w, pub), pub, 'openid');
    await go(new Jar(), start.url.href);
    const stale = await w.t.s.db.selectFrom('oidc_provider_models').select('model').where('expires_at', '<', w.t.clock.now()).execute();
    assert.deepEqual(stale, []);
  });
});
