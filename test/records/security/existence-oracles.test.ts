// Bug class: existence oracles. Answers that differ between "exists but not yours" and "does not
// exist" told a caller about values, fields, collections and departments outside their scope:
// a unique value held by a record they cannot see (409 against 201), a backend-only field against a
// missing one, a collection without grants against a missing one, a department they cannot assign
// against a missing one. Each pair now answers alike (same status, code and body); see docs/decisions.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, createUser, bearer, type TestApp, useApp } from '../../helpers/app.js';
import { ok, q } from '../fixtures.js';

let t: TestApp;
let admin: string;
const tk: Record<string, string> = {};
const uid: Record<string, string> = {};
type Method = 'GET' | 'POST' | 'PATCH' | 'PUT';
const req = (method: Method, url: string, token: string, payload?: unknown) =>
  t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
type Res = Awaited<ReturnType<typeof req>>;
/** Status and body, which must be identical for the two sides of an oracle. */
const seen = (r: Res) => `${r.statusCode} ${r.body}`;

const PW: Record<string, string> = {
  maker: 'Copper-kettle-whistle-31',
  registrar: 'Marble-staircase-echo-52',
  hr: 'Linen-folder-stamp-73',
  agent: 'Pebble-river-crossing-94',
  newbie: 'Velvet-curtain-rises-15',
};

useApp(async (app, token) => {
  t = app;
  admin = token;
  for (const [u, p] of Object.entries(PW)) uid[u] = await createUser(t, admin, u, p);
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'badges',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'code', type: 'string', unique: true },
        { name: 'secret', type: 'text', hidden: true },
        { name: 'origin', type: 'relation', target: 'badges', hidden: true },
      ],
    }),
  );
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'vault',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'badge', type: 'relation', target: 'badges' },
      ],
    }),
  );
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'tickets',
      ownership: 'group',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'team', type: 'group' },
      ],
    }),
  );
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'rotas',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'helper', type: 'group' },
        { name: 'hteam', type: 'group', hidden: true },
      ],
    }),
  );
  for (const role of ['maker', 'registrar', 'agent']) ok(await req('POST', '/api/admin/roles', admin, { name: role }));
  ok(await req('POST', '/api/admin/roles', admin, { name: 'hr', permissions: ['users.manage'] }));
  // Makers see only their own badges; registrars see every badge's code.
  ok(
    await req('POST', '/api/admin/grants', admin, {
      role: 'maker',
      collection: 'badges',
      actions: ['view', 'create', 'update'],
      fields: ['title', 'code'],
      scope: { createdBy: '$user.id' },
    }),
  );
  ok(
    await req('POST', '/api/admin/grants', admin, {
      role: 'registrar',
      collection: 'badges',
      actions: ['view', 'create', 'update'],
      fields: ['title', 'code'],
    }),
  );
  ok(await req('POST', '/api/admin/grants', admin, { role: 'agent', collection: 'tickets', actions: ['view', 'create'], fields: ['title', 'team'] }));
  ok(await req('POST', '/api/admin/grants', admin, { role: 'agent', collection: 'rotas', actions: ['view', 'create'], fields: ['title', 'helper'] }));
  ok(await req('PUT', '/api/admin/departments/north', admin, { roles: ['agent'] }), 200);
  ok(await req('PUT', '/api/admin/departments/south', admin, { roles: ['agent'] }), 200);
  for (const u of ['maker', 'registrar', 'hr']) ok(await req('PUT', `/api/admin/users/${uid[u]}/roles`, admin, { roles: [u] }), 204);
  ok(await req('PUT', `/api/admin/users/${uid.agent}/departments`, admin, { departments: ['north'] }), 204);
  ok(await req('PUT', `/api/admin/users/${uid.hr}/departments`, admin, { departments: ['north'] }), 204);
  for (const u of Object.keys(PW)) tk[u] = (await login(t, u, PW[u]!)).token;
  ok(await req('POST', '/api/collections/badges/records', admin, { title: 'hidden one', code: 'TAKEN-1', secret: 'x' }));
});

test('existence oracle on unique values: a caller who cannot see every record gets one answer whether the value is taken or not', async () => {
  const taken = await req('POST', '/api/collections/badges/records', tk.maker!, { title: 'a', code: 'TAKEN-1' });
  const free = await req('POST', '/api/collections/badges/records', tk.maker!, { title: 'b', code: 'FREE-1' });
  assert.equal(taken.statusCode, 403, taken.body);
  assert.equal(seen(taken), seen(free));
  assert.equal(taken.json().error.code, 'FIELD_NOT_WRITABLE');
  // The same for an update and a bulk update of the maker's own badge.
  const own = await req('POST', '/api/collections/badges/records', tk.maker!, { title: 'own' });
  ok(own);
  const id = own.json().id as string;
  assert.equal(
    seen(await req('PATCH', `/api/collections/badges/records/${id}`, tk.maker!, { code: 'TAKEN-1' })),
    seen(await req('PATCH', `/api/collections/badges/records/${id}`, tk.maker!, { code: 'FREE-2' })),
  );
  const bulk = (code: string) => req('POST', '/api/collections/badges/records/bulk-update', tk.maker!, { filter: { title: 'own' }, set: { code } });
  assert.equal(seen(await bulk('TAKEN-1')), seen(await bulk('FREE-3')));
  assert.equal((await bulk('FREE-3')).statusCode, 403);
  // The maker still writes the other fields.
  ok(await req('PATCH', `/api/collections/badges/records/${id}`, tk.maker!, { title: 'renamed' }), 200);
  // A registrar reads every code, so a conflict tells them nothing new: 409 for a taken value, 201 for a free one.
  const r1 = await req('POST', '/api/collections/badges/records', tk.registrar!, { title: 'r', code: 'TAKEN-1' });
  assert.equal(r1.statusCode, 409, r1.body);
  assert.equal(r1.json().error.code, 'CONFLICT');
  ok(await req('POST', '/api/collections/badges/records', tk.registrar!, { title: 'r', code: 'FREE-4' }));
});

test("existence oracle on fields: a backend-only field, or one in none of the caller's grants, answers like a missing field", async () => {
  const pairs: Array<[string, string]> = [
    [q({ filter: JSON.stringify({ secret: 'x' }) }), q({ filter: JSON.stringify({ nosuch: 'x' }) })],
    [
      q({ filter: JSON.stringify({ $or: [{ title: 'a' }, { secret: { $like: 'x%' } }] }) }),
      q({ filter: JSON.stringify({ $or: [{ title: 'a' }, { nosuch: { $like: 'x%' } }] }) }),
    ],
    [q({ sort: '-secret' }), q({ sort: '-nosuch' })],
    [q({ fields: 'title,secret' }), q({ fields: 'title,nosuch' })],
  ];
  for (const [hidden, missing] of pairs) {
    const a = await req('GET', `/api/collections/badges/records${hidden.replace(/secret/g, 'secret')}`, tk.registrar!);
    const b = await req('GET', `/api/collections/badges/records${missing}`, tk.registrar!);
    assert.equal(a.statusCode, 400, `${hidden}: ${a.body}`);
    assert.equal(a.body.replace('secret', 'nosuch'), b.body, hidden);
  }
  const agg = (g: string) => req('GET', `/api/collections/badges/records/aggregate${q({ metrics: 'count', groupBy: g })}`, tk.registrar!);
  assert.equal((await agg('secret')).body.replace('secret', 'nosuch'), (await agg('nosuch')).body);
  // Expanding a backend-only relation field, or through it in reverse, answers like a missing one.
  const expand = (e: string) => req('GET', `/api/collections/badges/records${q({ expand: e })}`, tk.registrar!);
  assert.equal((await expand('origin')).body.replace('origin', 'nosuch'), (await expand('nosuch')).body);
  assert.equal((await expand('origin')).statusCode, 400);
  assert.equal((await expand('badges:origin')).body.replace('origin', 'nosuch'), (await expand('badges:nosuch')).body);
  // A relation path into the target collection: the same.
  const path = (f: string) => req('GET', `/api/collections/badges/records${q({ filter: JSON.stringify({ [f]: 'x' }) })}`, tk.registrar!);
  assert.equal((await path('origin.title')).body.replace('origin', 'nosuch'), (await path('nosuch.title')).body);
  assert.equal((await path('origin.title')).json().error.code, 'FIELD_UNKNOWN');
  // Writes: a backend-only field the caller cannot write is as unknown as a missing one.
  const w = (k: string) => req('POST', '/api/collections/badges/records', tk.registrar!, { title: 'w', [k]: 'v' });
  const [wa, wb] = [await w('secret'), await w('nosuch')];
  assert.equal(wa.statusCode, wb.statusCode, wa.body);
  assert.equal(wa.json().error.code, wb.json().error.code);
  // A backend-only relation field is not looked up before it is refused: a missing target and a real one
  // answer like a field that does not exist, on create and on import.
  const [ra, rb, rc] = [
    await w('origin'),
    await req('POST', '/api/collections/badges/records', tk.registrar!, { title: 'w', origin: 'no-such-id' }),
    await w('nosuch'),
  ];
  assert.equal(seen(ra).replace('origin', 'nosuch'), seen(rc));
  assert.equal(seen(rb).replace('origin', 'nosuch'), seen(rc));
  const imp = (k: string) => req('POST', '/api/collections/badges/records/import', tk.registrar!, { records: [{ title: 'i', [k]: 'no-such-id' }] });
  const [ia, ib] = [await imp('origin'), await imp('nosuch')];
  assert.equal(ia.statusCode, ib.statusCode, ia.body);
  assert.equal(ia.body.replace(/origin/g, 'nosuch'), ib.body);
  // The legitimate caller: filtering on a field they read is answered.
  const fine = await req('GET', `/api/collections/badges/records${q({ filter: JSON.stringify({ code: 'TAKEN-1' }) })}`, tk.registrar!);
  assert.equal(fine.statusCode, 200);
  assert.equal(fine.json().items.length, 1);
});

test('existence oracle on collections: a collection without any grant answers exactly like a missing one', async () => {
  const paths: Array<[Method, string, unknown?]> = [
    ['GET', '/api/collections/NAME/records'],
    ['GET', `/api/collections/NAME/records/aggregate${q({ metrics: 'count' })}`],
    ['GET', '/api/collections/NAME/records/export'],
    ['GET', '/api/collections/NAME/records/some-id'],
    ['POST', '/api/collections/NAME/records', { title: 'x' }],
    ['PATCH', '/api/collections/NAME/records/some-id', { title: 'x' }],
    ['POST', '/api/collections/NAME/records/bulk-delete', { filter: {} }],
    ['POST', '/api/collections/NAME/records/bulk-update', { filter: {}, set: { title: 'x' } }],
    ['POST', '/api/collections/NAME/records/import', { records: [{ title: 'x' }] }],
  ];
  for (const [method, url, body] of paths) {
    const hidden = await req(method, url.replace('NAME', 'vault'), tk.maker!, body);
    const missing = await req(method, url.replace('NAME', 'nowhere'), tk.maker!, body);
    assert.equal(hidden.statusCode, 404, `${method} ${url}: ${hidden.body}`);
    assert.equal(seen(hidden), seen(missing), `${method} ${url}`);
  }
  // A reverse expansion through a collection without grants answers like one through a missing collection.
  const exp = (c: string) => req('GET', `/api/collections/badges/records${q({ expand: `${c}:badge` })}`, tk.maker!);
  assert.equal((await exp('vault')).body.replace('vault', 'nowhere'), (await exp('nowhere')).body);
  // With a grant, the collection answers.
  assert.equal((await req('GET', '/api/collections/badges/records', tk.maker!)).statusCode, 200);
});

test('existence oracle on departments: a department the caller cannot assign answers like a missing one', async () => {
  // hr (users.manage, member of north) assigns a user without roles to a department: south exists, nowhere does not.
  const assign = (d: string) => req('PUT', `/api/admin/users/${uid.newbie}/departments`, tk.hr!, { departments: [d] });
  const [a, b] = [await assign('south'), await assign('nowhere')];
  assert.equal(a.statusCode, 403, a.body);
  assert.equal(a.body.replace('south', 'nowhere'), b.body);
  ok(await assign('north'), 204);
  // An agent of north names the group of a new ticket: south exists, nowhere does not.
  const create = (team: string) => req('POST', '/api/collections/tickets/records', tk.agent!, { title: 't', team });
  const [c, d] = [await create('south'), await create('nowhere')];
  assert.equal(c.statusCode, 403, c.body);
  assert.equal(seen(c), seen(d));
  ok(await create('north'));
  // Any other group field takes the caller's own departments too: south and nowhere answer alike.
  const helper = (team: string) => req('POST', '/api/collections/rotas/records', tk.agent!, { title: 't', helper: team });
  const [e, f] = [await helper('south'), await helper('nowhere')];
  assert.equal(e.statusCode, 400, e.body);
  assert.equal(seen(e).replace('south', 'nowhere'), seen(f));
  ok(await helper('north'));
  // A backend-only group field is unknown to the caller, whatever department it names.
  const hidden = (k: string, team: string) => req('POST', '/api/collections/rotas/records', tk.agent!, { title: 't', [k]: team });
  const [g, h, i] = [await hidden('hteam', 'north'), await hidden('hteam', 'nowhere'), await hidden('nosuch', 'north')];
  assert.equal(g.json().error.code, 'FIELD_UNKNOWN', g.body);
  assert.equal(seen(g), seen(h));
  assert.equal(seen(g).replace('hteam', 'nosuch'), seen(i));
  // The administrator is told which one does not exist.
  assert.equal((await req('PUT', `/api/admin/users/${uid.newbie}/departments`, admin, { departments: ['nowhere'] })).json().error.code, 'VALIDATION_FAILED');
});
