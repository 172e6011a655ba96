import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { bearer, createUser, login } from '../../helpers/app.js';
import { PW, totp, userWithTotp } from '../mfa/world.js';
import { go, Jar } from './browser.js';
import { startCraftedPeer, type CraftedPeer, type CraftMode } from './peers.js';
import { addProvider, api, callbackOf, eventsOf, finish, me, SESSION_COOKIE, startPalisade, type SsoWorld } from './world.js';

// Security regressions of the OIDC relying party (AUTH-13), each naming the attack it guards against,
// against a small real OpenID Provider over HTTP that crafts its ID tokens (test/auth/sso/peers.ts).

const CLIENT_SECRET = 'crafted-client-secret-0123456789abcdef';

describe('OIDC relying party: crafted tokens, account takeover, second factors, links', () => {
  let w: SsoWorld;
  let peer: CraftedPeer;

  before(async () => {
    w = await startPalisade();
    peer = await startCraftedPeer('palisade');
    await addProvider(w, 'crafted', peer.issuer, CLIENT_SECRET, { emailDomains: ['corp.test'], oidc: { userinfo: false } });
  });
  after(async () => {
    await w?.close();
    await peer?.close();
  });

  /** One sign-in at the crafted provider: where Palisade sends the browser at the end. */
  async function signIn(mode: CraftMode, sub: string, claims: Record<string, unknown> = {}, jar = new Jar()): Promise<{ to: string; jar: Jar }> {
    peer.next = { mode, sub, claims };
    const start = await go(jar, `${w.base}/api/auth/sso/crafted/start`);
    assert.equal(start.status, 302);
    const atIdp = await go(jar, start.headers.get('location')!);
    const callback = atIdp.headers.get('location')!;
    assert.ok(callback.startsWith(callbackOf(w, 'crafted')), callback);
    return { to: await finish(w, jar, callback), jar };
  }

  it('positive control: a well-formed RS256 ID token signs in; PKCE is S256 and its verifier matched [ASVS V10.1.2, V10.2.1, V10.5.1, V10.5.4]', async () => {
    const { to, jar } = await signIn('good', 'good-1', { email: 'good@corp.test', email_verified: true });
    assert.equal(to, '/');
    assert.equal((await me(w, jar)).status, 200);
    assert.equal(peer.lastAuthorize?.get('code_challenge_method'), 'S256');
    assert.ok(peer.lastAuthorize?.get('nonce'));
    assert.ok(peer.lastAuthorize?.get('state'));
    assert.equal(peer.lastPkceOk, true);
  });

  for (const [mode, attack] of [
    ['alg-none', 'an unsigned ID token (alg: none)'],
    ['hs256', 'an ID token MACed with HS256 (algorithm confusion)'],
    ['other-issuer', 'an ID token from another issuer'],
    ['other-audience', 'an ID token for another client [ASVS V10.5.4]'],
    ['expired', 'an expired ID token'],
    ['bad-nonce', 'an ID token with another nonce (replayed from another flow) [ASVS V10.1.2, V10.5.1]'],
  ] as const) {
    it(`refuses ${attack}: no account, no session, a failed sso.login`, async () => {
      const sub = `attack-${mode}`;
      const { to, jar } = await signIn(mode, sub, { email: `${mode}@corp.test`, email_verified: true });
      assert.equal(to, '/sign-in#error=SSO_FAILED');
      assert.equal(jar.get(w.base, SESSION_COOKIE), undefined);
      assert.equal((await me(w, jar)).status, 401);
      const users = await api(w, 'GET', '/api/admin/users?limit=100');
      assert.ok(!JSON.stringify(users.body).includes(`${mode}@corp.test`));
      const failed = (await eventsOf(w, 'sso.login')).filter((e) => e.outcome === 'failure');
      assert.match(failed[0].details.reason, /SSO_FAILED: code grant/);
    });
  }

  describe('account takeover by email', () => {
    let victim: string;
    before(async () => {
      victim = await createUser(w.t, w.admin, 'vic', PW, { email: 'vic@corp.test' });
    });
    const linksOfVictim = async () => (await api(w, 'GET', `/api/admin/users/${victim}/sso-links`)).body.links;

    it('email_verified=false does not link to the existing account', async () => {
      const { to, jar } = await signIn('good', 'mallory-1', { email: 'vic@corp.test', email_verified: false });
      assert.equal(to, '/sign-in#error=SSO_ACCOUNT_NOT_LINKED');
      assert.equal(jar.get(w.base, SESSION_COOKIE), undefined);
      assert.deepEqual(await linksOfVictim(), []);
    });

    it('email_verified as the string "true" counts as unverified', async () => {
      const { to } = await signIn('good', 'mallory-2', { email: 'vic@corp.test', email_verified: 'true' });
      assert.equal(to, '/sign-in#error=SSO_ACCOUNT_NOT_LINKED');
      assert.deepEqual(await linksOfVictim(), []);
    });

    it('a verified email from a provider not trusted for email does not link [ASVS V6.8.1]', async () => {
      const { to } = await signIn('good', 'mallory-3', { email: 'vic@corp.test', email_verified: true });
      assert.equal(to, '/sign-in#error=SSO_ACCOUNT_NOT_LINKED');
      assert.deepEqual(await linksOfVictim(), []);
    });

    it('a trusted provider does not link an email outside its domains', async () => {
      assert.equal((await api(w, 'PATCH', '/api/admin/sso/providers/crafted', { trustEmail: true, emailDomains: ['other.test'] })).status, 200);
      const { to } = await signIn('good', 'mallory-4', { email: 'vic@corp.test', email_verified: true });
      assert.equal(to, '/sign-in#error=SSO_ACCOUNT_NOT_LINKED');
      assert.deepEqual(await linksOfVictim(), []);
      const reasons = (await eventsOf(w, 'sso.login')).filter((e) => e.subjectId === victim).map((e) => e.details.reason);
      assert.ok(reasons.includes('email_not_verified') && reasons.includes('email_domain_not_trusted'), reasons.join(', '));
    });

    it('positive control: trusted for the domain and verified, it links (linked_by verified_email) [ASVS V6.8.1]', async () => {
      assert.equal((await api(w, 'PATCH', '/api/admin/sso/providers/crafted', { trustEmail: true, emailDomains: ['corp.test'] })).status, 200);
      // An address that only becomes hers once normalised (fullwidth letters) is not verified as hers.
      for (const [sub, email] of [
        ['mallory-5', 'ｖｉｃ@corp.test'],
        ['mallory-6', 'VIC@corp.test@corp.test'],
      ] as const) {
        const r = await signIn('good', sub, { email, email_verified: true });
        if (r.to === '/') {
          // Made its own account (just in time), without the address: never hers.
          const who = (await me(w, r.jar)).user;
          assert.notEqual(who.id, victim, email);
          assert.equal(who.email, null, email);
        } else assert.equal(r.to, '/sign-in#error=SSO_ACCOUNT_NOT_LINKED', email);
        assert.deepEqual(await linksOfVictim(), [], email);
      }
      const { to, jar } = await signIn('good', 'vic-at-idp', { email: 'vic@corp.test', email_verified: true });
      assert.equal(to, '/');
      assert.equal((await me(w, jar)).user.id, victim);
      assert.deepEqual(
        (await linksOfVictim()).map((l: { subject: string; linkedBy: string }) => [l.subject, l.linkedBy]),
        [['vic-at-idp', 'verified_email']],
      );
      assert.equal((await api(w, 'PATCH', '/api/admin/sso/providers/crafted', { trustEmail: false })).status, 200);
    });
  });

  describe('the second factor still applies', () => {
    let mia: { id: string; secret: string };
    before(async () => {
      mia = await userWithTotp(w.t, w.admin, 'mia');
      assert.equal((await api(w, 'POST', `/api/admin/users/${mia.id}/sso-links`, { provider: 'crafted', subject: 'mia-sub' })).status, 204);
    });

    it('a user with TOTP gets the second step, not a session; the step then opens one [ASVS V6.8.4]', async () => {
      const { to, jar } = await signIn('good', 'mia-sub', { amr: ['pwd'] });
      const m = /^\/sign-in#mfa=([^&]+)&methods=([^&]*)/.exec(to);
      assert.ok(m, to);
      assert.equal(jar.get(w.base, SESSION_COOKIE), undefined);
      const r = await w.t.app.inject({
        method: 'POST',
        url: '/api/auth/mfa/verify',
        payload: { challengeToken: decodeURIComponent(m[1]!), method: 'totp', code: totp(w.t, mia.secret) },
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().user.id, mia.id);
    });

    it("the provider's MFA assertion is ignored unless the provider is set to trust it [ASVS V6.8.4, V6.5.7]", async () => {
      w.t.clock.advance(30);
      let { to } = await signIn('good', 'mia-sub', { amr: ['pwd', 'otp'] });
      assert.match(to, /^\/sign-in#mfa=/);
      assert.equal((await api(w, 'PATCH', '/api/admin/sso/providers/crafted', { trustMfa: true })).status, 200);
      ({ to } = await signIn('good', 'mia-sub', { amr: ['pwd'] }));
      assert.match(to, /^\/sign-in#mfa=/, 'trusted, but no MFA asserted');
      // One method alone is one factor, however strong: a passwordless code, a bare key, a face (D293).
      for (const amr of [['sms'], ['otp'], ['hwk'], ['pop'], ['face'], ['pwd', 'pin'], ['mca']]) {
        ({ to } = await signIn('good', 'mia-sub', { amr }));
        assert.match(to, /^\/sign-in#mfa=/, `amr ${amr.join(',')} is not multi-factor`);
      }
      ({ to } = await signIn('good', 'mia-sub', { amr: ['mfa'] }));
      assert.equal(to, '/');
      const done = await signIn('good', 'mia-sub', { amr: ['pwd', 'otp'] });
      assert.equal(done.to, '/');
      assert.equal((await me(w, done.jar)).user.id, mia.id);
      const ev = (await eventsOf(w, 'auth.login')).find((e) => e.subjectId === mia.id && e.outcome === 'success');
      assert.equal(ev.details.providerMfa, true);
      assert.equal((await api(w, 'PATCH', '/api/admin/sso/providers/crafted', { trustMfa: false })).status, 200);
    });
  });

  it('a provider that stops answering mid-flow is SSO_PROVIDER_UNAVAILABLE, not a failed proof', async () => {
    const flaky = await startCraftedPeer('palisade');
    let closed = false;
    try {
      await addProvider(w, 'flaky', flaky.issuer, CLIENT_SECRET, { oidc: { userinfo: false } });
      const jar = new Jar();
      flaky.next = { mode: 'good', sub: 'flaky-1', claims: {} };
      const start = await go(jar, `${w.base}/api/auth/sso/flaky/start`);
      const callback = (await go(jar, start.headers.get('location')!)).headers.get('location')!;
      await flaky.close();
      closed = true;
      assert.equal(await finish(w, jar, callback), '/sign-in#error=SSO_PROVIDER_UNAVAILABLE');
    } finally {
      if (!closed) await flaky.close();
    }
  });

  it('first sign-ins of one new identity at the same moment all land in the one account made for it', async () => {
    const callbacks: { jar: Jar; callback: string }[] = [];
    for (let i = 0; i < 4; i++) {
      const jar = new Jar();
      peer.next = { mode: 'good', sub: 'twin-sub', claims: { preferred_username: 'twin' } };
      const start = await go(jar, `${w.base}/api/auth/sso/crafted/start`);
      callbacks.push({ jar, callback: (await go(jar, start.headers.get('location')!)).headers.get('location')! });
    }
    const ends = await Promise.all(callbacks.map(({ jar, callback }) => finish(w, jar, callback)));
    assert.deepEqual(ends, ['/', '/', '/', '/']);
    const ids = new Set(await Promise.all(callbacks.map(async ({ jar }) => (await me(w, jar)).user.id as string)));
    assert.equal(ids.size, 1);
  });

  it("a disabled or locked account is refused through SSO as through any method (the funnel's account check) [ASVS V6.3.4]", async () => {
    const id = await createUser(w.t, w.admin, 'dora', PW);
    assert.equal((await api(w, 'POST', `/api/admin/users/${id}/sso-links`, { provider: 'crafted', subject: 'dora-sub' })).status, 204);
    assert.equal((await api(w, 'PATCH', `/api/admin/users/${id}`, { status: 'disabled' })).status, 200);
    let r = await signIn('good', 'dora-sub');
    assert.equal(r.to, '/sign-in#error=INVALID_CREDENTIALS');
    assert.equal(r.jar.get(w.base, SESSION_COOKIE), undefined);
    assert.equal((await api(w, 'PATCH', `/api/admin/users/${id}`, { status: 'active' })).status, 200);
    assert.equal((await api(w, 'POST', `/api/admin/users/${id}/lock`, { reason: 'test' })).status, 204);
    r = await signIn('good', 'dora-sub');
    assert.equal(r.to, '/sign-in#error=INVALID_CREDENTIALS');
    const reasons = (await eventsOf(w, 'auth.login')).filter((e) => e.subjectId === id && e.outcome === 'failure').map((e) => e.details.reason);
    assert.ok(reasons.includes('disabled') && reasons.includes('locked'), reasons.join(', '));
  });

  describe('links by the signed-in user and by administrators', () => {
    it('a signed-in user links a provider identity, lists it and unlinks it', async () => {
      await createUser(w.t, w.admin, 'lee', PW);
      const token = (await login(w.t, 'lee', PW)).token;
      const jar = new Jar();
      peer.next = { mode: 'good', sub: 'lee-at-idp', claims: {} };
      const started = await go(jar, `${w.base}/api/auth/sso/crafted/link`, {
        method: 'POST',
        headers: { ...bearer(token), 'content-type': 'application/json' },
        body: JSON.stringify({ return: '/account/security?tab=sso', password: PW }),
      });
      assert.equal(started.status, 200);
      const { url } = (await started.json()) as { url: string };
      const callback = (await go(jar, url)).headers.get('location')!;
      assert.equal(await finish(w, jar, callback), '/account/security?tab=sso');
      assert.equal(jar.get(w.base, SESSION_COOKIE), undefined, 'a link opens no session');
      const links = await w.t.app.inject({ method: 'GET', url: '/api/auth/sso/links', headers: bearer(token) });
      assert.deepEqual(
        links.json().links.map((l: { subject: string; linkedBy: string }) => [l.subject, l.linkedBy]),
        [['lee-at-idp', 'user']],
      );
      // The identity now signs in to lee.
      const { jar: j2 } = await signIn('good', 'lee-at-idp');
      assert.equal((await me(w, j2)).user.username, 'lee');
      // Linking the same identity to someone else is refused.
      assert.equal(
        (await api(w, 'POST', `/api/admin/users/${(await me(w, j2)).user.id}/sso-links`, { provider: 'crafted', subject: 'lee-at-idp' })).status,
        204,
      );
      const other = await createUser(w.t, w.admin, 'lou', PW);
      const clash = await api(w, 'POST', `/api/admin/users/${other}/sso-links`, { provider: 'crafted', subject: 'lee-at-idp' });
      assert.equal(clash.status, 409);
      assert.equal(clash.body.error.code, 'SSO_ALREADY_LINKED');
      // The refusal is recorded (not rolled back with the refused link).
      assert.ok(
        (await eventsOf(w, 'sso.linked')).some((e) => e.outcome === 'failure' && e.subjectId === other && e.details.reason === 'linked_to_another_account'),
      );
      const del = await w.t.app.inject({ method: 'DELETE', url: '/api/auth/sso/links/crafted/lee-at-idp', headers: bearer(token) });
      assert.equal(del.statusCode, 204);
      assert.ok((await eventsOf(w, 'sso.unlinked')).some((e) => e.details.provider === 'crafted' && e.details.by === 'user'));
    });

    it('linking needs the current password, and the session that asked must still be live at the callback', async () => {
      await createUser(w.t, w.admin, 'lena', PW);
      const token = (await login(w.t, 'lena', PW)).token;
      const startLink = (jar: Jar, body: Record<string, unknown>) =>
        go(jar, `${w.base}/api/auth/sso/crafted/link`, {
          method: 'POST',
          headers: { ...bearer(token), 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      let r = await startLink(new Jar(), {});
      assert.equal(r.status, 403);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'SSO_REAUTH_REQUIRED');
      r = await startLink(new Jar(), { password: 'Not-her-password-1' });
      assert.equal(r.status, 401);
      // Started with the password, then the session ends before the provider answers: nothing is linked.
      const jar = new Jar();
      peer.next = { mode: 'good', sub: 'planted-sub', claims: {} };
      r = await startLink(jar, { password: PW });
      assert.equal(r.status, 200);
      const callback = (await go(jar, ((await r.json()) as { url: string }).url)).headers.get('location')!;
      assert.equal((await w.t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(token) })).statusCode, 204);
      assert.equal(await finish(w, jar, callback), '/sign-in#error=SSO_FAILED');
      const planted = await signIn('good', 'planted-sub', { preferred_username: 'planted' });
      assert.notEqual((await me(w, planted.jar)).user.username, 'lena', 'the identity did not reach lena');
      assert.ok((await eventsOf(w, 'sso.linked')).some((e) => e.outcome === 'failure' && e.details.reason === 'link_session_ended'));
    });

    it("a link is to one issuer: the provider pointed at another server does not hand that subject's account over [ASVS V10.5.2, V6.8.1]", async () => {
      const other = await startCraftedPeer('palisade');
      try {
        await addProvider(w, 'moving', peer.issuer, CLIENT_SECRET, { emailDomains: ['corp.test'], oidc: { userinfo: false } });
        const boss = await createUser(w.t, w.admin, 'boss', PW);
        assert.equal((await api(w, 'POST', `/api/admin/users/${boss}/sso-links`, { provider: 'moving', subject: '1001' })).status, 204);
        const set = await api(w, 'PATCH', '/api/admin/sso/providers/moving', { oidc: { issuer: other.issuer } });
        assert.equal(set.status, 200, JSON.stringify(set.body));
        other.next = { mode: 'good', sub: '1001', claims: {} };
        const jar = new Jar();
        const start = await go(jar, `${w.base}/api/auth/sso/moving/start`);
        const callback = (await go(jar, start.headers.get('location')!)).headers.get('location')!;
        assert.equal(await finish(w, jar, callback), '/sign-in#error=SSO_ACCOUNT_UNKNOWN');
        assert.equal(jar.get(w.base, SESSION_COOKIE), undefined);
        assert.ok((await eventsOf(w, 'sso.login')).some((e) => e.outcome === 'failure' && e.details.reason === 'issuer_changed'));
      } finally {
        await other.close();
      }
    });

    it('an SSO-only user cannot unlink their last sign-in; an administrator can', async () => {
      const { jar } = await signIn('good', 'solo-sub', { preferred_username: 'solo' });
      const solo = (await me(w, jar)).user;
      assert.equal(solo.ssoOnly, true);
      const own = await go(jar, `${w.base}/api/auth/sso/links/crafted/solo-sub`, {
        method: 'DELETE',
        headers: { 'x-xsrf-token': decodeURIComponent(jar.get(w.base, '__Host-palisade_xsrf') ?? '') },
      });
      assert.equal(own.status, 409, await own.text());
      const r = await api(w, 'DELETE', `/api/admin/users/${solo.id}/sso-links/crafted/solo-sub`);
      assert.equal(r.status, 204);
    });
  });

  describe('administration', () => {
    it('the client secret is write-only: in the secret store, never in an answer or an event', async () => {
      const list = await w.t.app.inject({ method: 'GET', url: '/api/admin/sso/providers', headers: bearer(w.admin) });
      assert.equal(list.statusCode, 200);
      assert.ok(!list.body.includes(CLIENT_SECRET));
      const p = list.json().providers.find((x: { slug: string }) => x.slug === 'crafted');
      assert.equal(p.oidc.clientSecretName, 'sso.crafted.clientSecret');
      assert.equal(p.oidc.clientSecretSet, true);
      assert.equal(p.callbackUrl, callbackOf(w, 'crafted'));
      assert.equal(p.backchannelLogoutUrl, `${w.base}/api/auth/sso/crafted/backchannel-logout`);
      const secrets = await w.t.app.inject({ method: 'GET', url: '/api/admin/secrets', headers: bearer(w.admin) });
      assert.ok(secrets.json().secrets.some((x: { name: string; set: boolean }) => x.name === 'sso.crafted.clientSecret' && x.set));
      const all = await w.t.app.inject({ method: 'GET', url: '/api/admin/security-events?limit=500', headers: bearer(w.admin) });
      assert.ok(!all.body.includes(CLIENT_SECRET));
    });

    it('refuses bad provider settings with 4xx: plain-http issuers off loopback, symmetric algorithms, unknown roles [ASVS V12.3.1, V12.3.3]', async () => {
      const bad = [
        { slug: 'x1', type: 'oidc', displayName: 'X', oidc: { issuer: 'http://idp.example.org', clientId: 'c' } },
        { slug: 'x2', type: 'oidc', displayName: 'X', oidc: { issuer: 'https://idp.example.org', clientId: 'c', idTokenAlg: 'HS256' } },
        { slug: 'x3', type: 'oidc', displayName: 'X', oidc: { issuer: 'https://idp.example.org', clientId: 'c', idTokenAlg: 'none' } },
        { slug: 'x4', type: 'oidc', displayName: 'X', defaultRoles: ['nope'], oidc: { issuer: 'https://idp.example.org', clientId: 'c' } },
        { slug: 'X5', type: 'oidc', displayName: 'X', oidc: { issuer: 'https://idp.example.org', clientId: 'c' } },
        { slug: 'x6', type: 'saml', displayName: 'X' },
        { slug: 'x7', type: 'oidc', displayName: 'X', emailDomains: ['not a domain'], oidc: { issuer: 'https://idp.example.org', clientId: 'c' } },
        // Another feature's secret would be sent to this provider's server (D292).
        { slug: 'x8', type: 'oidc', displayName: 'X', oidc: { issuer: 'https://idp.example.org', clientId: 'c', clientSecretName: 'smtp.password' } },
        {
          slug: 'x9',
          type: 'oidc',
          displayName: 'X',
          oidc: { issuer: 'https://idp.example.org', clientId: 'c', clientSecretName: 'sso.crafted.clientSecret' },
        },
      ];
      for (const body of bad) {
        const r = await api(w, 'POST', '/api/admin/sso/providers', body);
        assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      }
      assert.equal((await api(w, 'POST', '/api/admin/sso/providers', bad[0]!, (await login(w.t, 'lee', PW)).token)).status, 403);
    });

    it('the start never redirects back off-site: only a same-origin path is kept [ASVS V3.7.2]', async () => {
      for (const ret of [
        '//evil.example/x',
        'https://evil.example/',
        '/\\evil.example',
        'javascript:alert(1)',
        '/.//evil.example/x',
        '/%2e//evil.example',
        '/a/..//evil.example',
      ]) {
        const jar = new Jar();
        peer.next = { mode: 'good', sub: 'good-1', claims: {} };
        const start = await go(jar, `${w.base}/api/auth/sso/crafted/start?return=${encodeURIComponent(ret)}`);
        const callback = (await go(jar, start.headers.get('location')!)).headers.get('location')!;
        assert.equal(await finish(w, jar, callback), '/', ret);
      }
    });
  });

  describe('tokens, issuers, subjects and scopes', () => {
    /** Starts a sign-in at `slug` and answers the callback address the provider sent the browser to (not yet followed). */
    async function callbackFrom(slug: string, sub: string, jar: Jar): Promise<string> {
      peer.next = { mode: 'good', sub, claims: {} };
      const start = await go(jar, `${w.base}/api/auth/sso/${slug}/start`);
      assert.equal(start.status, 302);
      return (await go(jar, start.headers.get('location')!)).headers.get('location')!;
    }

    it("the provider's tokens stay on the server: the browser gets Palisade's own session, never the ID or access token [ASVS V10.1.1]", async () => {
      const jar = new Jar();
      const res = await go(jar, await callbackFrom('crafted', 'good-1', jar));
      assert.equal(res.status, 302);
      const issued = peer.lastTokens!;
      const seen = [`${[...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n')}`, await res.text()];
      const who = await go(jar, `${w.base}/api/auth/me`);
      assert.equal(who.status, 200);
      seen.push(await who.text());
      for (const secret of [issued.idToken, issued.idToken.split('.')[1]!, issued.accessToken]) {
        assert.ok(!seen.some((s) => s.includes(secret)), 'a provider token reached the browser');
      }
      assert.ok(jar.get(w.base, SESSION_COOKIE), "Palisade's session cookie");
    });

    it("mix-up: the answer to one provider's sign-in brought to another provider's callback is refused; at its own it passes [ASVS V10.2.2]", async () => {
      const second = await startCraftedPeer('palisade');
      try {
        await addProvider(w, 'second', second.issuer, CLIENT_SECRET, { oidc: { userinfo: false } });
        const jar = new Jar();
        const callback = await callbackFrom('crafted', 'good-1', jar);
        const elsewhere = callback.replace('/api/auth/sso/crafted/callback', '/api/auth/sso/second/callback');
        assert.notEqual(elsewhere, callback);
        assert.equal(await finish(w, jar, elsewhere), '/sign-in#error=SSO_FAILED');
        assert.equal(jar.get(w.base, SESSION_COOKIE), undefined);
        assert.ok((await eventsOf(w, 'sso.login')).some((e) => e.outcome === 'failure' && e.details.reason === 'provider_mismatch'));
        // The same kind of answer brought to the callback of the provider that was asked passes.
        const fresh = new Jar();
        assert.equal(await finish(w, fresh, await callbackFrom('crafted', 'good-1', fresh)), '/');
      } finally {
        await second.close();
        await api(w, 'DELETE', '/api/admin/sso/providers/second');
      }
    });

    it('a server whose metadata names another issuer than the one configured is refused before the browser is sent to it [ASVS V10.5.3]', async () => {
      // It answers discovery with the crafted provider's own metadata: it claims to be that issuer.
      const impostor = createServer((req, res) => {
        fetch(`${peer.issuer}${req.url}`)
          .then(async (r) => {
            res.writeHead(r.status, { 'content-type': 'application/json' });
            res.end(await r.text());
          })
          .catch(() => res.destroy());
      });
      await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
      try {
        const issuer = `http://127.0.0.1:${(impostor.address() as { port: number }).port}`;
        await addProvider(w, 'impostor', issuer, CLIENT_SECRET, { oidc: { userinfo: false } });
        const start = await go(new Jar(), `${w.base}/api/auth/sso/impostor/start`);
        assert.equal(start.status, 302);
        assert.equal(start.headers.get('location'), '/sign-in#error=SSO_PROVIDER_UNAVAILABLE');
        // The provider whose metadata names its own issuer: the browser goes to its authorization endpoint.
        const genuine = await go(new Jar(), `${w.base}/api/auth/sso/crafted/start`);
        assert.ok(genuine.headers.get('location')!.startsWith(`${peer.issuer}/authorize?`));
      } finally {
        impostor.closeAllConnections();
        await new Promise<void>((resolve) => impostor.close(() => resolve()));
        await api(w, 'DELETE', '/api/admin/sso/providers/impostor');
      }
    });

    it('the subject names the account: a new email and username at the provider reach the same account, another subject with the old ones does not [ASVS V10.5.2]', async () => {
      const first = await signIn('good', 'sub-stable', { email: 'stable@corp.test', email_verified: true, preferred_username: 'stable' });
      assert.equal(first.to, '/');
      const id = (await me(w, first.jar)).user.id;
      const renamed = await signIn('good', 'sub-stable', { email: 'renamed@corp.test', email_verified: true, preferred_username: 'renamed' });
      assert.equal(renamed.to, '/');
      assert.equal((await me(w, renamed.jar)).user.id, id);
      const other = await signIn('good', 'sub-other', { email: 'stable@corp.test', email_verified: true, preferred_username: 'stable' });
      if (other.to === '/') assert.notEqual((await me(w, other.jar)).user.id, id);
      else assert.equal(other.to, '/sign-in#error=SSO_ACCOUNT_NOT_LINKED');
    });

    it('the authorisation request asks for openid and the configured scopes, nothing more [ASVS V10.2.3]', async () => {
      assert.equal((await api(w, 'PATCH', '/api/admin/sso/providers/crafted', { oidc: { scopes: ['email'] } })).status, 200);
      try {
        await signIn('good', 'good-1');
        assert.equal(peer.lastAuthorize?.get('scope'), 'openid email');
      } finally {
        assert.equal((await api(w, 'PATCH', '/api/admin/sso/providers/crafted', { oidc: { scopes: ['email', 'profile'] } })).status, 200);
      }
      await signIn('good', 'good-1');
      assert.equal(peer.lastAuthorize?.get('scope'), 'openid email profile');
    });
  });
});
