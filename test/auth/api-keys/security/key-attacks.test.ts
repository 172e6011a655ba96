// Attacks on API keys: a key after revocation, a key of a locked, disabled or deleted owner, a key whose
// owner lost its role, a guessed key, a key used on key, password and session management, two credentials
// at once. Each is refused at the very next request; the legitimate key gets through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, events, login, useApp, type TestApp } from '../../../helpers/app.js';
import { ANN_PW, code, createKey, list, notesWorld } from '../world.js';

let t: TestApp;
let admin: string;
let ann: string;
let annId: string;
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    ({ ann, annId } = await notesWorld(t, admin));
  },
  {},
  true,
);

const key = async (body: Record<string, unknown> = {}) => (await createKey(t, ann, body)).json() as { key: { id: string }; secret: string };

test('a revoked key is refused at once; revoking is audited; another key lives on', async () => {
  const a = await key({ name: 'a' });
  const b = await key({ name: 'b' });
  assert.equal((await list(t, { 'x-api-key': a.secret })).statusCode, 200);
  const del = await t.app.inject({ method: 'DELETE', url: `/api/auth/api-keys/${a.key.id}`, headers: bearer(ann) });
  assert.equal(del.statusCode, 204);
  assert.equal(code(await list(t, { 'x-api-key': a.secret })), 'API_KEY_INVALID');
  assert.equal((await list(t, { 'x-api-key': b.secret })).statusCode, 200);
  assert.equal((await events(t, admin, 'apikey.revoked')).length, 1);
  const refused = await events(t, admin, 'auth.api_key');
  assert.equal(refused.length, 1);
  assert.equal(refused[0]!.details.reason, 'revoked');
  // An administrator revokes any key; another user's key answers like a missing one.
  const c = await key({ name: 'c' });
  const other = await t.app.inject({ method: 'DELETE', url: `/api/admin/api-keys/${c.key.id}`, headers: bearer(admin) });
  assert.equal(other.statusCode, 204);
  assert.equal(code(await list(t, { 'x-api-key': c.secret })), 'API_KEY_INVALID');
});

test("a locked, then disabled, then deleted owner's key is refused at the next request", async () => {
  const k = await key();
  assert.equal((await list(t, { 'x-api-key': k.secret })).statusCode, 200);
  await t.app.inject({ method: 'POST', url: `/api/admin/users/${annId}/lock`, headers: bearer(admin), payload: { reason: 'test' } });
  assert.equal(code(await list(t, { 'x-api-key': k.secret })), 'ACCOUNT_LOCKED');
  await t.app.inject({ method: 'POST', url: `/api/admin/users/${annId}/unlock`, headers: bearer(admin) });
  assert.equal((await list(t, { 'x-api-key': k.secret })).statusCode, 200, 'unlocked: the key works again');
  await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${annId}`, headers: bearer(admin), payload: { status: 'disabled' } });
  assert.notEqual((await list(t, { 'x-api-key': k.secret })).statusCode, 200);
  await t.app.inject({ method: 'DELETE', url: `/api/admin/users/${annId}`, headers: bearer(admin) });
  assert.equal(code(await list(t, { 'x-api-key': k.secret })), 'API_KEY_INVALID');
});

test('a key whose owner lost its role acts with no role at all', async () => {
  const k = await key();
  await t.app.inject({ method: 'PUT', url: `/api/admin/users/${annId}/roles`, headers: bearer(admin), payload: { roles: ['keymaker'] } });
  // No grant: the collection is as invisible as to any caller without one.
  assert.equal(code(await list(t, { 'x-api-key': k.secret })), 'NOT_FOUND');
});

test('a key never manages keys, passwords or sessions, and never opens a session', async () => {
  const k = await key();
  const h = { 'x-api-key': k.secret };
  const calls: Array<[string, string, unknown?]> = [
    ['POST', '/api/auth/api-keys', { name: 'child', role: 'writer' }],
    ['GET', '/api/auth/api-keys'],
    ['DELETE', `/api/auth/api-keys/${k.key.id}`],
    ['POST', `/api/auth/api-keys/${k.key.id}/rotate`, {}],
    ['POST', '/api/auth/password', { currentPassword: 'x', newPassword: 'Another-secret-phrase-77' }],
    ['PUT', '/api/auth/active-role', { role: null }],
    ['GET', '/api/auth/sessions'],
    ['GET', '/api/auth/me'],
    ['POST', '/api/auth/logout-all'],
    ['GET', '/api/admin/api-keys'],
  ];
  for (const [method, url, payload] of calls) {
    const r = await t.app.inject({ method: method as 'GET', url, headers: h, ...(payload ? { payload: payload as object } : {}) });
    assert.equal(code(r), 'SESSION_REQUIRED', `${method} ${url}: ${r.body}`);
  }
  assert.equal((await list(t, h)).statusCode, 200, 'the key itself still works');
  const sessions = (await t.app.inject({ method: 'GET', url: `/api/admin/users/${annId}/sessions`, headers: bearer(admin) })).json().sessions;
  assert.equal(sessions.length, 1, 'only the session ann signed in with');
});

test('guessed, malformed and doubled credentials are refused; refusals are sampled in the log [ASVS V16.3.1]', async () => {
  const k = await key();
  const wrong = `pal_${'0'.repeat(64)}`;
  for (const v of [wrong, 'pal_', 'pal_XYZ', `${k.secret}0`, k.secret.toUpperCase()]) {
    assert.equal(code(await list(t, { 'x-api-key': v })), 'API_KEY_INVALID', v);
  }
  assert.equal(code(await list(t, { ...bearer(ann), 'x-api-key': k.secret })), 'API_KEY_INVALID', 'a key beside a session token');
  assert.equal((await events(t, admin, 'auth.api_key')).length, 1, 'one event a minute per address for unknown keys');
  assert.equal((await list(t, { 'x-api-key': k.secret })).statusCode, 200);
});

test('a key never reaches credential, session, user or security management under /api/admin, whatever its role holds', async () => {
  // A role with every management permission; ann's key bound to it.
  await t.app.inject({
    method: 'POST',
    url: '/api/admin/roles',
    headers: bearer(admin),
    payload: { name: 'helpdesk', permissions: ['users.manage', 'apikeys.manage', 'security.manage', 'schema.manage', 'audit.read', 'accounts.unlock'] },
  });
  await t.app.inject({ method: 'PUT', url: `/api/admin/users/${annId}/roles`, headers: bearer(admin), payload: { roles: ['writer', 'keymaker', 'helpdesk'] } });
  const k = await key({ name: 'helpdesk', role: 'helpdesk' });
  const h = { 'x-api-key': k.secret };
  const other = (
    await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(admin),
      payload: { mustChangePassword: false, username: 'victim', password: 'Quiet-meadow-2931' },
    })
  ).json().user.id;
  const calls: Array<[string, string, unknown?]> = [
    ['PUT', `/api/admin/users/${annId}/password`, { password: 'Taken-over-password-77' }],
    ['PUT', `/api/admin/users/${other}/password`, { password: 'Taken-over-password-77' }],
    ['GET', `/api/admin/users/${other}/sessions`],
    ['DELETE', `/api/admin/users/${other}/sessions`],
    ['POST', `/api/admin/users/${other}/lock`, { reason: 'x' }],
    ['POST', '/api/admin/users', { username: 'made-by-key', password: 'Made-by-key-password-1' }],
    ['PATCH', '/api/admin/settings/api-keys', { allowNever: true, basicAuth: true, selfService: true }],
    ['PATCH', '/api/admin/settings/lockout', { maxAttempts: 100 }],
    ['POST', '/api/admin/keys/rotate'],
    ['GET', '/api/admin/users'],
  ];
  for (const [method, url, payload] of calls) {
    const r = await t.app.inject({ method: method as 'GET', url, headers: h, ...(payload ? { payload: payload as object } : {}) });
    assert.equal(code(r), 'SESSION_REQUIRED', `${method} ${url}: ${r.body}`);
  }
  // ann's password is unchanged: the key could not turn itself into a session.
  assert.equal(
    (await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'ann', password: 'Taken-over-password-77' } })).statusCode,
    401,
  );
  // What automation needs stays open: the schema and the event log, each audited with the key's id.
  const made = await t.app.inject({
    method: 'POST',
    url: '/api/admin/collections',
    headers: h,
    payload: { name: 'tickets', fields: [{ name: 'title', type: 'string' }] },
  });
  assert.equal(made.statusCode, 201, made.body);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/security-events?type=schema.changed', headers: h })).statusCode, 200);
  const changed = (await events(t, admin, 'schema.changed')).find((e) => JSON.stringify(e.details).includes('tickets'));
  assert.deepEqual(changed?.details.via, { method: 'apikey', keyId: k.key.id }, 'the event names the key that made the change');
});

test("an administrator cannot set their own password through the administrator's path (it needs the current one)", async () => {
  const rootId = (await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) })).json().user.id;
  const self = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${rootId}/password`,
    headers: bearer(admin),
    payload: { mustChangePassword: false, password: 'Another-root-password-9' },
  });
  assert.equal(code(self), 'CANNOT_MODIFY_SELF');
  const other = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${annId}/password`,
    headers: bearer(admin),
    payload: { mustChangePassword: false, password: 'Reset-by-admin-4411' },
  });
  assert.equal(other.statusCode, 204, "another user's password: allowed");
});

test("an administrator's key acts with its role only: no administrator bypass on records, explain or the collection list", async () => {
  // A second administrator who also holds the writer role (view and create notes, the title only).
  const boss = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'boss', password: 'Quarterly-report-4411', isAdmin: true },
  });
  assert.equal(boss.statusCode, 201, boss.body);
  const bossId = boss.json().user?.id ?? boss.json().id;
  const roles = await t.app.inject({ method: 'PUT', url: `/api/admin/users/${bossId}/roles`, headers: bearer(admin), payload: { roles: ['writer'] } });
  assert.equal(roles.statusCode, 204, roles.body);
  const bossToken = (await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'boss', password: 'Quarterly-report-4411' } })).json()
    .token;
  const made = await createKey(t, bossToken, { name: 'boss-key', role: 'writer' });
  assert.equal(made.statusCode, 201, made.body);
  const secret = made.json().secret as string;
  // The session bypasses grants (an administrator); the key does not: the writer role may not delete.
  const rec = (await t.app.inject({ method: 'POST', url: '/api/collections/notes/records', headers: bearer(admin), payload: { title: 'keep me' } })).json();
  const id = rec.id ?? rec.record?.id;
  const del = await t.app.inject({ method: 'DELETE', url: `/api/collections/notes/records/${id}`, headers: { 'x-api-key': secret } });
  assert.ok([403, 404].includes(del.statusCode), `an administrator's key may not delete: ${del.statusCode} ${del.body}`);
  assert.equal((await t.app.inject({ method: 'GET', url: `/api/collections/notes/records/${id}`, headers: bearer(admin) })).statusCode, 200, 'still there');
  // Legitimate: the key does what its role allows.
  assert.equal((await list(t, { 'x-api-key': secret })).statusCode, 200);
  const made2 = await t.app.inject({ method: 'POST', url: '/api/collections/notes/records', headers: { 'x-api-key': secret }, payload: { title: 'by key' } });
  assert.equal(made2.statusCode, 201, made2.body);
  // No bypass audit either: the key's reads are ordinary reads.
  assert.equal((await events(t, admin, 'record.bypass')).filter((e) => e.actorId === bossId).length, 0);
});

test("account recovery ends the account's API keys with its sessions: an administrator's new password, a second-factor reset (persistence after compromise)", async () => {
  const recover = [
    () =>
      t.app.inject({
        method: 'PUT',
        url: `/api/admin/users/${annId}/password`,
        headers: bearer(admin),
        payload: { password: 'Recovered-lantern-5531', mustChangePassword: false },
      }),
    () =>
      t.app.inject({
        method: 'POST',
        url: `/api/admin/users/${annId}/mfa/reset`,
        headers: bearer(admin),
        payload: { identityCheck: { method: 'in_person', reference: 'ticket 4411' } },
      }),
  ];
  let password = ANN_PW;
  for (const [i, act] of recover.entries()) {
    ann = (await login(t, 'ann', password)).token;
    // A key made with the session (as one made with a stolen session would be), and one made before.
    const k = await key({ name: `kept-${i}` });
    assert.equal((await list(t, { 'x-api-key': k.secret })).statusCode, 200);
    const r = await act();
    assert.ok(r.statusCode === 204 || r.statusCode === 200, r.body);
    if (i === 0) password = 'Recovered-lantern-5531';
    assert.equal(code(await list(t, { 'x-api-key': k.secret })), 'API_KEY_INVALID');
    const revoked = (await events(t, admin, 'apikey.revoked')).filter((e) => e.subjectId === annId && e.details.reason !== undefined);
    const ended = revoked.find((e) => e.details.reason === (i === 0 ? 'password_set' : 'mfa_reset'));
    assert.ok(ended && (ended.details.ids as string[]).includes(k.key.id), JSON.stringify(revoked));
  }
  // The owner's own password change (they proved the current one) keeps their keys.
  ann = (await login(t, 'ann', password)).token;
  const kept = await key({ name: 'after' });
  const change = await t.app.inject({
    method: 'POST',
    url: '/api/auth/password',
    headers: bearer(ann),
    payload: { currentPassword: password, newPassword: 'Changed-harbour-7712' },
  });
  assert.equal(change.statusCode, 200, change.body);
  assert.equal((await list(t, { 'x-api-key': kept.secret })).statusCode, 200);
  ann = (await login(t, 'ann', 'Changed-harbour-7712')).token;
});
