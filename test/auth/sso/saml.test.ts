import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Jar } from './browser.js';
import { api, eventsOf, me, SESSION_COOKIE, startPalisade, type SsoWorld } from './world.js';
import { acsOf, addSamlProvider, decode, postAcs, spEntityOf, toAcs } from './saml-world.js';
import { keyPair, SAML_USERS, simpleSamlInstalled, startSimpleSaml, type Idp } from '../../helpers/simplesamlphp.js';

// AUTH-13, SAML 2.0 against a real IdP (SimpleSAMLphp under php -S): SP-initiated sign-in by the redirect
// binding, the signed answer posted to the ACS, attributes into claims and the group mapping, a user created
// just in time through the one funnel, encrypted assertions decrypted with the key in the secret store, the SP
// metadata, and the admin API's view of a SAML provider.

const [ada, ben] = SAML_USERS as [(typeof SAML_USERS)[0], (typeof SAML_USERS)[0]];

describe('SAML sign-in against SimpleSAMLphp', { skip: !simpleSamlInstalled() && 'simplesamlphp is not installed' }, () => {
  let w: SsoWorld;
  let idp: Idp;
  const keys = mkdtempSync(join(tmpdir(), 'palisade-sp-'));
  const sp = keyPair(keys, 'sp');

  before(async () => {
    w = await startPalisade();
    idp = await startSimpleSaml([
      { entityId: spEntityOf(w, 'idp'), acs: acsOf(w, 'idp') },
      { entityId: spEntityOf(w, 'enc'), acs: acsOf(w, 'enc'), encryptTo: sp.cert },
    ]);
    assert.equal((await api(w, 'POST', '/api/admin/roles', { name: 'editors' })).status, 201);
    assert.equal((await api(w, 'POST', '/api/admin/roles', { name: 'staff' })).status, 201);
    await addSamlProvider(w, 'idp', idp, {
      mappings: [
        { claim: 'groups', value: 'data-editors', roles: ['editors'], departments: [] },
        { claim: 'groups', value: 'staff', roles: ['staff'], departments: [] },
      ],
      emailDomains: ['example.org'],
      saml: { emailVerified: true },
    });
    await addSamlProvider(w, 'enc', idp, { saml: { wantEncryptedAssertions: true, spCertificate: sp.cert, spPrivateKey: sp.key } });
  });
  after(async () => {
    await w?.close();
    await idp?.close();
    rmSync(keys, { recursive: true, force: true });
  });

  it('a full sign-in creates a user just in time, maps attributes to claims and groups, and opens a session through the funnel', async () => {
    const jar = new Jar();
    const answer = await toAcs(w, jar, 'idp', ada, '/data?x=1');
    assert.equal(answer.acs, acsOf(w, 'idp'));
    assert.match(decode(answer.SAMLResponse), /<ds:Signature/);
    const landed = await postAcs(jar, answer.acs, { SAMLResponse: answer.SAMLResponse, RelayState: answer.RelayState });
    assert.equal(landed.status, 302);
    assert.equal(landed.location, '/data?x=1');
    assert.ok(jar.get(w.base, SESSION_COOKIE), 'a session cookie');
    const who = await me(w, jar);
    assert.equal(who.status, 200);
    assert.equal(who.user.username, 'ada');
    assert.equal(who.user.email, 'ada@example.org', 'emailVerified: the IdP verifies emails, so it is kept');
    assert.equal(who.user.ssoOnly, true);
    const access = await api(w, 'GET', `/api/admin/users/${who.user.id}/access`);
    assert.deepEqual(access.body.roles, ['editors', 'staff']);
    const logins = (await eventsOf(w, 'auth.login')).filter((e) => e.subjectId === who.user.id && e.outcome === 'success');
    assert.equal(logins[0].details.method, 'sso');
    assert.equal(logins[0].details.provider, 'idp');
    const sso = (await eventsOf(w, 'sso.login')).filter((e) => e.subjectId === who.user.id && e.outcome === 'success');
    assert.equal(sso[0].details.subject, 'ada', 'the persistent NameID is the subject');
    assert.equal(sso[0].details.providerMfa, false);
    const synced = (await eventsOf(w, 'sso.access_synced')).filter((e) => e.subjectId === who.user.id);
    assert.ok(synced.length >= 2, 'each mapped role an event');
    const links = await api(w, 'GET', `/api/admin/users/${who.user.id}/sso-links`);
    assert.equal(links.body.links[0].subject, 'ada');
  });

  it('an encrypted assertion is decrypted with the SP key from the secret store, and the key never comes back', async () => {
    const jar = new Jar();
    const answer = await toAcs(w, jar, 'enc', ben);
    assert.match(decode(answer.SAMLResponse), /EncryptedAssertion/);
    const landed = await postAcs(jar, answer.acs, { SAMLResponse: answer.SAMLResponse, RelayState: answer.RelayState });
    assert.equal(landed.location, '/');
    assert.equal((await me(w, jar)).user.username, 'ben');
    const view = await api(w, 'GET', '/api/admin/sso/providers/enc');
    assert.equal(view.body.provider.saml.spPrivateKeyName, 'sso.enc.spPrivateKey');
    assert.equal(view.body.provider.saml.spPrivateKeySet, true);
    assert.ok(!JSON.stringify(view.body).includes('PRIVATE KEY'), 'the private key is write-only');
    assert.equal(view.body.provider.callbackUrl, acsOf(w, 'enc'));
  });

  it('a provider that wants encrypted assertions refuses a plain one', async () => {
    // The 'idp' registration at the IdP does not encrypt; point a wanting provider at the same SP entity.
    await addSamlProvider(w, 'wants', idp, {
      saml: { wantEncryptedAssertions: true, spCertificate: sp.cert, spPrivateKey: sp.key, spEntityId: spEntityOf(w, 'idp') },
    });
    const jar = new Jar();
    const answer = await toAcs(w, jar, 'idp', ben);
    const start = await fetch(`${w.base}/api/auth/sso/wants/start`, { redirect: 'manual' });
    assert.equal(start.status, 302);
    const landed = await postAcs(jar, acsOf(w, 'wants'), { SAMLResponse: answer.SAMLResponse, RelayState: answer.RelayState });
    assert.match(landed.location ?? '', /error=SSO_FAILED/);
  });

  it('the flow cookie of a SAML start is SameSite=None (the IdP posts back cross-site), still Secure, HttpOnly and __Host- [ASVS V3.3.1, V3.3.2]', async () => {
    const res = await fetch(`${w.base}/api/auth/sso/idp/start`, { redirect: 'manual' });
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('__Host-palisade_sso='));
    assert.ok(cookie, 'a flow cookie');
    assert.match(cookie, /SameSite=None/i);
    assert.match(cookie, /; Secure/i);
    assert.match(cookie, /HttpOnly/i);
  });

  it('serves the SP metadata: entity id, ACS by HTTP-POST, signed assertions wanted, our certificate when set', async () => {
    const plain = await fetch(`${w.base}/api/auth/sso/idp/saml/metadata`);
    assert.equal(plain.status, 200);
    assert.match(plain.headers.get('content-type') ?? '', /samlmetadata\+xml/);
    const xml = await plain.text();
    assert.ok(xml.includes(`entityID="${spEntityOf(w, 'idp')}"`));
    assert.ok(xml.includes(`Location="${acsOf(w, 'idp')}"`));
    assert.ok(xml.includes('WantAssertionsSigned="true"'));
    const enc = await (await fetch(`${w.base}/api/auth/sso/enc/saml/metadata`)).text();
    assert.match(enc, /<ds:X509Certificate>/);
    assert.equal((await fetch(`${w.base}/api/auth/sso/nope/saml/metadata`)).status, 404);
  });

  it('the admin API refuses bad SAML settings with 400 and a stable code', async () => {
    const bad = async (saml: object) =>
      api(w, 'POST', '/api/admin/sso/providers', {
        slug: 'bad',
        type: 'saml',
        displayName: 'Bad',
        saml: { idpEntityId: idp.entityId, ssoUrl: idp.ssoUrl, idpCertificates: [idp.certificate], ...saml },
      });
    for (const [saml, path] of [
      [{ ssoUrl: 'http://idp.example.org/sso' }, '/saml/ssoUrl'],
      [{ idpCertificates: ['not a certificate'] }, '/saml/idpCertificates/0'],
      [{ wantEncryptedAssertions: true }, '/saml/wantEncryptedAssertions'],
      [{ spPrivateKeyName: 'smtp.password' }, '/saml/spPrivateKeyName'],
    ] as const) {
      const r = await bad(saml);
      assert.equal(r.status, 400, JSON.stringify(saml));
      assert.equal(r.body.error.code, 'VALIDATION_FAILED');
      assert.equal(r.body.error.details[0].path, path);
    }
    const r = await api(w, 'POST', '/api/admin/sso/providers', { slug: 'bad', type: 'saml', displayName: 'Bad', saml: { clockSkewSeconds: 9999 } });
    assert.equal(r.status, 400);
  });

  it('configuration export names the SP key by its secret-store name only, and a bad key is refused', async () => {
    const r = await w.t.app.inject({ method: 'GET', url: '/api/admin/config/export', headers: { authorization: `Bearer ${w.admin}` } });
    assert.equal(r.statusCode, 200, r.body);
    assert.ok(!r.body.includes('PRIVATE KEY'), 'no private key in an export');
    assert.ok(r.body.includes('sso.enc.spPrivateKey'));
    const bad = await api(w, 'PATCH', '/api/admin/sso/providers/enc', { saml: { spPrivateKey: 'not a key' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].path, '/saml/spPrivateKey');
  });

  it('an IdP that is down: the start answers on the sign-in page fast, never a 5xx', async () => {
    await addSamlProvider(w, 'down', idp, { saml: { ssoUrl: 'http://127.0.0.1:9/sso' } });
    const res = await fetch(`${w.base}/api/auth/sso/down/start`, { redirect: 'manual' });
    // The redirect binding needs no call to the IdP: the browser is sent there and finds it down.
    assert.equal(res.status, 302);
    assert.match(res.headers.get('location') ?? '', /^http:\/\/127\.0\.0\.1:9\/sso\?SAMLRequest=/);
  });
});
