import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Jar } from './browser.js';
import { startOidcPeer, type OidcPeer } from './peers.js';
import { addProvider, api, finish, me, startPalisade, toCallback, type SsoWorld } from './world.js';

// OUTBOUND_ALLOW (D435) with a real OpenID Provider: every request of the relying party (discovery, token, keys,
// userinfo) goes through the list's fetch, and a provider whose host is on it signs people in end to end; one off
// the list is refused when saved.

describe('OIDC sign-in under OUTBOUND_ALLOW', () => {
  let w: SsoWorld;
  let peer: OidcPeer;

  before(async () => {
    w = await startPalisade({ env: { OUTBOUND_ALLOW: '127.0.0.1' } });
    peer = await startOidcPeer([`${w.base}/api/auth/sso/listed/callback`]);
    await addProvider(w, 'listed', peer.issuer, peer.clientSecret, { oidc: { scopes: ['email', 'profile'] } });
  });
  after(async () => {
    await w?.close();
    await peer?.close();
  });

  it('a provider on the list: the full code flow signs in through the checked fetch [ASVS V13.2.4]', async () => {
    peer.accounts.set('lin', { email: 'lin@corp.test', email_verified: true, preferred_username: 'lin' });
    const jar = new Jar();
    const callback = await toCallback(w, jar, 'listed', 'lin');
    assert.match(callback, /[?&]code=/);
    assert.equal(await finish(w, jar, callback), '/');
    assert.equal((await me(w, jar)).user.username, 'lin');
  });

  it('a provider off the list is refused when saved, and when changed to point there [ASVS V13.2.4]', async () => {
    const created = await api(w, 'POST', '/api/admin/sso/providers', {
      slug: 'elsewhere',
      type: 'oidc',
      displayName: 'Elsewhere',
      oidc: { issuer: 'https://idp.elsewhere.example', clientId: 'palisade', clientSecret: 'a-client-secret-of-some-length' },
    });
    assert.equal(created.status, 400, JSON.stringify(created.body));
    assert.equal(created.body.error.code, 'OUTBOUND_NOT_ALLOWED');
    const moved = await api(w, 'PATCH', '/api/admin/sso/providers/listed', { oidc: { issuer: 'https://idp.elsewhere.example' } });
    assert.equal(moved.status, 400, JSON.stringify(moved.body));
    assert.equal(moved.body.error.code, 'OUTBOUND_NOT_ALLOWED');
    // A directory and a CAS server are destinations too.
    const ldap = await api(w, 'POST', '/api/admin/sso/providers', {
      slug: 'dir',
      type: 'ldap',
      displayName: 'Dir',
      ldap: { url: 'ldaps://10.9.9.9', baseDn: 'dc=x', bindDnTemplate: 'uid={username},dc=x' },
    });
    assert.equal(ldap.body.error?.code, 'OUTBOUND_NOT_ALLOWED', JSON.stringify(ldap.body));
    const cas = await api(w, 'POST', '/api/admin/sso/providers', {
      slug: 'cas',
      type: 'cas',
      displayName: 'CAS',
      cas: { serverUrl: 'https://cas.elsewhere.example/cas' },
    });
    assert.equal(cas.body.error?.code, 'OUTBOUND_NOT_ALLOWED', JSON.stringify(cas.body));
  });
});
