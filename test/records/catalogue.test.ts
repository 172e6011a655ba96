// GET /api/collections (the data browser's home) and PATCH /api/admin/collections/:name/fields/:field
// (the collections editor's field change): what the access engine lets each caller see, nothing more.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearer, createUser, login, useApp, type TestApp } from '../helpers/app.js';

type Entry = { name: string; actions: string[]; fields: Array<{ name: string; read: boolean; filter: boolean; create: boolean; update: boolean }> };

describe('GET /api/collections: the collections and fields the caller may use', () => {
  let t: TestApp;
  let admin: string;
  const req = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, headers: Record<string, string>, payload?: unknown) =>
    t.app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const ok = async (p: Promise<{ statusCode: number; body: string }>, code = 201) => {
    const r = await p;
    assert.equal(r.statusCode, code, r.body);
  };
  const catalogue = async (headers: Record<string, string>): Promise<Entry[]> => {
    const r = await req('GET', '/api/collections', headers);
    assert.equal(r.statusCode, 200, r.body);
    return r.json().collections;
  };
  const pw = 'Quarterly-report-4411';

  useApp(async (app, token) => {
    t = app;
    admin = token;
    const a = bearer(admin);
    await ok(
      req('POST', '/api/admin/collections', a, {
        name: 'tickets',
        fields: [
          { name: 'title', type: 'string', required: true },
          { name: 'state', type: 'status', values: ['open', 'closed'] },
          { name: 'cost', type: 'integer' },
          { name: 'secret', type: 'text', hidden: true },
        ],
      }),
    );
    await ok(req('POST', '/api/admin/collections', a, { name: 'payroll', fields: [{ name: 'salary', type: 'integer' }] }));
    await ok(req('POST', '/api/admin/roles', a, { name: 'editor' }));
    await ok(
      req('POST', '/api/admin/grants', a, {
        role: 'editor',
        collection: 'tickets',
        actions: ['view', 'create', 'update', 'export'],
        fields: ['title', 'state'],
        scope: { createdBy: '$user.id' },
      }),
    );
    const ed = await createUser(t, admin, 'ed', pw);
    await ok(req('PUT', `/api/admin/users/${ed}/roles`, a, { roles: ['editor'] }), 204);
    await createUser(t, admin, 'nobody', pw);
  });

  it('refuses a caller who is not signed in', async () => {
    const r = await req('GET', '/api/collections', {});
    assert.equal(r.statusCode, 401);
  });

  it('a user with a scoped grant sees only that collection, only the granted fields, only the granted actions', async () => {
    const list = await catalogue(bearer((await login(t, 'ed', pw)).token));
    assert.deepEqual(
      list.map((c) => c.name),
      ['tickets'],
    );
    const [c] = list;
    assert.deepEqual(c!.actions, ['view', 'create', 'update', 'export']);
    assert.deepEqual(
      c!.fields.map((f) => f.name),
      ['title', 'state'],
    );
    assert.ok(c!.fields.every((f) => f.read && f.filter && f.create && f.update));
    assert.doesNotMatch(JSON.stringify(list), /cost|secret|payroll|salary/);
  });

  it('a user without any grant gets an empty list', async () => {
    assert.deepEqual(await catalogue(bearer((await login(t, 'nobody', pw)).token)), []);
  });

  it('an administrator sees every collection and every field except backend-only ones', async () => {
    const list = await catalogue(bearer(admin));
    assert.deepEqual(
      list.map((c) => c.name),
      ['payroll', 'tickets'],
    );
    assert.deepEqual(
      list[1]!.fields.map((f) => f.name),
      ['title', 'state', 'cost'],
    );
    assert.ok(list[1]!.actions.includes('delete'));
  });

  it('an API key gets what its role gets', async () => {
    const a = bearer(admin);
    await ok(req('POST', '/api/admin/roles', a, { name: 'keyholder', permissions: ['apikeys.manage'] }));
    const { token: ed, userId: edId } = await login(t, 'ed', pw);
    await ok(req('PUT', `/api/admin/users/${edId}/roles`, a, { roles: ['editor', 'keyholder'] }), 204);
    const k = await req('POST', '/api/auth/api-keys', bearer(ed), { name: 'ci', role: 'editor' });
    assert.equal(k.statusCode, 201, k.body);
    const list = await catalogue({ 'x-api-key': k.json().secret });
    assert.deepEqual(
      list.map((c) => [c.name, c.fields.map((f) => f.name)]),
      [['tickets', ['title', 'state']]],
    );
  });
});

describe('PATCH /api/admin/collections/:name/fields/:field: options that need no column change', () => {
  let t: TestApp;
  let admin: string;
  useApp(async (app, token) => {
    t = app;
    admin = token;
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/admin/collections',
      headers: bearer(admin),
      payload: {
        name: 'things',
        fields: [
          { name: 'kind', type: 'enum', values: ['a', 'b'] },
          { name: 'note', type: 'text' },
        ],
      },
    });
    assert.equal(r.statusCode, 201, r.body);
  });
  const patch = (field: string, payload: unknown, token = admin) =>
    t.app.inject({ method: 'PATCH', url: `/api/admin/collections/things/fields/${field}`, headers: bearer(token), payload: payload as object });

  it('changes required, values (added) and hidden; audited', async () => {
    const r = await patch('kind', { required: true, values: ['a', 'b', 'c'] });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(r.json().collection.fields[0], { name: 'kind', type: 'enum', required: true, values: ['a', 'b', 'c'] });
    const h = await patch('note', { hidden: true });
    assert.equal(h.json().collection.fields[1].hidden, true);
    const cleared = await patch('note', { hidden: null });
    assert.equal(cleared.json().collection.fields[1].hidden, undefined);
    const ev = await t.app.inject({ method: 'GET', url: '/api/admin/security-events?type=schema.changed', headers: bearer(admin) });
    assert.ok(ev.json().events.some((e: { details: { change: string; field: string } }) => e.details.change === 'field.changed' && e.details.field === 'kind'));
  });

  it('refuses removing a value, a default that does not fit, a change of type, an unknown field and a caller without schema.manage', async () => {
    const removed = await patch('kind', { values: ['a'] });
    assert.equal(removed.statusCode, 400);
    assert.equal(removed.json().error.code, 'SCHEMA_INVALID');
    assert.equal((await patch('kind', { default: 'zzz' })).json().error.code, 'SCHEMA_INVALID');
    assert.equal((await patch('kind', { type: 'string' })).json().error.code, 'VALIDATION_FAILED');
    assert.equal((await patch('nope', { required: true })).statusCode, 404);
    await createUser(t, admin, 'plain', 'Quarterly-report-4411');
    const plain = (await login(t, 'plain', 'Quarterly-report-4411')).token;
    assert.equal((await patch('kind', { required: false }, plain)).statusCode, 403);
  });
});
