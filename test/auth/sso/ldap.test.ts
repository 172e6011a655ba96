import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bearer } from '../../helpers/app.js';
import { GROUPS, SERVICE_DN, SERVICE_PW, SUFFIX, USERS, groupDn, slapdInstalled, startSlapd, userDn, type Slapd } from '../../helpers/slapd.js';
import { totp, userWithTotp } from '../mfa/world.js';
import { addLdap, direct, ldapLogin } from './ldap-world.js';
import { api, eventsOf, startPalisade, type SsoWorld } from './world.js';

// AUTH-13, LDAP against a real OpenLDAP (Debian's slapd, started for this file): direct bind and
// search-then-bind, users created just in time with the group mapping, the mapping synchronised at each
// sign-in, must-exist providers, and the second factor still asked for. The attacks are in
// ldap.security.test.ts; TLS in ldap-tls.test.ts.

const pw = (uid: string) => USERS.find((u) => u.uid === uid)!.password;

describe('LDAP sign-in against slapd', { skip: !slapdInstalled() && 'slapd is not installed (apt-get install slapd ldap-utils)' }, () => {
  let w: SsoWorld;
  let d: Slapd;

  before(async () => {
    d = await startSlapd();
    w = await startPalisade();
    assert.equal((await api(w, 'POST', '/api/admin/roles', { name: 'editors' })).status, 201);
    assert.equal((await api(w, 'POST', '/api/admin/roles', { name: 'viewers' })).status, 201);
    assert.equal((await api(w, 'PUT', '/api/admin/departments/staff', { roles: [] })).status, 200);
    const mappings = [
      { claim: 'groups', value: 'editors', roles: ['editors'], departments: [] },
      { claim: 'groups', value: 'staff', roles: [], departments: ['staff'] },
    ];
    await addLdap(w, 'dir', direct(d, { groupMode: 'search', groupBaseDn: `ou=groups,${SUFFIX}`, emailVerified: true }), {
      defaultRoles: ['viewers'],
      mappings,
      emailDomains: ['example.org'],
    });
    await addLdap(
      w,
      'corp',
      { ...direct(d), bindMode: 'search', bindDnTemplate: null, serviceDn: SERVICE_DN, servicePassword: SERVICE_PW, groupMode: 'memberOf' },
      { mappings },
    );
    // Must-exist, the identity named by its DN; it reads no email (so only links reach accounts).
    await addLdap(w, 'strict', direct(d, { subjectAttribute: 'dn', emailAttribute: 'description' }), { provisioning: 'existing' });
  });
  after(async () => {
    await w?.close();
    await d?.stop();
  });

  it('direct bind: a first sign-in creates an SSO-only user with the mapped role, through the funnel', async () => {
    const r = await ldapLogin(w, 'dir', 'alice', pw('alice'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.token);
    const me = await w.t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(r.body.token) });
    const user = me.json().user;
    assert.equal(user.username, 'alice');
    assert.equal(user.email, 'alice@example.org');
    assert.equal(user.ssoOnly, true);
    const access = await api(w, 'GET', `/api/admin/users/${user.id}/access`);
    assert.deepEqual(access.body.roles, ['editors', 'viewers']);
    assert.deepEqual(access.body.departments, ['staff']);
    const login = (await eventsOf(w, 'auth.login')).find((e) => e.subjectId === user.id && e.outcome === 'success');
    assert.equal(login.details.method, 'sso');
    assert.equal(login.details.provider, 'dir');
    const sso = (await eventsOf(w, 'sso.login')).find((e) => e.subjectId === user.id && e.outcome === 'success');
    assert.equal(sso.details.created, true);
    // The identity is the entry's entryUUID (stable across renames), not the name typed.
    const links = await api(w, 'GET', `/api/admin/users/${user.id}/sso-links`);
    assert.match(links.body.links[0].subject, /^[0-9a-f-]{36}$/);
    // A cookie-mode sign-in sets the session cookie, as the password form's does.
    const c = await ldapLogin(w, 'dir', 'alice', pw('alice'), { mode: 'cookie' });
    assert.equal(c.status, 200);
    assert.ok(c.body.xsrfToken);
  });

  it('search then bind: the service account finds the entry, the user binds; groups from memberOf', async () => {
    const r = await ldapLogin(w, 'corp', 'bob', pw('bob'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const access = await api(w, 'GET', `/api/admin/users/${r.body.user.id}/access`);
    assert.deepEqual(access.body.roles, []);
    assert.deepEqual(access.body.departments, ['staff']);
    // The service password is write-only.
    const p = await api(w, 'GET', '/api/admin/sso/providers/corp');
    assert.equal(p.body.provider.ldap.servicePasswordSet, true);
    assert.equal(p.body.provider.ldap.servicePasswordName, 'sso.corp.bindPassword');
    assert.ok(!JSON.stringify(p.body).includes(SERVICE_PW));
  });

  it('a wrong password is refused (INVALID_CREDENTIALS) and is a security event', async () => {
    const r = await ldapLogin(w, 'corp', 'bob', 'not-his-password');
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'INVALID_CREDENTIALS');
    const unknown = await ldapLogin(w, 'corp', 'nobody', 'whatever-1');
    assert.equal(unknown.status, 401);
    assert.equal(unknown.body.error.code, 'INVALID_CREDENTIALS', 'an unknown name answers the same');
    const reasons = (await eventsOf(w, 'sso.login')).filter((e) => e.outcome === 'failure').map((e) => e.details.reason);
    assert.ok(reasons.includes('bad_credentials') && reasons.includes('unknown_user'), reasons.join(', '));
  });

  it('a group change removes the mapped role at the next sign-in', async () => {
    const first = await ldapLogin(w, 'dir', 'alice', pw('alice'));
    const id = first.body.user.id;
    assert.deepEqual((await api(w, 'GET', `/api/admin/users/${id}/access`)).body.roles, ['editors', 'viewers']);
    await d.modify(`dn: ${groupDn('editors')}\nchangetype: modify\nadd: member\nmember: ${userDn('carol')}\n-\ndelete: member\nmember: ${userDn('alice')}\n`);
    const again = await ldapLogin(w, 'dir', 'alice', pw('alice'));
    assert.equal(again.status, 200);
    assert.deepEqual((await api(w, 'GET', `/api/admin/users/${id}/access`)).body.roles, ['viewers']);
    const synced = (await eventsOf(w, 'sso.access_synced')).filter((e) => e.subjectId === id).map((e) => `${e.details.change} ${e.details.name}`);
    assert.ok(synced.includes('role.removed editors'), synced.join(', '));
    // memberOf (the search-then-bind provider) follows the same change: the overlay updated carol's entry.
    assert.equal(GROUPS.editors!.includes('carol'), false, 'the seed did not have carol in editors');
    const carol = await ldapLogin(w, 'corp', 'carol', pw('carol'));
    assert.equal(carol.status, 200, JSON.stringify(carol.body));
    assert.deepEqual((await api(w, 'GET', `/api/admin/users/${carol.body.user.id}/access`)).body.roles, ['editors']);
    // Another directory provider does not take alice's account over by her email (not trusted for it).
    const other = await ldapLogin(w, 'corp', 'alice', pw('alice'));
    assert.equal(other.status, 409);
    assert.equal(other.body.error.code, 'SSO_ACCOUNT_NOT_LINKED');
  });

  it('must-exist: an identity linked to no account is refused, and nothing is created', async () => {
    const count = async () => ((await api(w, 'GET', '/api/admin/users?limit=200')).body.users as unknown[]).length;
    const before = await count();
    const refused = await ldapLogin(w, 'strict', 'carol', pw('carol'));
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'SSO_ACCOUNT_UNKNOWN');
    const failures = (await eventsOf(w, 'sso.login')).filter((e) => e.outcome === 'failure' && e.details.provider === 'strict');
    assert.ok(failures.some((e) => e.details.reason === 'unknown_account'));
    assert.equal(await count(), before, 'nothing created');
  });

  it('once an administrator links it, a must-exist sign-in reaches that user, and their second factor is still asked for', async () => {
    const dave = await userWithTotp(w.t, w.admin, 'dave');
    const link = await api(w, 'POST', `/api/admin/users/${dave.id}/sso-links`, { provider: 'strict', subject: userDn('carol') });
    assert.equal(link.status, 204, JSON.stringify(link.body));
    const r = await ldapLogin(w, 'strict', 'carol', pw('carol'));
    assert.equal(r.status, 401, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'MFA_REQUIRED');
    assert.equal(r.body.token, undefined);
    const step = await w.t.app.inject({
      method: 'POST',
      url: '/api/auth/mfa/verify',
      payload: { challengeToken: r.body.error.details.challengeToken, method: 'totp', code: totp(w.t, dave.secret) },
    });
    assert.equal(step.statusCode, 200, step.body);
    assert.equal(step.json().user.id, dave.id);
  });

  it('an LDAP provider has no redirect: start and callback are 404', async () => {
    assert.equal((await w.t.app.inject({ method: 'GET', url: '/api/auth/sso/dir/start' })).statusCode, 404);
    const list = await w.t.app.inject({ method: 'GET', url: '/api/auth/sso/providers' });
    assert.ok(list.json().providers.some((p: { slug: string; type: string }) => p.slug === 'dir' && p.type === 'ldap'));
    // And an OIDC-less slug at the login endpoint is a plain 404.
    assert.equal((await ldapLogin(w, 'nosuch', 'alice', 'x')).status, 404);
  });
});
