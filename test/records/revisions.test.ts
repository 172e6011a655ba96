/**
 * AUDIT-4 through the records API: a record's revisions listed, viewed, compared and restored, each
 * through the caller's access plan. Security cases name what they guard against: a field hidden by
 * the grants leaking through an old version or a diff (masking bypass), a record's history read by
 * someone who cannot view the record (existence oracle), a restore by someone who may not update
 * (write bypass through a side door).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { bearer, createUser, login, useApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
const tokens: Record<string, string> = {};
let docId: string;

const req = (method: string, url: string, token: string, payload?: unknown) =>
  t.app.inject({ method: method as 'GET', url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
const ok = (r: { statusCode: number; body: string }, code = 200) => assert.equal(r.statusCode, code, r.body);
const code = (r: { json(): { error?: { code: string } } }) => r.json().error?.code;
const base = (id = docId) => `/api/collections/docs/records/${id}`;

const PW = 'Revision-keeper-7731';
/**
 * editor: views and updates every field but the backend-only one; reader: title and state, and the
 * body of published documents only; viewer: reads all but may not update; clerk: reads all, updates
 * the title only; drafter: updates drafts only; scoped: the salary and body where scopes on number, date-time and boolean values hold; maker: may only create (no view grant); other: sees only documents titled "other";
 * published: sees published documents only.
 */
useApp(async (app, token) => {
  t = app;
  admin = token;
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'docs',
      fields: [
        { name: 'title', type: 'string', required: true },
        { name: 'body', type: 'text' },
        { name: 'state', type: 'status', values: ['draft', 'published'], default: 'draft' },
        { name: 'salary', type: 'integer', block: 'finance' },
        { name: 'secret', type: 'text', hidden: true },
        { name: 'due', type: 'datetime' },
        { name: 'flag', type: 'boolean' },
      ],
    }),
    201,
  );
  ok(await req('PATCH', '/api/admin/collections/docs', admin, { audit: { revisions: true } }));
  const all = ['title', 'body', 'state', 'block:finance', 'due', 'flag'];
  const grants: Record<string, Array<Record<string, unknown>>> = {
    editor: [{ actions: ['view', 'update', 'create'], fields: all }],
    reader: [
      { actions: ['view'], fields: ['title', 'state'] },
      { actions: ['view'], fields: ['body'], statuses: ['published'] },
    ],
    viewer: [{ actions: ['view'], fields: all }],
    clerk: [
      { actions: ['view'], fields: all },
      { actions: ['update'], fields: ['title'] },
    ],
    scoped: [
      { actions: ['view'], fields: ['title'] },
      { actions: ['view'], fields: ['salary'], scope: { salary: { $gt: 2000 }, due: { $lt: '2027-01-01T00:00:00Z' } } },
      { actions: ['view'], fields: ['body'], scope: { flag: false } },
    ],
    drafter: [
      { actions: ['view'], fields: all },
      { actions: ['update'], fields: all, statuses: ['draft'] },
    ],
    maker: [{ actions: ['create'], fields: ['title'] }],
    other: [{ actions: ['view', 'update'], fields: all, scope: { title: 'other' } }],
    published: [{ actions: ['view'], fields: ['title', 'body', 'state'], statuses: ['published'] }],
  };
  for (const [role, list] of Object.entries(grants)) {
    ok(await req('POST', '/api/admin/roles', admin, { name: role }), 201);
    for (const g of list) ok(await req('POST', '/api/admin/grants', admin, { role, collection: 'docs', ...g }), 201);
    const id = await createUser(t, admin, role, PW);
    ok(await req('PUT', `/api/admin/users/${id}/roles`, admin, { roles: [role] }), 204);
    tokens[role] = (await login(t, role, PW)).token;
  }
  // Version 1: a draft with a salary and a secret; 2: new body; 3 (current): published, new salary.
  const c = await req('POST', '/api/collections/docs/records', admin, {
    title: 'Plan',
    body: 'DRAFT-BODY-1',
    salary: 1111,
    secret: 'SECRET-OLD',
    due: '2026-01-02T03:04:05.000Z',
    flag: true,
  });
  ok(c, 201);
  docId = c.json().id;
  ok(await req('PATCH', base(), tokens.editor!, { body: 'DRAFT-BODY-2', salary: 2222 }));
  ok(await req('PATCH', base(), admin, { state: 'published', body: 'PUBLIC-BODY', salary: 3333, secret: 'SECRET-NEW', flag: false }));
});

const changeEntries = async (id = docId) => {
  const r = await req('GET', `/api/admin/audit?kind=change&collection=docs&recordId=${id}`, admin);
  ok(r);
  return r.json().entries as Array<{ operation: string; actor: { name: string }; changes: Array<{ field: string; old?: unknown; new?: unknown }> }>;
};
const revCount = async (id = docId) => (await t.s.db.selectFrom('record_revisions').select('id').where('record_id', '=', id).execute()).length;

test('an editor lists the revisions newest first, with who replaced each version and when, page by page', async () => {
  const r = await req('GET', `${base()}/revisions`, tokens.editor!);
  ok(r);
  const body = r.json();
  assert.equal(body.kept, true);
  assert.deepEqual(
    body.revisions.map((x: { rev: number; operation: string; actor: { name: string } }) => [x.rev, x.operation, x.actor.name]),
    [
      [2, 'update', 'root'],
      [1, 'update', 'editor'],
    ],
  );
  assert.equal(body.next, null);
  assert.equal(body.revisions[0].at, new Date(t.clock.now()).toISOString());
  const p1 = (await req('GET', `${base()}/revisions?limit=1`, tokens.editor!)).json();
  assert.deepEqual([p1.revisions.map((x: { rev: number }) => x.rev), p1.next], [[2], 2]);
  const p2 = (await req('GET', `${base()}/revisions?limit=1&beforeRev=${p1.next}`, tokens.editor!)).json();
  assert.deepEqual(
    p2.revisions.map((x: { rev: number }) => x.rev),
    [1],
  );
});

test('an editor views a stored version with every field their grants show; the backend-only field never shows, not even to an administrator', async () => {
  const r = await req('GET', `${base()}/revisions/1`, tokens.editor!);
  ok(r);
  const v = r.json();
  assert.equal(v.rev, 1);
  assert.deepEqual(v.record, {
    id: docId,
    title: 'Plan',
    body: 'DRAFT-BODY-1',
    state: 'draft',
    salary: 1111,
    due: '2026-01-02T03:04:05.000Z',
    flag: true,
  });
  const a = await req('GET', `${base()}/revisions/1`, admin);
  ok(a);
  assert.equal(a.json().record.salary, 1111);
  for (const x of [r, a]) assert.ok(!x.body.includes('SECRET-'), 'a backend-only value left the server');
});

test('masking bypass: a reader never sees a field their grant does not show in a revision or a diff, nor an old value of one [ASVS V8.2.3]', async () => {
  const r = await req('GET', `${base()}/revisions/1`, tokens.reader!);
  ok(r);
  // The body shows on published documents only: the draft version's body stays hidden, though the record is published now.
  assert.deepEqual(r.json().record, { id: docId, title: 'Plan', state: 'draft' });
  const d = await req('GET', `${base()}/revisions/1/diff`, tokens.reader!);
  ok(d);
  assert.deepEqual(d.json(), { rev: 1, against: 'current', changes: [{ field: 'state', from: 'draft', to: 'published' }] });
  const d2 = await req('GET', `${base()}/revisions/1/diff?against=2`, tokens.reader!);
  ok(d2);
  assert.deepEqual(d2.json().changes, []);
  for (const x of [r, d, d2]) for (const s of ['1111', '2222', '3333', 'DRAFT-BODY', 'SECRET-']) assert.ok(!x.body.includes(s), `${s} leaked`);
  // The current version's body is theirs to read, as on the record itself.
  assert.equal((await req('GET', base(), tokens.reader!)).json().body, 'PUBLIC-BODY');
});

test('masking bypass: a scoped grant shows a field in a version only where its scope held on that version', async () => {
  // Now: salary 3333 (scope holds) and flag false (the body grant holds).
  const now = (await req('GET', base(), tokens.scoped!)).json();
  assert.deepEqual([now.salary, now.body], [3333, 'PUBLIC-BODY']);
  const v1 = await req('GET', `${base()}/revisions/1`, tokens.scoped!);
  assert.deepEqual(v1.json().record, { id: docId, title: 'Plan' });
  const v2 = await req('GET', `${base()}/revisions/2`, tokens.scoped!);
  assert.deepEqual(v2.json().record, { id: docId, title: 'Plan', salary: 2222 });
  const d = await req('GET', `${base()}/revisions/2/diff`, tokens.scoped!);
  assert.deepEqual(d.json().changes, [{ field: 'salary', from: 2222, to: 3333 }]);
  for (const x of [v1, v2, d]) for (const s of ['1111', 'DRAFT-BODY', 'SECRET-']) assert.ok(!x.body.includes(s), `${s} leaked`);
});

test('history leak past the row scope: a version the caller sees nothing of is listed and shown without who changed it or when [ASVS V8.2.2]', async () => {
  // Version 1 published, 2 a draft (by the editor), now published again (by root).
  const c = await req('POST', '/api/collections/docs/records', admin, { title: 'Notice', body: 'PUBLIC-1', state: 'published' });
  ok(c, 201);
  const id = c.json().id;
  t.clock.advance(60);
  ok(await req('PATCH', base(id), tokens.editor!, { state: 'draft', body: 'DRAFT-X' }));
  t.clock.advance(60);
  ok(await req('PATCH', base(id), admin, { state: 'published', body: 'PUBLIC-2' }));
  const r = await req('GET', `${base(id)}/revisions`, tokens.published!);
  ok(r);
  const [hidden, shown] = r.json().revisions;
  // The draft version was outside their view: its number only, not the change that ended it (by root, at now).
  assert.deepEqual(hidden, { rev: 2, hidden: true });
  assert.ok(!r.body.includes('root') && !r.body.includes(new Date(t.clock.now()).toISOString()), 'who ended a hidden version, or when, leaked');
  // The published version they could see: when and by whom, as for everyone.
  assert.deepEqual(
    [shown.rev, shown.hidden, shown.operation, shown.actor.name, shown.at],
    [1, undefined, 'update', 'editor', new Date(t.clock.now() - 60_000).toISOString()],
  );
  const v2 = await req('GET', `${base(id)}/revisions/2`, tokens.published!);
  ok(v2);
  assert.deepEqual(v2.json(), { rev: 2, hidden: true, record: { id } });
  assert.deepEqual((await req('GET', `${base(id)}/revisions/1`, tokens.published!)).json().record, {
    id,
    title: 'Notice',
    body: 'PUBLIC-1',
    state: 'published',
  });
  // An editor, who sees every version, gets both in full.
  const e = (await req('GET', `${base(id)}/revisions`, tokens.editor!)).json().revisions;
  assert.deepEqual(
    e.map((x: { rev: number; hidden?: true; actor: { name: string } }) => [x.rev, x.hidden, x.actor.name]),
    [
      [2, undefined, 'root'],
      [1, undefined, 'editor'],
    ],
  );
});

test('an editor compares two revisions or a revision with the current record, field by field', async () => {
  const d = await req('GET', `${base()}/revisions/1/diff?against=2`, tokens.editor!);
  ok(d);
  assert.deepEqual(d.json(), {
    rev: 1,
    against: 2,
    changes: [
      { field: 'body', from: 'DRAFT-BODY-1', to: 'DRAFT-BODY-2' },
      { field: 'salary', from: 1111, to: 2222 },
    ],
  });
  const c = (await req('GET', `${base()}/revisions/2/diff?against=current`, tokens.editor!)).json();
  assert.deepEqual(
    c.changes.map((x: { field: string }) => x.field),
    ['body', 'state', 'salary', 'flag'],
  );
  assert.ok(!JSON.stringify(c).includes('SECRET-'));
});

test('existence oracle: without a view of the record, its history is 404 like a guessed id', async () => {
  const guessed = base('no-such-record-0001');
  for (const who of ['maker', 'other']) {
    for (const path of ['/revisions', '/revisions/1', '/revisions/1/diff', '/status-times']) {
      const r = await req('GET', `${base()}${path}`, tokens[who]!);
      assert.equal(r.statusCode, 404, `${who} ${path}: ${r.body}`);
      assert.equal(r.body, (await req('GET', `${guessed}${path}`, tokens[who]!)).body);
    }
    const before = await revCount();
    const r = await req('POST', `${base()}/revisions/1/restore`, tokens[who]!, {});
    assert.equal(r.statusCode, 404, `${who}: ${r.body}`);
    assert.equal(await revCount(), before);
  }
  // A signed-in user with no grant on the collection at all gets the same.
  await createUser(t, admin, 'nobody', PW);
  const nobody = (await login(t, 'nobody', PW)).token;
  assert.equal((await req('GET', `${base()}/revisions`, nobody)).statusCode, 404);
  // A revision that does not exist is 404 for those who see the record.
  assert.equal((await req('GET', `${base()}/revisions/99`, tokens.editor!)).statusCode, 404);
});

test('write bypass: a user without an update grant cannot restore; nothing changes and nothing is logged', async () => {
  const before = { rec: (await req('GET', base(), admin)).body, entries: (await changeEntries()).length, revs: await revCount() };
  const r = await req('POST', `${base()}/revisions/1/restore`, tokens.viewer!, {});
  assert.equal(r.statusCode, 403, r.body);
  assert.equal(code(r), 'FORBIDDEN');
  const named = await req('POST', `${base()}/revisions/1/restore`, tokens.viewer!, { fields: ['title'] });
  assert.equal(named.statusCode, 403, named.body);
  // A drafter updates drafts only: the published record is outside their write grants, whatever is named.
  for (const body of [{}, { fields: ['title'] }, { fields: ['body'] }]) {
    const d = await req('POST', `${base()}/revisions/1/restore`, tokens.drafter!, body);
    assert.equal(d.statusCode, 403, d.body);
    assert.equal(code(d), 'FORBIDDEN');
  }
  // A clerk may write the title only: naming the salary is refused whole.
  const clerk = await req('POST', `${base()}/revisions/1/restore`, tokens.clerk!, { fields: ['salary', 'title'] });
  assert.equal(clerk.statusCode, 403, clerk.body);
  assert.equal(code(clerk), 'FIELD_NOT_WRITABLE');
  // ... and so is naming a field they may not write whose value is unchanged (the due date).
  const same = await req('POST', `${base()}/revisions/1/restore`, tokens.clerk!, { fields: ['due'] });
  assert.equal(code(same), 'FIELD_NOT_WRITABLE', same.body);
  assert.equal((await req('GET', base(), admin)).body, before.rec);
  assert.equal((await changeEntries()).length, before.entries);
  assert.equal(await revCount(), before.revs);
});

test('a restore goes through the update path: only writable fields, a restore entry in the change log, a new revision', async () => {
  // The clerk restores what they may write (the title is unchanged, so nothing) and is told what was left.
  ok(await req('PATCH', base(), tokens.editor!, { title: 'Plan B' }));
  const revs = await revCount();
  const c = await req('POST', `${base()}/revisions/1/restore`, tokens.clerk!, {});
  ok(c);
  assert.deepEqual(c.json().restored, ['title']);
  assert.deepEqual(c.json().skipped.sort(), ['body', 'flag', 'salary', 'state']);
  assert.equal(c.json().record.title, 'Plan');
  assert.equal(c.json().record.salary, 3333);
  assert.equal(await revCount(), revs + 1);
  let log = await changeEntries();
  assert.equal(log[0]!.operation, 'restore');
  assert.equal(log[0]!.actor.name, 'clerk');
  assert.deepEqual(
    log[0]!.changes.map((x) => [x.field, x.old, x.new]),
    [['title', 'Plan B', 'Plan']],
  );
  // The editor restores the whole first version they can write; the backend-only field keeps its value.
  const e = await req('POST', `${base()}/revisions/1/restore`, tokens.editor!, {});
  ok(e);
  assert.deepEqual(e.json().skipped, []);
  assert.deepEqual(e.json().record, {
    ...e.json().record,
    title: 'Plan',
    body: 'DRAFT-BODY-1',
    state: 'draft',
    salary: 1111,
    due: '2026-01-02T03:04:05.000Z',
    flag: true,
  });
  log = await changeEntries();
  assert.equal(log[0]!.operation, 'restore');
  assert.deepEqual(log[0]!.changes.map((x) => x.field).sort(), ['body', 'flag', 'salary', 'state']);
  const stored = await sql<{ secret: string }>`select secret from col_docs where id = ${docId}`.execute(t.s.db);
  assert.equal(stored.rows[0]!.secret, 'SECRET-NEW');
  const list = (await req('GET', `${base()}/revisions?limit=1`, tokens.editor!)).json();
  assert.equal(list.revisions[0].operation, 'restore');
  assert.equal(list.revisions[0].actor.name, 'editor');
  // The version the restore replaced is itself kept: restoring it undoes the restore.
  const undo = await req('POST', `${base()}/revisions/${list.revisions[0].rev}/restore`, tokens.editor!, { fields: ['body'] });
  ok(undo);
  assert.equal(undo.json().record.body, 'PUBLIC-BODY');
});

test('bad input answers 4xx with stable codes', async () => {
  const cases: Array<[string, string, number, string, unknown?]> = [
    ['GET', '/revisions/0', 400, 'VALIDATION_FAILED'],
    ['GET', '/revisions/abc', 400, 'VALIDATION_FAILED'],
    ['GET', '/revisions/99999999999', 400, 'VALIDATION_FAILED'],
    ['GET', '/revisions?limit=500', 400, 'VALIDATION_FAILED'],
    ['GET', '/revisions?beforeRev=-1', 400, 'VALIDATION_FAILED'],
    ['GET', '/revisions?extra=1', 400, 'VALIDATION_FAILED'],
    ['GET', '/revisions/1/diff?against=latest', 400, 'VALIDATION_FAILED'],
    ['GET', '/revisions/1/diff?against=0', 400, 'VALIDATION_FAILED'],
    ['GET', '/revisions/1/diff?against=9999999999', 400, 'VALIDATION_FAILED'],
    ['GET', '/revisions/1/diff?against=77', 404, 'NOT_FOUND'],
    ['POST', '/revisions/1/restore', 400, 'VALIDATION_FAILED', { fields: ['title'], extra: true }],
    ['POST', '/revisions/1/restore', 400, 'VALIDATION_FAILED', { fields: [] }],
    ['POST', '/revisions/1/restore', 400, 'VALIDATION_FAILED', { fields: 'title' }],
    ['POST', '/revisions/1/restore', 400, 'FIELD_UNKNOWN', { fields: ['nope'] }],
    ['POST', '/revisions/1/restore', 400, 'FIELD_UNKNOWN', { fields: ['secret'] }],
    ['POST', '/revisions/1/restore', 403, 'FIELD_NOT_WRITABLE', { fields: ['createdBy'] }],
  ];
  for (const [method, path, status, c, body] of cases) {
    const r = await req(method, `${base()}${path}`, tokens.editor!, body);
    assert.equal(r.statusCode, status, `${method} ${path}: ${r.body}`);
    assert.equal(code(r), c, `${method} ${path}`);
  }
  const bad = await req('GET', '/api/collections/docs/records/bad%20id/revisions', tokens.editor!);
  assert.equal(bad.statusCode, 400, bad.body);
});

test('a deleted record has no revisions here, and cannot be restored (404); a collection without revisions keeps none', async () => {
  const c = await req('POST', '/api/collections/docs/records', tokens.editor!, { title: 'Doomed' });
  ok(c, 201);
  const id = c.json().id;
  ok(await req('PATCH', base(id), tokens.editor!, { title: 'Doomed 2' }));
  ok(await req('DELETE', base(id), admin), 204);
  assert.equal((await req('GET', `${base(id)}/revisions`, tokens.editor!)).statusCode, 404);
  assert.equal((await req('POST', `${base(id)}/revisions/1/restore`, tokens.editor!, {})).statusCode, 404);
  assert.equal((await req('GET', `${base(id)}/revisions/1`, admin)).statusCode, 404);
  ok(await req('PATCH', '/api/admin/collections/docs', admin, { audit: { revisions: false } }));
  try {
    const n = await req('POST', '/api/collections/docs/records', tokens.editor!, { title: 'Plain' });
    const nid = n.json().id;
    ok(await req('PATCH', base(nid), tokens.editor!, { title: 'Plain 2' }));
    const r = await req('GET', `${base(nid)}/revisions`, tokens.editor!);
    ok(r);
    assert.deepEqual(r.json(), { revisions: [], next: null, kept: false });
  } finally {
    ok(await req('PATCH', '/api/admin/collections/docs', admin, { audit: { revisions: true } }));
  }
});

test('where the collection keeps an access log, reading a history is recorded as a read of the record', async () => {
  ok(await req('PATCH', '/api/admin/collections/docs', admin, { audit: { accessLog: 'ids' } }));
  try {
    ok(await req('GET', `${base()}/revisions/2`, tokens.reader!));
    ok(await req('GET', `${base()}/revisions/1/diff?against=2`, tokens.reader!));
    const r = await req('GET', `/api/admin/audit?kind=access&collection=docs&recordId=${docId}&limit=2`, admin);
    ok(r);
    assert.deepEqual(
      r.json().entries.map((e: { operation: string; actor: { name: string }; data: unknown }) => [e.operation, e.actor.name, e.data]),
      [
        ['read', 'reader', { revision: 1, against: 2 }],
        ['read', 'reader', { revision: 2 }],
      ],
    );
  } finally {
    ok(await req('PATCH', '/api/admin/collections/docs', admin, { audit: { accessLog: 'off' } }));
  }
});
