// A source environment with something in every section of a configuration document (DATA-5).
import assert from 'node:assert/strict';
import { bearer, type TestApp } from '../helpers/app.js';
import { applySchema, parseSchemaFile } from '../../src/records/schema-file.js';
import { CLI_ACTOR } from '../../src/audit/events.js';

export const RECAPTCHA_SECRET = 'RecaptchaSecret_never-exported_7Qx2';

const SCHEMA = `collections:
  - name: customers
    fields:
      - { name: name, type: string, required: true }
      - { name: tier, type: enum, values: [gold, silver] }
  - name: cases
    ownership: creator
    audit: { revisions: true }
    fields:
      - { name: customer, type: relation, target: customers }
      - { name: state, type: status, values: [open, closed] }
      - { name: notes, type: text, hidden: true }
roles:
  - { name: agent, description: Support agents, permissions: [audit.read], menus: [data] }
  - { name: lead, permissions: [security.manage, schema.manage] }
departments:
  - { name: support, roles: [agent] }
grants:
  - { role: agent, collection: cases, actions: [view, update], fields: [customer, state] }
  - { role: agent, collection: customers, actions: [view], fields: [name] }
`;

/** Fills `t` through its own services and API: collections and the access model, settings, IP rules, a secret. */
export async function populate(t: TestApp, admin: string): Promise<void> {
  await applySchema(t.s.collections, t.s.access, parseSchemaFile(SCHEMA, 'schema.yaml'), { prune: false }, { actor: CLI_ACTOR });
  const patch = async (path: string, payload: Record<string, unknown>) => {
    const r = await t.app.inject({ method: 'PATCH', url: `/api/admin/settings/${path}`, headers: bearer(admin), payload });
    assert.equal(r.statusCode, 200, r.body);
  };
  await patch('token-policy', { sessionValidity: 4 * 3600, tokenValidity: 600 });
  await patch('lockout', { maxAttempts: 7 });
  await patch('geo', { unknownCountry: 'allow', allowedCountries: ['DE', 'FR'] });
  const set = await t.app.inject({
    method: 'PUT',
    url: '/api/admin/secrets/botCheck.recaptchaSecretKey',
    headers: bearer(admin),
    payload: { value: RECAPTCHA_SECRET },
  });
  assert.equal(set.statusCode, 200, set.body);
  await patch('bot-check', { recaptchaSiteKey: 'site-key-public', mode: 'recaptcha' });
  for (const rule of [
    { action: 'block', cidr: '203.0.113.0/24', scope: 'all', note: 'scanner' },
    { action: 'allow', cidr: '127.0.0.0/8', scope: 'admin' },
    { action: 'allow', cidr: '2001:db8::/32', scope: 'admin', note: 'office v6' },
  ]) {
    const r = await t.app.inject({ method: 'POST', url: '/api/admin/ip-rules', headers: bearer(admin), payload: rule });
    assert.equal(r.statusCode, 201, r.body);
  }
}

export const exportDoc = async (t: TestApp, admin: string, format: 'json' | 'yaml' = 'json') => {
  const r = await t.app.inject({ method: 'GET', url: `/api/admin/config/export?format=${format}`, headers: bearer(admin) });
  assert.equal(r.statusCode, 200, r.body);
  return r.body;
};

export const importDoc = (t: TestApp, admin: string, body: Record<string, unknown>) =>
  t.app.inject({ method: 'POST', url: '/api/admin/config/import', headers: bearer(admin), payload: body });
