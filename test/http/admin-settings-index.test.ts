// GET /api/admin/settings: every settings area the server serves, with its path, field schemas and current
// value, for the admin UI's generated forms (security.manage); GET /api/admin/security-events/types (audit.read).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SETTINGS_AREAS } from '../../src/app-config.js';
import { SECURITY_EVENT_TYPES } from '../../src/audit/events.js';
import { bearer, createUser, login, useApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
const tokens: Record<string, string> = {};

useApp(async (app, token) => {
  t = app;
  admin = token;
  const role = async (name: string, permissions: string[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: bearer(admin), payload: { name, permissions } });
    assert.equal(res.statusCode, 201, res.body);
  };
  await role('security-officer', ['security.manage']);
  await role('auditor', ['audit.read']);
  for (const [user, roles] of [
    ['sofia', ['security-officer']],
    ['aldo', ['auditor']],
  ] as const) {
    const id = await createUser(t, admin, user, 'Staple-battery-horse-71');
    const res = await t.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: bearer(admin), payload: { roles } });
    assert.equal(res.statusCode, 204, res.body);
    tokens[user] = (await login(t, user, 'Staple-battery-horse-71')).token;
  }
});

const get = (url: string, token?: string) => t.app.inject({ method: 'GET', url, headers: token ? bearer(token) : {} });

test('GET /api/admin/settings is refused without security.manage (signed out, or holding audit.read only)', async () => {
  assert.equal((await get('/api/admin/settings')).statusCode, 401);
  const res = await get('/api/admin/settings', tokens.aldo);
  assert.equal(res.statusCode, 403);
  assert.equal(res.json().error.code, 'FORBIDDEN');
});

test('GET /api/admin/settings lists every area with its PATCH path, field schemas, units and current value; the paths work', async () => {
  const res = await get('/api/admin/settings', tokens.sofia);
  assert.equal(res.statusCode, 200, res.body);
  const areas = res.json().areas as Array<{ key: string; label: string; path: string; description: string; fields: any[]; value: Record<string, unknown> }>;
  // Every area the server declares, each once: a new area reaches the UI without a change there.
  assert.deepEqual(areas.map((a) => a.key).sort(), SETTINGS_AREAS.map((a) => a.key).sort());
  for (const a of areas) {
    assert.match(a.path, /^\/api\/admin\/settings\/[a-z-]+$/, a.key);
    assert.ok(a.description.length > 0, a.key);
    const direct = await get(a.path, tokens.sofia);
    assert.equal(direct.statusCode, 200, `${a.key}: GET ${a.path}`);
    assert.deepEqual(a.value, direct.json(), `${a.key}: the same value as GET ${a.path}`);
    const area = SETTINGS_AREAS.find((x) => x.key === a.key)!;
    assert.deepEqual(
      a.fields.map((f) => f.name),
      Object.keys(area.schema.properties),
    );
  }
  const lockout = areas.find((a) => a.key === 'lockout')!;
  const maxAttempts = lockout.fields.find((f) => f.name === 'maxAttempts');
  assert.deepEqual(
    { min: maxAttempts.schema.minimum, max: maxAttempts.schema.maximum, def: maxAttempts.schema.default, unit: maxAttempts.unit },
    { min: 1, max: 100, def: 10, unit: undefined },
  );
  assert.match(maxAttempts.schema.description, /lock the account/);
  // Durations say their unit: seconds for what the env reads as a duration, or the schema's own.
  assert.equal(lockout.fields.find((f) => f.name === 'lockDuration').unit, 'seconds');
  const rate = areas.find((a) => a.key === 'rateLimits')!;
  assert.equal(rate.fields.find((f) => f.name === 'window').unit, 'seconds');
  const bot = areas.find((a) => a.key === 'botCheck')!;
  assert.equal(bot.fields.find((f) => f.name === 'recaptchaTimeout').unit, 'milliseconds');

  // The reported path takes the PATCH, and the index shows the new value.
  const patch = await t.app.inject({ method: 'PATCH', url: lockout.path, headers: bearer(tokens.sofia!), payload: { maxAttempts: 7 } });
  assert.equal(patch.statusCode, 200, patch.body);
  const again = (await get('/api/admin/settings', tokens.sofia)).json().areas.find((a: { key: string }) => a.key === 'lockout');
  assert.equal(again.value.maxAttempts, 7);
});

test('a write-only secret is never in the index: only `<field>Set`, and the field is marked write-only', async () => {
  const secret = 'Sup3rSecretRecaptchaKey_ZZ9';
  const patch = await t.app.inject({
    method: 'PATCH',
    url: '/api/admin/settings/bot-check',
    headers: bearer(admin),
    payload: { recaptchaSiteKey: 'site-key-1', recaptchaSecretKey: secret },
  });
  assert.equal(patch.statusCode, 200, patch.body);
  const res = await get('/api/admin/settings', tokens.sofia);
  assert.equal(res.statusCode, 200);
  assert.ok(!res.body.includes(secret), 'the secret is not in the answer');
  const bot = res.json().areas.find((a: { key: string }) => a.key === 'botCheck');
  assert.equal(bot.value.recaptchaSecretKeySet, true);
  assert.equal('recaptchaSecretKey' in bot.value, false);
  const field = bot.fields.find((f: { name: string }) => f.name === 'recaptchaSecretKey');
  assert.equal(field.writeOnly, true);
  assert.deepEqual(field.sentWith, ['recaptchaVerifyUrl']);
  assert.equal(field.schema.default, '');
});

test('GET /api/admin/security-events/types: refused without audit.read, the event types with it', async () => {
  assert.equal((await get('/api/admin/security-events/types', tokens.sofia)).statusCode, 403);
  const res = await get('/api/admin/security-events/types', tokens.aldo);
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json().types, [...SECURITY_EVENT_TYPES]);
});
