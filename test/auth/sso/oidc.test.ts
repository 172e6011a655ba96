import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Jar } from './browser.js';
import { startOidcPeer, type OidcPeer } from './peers.js';
import { addProvider, api, eventsOf, finish, me, SESSION_COOKIE, startPalisade, toCallback, type SsoWorld } from './world.js';

// AUTH-13 against a real OpenID Provider (oidc-provider in this process): the code flow with PKCE end to
// end, users created just in time, the group mapping synchronised at each sign-in, must-exist providers,
// and the flow's state refused when missing, replayed or from another browser.

describe('OIDC sign-in against oidc-provider', () => {
  let w: SsoWorld;
  let peer: OidcPeer;

  before(async () => {
    w = await startPalisade();
    peer = await startOidcPeer([`${w.base}/api/auth/sso/corp/callback`, `${w.base}/api/auth/sso/strict/callback`]);
    assert.equal((await api(w, 'POST', '/api/admin/roles', { name: 'editors' })).status, 201);
    assert.equal((await api(w, 'POST', '/api/admin/roles', { name: 'viewers' })).status, 201);
    assert.equal((await api(w, 'PUT', '/api/admin/departments/sales', { roles: [] })).status, 200);
    await addProvider(w, 'corp', peer.issuer, peer.clientSecret, {
      defaultRoles: ['viewers'],
      mappings: [{ claim: 'groups', value: 'eds', roles: ['editors'], departments: ['sales'] }],
      emailDomains: ['corp.test'],
      oidc: { scopes: ['email', 'profile', 'groups'] },
    });
    await addProvider(w, 'strict', peer.issuer, peer.clientSecret, { provisioning: 'existing', oidc: { scopes: ['email', 'profile', 'groups'] } });
  });
  after(async () => {
    await w?.close();
    await peer?.close();
  });

  it('a full code flow creates an SSO-only user just in time and signs them in through the funnel [ASVS V10.1.2, V10.2.1]', async () => {
    peer.accounts.set('ada', { email: 'ada@corp.test', email_verified: true, preferred_username: 'ada', groups: ['eds'] });
    const jar = new Jar();
    const callback = await toCallback(w, jar, 'corp', 'ada', '/data?x=1');
    assert.match(callback, /[?&]code=/);
    assert.equal(await finish(w, jar, callback), '/data?x=1');
    assert.ok(jar.get(w.base, SESSION_COOKIE), 'a session cookie');
    const who = await me(w, jar);
    assert.equal(who.status, 200);
    assert.equal(who.user.username, 'ada');
    assert.equal(who.user.email, 'ada@corp.test');
    assert.equal(who.user.ssoOnly, true);
    assert.equal(who.user.hasPassword, false);
    const logins = (await eventsOf(w, 'auth.login')).filter((e) => e.subjectId === who.user.id && e.outcome === 'success');
    assert.equal(logins[0].details.method, 'sso');
    assert.equal(logins[0].details.provider, 'corp');
    const sso = (await eventsOf(w, 'sso.login')).filter((e) => e.subjectId === who.user.id);
    assert.equal(sso[0].details.created, true);
    const access = await api(w, 'GET', `/api/admin/users/${who.user.id}/access`);
    assert.deepEqual(access.body.roles, ['editors', 'viewers']);
    assert.deepEqual(access.body.departments, ['sales']);
    // Password sign-in and reset are refused for an SSO-only user.
    const pw = await w.t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'ada', password: 'anything-at-all-1' } });
    assert.equal(pw.statusCode, 401);
    assert.equal(pw.json().error.code, 'INVALID_CREDENTIALS');
  });

  it('the group mapping is synchronised at every sign-in: added, then removed, each change an event', async () => {
    peer.accounts.set('bob', { email: 'bob@corp.test', email_verified: true, preferred_username: 'bob', groups: ['other'] });
    let jar = new Jar();
    await finish(w, jar, await toCallback(w, jar, 'corp', 'bob'));
    const id = (await me(w, jar)).user.id;
    const rolesOf = async () => {
      const r = await api(w, 'GET', `/api/admin/users/${id}/access`);
      return r.body.roles;
    };
    assert.deepEqual(await rolesOf(), ['viewers']);
    peer.accounts.set('bob', { ...peer.accounts.get('bob'), groups: ['eds', 'other'] });
    jar = new Jar();
    await finish(w, jar, await toCallback(w, jar, 'corp', 'bob'));
    assert.deepEqual(await rolesOf(), ['editors', 'viewers']);
    peer.accounts.set('bob', { ...peer.accounts.get('bob'), groups: [] });
    jar = new Jar();
    await finish(w, jar, await toCallback(w, jar, 'corp', 'bob'));
    assert.deepEqual(await rolesOf(), ['viewers'], "the mapped role went; the default (not the mapping's) stayed");
    const changes = (await eventsOf(w, 'sso.access_synced')).filter((e) => e.subjectId === id).map((e) => `${e.details.change} ${e.details.name}`);
    for (const c of ['role.added editors', 'department.added sales', 'role.removed editors', 'department.removed sales', 'role.added viewers']) {
      assert.ok(changes.includes(c), `${c} in ${changes.join(', ')}`);
    }
  });

  it('a must-exist provider refuses an unknown user: no account, no session', async () => {
    peer.accounts.set('carol', { email: 'carol@corp.test', email_verified: true, preferred_username: 'carol' });
    const jar = new Jar();
    const to = await finish(w, jar, await toCallback(w, jar, 'strict', 'carol'));
    assert.equal(to, '/sign-in#error=SSO_ACCOUNT_UNKNOWN');
    assert.equal(jar.get(w.base, SESSION_COOKIE), undefined);
    const users = await api(w, 'GET', '/api/admin/users?limit=100');
    assert.ok(!JSON.stringify(users.body).includes('carol'));
    const refused = (await eventsOf(w, 'sso.login')).filter((e) => e.outcome === 'failure' && e.details.reason === 'unknown_account');
    assert.ok(refused.length >= 1);
  });

  it('state: missing, replayed, or from another browser is refused [ASVS V10.1.2, V10.2.1]', async () => {
    peer.accounts.set('dan', { email: 'dan@corp.test', email_verified: true, preferred_username: 'dan' });
    // Missing.
    let jar = new Jar();
    let cb = new URL(await toCallback(w, jar, 'corp', 'dan'));
    cb.searchParams.delete('state');
    assert.equal(await finish(w, jar, cb.href), '/sign-in#error=SSO_FAILED');
    // Replayed: the first use signs in, the second is refused.
    jar = new Jar();
    const once = await toCallback(w, jar, 'corp', 'dan');
    assert.equal(await finish(w, jar, once), '/');
    const replay = new Jar();
    assert.equal(await finish(w, jar, once), '/sign-in#error=SSO_FAILED');
    // Another browser: a victim handed the attacker's callback has no binding cookie for it.
    jar = new Jar();
    cb = new URL(await toCallback(w, jar, 'corp', 'dan'));
    assert.equal(await finish(w, replay, cb.href), '/sign-in#error=SSO_FAILED');
    assert.equal(replay.get(w.base, SESSION_COOKIE), undefined);
    // Mismatched: a state altered in transit is unknown.
    cb.searchParams.set('state', `${cb.searchParams.get('state')}x`);
    assert.equal(await finish(w, jar, cb.href), '/sign-in#error=SSO_FAILED');
    const reasons = (await eventsOf(w, 'sso.login')).filter((e) => e.outcome === 'failure').map((e) => e.details.reason);
    for (const r of ['state_missing', 'state_replayed', 'browser_mismatch', 'state_unknown']) assert.ok(reasons.includes(r), `${r} in ${reasons.join(', ')}`);
  });

  it("PKCE: a code issued to one flow cannot finish another (the other flow's verifier does not match) [ASVS V10.1.2, V10.2.1]", async () => {
    peer.accounts.set('erin', { email: 'erin@corp.test', email_verified: true, preferred_username: 'erin' });
    const jar = new Jar();
    const first = new URL(await toCallback(w, jar, 'corp', 'erin'));
    const second = new URL(await toCallback(w, jar, 'corp', 'erin'));
    // The code of the first flow with the state (and so the verifier) of the second.
    second.searchParams.set('code', first.searchParams.get('code')!);
    assert.equal(await finish(w, jar, second.href), '/sign-in#error=SSO_FAILED');
    const last = (await eventsOf(w, 'sso.login')).find((e) => e.outcome === 'failure');
    assert.match(last.details.reason, /SSO_FAILED: code grant/);
  });

  it('an unknown or disabled provider has no start', async () => {
    const r = await w.t.app.inject({ method: 'GET', url: '/api/auth/sso/nobody/start' });
    assert.equal(r.statusCode, 404);
    assert.equal((await api(w, 'PATCH', '/api/admin/sso/providers/strict', { enabled: false })).status, 200);
    assert.equal((await w.t.app.inject({ method: 'GET', url: '/api/auth/sso/strict/start' })).statusCode, 404);
    const list = await w.t.app.inject({ method: 'GET', url: '/api/auth/sso/providers' });
    assert.deepEqual(
      list.json().providers.map((p: { slug: string }) => p.slug),
      ['corp'],
    );
    assert.equal((await api(w, 'PATCH', '/api/admin/sso/providers/strict', { enabled: true })).status, 200);
  });

  it('a provider that cannot be reached is told on the sign-in page, not as a server error', async () => {
    await addProvider(w, 'gone', 'http://127.0.0.1:1', null);
    const r = await w.t.app.inject({ method: 'GET', url: '/api/auth/sso/gone/start' });
    assert.equal(r.statusCode, 302);
    assert.equal(r.headers.location, '/sign-in#error=SSO_PROVIDER_UNAVAILABLE');
    assert.equal((await api(w, 'DELETE', '/api/admin/sso/providers/gone')).status, 204);
  });
});
