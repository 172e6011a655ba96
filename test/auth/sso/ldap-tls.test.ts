import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { USERS, slapdInstalled, startSlapd, type Slapd } from '../../helpers/slapd.js';
import { addLdap, direct, ldapLogin } from './ldap-world.js';
import { api, eventsOf, startPalisade, type SsoWorld } from './world.js';

// AUTH-13, LDAP over TLS against slapd with a certificate from a CA made by openssl for this test:
// LDAPS and StartTLS with the certificate verified against the configured CA file; a server whose
// certificate another CA signed is refused (503: the provider cannot be trusted, so it is not used).
// Bug class: a directory password sent to a server that was not verified (MITM).

describe('LDAP over TLS against slapd', { skip: !slapdInstalled() && 'slapd is not installed (apt-get install slapd ldap-utils)' }, () => {
  let w: SsoWorld;
  let d: Slapd;

  before(async () => {
    d = await startSlapd({ tls: true });
    w = await startPalisade();
    const tls = d.tls!;
    await addLdap(w, 'ldaps', direct({ url: d.ldapsUrl! }, { tlsCaFile: tls.caFile }));
    await addLdap(w, 'starttls', direct(d, { startTls: true, tlsCaFile: tls.caFile }));
    await addLdap(w, 'ldaps-wrong-ca', direct({ url: d.ldapsUrl! }, { tlsCaFile: tls.otherCaFile }));
    await addLdap(w, 'starttls-wrong-ca', direct(d, { startTls: true, tlsCaFile: tls.otherCaFile }));
    // No CA file: the system's CAs, which do not know the test CA.
    await addLdap(w, 'ldaps-system-ca', direct({ url: d.ldapsUrl! }));
  });
  after(async () => {
    await w?.close();
    await d?.stop();
  });

  it('LDAPS with the CA file: signs in [ASVS V12.3.4]', async () => {
    const r = await ldapLogin(w, 'ldaps', 'alice', USERS[0]!.password);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  it('StartTLS with the CA file: signs in [ASVS V12.3.4]', async () => {
    const r = await ldapLogin(w, 'starttls', 'bob', USERS[1]!.password);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  it('a certificate from another CA (or an unknown one) is refused before any password is sent [ASVS V12.3.2, V12.3.4]', async () => {
    for (const slug of ['ldaps-wrong-ca', 'starttls-wrong-ca', 'ldaps-system-ca']) {
      const r = await ldapLogin(w, slug, 'carol', USERS[2]!.password);
      assert.equal(r.status, 503, `${slug}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'SSO_PROVIDER_UNAVAILABLE');
    }
    const reasons = (await eventsOf(w, 'sso.login')).filter((e) => e.outcome === 'failure').map((e) => String(e.details.reason));
    assert.ok(
      reasons.some((x) => /certificate|CERT|self.signed|issuer/i.test(x)),
      reasons.join(' | '),
    );
  });

  it('a provider with a CA file that cannot be read answers 503, not 500', async () => {
    assert.equal((await api(w, 'PATCH', '/api/admin/sso/providers/ldaps', { ldap: { tlsCaFile: '/nonexistent/ca.pem' } })).status, 200);
    const r = await ldapLogin(w, 'ldaps', 'alice', USERS[0]!.password);
    assert.equal(r.status, 503);
  });
});
