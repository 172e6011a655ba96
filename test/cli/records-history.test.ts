/** `palisade records ...`: a record's revisions and status times from the CLI, with the named user's grants. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, cliEnv, createUser, useApp, type TestApp } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';

let t: TestApp;
let admin: string;
let id: string;
useApp(async (app, token) => {
  t = app;
  admin = token;
  const req = (method: string, url: string, payload?: unknown) =>
    t.app.inject({ method: method as 'GET', url, headers: bearer(admin), ...(payload !== undefined ? { payload: payload as object } : {}) });
  assert.equal(
    (
      await req('POST', '/api/admin/collections', {
        name: 'tickets',
        fields: [
          { name: 'title', type: 'string' },
          { name: 'state', type: 'status', values: ['new', 'done'], default: 'new' },
        ],
        audit: { revisions: true },
      })
    ).statusCode,
    201,
  );
  id = (await req('POST', '/api/collections/tickets/records', { title: 'first' })).json().id;
  assert.equal((await req('PATCH', `/api/collections/tickets/records/${id}`, { title: 'second', state: 'done' })).statusCode, 200);
  assert.equal((await req('POST', '/api/admin/roles', { name: 'reader' })).statusCode, 201);
  assert.equal(
    (await req('POST', '/api/admin/grants', { role: 'reader', collection: 'tickets', actions: ['view'], fields: ['title', 'state'] })).statusCode,
    201,
  );
  const rid = await createUser(t, admin, 'reader1', 'Reader-password-4411');
  assert.equal((await req('PUT', `/api/admin/users/${rid}/roles`, { roles: ['reader'] })).statusCode, 204);
});

const run = (...args: string[]) => cli(['records', ...args], cliEnv(t));

test('lists, shows and compares revisions and gives status times, with the user named by --as', async () => {
  const h = await run('history', '--as', 'reader1', '--collection', 'tickets', '--id', id);
  assert.equal(h.code, 0, h.stderr);
  assert.deepEqual(
    JSON.parse(h.stdout).revisions.map((r: { rev: number }) => r.rev),
    [1],
  );
  const v = await run('revision', '--as', 'reader1', '--collection', 'tickets', '--id', id, '--rev', '1');
  assert.equal(JSON.parse(v.stdout).record.title, 'first');
  const d = await run('diff', '--as', 'reader1', '--collection', 'tickets', '--id', id, '--rev', '1');
  assert.ok(JSON.parse(d.stdout).changes.some((c: { field: string }) => c.field === 'title'));
  const st = await run('status-times', '--as', 'reader1', '--collection', 'tickets', '--id', id);
  assert.equal(st.code, 0, st.stderr);
  assert.equal(JSON.parse(st.stdout).fields[0].field, 'state');
});

test('a restore needs the update grant: refused for a reader, done for an administrator', async () => {
  const refused = await run('restore', '--as', 'reader1', '--collection', 'tickets', '--id', id, '--rev', '1');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /FORBIDDEN/);
  const done = await run('restore', '--as', 'root', '--collection', 'tickets', '--id', id, '--rev', '1');
  assert.equal(done.code, 0, done.stderr);
  assert.equal(JSON.parse(done.stdout).record.title, 'first');
  const log = (await t.app.inject({ method: 'GET', url: `/api/admin/audit?recordId=${id}&kind=change&limit=1`, headers: bearer(admin) })).json().entries[0];
  assert.equal(log.operation, 'restore');
  assert.equal(log.actor.name, 'root (cli)');
});

test('bad arguments are usage errors', async () => {
  assert.equal((await run('history', '--collection', 'tickets', '--id', id)).code, 2);
  assert.equal((await run('revision', '--as', 'root', '--collection', 'tickets', '--id', id, '--rev', 'x')).code, 2);
  assert.equal((await run('history', '--as', 'nobody', '--collection', 'tickets', '--id', id)).code, 2);
});
