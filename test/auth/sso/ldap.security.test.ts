import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SERVICE_DN, SERVICE_PW, SUFFIX, USERS, slapdInstalled, startSlapd, type Slapd } from '../../helpers/slapd.js';
import { freePort } from '../passkeys/world.js';
import { escapeDnValue, DirectoryRefusal, LdapProtocol } from '../../../src/auth/sso/ldap/index.js';
import { LDAP_DEFAULTS } from '../../../src/auth/sso/ldap/settings.js';
import type { LdapProvider } from '../../../src/auth/sso/types.js';
import { addLdap, direct, ldapLogin } from './ldap-world.js';
import { api, eventsOf, startPalisade, type SsoWorld } from './world.js';

// AUTH-13, LDAP: the attacks. Bug classes: LDAP filter injection (RFC 4515) and DN injection (RFC 4514)
// through the username; the unauthenticated bind (an empty password "succeeds" on many servers); online
// guessing through a sign-in method that escapes the lockout; a hung directory hanging sign-in; bad input
// answered with a 5xx.

const ALICE = USERS[0]!;

describe('escapeDnValue (RFC 4514)', () => {
  it('escapes the special characters, a leading # or space, a trailing space and NUL [ASVS V1.2.6]', () => {
    assert.equal(escapeDnValue('a,b+c"d\\e<f>g;h=i'), 'a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i');
    assert.equal(escapeDnValue('#x'), '\\#x');
    assert.equal(escapeDnValue(' x '), '\\ x\\ ');
    assert.equal(escapeDnValue('x#y z'), 'x#y z');
    assert.equal(escapeDnValue('a\u0000b'), 'a\\00b');
    assert.equal(escapeDnValue('*)(uid=*'), '*)(uid\\=*');
  });
});

describe('LDAP sign-in: attacks', { skip: !slapdInstalled() && 'slapd is not installed (apt-get install slapd ldap-utils)' }, () => {
  let w: SsoWorld;
  let d: Slapd;
  let silent: Server;
  const sockets = new Set<Socket>();
  let silentPort = 0;

  before(async () => {
    d = await startSlapd();
    w = await startPalisade();
    await addLdap(w, 'dir', direct(d));
    await addLdap(w, 'corp', { ...direct(d), bindMode: 'search', bindDnTemplate: null, serviceDn: SERVICE_DN, servicePassword: SERVICE_PW });
    // A TCP server that accepts and never answers: a directory that hangs.
    silent = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
    const closed = await freePort();
    await addLdap(w, 'down', direct({ url: `ldap://127.0.0.1:${closed}` }, { connectTimeoutMs: 500, operationTimeoutMs: 500 }));
    await addLdap(w, 'hung', direct({ url: `ldap://127.0.0.1:${silentPort}` }, { connectTimeoutMs: 500, operationTimeoutMs: 500 }));
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent?.close(() => resolve()));
    await w?.close();
    await d?.stop();
  });

  const usersCount = async () => ((await api(w, 'GET', '/api/admin/users?limit=200')).body.users as unknown[]).length;

  it('positive control: alice signs in on both providers with her password [ASVS V1.2.6]', async () => {
    assert.equal((await ldapLogin(w, 'dir', 'alice', ALICE.password)).status, 200);
    assert.equal((await ldapLogin(w, 'corp', 'alice', ALICE.password)).status, 200);
  });

  for (const slug of ['dir', 'corp']) {
    it(`filter and DN injection through the username is refused (${slug}) [ASVS V1.2.6]`, async () => {
      const before = await usersCount();
      const hostile = [
        '*)(uid=*))(|(uid=*',
        'admin*',
        '*',
        'ali*',
        'alice)(uid=*',
        'alice)(|(objectClass=*)',
        '*)(objectClass=*',
        'alice\\2a',
        `alice,ou=people,${SUFFIX}`,
        'alice+cn=Alice Archer',
        '#alice',
      ];
      for (const name of hostile) {
        const r = await ldapLogin(w, slug, name, ALICE.password);
        assert.equal(r.status, 401, `${name}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, 'INVALID_CREDENTIALS', name);
      }
      assert.equal(await usersCount(), before, 'no account was reached or created');
      const reasons = (await eventsOf(w, 'sso.login'))
        .filter((e) => e.outcome === 'failure' && e.details.provider === slug)
        .map((e) => e.details.reason as string);
      assert.ok(reasons.length >= hostile.length);
      assert.ok(
        reasons.every((r) => r === 'bad_credentials' || r === 'unknown_user' || r === 'locked'),
        reasons.join(', '),
      );
    });
  }

  it('an empty password is refused before the directory is contacted', async () => {
    const seen = await d.settledConnections();
    const r = await ldapLogin(w, 'dir', 'alice', '');
    assert.equal(r.status, 400);
    // Below the route's schema too: the protocol refuses it without connecting.
    const p: LdapProvider = {
      slug: 'raw',
      type: 'ldap',
      displayName: 'raw',
      enabled: true,
      provisioning: 'jit',
      defaultRoles: [],
      defaultDepartments: [],
      mappings: [],
      emailDomains: [],
      trustEmail: false,
      trustMfa: false,
      createdAt: 0,
      updatedAt: 0,
      settings: { ...LDAP_DEFAULTS, url: d.url, baseDn: SUFFIX, bindDnTemplate: `uid={username},ou=people,${SUFFIX}` },
    };
    await assert.rejects(new LdapProtocol(async () => null).verify(p, 'alice', ''), (e) => e instanceof DirectoryRefusal && e.reason === 'empty_password');
    assert.equal(await d.settledConnections(), seen, 'no connection was made');
  });

  it('bad input answers 4xx, never 5xx', async () => {
    for (const payload of [
      {},
      { username: 'alice' },
      { username: 'a'.repeat(300), password: 'x' },
      { username: 'al\u0000ice', password: 'x' },
      { username: 'alice\n', password: 'x' },
      { username: ['alice'], password: 'x' },
      { username: 'alice', password: 'x', extra: 1 },
    ]) {
      const r = await w.t.app.inject({ method: 'POST', url: '/api/auth/sso/dir/login', payload });
      assert.equal(r.statusCode, 400, `${JSON.stringify(payload)}: ${r.body}`);
    }
    const odd = await ldapLogin(w, 'dir', 'ålice \u00e9\u{1F600}', 'x');
    assert.equal(odd.status, 401);
  });

  it('wrong passwords count in the lockout: the account locks, and then even the right password is refused [ASVS V6.3.4]', async () => {
    assert.equal((await api(w, 'PATCH', '/api/admin/settings/lockout', { maxAttempts: 3, lockDuration: 0 })).status, 200);
    const first = await ldapLogin(w, 'dir', 'bob', USERS[1]!.password);
    assert.equal(first.status, 200);
    const id = first.body.user.id;
    for (let i = 0; i < 3; i++) assert.equal((await ldapLogin(w, 'dir', 'bob', `wrong-${i}`)).status, 401);
    const seen = await d.settledConnections();
    const right = await ldapLogin(w, 'dir', 'bob', USERS[1]!.password);
    assert.equal(right.status, 401);
    assert.equal(right.body.error.code, 'INVALID_CREDENTIALS');
    assert.equal(await d.settledConnections(), seen, 'a locked account does not reach the directory');
    const locked = (await eventsOf(w, 'account.locked')).filter((e) => e.subjectId === id);
    assert.equal(locked.length, 1);
    // The same lock stops every method: it is the account's.
    assert.equal((await api(w, 'POST', `/api/admin/users/${id}/unlock`)).status, 204);
    assert.equal((await ldapLogin(w, 'dir', 'bob', USERS[1]!.password)).status, 200);
    // A name with no account yet is counted too (under its own key): guessing stops there as well.
    for (let i = 0; i < 3; i++) await ldapLogin(w, 'dir', 'carol', `wrong-${i}`);
    assert.equal((await ldapLogin(w, 'dir', 'carol', USERS[2]!.password)).status, 401);
    assert.equal((await api(w, 'PATCH', '/api/admin/settings/lockout', { maxAttempts: 10, lockDuration: 900 })).status, 200);
  });

  it('an unreachable directory answers 503 SSO_PROVIDER_UNAVAILABLE quickly, and does not spend an attempt', async () => {
    for (const slug of ['down', 'hung']) {
      const t0 = Date.now();
      const r = await ldapLogin(w, slug, 'alice', ALICE.password);
      const took = Date.now() - t0;
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'SSO_PROVIDER_UNAVAILABLE');
      assert.ok(took < 3000, `${slug} took ${took} ms`);
      assert.ok(!JSON.stringify(r.body).includes('127.0.0.1'), 'no internal detail');
    }
    const ev = (await eventsOf(w, 'sso.login')).filter((e) => e.details.provider === 'hung');
    assert.match(ev[0].details.reason, /^SSO_PROVIDER_UNAVAILABLE/);
  });

  it('the admin API refuses unsafe or incomplete LDAP settings (400, nothing stored)', async () => {
    const bad: [Record<string, unknown>, string][] = [
      [direct({ url: 'ldap://ldap.example.org' }), '/ldap/url'],
      [direct({ url: 'http://127.0.0.1' }), '/ldap/url'],
      [direct({ url: 'ldaps://ldap.example.org' }, { startTls: true }), '/ldap/url'],
      [direct(d, { bindDnTemplate: `ou=people,${SUFFIX}` }), '/ldap/bindDnTemplate'],
      [direct(d, { bindDnTemplate: `uid={username},cn={username},${SUFFIX}` }), '/ldap/bindDnTemplate'],
      [direct(d, { bindMode: 'search' }), '/ldap/serviceDn'],
      [direct(d, { userAttribute: 'uid)(x=*' }), '/ldap/userAttribute'],
      [direct(d, { tlsCaFile: 'relative/ca.pem' }), '/ldap/tlsCaFile'],
      // Another feature's secret would be sent to this directory (D292).
      [direct(d, { bindMode: 'search', serviceDn: `cn=svc,${SUFFIX}`, servicePasswordName: 'smtp.password' }), '/ldap/servicePasswordName'],
    ];
    for (const [ldap, path] of bad) {
      const r = await api(w, 'POST', '/api/admin/sso/providers', { slug: 'bad', type: 'ldap', displayName: 'Bad', ldap });
      assert.equal(r.status, 400, JSON.stringify([ldap, r.body]));
      assert.equal(r.body.error.details[0].path, path, JSON.stringify(r.body));
    }
    assert.equal((await api(w, 'GET', '/api/admin/sso/providers/bad')).status, 404);
    // Search mode without its password yet: stored with the name it will have; sign-in answers 503 until it is set.
    await addLdap(w, 'unset', direct(d, { bindMode: 'search', serviceDn: SERVICE_DN }));
    const view = (await api(w, 'GET', '/api/admin/sso/providers/unset')).body.provider.ldap;
    assert.deepEqual([view.servicePasswordName, view.servicePasswordSet], ['sso.unset.bindPassword', false]);
    assert.equal((await ldapLogin(w, 'unset', 'alice', ALICE.password)).status, 503);
    assert.equal((await api(w, 'PATCH', '/api/admin/sso/providers/unset', { ldap: { servicePassword: SERVICE_PW } })).status, 200);
    assert.equal((await ldapLogin(w, 'unset', 'alice', ALICE.password)).status, 200);
    const mixed = await api(w, 'PATCH', '/api/admin/sso/providers/dir', { oidc: { clientId: 'x' } });
    assert.equal(mixed.status, 400);
    const retype = await api(w, 'PATCH', '/api/admin/sso/providers/dir', { type: 'oidc' });
    assert.equal(retype.status, 400);
  });
});
