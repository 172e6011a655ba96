import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bearer, login, makeApp, type TestApp } from '../../helpers/app.js';
import { configTransferOf } from '../../../src/config-transfer/wire.js';
import { checkProviderFile } from '../../../src/auth/sso/schema.js';

// LDAP providers in configuration as code (AUTH-13 with DATA-5): exported with every setting and the service
// password by name only, imported elsewhere, again as nothing to do; a file carrying the password is refused.

const ctx = { actor: { id: null, name: 'test' } };
const SECRET = 'service-password-value-77';

describe('LDAP providers in configuration export and import', () => {
  let a: TestApp;
  let b: TestApp;
  before(async () => {
    a = await makeApp();
    b = await makeApp();
    const admin = (await login(a)).token;
    const r = await a.app.inject({
      method: 'POST',
      url: '/api/admin/sso/providers',
      headers: bearer(admin),
      payload: {
        slug: 'dir',
        type: 'ldap',
        displayName: 'Directory',
        mappings: [{ claim: 'groups', value: 'staff', roles: [], departments: [] }],
        ldap: {
          url: 'ldaps://ldap.example.org',
          bindMode: 'search',
          serviceDn: 'cn=palisade,ou=services,dc=example,dc=org',
          servicePassword: SECRET,
          baseDn: 'dc=example,dc=org',
          groupMode: 'memberOf',
        },
      },
    });
    assert.equal(r.statusCode, 201, r.body);
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  it('exports every setting and the service password by name; imports it, then again as nothing to do', async () => {
    const text = await configTransferOf(a.s).exportText('yaml', ctx);
    assert.ok(!text.includes(SECRET));
    const doc = JSON.parse(await configTransferOf(a.s).exportText('json', ctx));
    const p = doc.identityProviders[0];
    assert.equal(p.type, 'ldap');
    assert.equal(p.oidc, undefined);
    assert.equal(p.ldap.servicePasswordName, 'sso.dir.bindPassword');
    assert.equal(p.ldap.groupMode, 'memberOf');
    const t = configTransferOf(b.s);
    const first = await t.importText(text, 'yaml', { dryRun: false, prune: false }, ctx);
    assert.deepEqual(first.diff.sections.identityProviders.added, ['dir']);
    assert.ok(first.diff.missingSecrets.includes('sso.dir.bindPassword'));
    const got = await b.s.sso.providers.get('dir');
    assert.equal(got?.type, 'ldap');
    assert.equal(got?.type === 'ldap' && got.settings.serviceDn, 'cn=palisade,ou=services,dc=example,dc=org');
    const again = await t.importText(text, 'yaml', { dryRun: false, prune: false }, ctx);
    assert.equal(again.diff.sections.identityProviders.changed.length, 0);
    assert.equal(again.diff.sections.identityProviders.added.length, 0);
  });

  it('refuses an entry carrying the password, an unsafe URL, or no ldap settings', async () => {
    const t = configTransferOf(b.s);
    const base = { slug: 'x', type: 'ldap', displayName: 'X', ldap: { url: 'ldaps://ldap.x.test', baseDn: 'dc=x', bindDnTemplate: 'uid={username},dc=x' } };
    for (const bad of [
      { ...base, ldap: { ...base.ldap, servicePassword: 'nope' } },
      { ...base, ldap: undefined },
    ]) {
      await assert.rejects(
        t.importText(JSON.stringify({ version: 1, identityProviders: [bad] }), 'json', { dryRun: true, prune: false }, ctx),
        (e: { code?: string }) => e.code === 'CONFIG_INVALID',
      );
    }
    await assert.rejects(
      t.importText(
        JSON.stringify({ version: 1, identityProviders: [{ ...base, ldap: { ...base.ldap, url: 'ldap://ldap.x.test' } }] }),
        'json',
        { dryRun: false, prune: false },
        ctx,
      ),
      (e: { code?: string }) => typeof e.code === 'string',
    );
    assert.equal(await b.s.sso.providers.get('x'), null);
  });

  it('a CLI provider file is checked like the API body, and may not carry the service password', () => {
    const file = { type: 'ldap', displayName: 'X', ldap: { url: 'ldaps://ldap.x.test', baseDn: 'dc=x', bindMode: 'search', serviceDn: 'cn=s,dc=x' } };
    checkProviderFile(file, true);
    assert.throws(
      () => checkProviderFile({ ...file, ldap: { ...file.ldap, servicePassword: 'nope' } }, true),
      (e: { code?: string }) => e.code === 'VALIDATION_FAILED',
    );
    assert.throws(
      () => checkProviderFile({ ...file, ldap: { ...file.ldap, timeoutMs: 5 } }, true),
      (e: { code?: string }) => e.code === 'VALIDATION_FAILED',
    );
  });
});
