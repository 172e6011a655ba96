// API keys (AUTH-11): created by holders of apikeys.manage (or everyone, when self-service is on), bound
// to one role the creator holds, shown once, stored hashed, with an expiry; they reach what a session of
// that role reaches, through the same pipeline, and never anything more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, events, login, useApp, type TestApp } from '../../helpers/app.js';
import { code, createKey, list, notesWorld } from './world.js';

let t: TestApp;
let admin: string;
let ann: string;
useApp(async (app, token) => {
  t = app;
  admin = token;
  ({ ann } = await notesWorld(t, admin));
});

test('a key is shown once as pal_ and 64 hex digits, is never listed, logged or audited, and works as X-API-Key and as Bearer', async () => {
  const res = await createKey(t, ann, { name: 'ci' });
  assert.equal(res.statusCode, 201, res.body);
  const { key, secret } = res.json();
  assert.match(secret, /^pal_[0-9a-f]{64}$/);
  assert.equal(key.hint, secret.slice(-4));
  assert.equal(key.role, 'writer');
  assert.equal(key.readOnly, false);
  const ninetyDays = Date.parse(key.createdAt) + 90 * 86400_000;
  assert.equal(Date.parse(key.expiresAt), ninetyDays, 'no expiry asked: the maximum lifetime');

  for (const headers of [{ 'x-api-key': secret }, bearer(secret)]) {
    const r = await list(t, headers);
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(
      r.json().items.map((x: { title: string }) => x.title),
      ['first'],
    );
  }
  const created = await t.app.inject({ method: 'POST', url: '/api/collections/notes/records', headers: { 'x-api-key': secret }, payload: { title: 'by key' } });
  assert.equal(created.statusCode, 201, 'a service key writes what its role may write');

  const mine = await t.app.inject({ method: 'GET', url: '/api/auth/api-keys', headers: bearer(ann) });
  const all = await t.app.inject({ method: 'GET', url: '/api/admin/api-keys', headers: bearer(admin) });
  const evs = await events(t, admin, 'apikey.created');
  for (const body of [mine.body, all.body, JSON.stringify(evs), t.logs.join('')]) assert.ok(!body.includes(secret.slice(4)), 'the secret appears nowhere');
  assert.equal(mine.json().keys.length, 1);
  assert.ok(mine.json().keys[0].lastUsedAt, 'last use recorded');
  assert.equal(mine.json().keys[0].lastUsedIp, '127.0.0.1');
  assert.equal(evs.length, 1);
});

test('a key acts with its one role: a record the role may not touch, and the admin routes, stay closed [ASVS V8.3.3]', async () => {
  const { secret } = (await createKey(t, ann, { name: 'scoped' })).json();
  const r = await t.app.inject({ method: 'GET', url: '/api/admin/security-events', headers: { 'x-api-key': secret } });
  assert.equal(code(r), 'FORBIDDEN', 'writer has no audit.read');
  assert.equal(code(await t.app.inject({ method: 'GET', url: '/api/admin/users', headers: { 'x-api-key': secret } })), 'SESSION_REQUIRED');
  // An administrator's key is not an administrator: it holds only the role it is bound to.
  const opsId = await createUser(t, admin, 'ops', 'Operator-console-5150', { isAdmin: true });
  const put = await t.app.inject({ method: 'PUT', url: `/api/admin/users/${opsId}/roles`, headers: bearer(admin), payload: { roles: ['writer'] } });
  assert.equal(put.statusCode, 204, put.body);
  const ops = (await login(t, 'ops', 'Operator-console-5150')).token;
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/users', headers: bearer(ops) })).statusCode, 200, 'ops is an administrator');
  const made = await createKey(t, ops, { name: 'root-key' });
  assert.equal(made.statusCode, 201, made.body);
  const adminKey = made.json().secret;
  assert.equal((await list(t, { 'x-api-key': adminKey })).statusCode, 200);
  // Administrator-only and permission routes that keys may call answer FORBIDDEN; the others need a session.
  for (const url of ['/api/admin/security-events', '/api/admin/collections', '/api/access/explain?user=x&collection=notes']) {
    assert.equal(code(await t.app.inject({ method: 'GET', url, headers: { 'x-api-key': adminKey } })), 'FORBIDDEN', url);
  }
  for (const url of ['/api/admin/users', '/api/admin/settings/lockout']) {
    assert.equal(code(await t.app.inject({ method: 'GET', url, headers: { 'x-api-key': adminKey } })), 'SESSION_REQUIRED', url);
  }
});

test("a key acts on its owner's behalf with the owner's permissions as they are now: a role taken from the owner is gone from the key at the next request [ASVS V8.3.2, V8.3.3]", async () => {
  const { secret } = (await createKey(t, ann, { name: 'delegate' })).json();
  assert.equal((await list(t, { 'x-api-key': secret })).statusCode, 200, 'the owner holds writer: so does the key');
  const annId = (await me(ann)).id;
  const roles = (r: string[]) => t.app.inject({ method: 'PUT', url: `/api/admin/users/${annId}/roles`, headers: bearer(admin), payload: { roles: r } });
  assert.equal((await roles(['keymaker'])).statusCode, 204);
  try {
    // The key's own binding still names writer, but the owner no longer holds it: no grant, answered like no collection.
    assert.equal(code(await list(t, { 'x-api-key': secret })), 'NOT_FOUND');
    const write = await t.app.inject({ method: 'POST', url: '/api/collections/notes/records', headers: { 'x-api-key': secret }, payload: { title: 'x' } });
    assert.equal(code(write), 'NOT_FOUND');
  } finally {
    assert.equal((await roles(['writer', 'keymaker'])).statusCode, 204);
  }
  assert.equal((await list(t, { 'x-api-key': secret })).statusCode, 200, 'given back, the key works again');
});

test('a key is bound only to a role its creator holds, and only holders of apikeys.manage create keys unless self-service is on [ASVS V8.3.3]', async () => {
  assert.equal((await createKey(t, ann, { name: 'km', role: 'keymaker' })).statusCode, 201, 'a role ann holds');
  const other = await createKey(t, ann, { role: 'auditor-none' });
  assert.equal(code(other), 'VALIDATION_FAILED');
  await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: bearer(admin), payload: { name: 'boss', permissions: ['users.manage'] } });
  assert.equal(code(await createKey(t, ann, { role: 'boss' })), 'PRIVILEGE_ESCALATION', 'a role ann does not hold');

  await createUser(t, admin, 'bob', 'Builder-hammer-7723');
  const bob = (await login(t, 'bob', 'Builder-hammer-7723')).token;
  const bobId = (await me(bob)).id;
  await t.app.inject({ method: 'PUT', url: `/api/admin/users/${bobId}/roles`, headers: bearer(admin), payload: { roles: ['writer'] } });
  assert.equal(code(await createKey(t, bob, {})), 'FORBIDDEN', 'no apikeys.manage, self-service off');
  await patchSettings({ selfService: true });
  assert.equal((await createKey(t, bob, {})).statusCode, 201, 'self-service on: every user for their own keys');
  await patchSettings({ selfService: false });
});

test('expiry: at most the maximum lifetime; "never" only where allowed, and then listed as a warning', async () => {
  assert.equal(code(await createKey(t, ann, { expiresIn: 91 * 86400 })), 'VALIDATION_FAILED');
  assert.equal(code(await createKey(t, ann, { expiresIn: null })), 'API_KEY_EXPIRY_REQUIRED');
  await patchSettings({ allowNever: true });
  const never = await createKey(t, ann, { name: 'forever', expiresIn: null });
  assert.equal(never.statusCode, 201);
  assert.equal(never.json().key.expiresAt, null);
  const all = (await t.app.inject({ method: 'GET', url: '/api/admin/api-keys', headers: bearer(admin) })).json();
  assert.ok(all.neverExpiring.some((k: { id: string }) => k.id === never.json().key.id));
  await patchSettings({ allowNever: false });
  const short = (await createKey(t, ann, { name: 'short', expiresIn: 60 })).json().secret;
  assert.equal((await list(t, { 'x-api-key': short })).statusCode, 200);
  t.clock.advance(61);
  assert.equal(code(await list(t, { 'x-api-key': short })), 'API_KEY_INVALID', 'an expired key is refused');
});

test('a read-only key reads and nothing else', async () => {
  const { secret } = (await createKey(t, ann, { name: 'anon', readOnly: true })).json();
  assert.equal((await list(t, { 'x-api-key': secret })).statusCode, 200);
  const w = await t.app.inject({ method: 'POST', url: '/api/collections/notes/records', headers: { 'x-api-key': secret }, payload: { title: 'no' } });
  assert.equal(code(w), 'API_KEY_READ_ONLY');
});

test('an address allow-list: the key works from a listed address only', async () => {
  const far = (await createKey(t, ann, { name: 'far', ipAllow: ['10.0.0.0/8'] })).json().secret;
  assert.equal(code(await list(t, { 'x-api-key': far })), 'API_KEY_ADDRESS_REFUSED');
  const near = (await createKey(t, ann, { name: 'near', ipAllow: ['127.0.0.1'] })).json().secret;
  assert.equal((await list(t, { 'x-api-key': near })).statusCode, 200);
  assert.equal(code(await createKey(t, ann, { ipAllow: ['not-an-address'] })), 'VALIDATION_FAILED');
});

test('rotation: the new key works at once, the old one for the grace period only', async () => {
  const first = (await createKey(t, ann, { name: 'rotating' })).json();
  const rot = await t.app.inject({ method: 'POST', url: `/api/auth/api-keys/${first.key.id}/rotate`, headers: bearer(ann), payload: { grace: 600 } });
  assert.equal(rot.statusCode, 201, rot.body);
  const second = rot.json();
  assert.notEqual(second.secret, first.secret);
  assert.equal(second.key.rotatedFrom, first.key.id);
  assert.equal((await list(t, { 'x-api-key': second.secret })).statusCode, 200);
  assert.equal((await list(t, { 'x-api-key': first.secret })).statusCode, 200, 'within the grace period');
  t.clock.advance(601);
  assert.equal(code(await list(t, { 'x-api-key': first.secret })), 'API_KEY_INVALID', 'after it');
  assert.equal((await list(t, { 'x-api-key': second.secret })).statusCode, 200);
  assert.equal((await events(t, admin, 'apikey.rotated')).length, 1);
});

async function me(token: string): Promise<{ id: string }> {
  return (await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) })).json().user;
}

async function patchSettings(body: Record<string, unknown>): Promise<void> {
  const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/api-keys', headers: bearer(admin), payload: body });
  assert.equal(r.statusCode, 200, r.body);
}
