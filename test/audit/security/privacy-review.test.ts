/**
 * Security review probes of AUDIT-5 (privacy) and AUDIT-1 (retention): each test asserts the SAFE behaviour,
 * so a failure demonstrates a finding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, login, useApp, type TestApp } from '../../helpers/app.js';

let t: TestApp;
let admin: string;
useApp(async (app, token) => {
  t = app;
  admin = token;
  await createUser(t, admin, 'alice', 'Harbour-lantern-7781');
  const r = await req('POST', '/api/admin/collections', {
    name: 'people',
    fields: [
      { name: 'name', type: 'string', required: true },
      { name: 'email', type: 'email', unique: true },
      { name: 'score', type: 'integer' },
    ],
    audit: { accessLog: 'filter', revisions: true },
  });
  assert.equal(r.statusCode, 201, r.body);
});

const req = (method: string, url: string, payload?: unknown, token = admin) =>
  t.app.inject({ method: method as 'GET', url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });

test('after an erasure by value, the erased address is not readable in the access log (filter mode)', async () => {
  const c = await req('POST', '/api/collections/people/records', { name: 'Zed Quark', email: 'zed.quark@example.org' });
  assert.equal(c.statusCode, 201, c.body);
  const l = await req('GET', `/api/collections/people/records?filter=${encodeURIComponent(JSON.stringify({ email: 'zed.quark@example.org' }))}`);
  assert.equal(l.statusCode, 200, l.body);
  const e = await req('POST', '/api/admin/privacy/erasure', {
    collection: 'people',
    by: { field: 'email', value: 'zed.quark@example.org' },
    action: 'anonymise',
    values: { name: { kind: 'hash' }, email: { kind: 'hash' } },
  });
  assert.equal(e.statusCode, 200, e.body);
  assert.equal(e.json().changed, 1);
  const raw = JSON.stringify(await t.s.db.selectFrom('audit_log').selectAll().execute());
  assert.ok(!raw.includes('zed.quark@example.org'), 'the erased address is still in audit_log (access entry filter)');
});

test('erasure by value with a number out of range is a 4xx, not a 5xx', async () => {
  for (const value of [1e300, 2 ** 64, 1.5]) {
    const r = await req('POST', '/api/admin/privacy/erasure', { collection: 'people', by: { field: 'score', value }, action: 'delete', dryRun: true });
    assert.ok(r.statusCode < 500, `${value}: ${r.statusCode} ${r.body}`);
  }
});

test('a deeply nested policy filter is a 4xx, not a 5xx', async () => {
  let f: Record<string, unknown> = { name: 'x' };
  for (let i = 0; i < 800; i++) f = { $and: [f] };
  const r = await req('POST', '/api/admin/collections/people/privacy-policies', { name: 'deep', action: 'delete', rule: { filter: f } });
  assert.ok(r.statusCode < 500, `${r.statusCode} ${r.body.slice(0, 200)}`);
  const r2 = await req('POST', '/api/admin/collections/people/privacy-policies', {
    name: 'wide',
    action: 'delete',
    rule: { filter: { score: { $in: Array.from({ length: 50000 }, (_, i) => i) } } },
  });
  assert.ok(r2.statusCode < 500, `${r2.statusCode} ${r2.body.slice(0, 200)}`);
});

test('retention dry run and prune refuse an unknown body field', async () => {
  const r = await req('POST', '/api/admin/audit/prune', { dryRun: true, kinds: ['system'] });
  assert.equal(r.statusCode, 400, r.body);
});

test('a non-administrator holding security.manage: their sign-in is recorded even with hideOrdinarySignIns', async () => {
  await req('POST', '/api/admin/roles', { name: 'secops', permissions: ['security.manage'] });
  const id = await createUser(t, admin, 'mallory', 'Quarterly-report-4411');
  await req('PUT', `/api/admin/users/${id}/roles`, { roles: ['secops'] });
  assert.equal((await req('PATCH', '/api/admin/settings/audit-log', { hideOrdinarySignIns: true })).statusCode, 200);
  await login(t, 'mallory', 'Quarterly-report-4411');
  const ev = await t.s.db
    .selectFrom('security_events')
    .select(['type', 'outcome', 'subject_id'])
    .where('type', '=', 'auth.login')
    .where('subject_id', '=', id)
    .execute();
  assert.ok(
    ev.some((e) => e.outcome === 'success'),
    'the sign-in of a security.manage holder went unrecorded',
  );
});

test('a non-administrator holding security.manage cannot shorten the security log to a day and prune it', async () => {
  const { token } = await login(t, 'mallory', 'Quarterly-report-4411');
  const p = await req('PATCH', '/api/admin/settings/audit-log', { securityDays: 1, changeDays: 1, accessDays: 1 }, token);
  assert.notEqual(p.statusCode, 200, 'a non-administrator shortened the retention of the security log');
  const r = await req('POST', '/api/admin/audit/prune', {}, token);
  assert.notEqual(r.statusCode, 200, r.body);
});
