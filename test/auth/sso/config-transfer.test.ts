import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bearer, login, makeApp, type TestApp } from '../../helpers/app.js';
import { configTransferOf } from '../../../src/config-transfer/wire.js';

// Identity providers in configuration as code (AUTH-13 with DATA-5): exported with every setting and the
// client secret by name only, imported elsewhere as created, again as nothing to do, and pruned.

const ctx = { actor: { id: null, name: 'test' } };

describe('identity providers in configuration export and import', () => {
  let a: TestApp;
  let b: TestApp;
  before(async () => {
    a = await makeApp();
    b = await makeApp();
    const admin = (await login(a)).token;
    assert.equal((await a.app.inject({ method: 'POST', url: '/api/admin/roles', headers: bearer(admin), payload: { name: 'staff' } })).statusCode, 201);
    const r = await a.app.inject({
      method: 'POST',
      url: '/api/admin/sso/providers',
      headers: bearer(admin),
      payload: {
        slug: 'corp',
        type: 'oidc',
        displayName: 'Corp',
        defaultRoles: ['staff'],
        mappings: [{ claim: 'groups', value: 'admins', roles: ['staff'], departments: [] }],
        emailDomains: ['corp.test'],
        trustEmail: true,
        oidc: { issuer: 'https://idp.corp.test', clientId: 'palisade', clientSecret: 'very-secret-value-42' },
      },
    });
    assert.equal(r.statusCode, 201, r.body);
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  it('exports every setting and the secret by name, never its value', async () => {
    const text = await configTransferOf(a.s).exportText('json', ctx);
    assert.ok(!text.includes('very-secret-value-42'));
    const doc = JSON.parse(text);
    assert.equal(doc.identityProviders.length, 1);
    const p = doc.identityProviders[0];
    assert.equal(p.slug, 'corp');
    assert.equal(p.oidc.clientSecretName, 'sso.corp.clientSecret');
    assert.equal(p.trustEmail, true);
    assert.deepEqual(p.defaultRoles, ['staff']);
    assert.ok(doc.secrets.some((s: { name: string; set: boolean }) => s.name === 'sso.corp.clientSecret' && s.set));
  });

  it('imports into another environment (the secret listed as missing), then again as nothing to do, and prunes', async () => {
    const text = await configTransferOf(a.s).exportText('yaml', ctx);
    const t = configTransferOf(b.s);
    const dry = await t.importText(text, 'yaml', { dryRun: true, prune: false }, ctx);
    assert.deepEqual(dry.diff.sections.identityProviders.added, ['corp']);
    assert.ok(dry.diff.missingSecrets.includes('sso.corp.clientSecret'));
    assert.equal((await b.s.sso.providers.list()).length, 0, 'a dry run changes nothing');
    await t.importText(text, 'yaml', { dryRun: false, prune: false }, ctx);
    const p = await b.s.sso.providers.get('corp');
    assert.equal(p?.settings.clientSecretName, 'sso.corp.clientSecret');
    assert.deepEqual(p?.mappings, [{ claim: 'groups', value: 'admins', roles: ['staff'], departments: [] }]);
    const again = await t.importText(text, 'yaml', { dryRun: false, prune: false }, ctx);
    assert.equal(again.diff.sections.identityProviders.changed.length, 0);
    assert.equal(again.diff.sections.identityProviders.added.length, 0);
    const changed = JSON.parse(await t.exportText('json', ctx));
    changed.identityProviders[0].trustEmail = false;
    const r = await t.importText(JSON.stringify(changed), 'json', { dryRun: false, prune: false }, ctx);
    assert.deepEqual(
      r.diff.sections.identityProviders.changed.map((c) => c.changes.map((x) => x.field)),
      [['trustEmail']],
    );
    assert.equal((await b.s.sso.providers.get('corp'))?.trustEmail, false);
    const pruned = await t.importText(JSON.stringify({ version: 1, identityProviders: [] }), 'json', { dryRun: false, prune: true }, ctx);
    assert.deepEqual(pruned.diff.sections.identityProviders.removed, ['corp']);
    assert.equal(await b.s.sso.providers.get('corp'), null);
  });

  it('refuses a provider entry that carries a secret or a symmetric algorithm', async () => {
    const t = configTransferOf(b.s);
    const base = { slug: 'x', type: 'oidc', displayName: 'X', oidc: { issuer: 'https://idp.x.test', clientId: 'c' } };
    for (const bad of [
      { ...base, oidc: { ...base.oidc, clientSecret: 'nope' } },
      { ...base, oidc: { ...base.oidc, idTokenAlg: 'HS256' } },
      { ...base, slug: 'Bad Slug' },
    ]) {
      await assert.rejects(
        t.importText(JSON.stringify({ version: 1, identityProviders: [bad] }), 'json', { dryRun: true, prune: false }, ctx),
        (e: { code?: string }) => e.code === 'CONFIG_INVALID',
      );
    }
  });
});
