// Configuration as code (DATA-5): export, dry run, import into a fresh instance, the round trip, prune, the audit record.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { bearer, events, login, makeApp, type TestApp } from '../helpers/app.js';
import { exportDoc, importDoc, populate, RECAPTCHA_SECRET } from './fixtures.js';

describe('config export and import', () => {
  let a: TestApp;
  let b: TestApp;
  let adminA: string;
  let adminB: string;
  before(async () => {
    a = await makeApp();
    b = await makeApp();
    adminA = (await login(a)).token;
    adminB = (await login(b)).token;
    await populate(a, adminA);
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  it('exports every section, version 1, the secret by name only; JSON and YAML say the same', async () => {
    const text = await exportDoc(a, adminA);
    const doc = JSON.parse(text);
    assert.equal(doc.version, 1);
    assert.deepEqual(Object.keys(doc), ['version', 'collections', 'roles', 'departments', 'grants', 'settings', 'ipRules', 'secrets', 'identityProviders']);
    assert.deepEqual(
      doc.collections.map((c: { name: string }) => c.name),
      ['cases', 'customers'],
    );
    assert.equal(doc.settings.tokenPolicy.sessionValidity, 4 * 3600);
    assert.equal(doc.settings.botCheck.mode, 'recaptcha');
    assert.equal('recaptchaSecretKey' in doc.settings.botCheck, false);
    assert.equal('recaptchaSecretKeySet' in doc.settings.botCheck, false);
    assert.deepEqual(
      doc.secrets.find((s: { name: string }) => s.name === 'botCheck.recaptchaSecretKey'),
      { name: 'botCheck.recaptchaSecretKey', usedBy: 'settings botCheck.recaptchaSecretKey', set: true },
    );
    assert.equal(doc.ipRules.length, 3);
    assert.deepEqual(doc.identityProviders, []);
    const yaml = await exportDoc(a, adminA, 'yaml');
    assert.deepEqual(YAML.parse(yaml), doc);
    for (const t of [text, yaml]) assert.equal(t.includes(RECAPTCHA_SECRET), false);
    const ev = await events(a, adminA, 'config.exported');
    assert.equal(ev.length, 2);
    assert.match(String(ev[0]!.details.digest), /^[0-9a-f]{64}$/);
  });

  it('a dry run shows the diff per section and field and changes nothing', async () => {
    const before = await exportDoc(b, adminB);
    const eventsBefore = (await events(b, adminB, 'settings.changed')).length;
    // A dry run refuses what the import would: mode recaptcha needs the secret, which is not set here.
    const full = await exportDoc(a, adminA);
    const refused = await importDoc(b, adminB, { document: full, dryRun: true });
    assert.equal(refused.statusCode, 400, refused.body);
    assert.equal(refused.json().error.code, 'CONFIG_INVALID');
    const doc = JSON.parse(full);
    delete doc.settings.botCheck.mode;
    const r = await importDoc(b, adminB, { document: JSON.stringify(doc), dryRun: true });
    assert.equal(r.statusCode, 200, r.body);
    const { dryRun, diff } = r.json();
    assert.equal(dryRun, true);
    assert.deepEqual(diff.sections.collections.added, ['cases', 'customers']);
    assert.deepEqual(diff.sections.roles.added, ['agent', 'lead']);
    assert.deepEqual(diff.sections.departments.added, ['support']);
    assert.equal(diff.sections.grants.added.length, 2);
    const token = diff.sections.settings.changed.find((c: { name: string }) => c.name === 'tokenPolicy');
    assert.deepEqual(
      token.changes.find((c: { field: string }) => c.field === 'sessionValidity'),
      { field: 'sessionValidity', from: 8 * 3600, to: 4 * 3600 },
    );
    assert.deepEqual(diff.sections.ipRules.added.sort(), ['allow 127.0.0.0/8 (admin)', 'allow 2001:db8::/32 (admin)', 'block 203.0.113.0/24 (all)']);
    assert.deepEqual(diff.missingSecrets, ['botCheck.recaptchaSecretKey']);
    assert.equal(await exportDoc(b, adminB), before);
    assert.equal((await events(b, adminB, 'settings.changed')).length, eventsBefore);
    assert.equal((await events(b, adminB, 'config.imported')).length, 0);
  });

  it('a setting that needs a secret not set here is refused until the secret is set; then the import applies in full', async () => {
    const doc = await exportDoc(a, adminA);
    const refused = await importDoc(b, adminB, { document: doc });
    assert.equal(refused.statusCode, 400, refused.body);
    assert.equal(refused.json().error.code, 'CONFIG_INVALID');
    assert.match(JSON.stringify(refused.json().error.details), /settings.botCheck: mode recaptcha needs recaptchaSiteKey and recaptchaSecretKey/);
    assert.equal(await b.s.collections.get('cases'), null, 'nothing of the document was written');

    const set = await b.app.inject({
      method: 'PUT',
      url: '/api/admin/secrets/botCheck.recaptchaSecretKey',
      headers: bearer(adminB),
      payload: { value: 'other-env-secret' },
    });
    assert.equal(set.statusCode, 200);
    const r = await importDoc(b, adminB, { document: doc });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().dryRun, false);
    assert.equal(r.json().diff.missingSecrets.length, 0);
    // The round trip: the fresh instance exports the same document (the secret's value is its own).
    assert.equal(await exportDoc(b, adminB), doc);
    assert.deepEqual(await b.s.secrets.resolve('botCheck.recaptchaSecretKey'), { state: 'set', value: 'other-env-secret' });

    const imported = await events(b, adminB, 'config.imported');
    assert.equal(imported.length, 1);
    assert.equal(imported[0]!.actor.name, 'root');
    assert.match(String(imported[0]!.details.digest), /^[0-9a-f]{64}$/);
    assert.deepEqual(imported[0]!.details.sections.collections, { added: 2, changed: 0, removed: 0 });
    assert.ok((await events(b, adminB, 'settings.changed')).some((e) => e.details.area === 'tokenPolicy'));
    assert.equal((await events(b, adminB, 'ip_rule.created')).length, 3);
    assert.ok((await events(b, adminB, 'schema.changed')).length >= 2);
    assert.ok(b.logs.some((l) => l.includes('"system.settings_changed"') && l.includes('tokenPolicy')));

    const again = await importDoc(b, adminB, { document: doc, dryRun: true });
    assert.equal(again.json().diff.total, 0, 'importing the same document again changes nothing');
  });

  it('changes and removals: field options, ownership, notes; absent sections stay; prune removes what the file lacks', async () => {
    const doc = JSON.parse(await exportDoc(b, adminB));
    const cases = doc.collections.find((c: { name: string }) => c.name === 'cases');
    cases.fields.find((f: { name: string }) => f.name === 'state').values.push('waiting');
    cases.fields = cases.fields.filter((f: { name: string }) => f.name !== 'notes');
    cases.ownership = null;
    doc.roles = doc.roles.filter((r: { name: string }) => r.name !== 'lead');
    doc.ipRules = doc.ipRules.filter((r: { cidr: string }) => r.cidr !== '203.0.113.0/24');
    doc.ipRules[0].note = 'changed note';
    delete doc.settings;
    const plan = await importDoc(b, adminB, { document: JSON.stringify(doc), dryRun: true });
    assert.equal(plan.statusCode, 200, plan.body);
    const d = plan.json().diff;
    assert.deepEqual(
      d.sections.collections.changed[0].changes.map((c: { field: string }) => c.field),
      ['fields.state', 'ownership'],
    );
    assert.deepEqual(d.sections.roles.kept, ['lead']);
    assert.deepEqual(d.sections.ipRules.kept, ['block 203.0.113.0/24 (all)']);
    assert.equal(d.sections.settings.inFile, false);

    const r = await importDoc(b, adminB, { document: JSON.stringify(doc) });
    assert.equal(r.statusCode, 200, r.body);
    const after = await b.s.collections.get('cases');
    assert.deepEqual(after!.fields.find((f) => f.name === 'state')!.values, ['open', 'closed', 'waiting']);
    assert.equal(after!.ownership, null);
    assert.ok(
      after!.fields.some((f) => f.name === 'notes'),
      'without prune a field stays',
    );
    assert.ok((await b.s.access.listRoles()).some((x) => x.name === 'lead'));
    assert.equal((await b.s.ipRules.list()).length, 3);

    const pruned = await importDoc(b, adminB, { document: JSON.stringify(doc), prune: true });
    assert.equal(pruned.statusCode, 200, pruned.body);
    assert.deepEqual(pruned.json().diff.sections.roles.removed, ['lead']);
    assert.equal(
      (await b.s.collections.get('cases'))!.fields.some((f) => f.name === 'notes'),
      false,
    );
    assert.equal(
      (await b.s.access.listRoles()).some((x) => x.name === 'lead'),
      false,
    );
    assert.deepEqual((await b.s.ipRules.list()).map((x) => x.cidr).sort(), ['127.0.0.0/8', '2001:db8::/32']);
    assert.ok((await b.s.collections.get('customers')) !== null, 'collections are never dropped');
    assert.equal((await b.s.settings.get((await import('../../src/auth/token-policy.js')).tokenPolicyArea)).sessionValidity, 4 * 3600);
  });
});
