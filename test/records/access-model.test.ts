// Issue 3: departments, active role and the union of roles, ownership modes with bypass roles,
// system and menu permissions, and "no one grants more power than they hold".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { login, bearer, createUser, events, type TestApp, useApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
const ids: Record<string, string> = {};
const tokens: Record<string, string> = {};
const PW: Record<string, string> = {
  nora: 'Northern-lights-5521',
  sven: 'Southern-cross-8832',
  dual: 'Two-hats-worn-6617',
  mgr: 'Overseer-desk-4409',
  lead: 'Team-captain-2290',
};

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
const req = (method: Method, url: string, token: string, payload?: unknown) =>
  t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
const ok = (r: { statusCode: number; body: string }, code = 201) => assert.equal(r.statusCode, code, r.body);
const titles = (r: { statusCode: number; body: string; json(): { items: Array<{ title: string }> } }) => {
  assert.equal(r.statusCode, 200, r.body);
  return r
    .json()
    .items.map((x) => x.title)
    .sort();
};
const list = (c: string, token: string) => req('GET', `/api/collections/${c}/records`, token);

useApp(async (app, token) => {
  t = app;
  admin = token;
  for (const [u, p] of Object.entries(PW)) ids[u] = await createUser(t, admin, u, p);
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'tickets',
      ownership: 'group',
      ownershipBypass: ['supervisor'],
      fields: [
        { name: 'title', type: 'string', required: true },
        { name: 'team', type: 'group' },
        { name: 'note', type: 'text' },
      ],
    }),
  );
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'notes',
      ownership: 'creator',
      ownershipBypass: ['supervisor'],
      fields: [{ name: 'title', type: 'string', required: true }],
    }),
  );
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'rooms',
      ownership: 'members',
      fields: [
        { name: 'title', type: 'string', required: true },
        { name: 'people', type: 'members' },
      ],
    }),
  );
  for (const role of ['agent', 'supervisor', 'viewer']) ok(await req('POST', '/api/admin/roles', admin, { name: role }));
  for (const c of ['tickets', 'notes']) {
    ok(
      await req('POST', '/api/admin/grants', admin, {
        role: 'agent',
        collection: c,
        actions: ['view', 'create', 'update'],
        fields: c === 'tickets' ? ['title', 'note'] : ['title'],
      }),
    );
    ok(
      await req('POST', '/api/admin/grants', admin, {
        role: 'supervisor',
        collection: c,
        actions: ['view', 'update'],
        fields: c === 'tickets' ? ['title', 'team'] : ['title'],
      }),
    );
  }
  ok(await req('POST', '/api/admin/grants', admin, { role: 'agent', collection: 'rooms', actions: ['view', 'create', 'update'], fields: ['title', 'people'] }));
  ok(await req('PUT', '/api/admin/departments/north', admin, { roles: ['agent'] }), 200);
  ok(await req('PUT', '/api/admin/departments/south', admin, { roles: ['agent'] }), 200);
  ok(await req('PUT', `/api/admin/users/${ids.nora}/departments`, admin, { departments: ['north'] }), 204);
  ok(await req('PUT', `/api/admin/users/${ids.sven}/departments`, admin, { departments: ['south'] }), 204);
  ok(await req('PUT', `/api/admin/users/${ids.dual}/departments`, admin, { departments: ['north', 'south'] }), 204);
  for (const u of Object.keys(PW)) tokens[u] = (await login(t, u, PW[u])).token;
});

test("departments carry roles: a member acts with the department's roles, and loses them at the next request when removed [ASVS V8.3.2]", async () => {
  const me = (await req('GET', '/api/auth/me', tokens.nora!)).json();
  assert.deepEqual(me.access.held, ['agent']);
  assert.deepEqual(me.access.departments, ['north']);
  ok(await req('POST', '/api/collections/notes/records', tokens.nora!, { title: 'nora-note' }));
  ok(await req('PUT', `/api/admin/users/${ids.nora}/departments`, admin, { departments: [] }), 204);
  // No grant left on the collection: it answers like a missing one (docs/decisions.md).
  assert.equal((await list('notes', tokens.nora!)).statusCode, 404);
  ok(await req('PUT', `/api/admin/users/${ids.nora}/departments`, admin, { departments: ['north'] }), 204);
  assert.deepEqual(titles(await list('notes', tokens.nora!)), ['nora-note']);
});

test('group ownership: each department sees its own rows; the server sets the group; a foreign group is refused', async () => {
  ok(await req('POST', '/api/collections/tickets/records', tokens.nora!, { title: 'n1' }));
  ok(await req('POST', '/api/collections/tickets/records', tokens.sven!, { title: 's1' }));
  assert.deepEqual(titles(await list('tickets', tokens.nora!)), ['n1']);
  assert.deepEqual(titles(await list('tickets', tokens.sven!)), ['s1']);
  // Attack: create a ticket into another department's group.
  const foreign = await req('POST', '/api/collections/tickets/records', tokens.nora!, { title: 'sneak', team: 'south' });
  assert.equal(foreign.statusCode, 403, foreign.body);
  assert.equal(foreign.json().error.code, 'FIELD_NOT_WRITABLE');
  // Attack: move one's own ticket to another group afterwards.
  const mine = (await list('tickets', tokens.nora!)).json().items[0];
  const move = await req('PATCH', `/api/collections/tickets/records/${mine.id}`, tokens.nora!, { team: 'south' });
  assert.equal(move.json().error.code, 'FIELD_NOT_WRITABLE');
  // Guessed id of the other department's ticket: 404, not 403.
  const theirs = (await list('tickets', tokens.sven!)).json().items[0];
  assert.equal((await req('GET', `/api/collections/tickets/records/${theirs.id}`, tokens.nora!)).statusCode, 404);
  // A member of two departments names one of theirs, or is asked to.
  assert.equal((await req('POST', '/api/collections/tickets/records', tokens.dual!, { title: 'd0' })).statusCode, 400);
  ok(await req('POST', '/api/collections/tickets/records', tokens.dual!, { title: 'd1', team: 'south' }));
  assert.deepEqual(titles(await list('tickets', tokens.dual!)), ['d1', 'n1', 's1']);
});

test('ownership bypass: a listed role ignores the ownership filter and may move the owner field; others may not', async () => {
  ok(await req('POST', '/api/collections/notes/records', tokens.sven!, { title: 'sven-note' }));
  assert.deepEqual(titles(await list('notes', tokens.sven!)), ['sven-note']);
  ok(await req('PUT', `/api/admin/users/${ids.mgr}/roles`, admin, { roles: ['supervisor'] }), 204);
  const all = titles(await list('notes', tokens.mgr!));
  assert.ok(all.includes('sven-note') && all.includes('nora-note'), JSON.stringify(all));
  const ticket = (await list('tickets', tokens.mgr!)).json().items.find((x: { title: string }) => x.title === 'n1');
  ok(await req('PATCH', `/api/collections/tickets/records/${ticket.id}`, tokens.mgr!, { team: 'south' }), 200);
  assert.deepEqual(
    titles(await list('tickets', tokens.sven!)),
    ['d1', 'n1', 's1']
      .filter((x) => x !== 'd1')
      .concat('d1')
      .sort(),
  );
  assert.ok(!titles(await list('tickets', tokens.nora!)).includes('n1'));
});

test('member-list ownership: the creator becomes the first member; only members see the record; members are not client-set', async () => {
  const r = await req('POST', '/api/collections/rooms/records', tokens.nora!, { title: 'war-room' });
  ok(r);
  assert.deepEqual(r.json().people, [ids.nora]);
  assert.deepEqual(titles(await list('rooms', tokens.nora!)), ['war-room']);
  assert.deepEqual(titles(await list('rooms', tokens.sven!)), []);
  // Mass assignment of the owner list, on create and on update.
  const stuffed = await req('POST', '/api/collections/rooms/records', tokens.sven!, { title: 'x', people: [ids.nora] });
  assert.equal(stuffed.json().error.code, 'FIELD_NOT_WRITABLE');
  const add = await req('PATCH', `/api/collections/rooms/records/${r.json().id}`, tokens.nora!, { people: [ids.nora, ids.sven] });
  assert.equal(add.json().error.code, 'FIELD_NOT_WRITABLE');
  assert.deepEqual(titles(await list('rooms', tokens.sven!)), []);
});

test("$user.department in a scope: rows of the caller's departments", async () => {
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'memos',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'dept', type: 'string' },
      ],
    }),
  );
  ok(
    await req('POST', '/api/admin/grants', admin, {
      role: 'agent',
      collection: 'memos',
      actions: ['view'],
      fields: ['title'],
      scope: { dept: { $in: '$user.department' } },
    }),
  );
  for (const [title, dept] of [
    ['m-north', 'north'],
    ['m-south', 'south'],
  ])
    ok(await req('POST', '/api/collections/memos/records', admin, { title, dept }));
  assert.deepEqual(titles(await list('memos', tokens.nora!)), ['m-north']);
  assert.deepEqual(titles(await list('memos', tokens.dual!)), ['m-north', 'm-south']);
  // A list variable with $eq is refused when the grant is made, never evaluated true.
  const bad = await req('POST', '/api/admin/grants', admin, {
    role: 'agent',
    collection: 'memos',
    actions: ['view'],
    fields: ['title'],
    scope: { dept: '$user.department' },
  });
  assert.equal(bad.statusCode, 400);
});

test('active role: the union by default; switching narrows to one held role; a role not held is refused', async () => {
  ok(await req('PUT', `/api/admin/users/${ids.lead}/roles`, admin, { roles: ['viewer'] }), 204);
  ok(await req('PUT', `/api/admin/users/${ids.lead}/departments`, admin, { departments: ['north'] }), 204);
  ok(await req('POST', '/api/admin/grants', admin, { role: 'viewer', collection: 'memos', actions: ['view'], fields: ['title', 'dept'] }));
  const union = (await list('memos', tokens.lead!)).json().items;
  assert.deepEqual(union.map((x: { title: string }) => x.title).sort(), ['m-north', 'm-south']);
  assert.equal(union[0].dept !== undefined, true);
  const sw = await req('PUT', '/api/auth/active-role', tokens.lead!, { role: 'agent' });
  ok(sw, 200);
  assert.deepEqual(sw.json().access.roles, ['agent']);
  const narrowed = (await list('memos', tokens.lead!)).json().items;
  assert.deepEqual(
    narrowed.map((x: { title: string }) => x.title),
    ['m-north'],
  );
  assert.equal(narrowed[0].dept, undefined);
  const refused = await req('PUT', '/api/auth/active-role', tokens.lead!, { role: 'supervisor' });
  assert.equal(refused.statusCode, 403);
  assert.equal(refused.json().error.code, 'ROLE_NOT_HELD');
  ok(await req('PUT', '/api/auth/active-role', tokens.lead!, { role: null }), 200);
  assert.equal((await list('memos', tokens.lead!)).json().items.length, 2);
  assert.ok((await events(t, admin, 'access.changed')).some((e) => e.details?.change === 'session.active_role'));
});

test("system permissions and menus: a role's permissions open its admin routes only; /me lists them for the UI [ASVS V8.2.1, V8.3.1]", async () => {
  assert.equal((await req('GET', '/api/admin/users', tokens.nora!)).statusCode, 403);
  ok(await req('POST', '/api/admin/roles', admin, { name: 'helpdesk', permissions: ['users.manage', 'accounts.unlock'], menus: ['users', 'users.locks'] }));
  ok(await req('PUT', `/api/admin/users/${ids.sven}/roles`, admin, { roles: ['helpdesk'] }), 204);
  ok(await req('GET', '/api/admin/users', tokens.sven!), 200);
  ok(await req('GET', '/api/admin/locked-accounts', tokens.sven!), 200);
  assert.equal((await req('GET', '/api/admin/security-events', tokens.sven!)).statusCode, 403);
  assert.equal((await req('GET', '/api/admin/collections', tokens.sven!)).statusCode, 403);
  assert.equal((await req('PATCH', '/api/admin/settings/lockout', tokens.sven!, { maxAttempts: 100 })).statusCode, 403);
  const me = (await req('GET', '/api/auth/me', tokens.sven!)).json();
  assert.deepEqual(me.access.permissions, ['accounts.unlock', 'users.manage']);
  assert.deepEqual(me.access.menus, ['users', 'users.locks']);
  const root = (await req('GET', '/api/auth/me', admin)).json();
  assert.deepEqual(root.access.menus, ['*']);
});

test('privilege escalation: nobody grants a role, permission, grant or user more power than they hold', async () => {
  // mgr manages users and roles, but holds no security permission and only the supervisor grants.
  ok(await req('POST', '/api/admin/roles', admin, { name: 'access-admin', permissions: ['users.manage', 'roles.manage'], menus: ['access'] }));
  ok(await req('PUT', `/api/admin/users/${ids.mgr}/roles`, admin, { roles: ['supervisor', 'access-admin'] }), 204);
  const mgr = tokens.mgr!;
  const code = (r: { json(): { error: { code: string } } }) => r.json().error.code;
  // Attack: a role with a permission the actor lacks.
  assert.equal(code(await req('POST', '/api/admin/roles', mgr, { name: 'sec', permissions: ['security.manage'] })), 'PRIVILEGE_ESCALATION');
  assert.equal(code(await req('POST', '/api/admin/roles', mgr, { name: 'menu', menus: ['security'] })), 'PRIVILEGE_ESCALATION');
  // Legitimate: a role with less.
  ok(await req('POST', '/api/admin/roles', mgr, { name: 'junior', permissions: ['users.manage'], menus: ['access'] }));
  // Attack: widen a role the actor may manage beyond their own power.
  assert.equal(code(await req('PATCH', '/api/admin/roles/junior', mgr, { permissions: ['audit.read'] })), 'PRIVILEGE_ESCALATION');
  // Attack: a grant wider than the actor's own (supervisor may not create notes; no grant on memos).
  assert.equal(
    code(await req('POST', '/api/admin/grants', mgr, { role: 'junior', collection: 'notes', actions: ['create'], fields: ['title'] })),
    'PRIVILEGE_ESCALATION',
  );
  assert.equal(
    code(await req('POST', '/api/admin/grants', mgr, { role: 'junior', collection: 'memos', actions: ['view'], fields: ['title'] })),
    'PRIVILEGE_ESCALATION',
  );
  // Legitimate: a grant their own covers.
  ok(await req('POST', '/api/admin/grants', mgr, { role: 'junior', collection: 'notes', actions: ['view'], fields: ['title'] }));
  // Attack: extend a role that already gives more than they hold (helpdesk has accounts.unlock).
  assert.equal(
    code(await req('POST', '/api/admin/grants', mgr, { role: 'helpdesk', collection: 'notes', actions: ['view'], fields: ['title'] })),
    'PRIVILEGE_ESCALATION',
  );
  // Attack: hand out a stronger role, directly or through a department.
  assert.equal(code(await req('PUT', `/api/admin/users/${ids.nora}/roles`, mgr, { roles: ['helpdesk'] })), 'PRIVILEGE_ESCALATION');
  ok(await req('PUT', '/api/admin/departments/ops', admin, { roles: ['helpdesk'] }), 200);
  assert.equal(code(await req('PUT', `/api/admin/users/${ids.nora}/departments`, mgr, { departments: ['ops'] })), 'PRIVILEGE_ESCALATION');
  assert.equal(code(await req('PUT', '/api/admin/departments/north', mgr, { roles: ['agent', 'helpdesk'] })), 'PRIVILEGE_ESCALATION');
  // Attack: change the roles of a user who holds more (lead holds agent through north, and viewer).
  assert.equal(code(await req('PUT', `/api/admin/users/${ids.lead}/roles`, mgr, { roles: ['junior'] })), 'PRIVILEGE_ESCALATION');
  // Legitimate: create a user and hand out what they hold.
  const made = await req('POST', '/api/admin/users', mgr, { username: 'newbie', password: 'Fresh-start-key-1234', mustChangePassword: false });
  ok(made);
  const newbie = made.json().user.id as string;
  ok(await req('PUT', `/api/admin/users/${newbie}/roles`, mgr, { roles: ['junior'] }), 204);
  // Attack: change their own roles; make an administrator; take over an administrator or a stronger user.
  assert.equal(code(await req('PUT', `/api/admin/users/${ids.mgr}/roles`, mgr, { roles: ['helpdesk'] })), 'CANNOT_MODIFY_SELF');
  assert.equal(code(await req('PATCH', `/api/admin/users/${newbie}`, mgr, { isAdmin: true })), 'PRIVILEGE_ESCALATION');
  assert.equal(
    code(await req('POST', '/api/admin/users', mgr, { username: 'newadmin', password: 'Fresh-admin-key-1234', isAdmin: true, mustChangePassword: false })),
    'PRIVILEGE_ESCALATION',
  );
  const rootId = (await req('GET', '/api/auth/me', admin)).json().user.id;
  assert.equal(code(await req('PUT', `/api/admin/users/${rootId}/password`, mgr, { password: 'Taken-over-root-5555' })), 'PRIVILEGE_ESCALATION');
  assert.equal(code(await req('PATCH', `/api/admin/users/${ids.sven}`, mgr, { status: 'disabled' })), 'PRIVILEGE_ESCALATION');
  // Legitimate: manage a user who holds no more than they do.
  ok(await req('PATCH', `/api/admin/users/${newbie}`, mgr, { email: 'newbie@example.test' }), 200);
  // The checks apply to the acting roles: narrowed to supervisor, the manager manages nothing.
  ok(await req('PUT', '/api/auth/active-role', mgr, { role: 'supervisor' }), 200);
  assert.equal((await req('GET', '/api/admin/users', mgr)).statusCode, 403);
  ok(await req('PUT', '/api/auth/active-role', mgr, { role: null }), 200);
});

test('power counts role names, departments and scope fields; explain, ownership changes and stronger users stay closed', async () => {
  const code = (r: { json(): { error?: { code: string } } }) => r.json().error?.code;
  ok(await req('POST', '/api/admin/roles', admin, { name: 'deputy', permissions: ['users.manage', 'roles.manage', 'schema.manage', 'accounts.unlock'] }));
  ok(await req('POST', '/api/admin/grants', admin, { role: 'deputy', collection: 'tickets', actions: ['view'], fields: ['title'] }));
  ok(await req('PUT', '/api/admin/departments/east', admin, { roles: ['deputy'] }), 200);
  ok(await req('PUT', '/api/admin/departments/empty', admin, { roles: [] }), 200);
  const depId = await createUser(t, admin, 'deputy1', 'Second-in-command-7781');
  ok(await req('PUT', `/api/admin/users/${depId}/departments`, admin, { departments: ['east'] }), 204);
  const dep = (await login(t, 'deputy1', 'Second-in-command-7781')).token;
  // A role name that a bypass list names carries power by its name alone.
  ok(await req('PATCH', '/api/admin/collections/tickets', admin, { ownershipBypass: ['supervisor', 'future'] }), 200);
  assert.equal(code(await req('POST', '/api/admin/roles', dep, { name: 'future' })), 'PRIVILEGE_ESCALATION');
  ok(await req('POST', '/api/admin/roles', dep, { name: 'probe' }));
  // Changing one's own department changes one's own roles.
  assert.equal(code(await req('PUT', '/api/admin/departments/east', dep, { roles: ['deputy', 'supervisor'] })), 'CANNOT_MODIFY_SELF');
  // A user holding a bypass role (mgr: supervisor) is stronger: no password set, no unlock, no session list.
  assert.equal(code(await req('PUT', `/api/admin/users/${ids.mgr}/password`, dep, { password: 'Taken-over-mgr-5555' })), 'PRIVILEGE_ESCALATION');
  const rootId = (await req('GET', '/api/auth/me', admin)).json().user.id;
  assert.equal(code(await req('POST', `/api/admin/users/${rootId}/unlock`, dep)), 'PRIVILEGE_ESCALATION');
  assert.equal(code(await req('GET', `/api/admin/users/${rootId}/sessions`, dep)), 'PRIVILEGE_ESCALATION');
  // Departments: only those the actor is in (membership decides group rows and $user.department).
  const made = await req('POST', '/api/admin/users', dep, { username: 'recruit', password: 'Brand-new-badge-8080', mustChangePassword: false });
  ok(made);
  const recruit = made.json().user.id as string;
  assert.equal(code(await req('PUT', `/api/admin/users/${recruit}/departments`, dep, { departments: ['empty'] })), 'PRIVILEGE_ESCALATION');
  ok(await req('PUT', `/api/admin/users/${recruit}/departments`, dep, { departments: ['east'] }), 204);
  // A scope is a filter: it may name only fields the actor can filter on.
  assert.equal(
    code(
      await req('POST', '/api/admin/grants', dep, {
        role: 'probe',
        collection: 'tickets',
        actions: ['view'],
        fields: ['title'],
        scope: { note: { $like: 'a%' } },
      }),
    ),
    'PRIVILEGE_ESCALATION',
  );
  ok(
    await req('POST', '/api/admin/grants', dep, {
      role: 'probe',
      collection: 'tickets',
      actions: ['view'],
      fields: ['title'],
      scope: { title: { $like: 'a%' } },
    }),
  );
  // Explain and ownership changes are for administrators.
  const ticket = (await list('tickets', admin)).json().items[0];
  assert.equal((await req('GET', `/api/access/explain?userId=${ids.nora}&collection=tickets&recordId=${ticket.id}`, dep)).statusCode, 403);
  ok(await req('GET', `/api/access/explain?userId=${ids.nora}&collection=tickets&recordId=${ticket.id}`, admin), 200);
  assert.equal((await req('PATCH', '/api/admin/collections/tickets', dep, { ownership: null })).statusCode, 403);
});

test('privilege escalation through a department: changing its roles or deleting it is managing each member, refused as a direct change would be [ASVS V8.2.1, V8.3.1]', async () => {
  // gina manages users and roles but holds no grant; fred holds agent (grants gina lacks), so he holds more than she does.
  const code = (r: { json(): { error?: { code: string } } }) => r.json().error?.code;
  ok(await req('POST', '/api/admin/roles', admin, { name: 'dept-boss', permissions: ['users.manage', 'roles.manage'] }));
  ok(await req('POST', '/api/admin/roles', admin, { name: 'plain' }));
  const gina = await createUser(t, admin, 'gina', 'Green-keeper-key-3141');
  const fred = await createUser(t, admin, 'fred', 'Forest-ranger-key-2718');
  ok(await req('PUT', `/api/admin/users/${gina}/roles`, admin, { roles: ['dept-boss'] }), 204);
  ok(await req('PUT', `/api/admin/users/${fred}/roles`, admin, { roles: ['agent'] }), 204);
  ok(await req('PUT', '/api/admin/departments/green', admin, { roles: [] }), 200);
  ok(await req('PUT', '/api/admin/departments/blue', admin, { description: 'the blue team', roles: ['plain'] }), 200);
  ok(await req('PUT', `/api/admin/users/${fred}/departments`, admin, { departments: ['blue', 'green'] }), 204);
  const tk = (await login(t, 'gina', 'Green-keeper-key-3141')).token;
  const fredAccess = async () => (await req('GET', `/api/admin/users/${fred}/access`, admin)).json();
  const departments = async () => (await req('GET', '/api/admin/departments', admin)).json().departments;
  const unchanged = { access: await fredAccess(), departments: await departments() };
  const changes = async () => (await events(t, admin, 'access.changed')).filter((e) => e.actor.id === gina).length;
  // The direct path refuses: fred is not gina's to manage.
  assert.equal(code(await req('PUT', `/api/admin/users/${fred}/roles`, tk, { roles: ['agent', 'dept-boss'] })), 'PRIVILEGE_ESCALATION');
  // Attacks: give him a role through a department he is in (and gina is not), take one away the same way, end his
  // membership by deleting the department or through the membership route.
  const attacks = {
    add: await req('PUT', '/api/admin/departments/green', tk, { roles: ['dept-boss'] }),
    remove: await req('PUT', '/api/admin/departments/blue', tk, { description: 'the blue team', roles: [] }),
    delete: await req('DELETE', '/api/admin/departments/blue', tk),
    leave: await req('PUT', `/api/admin/users/${fred}/departments`, tk, { departments: [] }),
  };
  assert.deepEqual(Object.fromEntries(Object.entries(attacks).map(([k, r]) => [k, `${r.statusCode} ${r.body ? code(r) : ''}`.trim()])), {
    add: '403 PRIVILEGE_ESCALATION',
    remove: '403 PRIVILEGE_ESCALATION',
    delete: '403 PRIVILEGE_ESCALATION',
    leave: '403 PRIVILEGE_ESCALATION',
  });
  // The answer names the department, not the member or what he holds.
  assert.deepEqual(attacks.add.json().error.details, { subject: 'department green', exceeds: 'a member you may not manage' });
  // Nothing changed: fred's roles and departments, the departments' roles, no access.changed by gina; the refusal is recorded.
  assert.deepEqual(await fredAccess(), unchanged.access);
  assert.deepEqual(await departments(), unchanged.departments);
  assert.equal(await changes(), 0);
  assert.ok(
    (await events(t, admin, 'access.refused')).some(
      (e) => e.actor.id === gina && e.details.reason === 'PRIVILEGE_ESCALATION' && e.details.action === 'PUT /api/admin/departments/:name',
    ),
  );
  // Legitimate: a change that gives or takes nothing from a member (the description), and every change to a
  // department whose members (none) she may all manage: roles given, taken, the department deleted.
  ok(await req('PUT', '/api/admin/departments/blue', tk, { description: 'blue, renamed', roles: ['plain'] }), 200);
  ok(await req('PUT', '/api/admin/departments/spare', tk, { roles: ['dept-boss'] }), 200);
  ok(await req('PUT', '/api/admin/departments/spare', tk, { roles: ['plain'] }), 200);
  ok(await req('DELETE', '/api/admin/departments/spare', tk), 204);
  assert.equal(await changes(), 4);
  // The administrator, who may manage everyone, changes and deletes departments with members.
  ok(await req('PUT', '/api/admin/departments/green', admin, { roles: ['dept-boss'] }), 200);
  assert.ok((await fredAccess()).held.includes('dept-boss'));
  ok(await req('DELETE', '/api/admin/departments/blue', admin), 204);
  assert.deepEqual((await fredAccess()).departments, ['green']);
  ok(await req('DELETE', '/api/admin/departments/green', admin), 204);
  assert.deepEqual((await fredAccess()).held, ['agent']);
});

test('privilege escalation through a role: changing what it gives, its grants, or deleting it is managing each holder, refused as a direct change would be [ASVS V8.2.1, V8.3.1]', async () => {
  // rhea manages users and roles and sees tickets' title and team; otto holds agent (grants she lacks), so he holds
  // more than she does. He holds tag directly and badge through violet, a department she is not in.
  const code = (r: { json(): { error?: { code: string } } }) => r.json().error?.code;
  ok(await req('POST', '/api/admin/roles', admin, { name: 'role-boss', permissions: ['users.manage', 'roles.manage'], menus: ['access'] }));
  ok(await req('POST', '/api/admin/grants', admin, { role: 'role-boss', collection: 'tickets', actions: ['view'], fields: ['title', 'team'] }));
  for (const name of ['tag', 'badge', 'crew', 'loose']) ok(await req('POST', '/api/admin/roles', admin, { name }));
  const tagGrant = (await req('POST', '/api/admin/grants', admin, { role: 'tag', collection: 'tickets', actions: ['view'], fields: ['title'] })).json();
  const rhea = await createUser(t, admin, 'rhea', 'Riverbank-guard-key-1618');
  const otto = await createUser(t, admin, 'otto', 'Orchard-keeper-key-1414');
  const uma = await createUser(t, admin, 'uma', 'Upland-walker-key-1732');
  ok(await req('PUT', '/api/admin/departments/violet', admin, { roles: ['badge'] }), 200);
  ok(await req('PUT', '/api/admin/departments/teal', admin, { roles: [] }), 200);
  ok(await req('PUT', `/api/admin/users/${rhea}/roles`, admin, { roles: ['role-boss'] }), 204);
  ok(await req('PUT', `/api/admin/users/${rhea}/departments`, admin, { departments: ['teal'] }), 204);
  ok(await req('PUT', `/api/admin/users/${otto}/roles`, admin, { roles: ['agent', 'tag'] }), 204);
  ok(await req('PUT', `/api/admin/users/${otto}/departments`, admin, { departments: ['violet'] }), 204);
  // uma holds crew and is in teal with rhea: she holds no more than rhea does.
  ok(await req('PUT', `/api/admin/users/${uma}/roles`, admin, { roles: ['crew'] }), 204);
  ok(await req('PUT', `/api/admin/users/${uma}/departments`, admin, { departments: ['teal'] }), 204);
  const tk = (await login(t, 'rhea', 'Riverbank-guard-key-1618')).token;
  const access = async (id: string) => (await req('GET', `/api/admin/users/${id}/access`, admin)).json();
  const roles = async () => (await req('GET', '/api/admin/roles', admin)).json().roles;
  const grants = async () => (await req('GET', '/api/admin/grants?collection=tickets', admin)).json().grants;
  const unchanged = { otto: await access(otto), roles: await roles(), grants: await grants() };
  const changes = async () => (await events(t, admin, 'access.changed')).filter((e) => e.actor.id === rhea).length;
  // The direct path refuses: otto is not rhea's to manage.
  assert.equal(code(await req('PUT', `/api/admin/users/${otto}/roles`, tk, { roles: ['agent', 'tag', 'role-boss'] })), 'PRIVILEGE_ESCALATION');
  // Attacks: give him a permission, a menu or a grant through a role he holds (directly or through violet), take a
  // grant or the role away. Each is within rhea's own power, so only the check on the holders refuses it.
  const attacks = {
    permission: await req('PATCH', '/api/admin/roles/tag', tk, { permissions: ['users.manage'] }),
    menu: await req('PATCH', '/api/admin/roles/tag', tk, { menus: ['access'] }),
    throughDepartment: await req('PATCH', '/api/admin/roles/badge', tk, { permissions: ['roles.manage'] }),
    grantAdded: await req('POST', '/api/admin/grants', tk, { role: 'tag', collection: 'tickets', actions: ['view'], fields: ['title', 'team'] }),
    grantRemoved: await req('DELETE', `/api/admin/grants/${tagGrant.id}`, tk),
    deleted: await req('DELETE', '/api/admin/roles/tag', tk),
    deletedThroughDepartment: await req('DELETE', '/api/admin/roles/badge', tk),
  };
  assert.deepEqual(Object.fromEntries(Object.entries(attacks).map(([k, r]) => [k, `${r.statusCode} ${r.body ? code(r) : ''}`.trim()])), {
    permission: '403 PRIVILEGE_ESCALATION',
    menu: '403 PRIVILEGE_ESCALATION',
    throughDepartment: '403 PRIVILEGE_ESCALATION',
    grantAdded: '403 PRIVILEGE_ESCALATION',
    grantRemoved: '403 PRIVILEGE_ESCALATION',
    deleted: '403 PRIVILEGE_ESCALATION',
    deletedThroughDepartment: '403 PRIVILEGE_ESCALATION',
  });
  // The answer names the role, not the holder or what he holds.
  assert.deepEqual(attacks.permission.json().error.details, { subject: 'role tag', exceeds: 'a holder you may not manage' });
  assert.deepEqual(attacks.grantAdded.json().error.details, { subject: 'role tag', exceeds: 'a holder you may not manage' });
  // A role she holds herself is her own access: refused as changing her own roles is.
  assert.equal(code(await req('PATCH', '/api/admin/roles/role-boss', tk, { menus: [] })), 'CANNOT_MODIFY_SELF');
  const own = (await grants()).find((g: { role: string }) => g.role === 'role-boss');
  assert.equal(code(await req('DELETE', `/api/admin/grants/${own.id}`, tk)), 'CANNOT_MODIFY_SELF');
  // Nothing changed: otto's access, the roles, the grants; no access.changed by rhea; the refusals are recorded.
  assert.deepEqual(await access(otto), unchanged.otto);
  assert.deepEqual(await roles(), unchanged.roles);
  assert.deepEqual(await grants(), unchanged.grants);
  assert.equal(await changes(), 0);
  const refused = (await events(t, admin, 'access.refused')).filter((e) => e.actor.id === rhea && e.details.reason === 'PRIVILEGE_ESCALATION');
  // (Sampled once a minute per route pattern: the role deletion shares PATCH's.)
  for (const action of ['PATCH /api/admin/roles/:name', 'POST /api/admin/grants', 'DELETE /api/admin/grants/:id'])
    assert.ok(
      refused.some((e) => e.details.action === action),
      action,
    );
  // Legitimate: a description gives nothing; a role nobody holds; every change to crew, whose one holder (uma) she
  // may manage: a permission and a menu given, a grant given and taken, the role deleted.
  ok(await req('PATCH', '/api/admin/roles/tag', tk, { description: 'a label' }), 200);
  ok(await req('PATCH', '/api/admin/roles/loose', tk, { permissions: ['users.manage'] }), 200);
  ok(await req('PATCH', '/api/admin/roles/crew', tk, { permissions: ['users.manage'], menus: ['access'] }), 200);
  assert.deepEqual((await access(uma)).permissions, ['users.manage']);
  const given = await req('POST', '/api/admin/grants', tk, { role: 'crew', collection: 'tickets', actions: ['view'], fields: ['title'] });
  ok(given);
  ok(await req('DELETE', `/api/admin/grants/${given.json().id}`, tk), 204);
  ok(await req('DELETE', '/api/admin/roles/crew', tk), 204);
  assert.deepEqual((await access(uma)).held, []);
  assert.equal(await changes(), 6);
  // The administrator, who may manage everyone, changes, extends and deletes roles with holders.
  ok(await req('PATCH', '/api/admin/roles/tag', admin, { permissions: ['users.manage'] }), 200);
  assert.deepEqual((await access(otto)).permissions, ['users.manage']);
  ok(await req('POST', '/api/admin/grants', admin, { role: 'badge', collection: 'tickets', actions: ['view'], fields: ['title', 'team'] }));
  ok(await req('DELETE', `/api/admin/grants/${tagGrant.id}`, admin), 204);
  ok(await req('DELETE', '/api/admin/roles/tag', admin), 204);
  ok(await req('DELETE', '/api/admin/roles/badge', admin), 204);
  assert.deepEqual((await access(otto)).held, ['agent']);
  assert.deepEqual((await access(otto)).permissions, []);
});

test('an active role taken away fails closed: the session acts with no role until the user picks again [ASVS V8.3.2]', async () => {
  const uid = await createUser(t, admin, 'switcher', 'Swap-the-hats-4455');
  ok(await req('PUT', `/api/admin/users/${uid}/roles`, admin, { roles: ['agent', 'viewer'] }), 204);
  const tk = (await login(t, 'switcher', 'Swap-the-hats-4455')).token;
  ok(await req('PUT', '/api/auth/active-role', tk, { role: 'viewer' }), 200);
  ok(await list('memos', tk), 200);
  ok(await req('PUT', `/api/admin/users/${uid}/roles`, admin, { roles: ['agent'] }), 204);
  assert.equal((await list('memos', tk)).statusCode, 404, 'no grant: answered like a missing collection');
  assert.equal((await list('notes', tk)).statusCode, 404);
  const me = (await req('GET', '/api/auth/me', tk)).json();
  assert.deepEqual([me.access.activeRole, me.access.roles], ['viewer', []]);
  ok(await req('PUT', '/api/auth/active-role', tk, { role: null }), 200);
  ok(await list('notes', tk), 200);
});

test("the README's authorisation rules are the server's: each system permission opens the routes listed for it and nothing else; data and field rules are written down [ASVS V8.1.1, V8.1.2]", async () => {
  const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
  const rows = new Map([...readme.matchAll(/^\| `([a-z]+\.[a-z]+)` \| (.*) \|$/gm)].map((m) => [m[1]!, m[2]!]));
  // Function level: the table names exactly the permissions an administrator holds (all of them).
  const all = (await req('GET', '/api/auth/me', admin)).json().access.permissions as string[];
  assert.deepEqual([...rows.keys()].sort(), [...all].sort());
  const probes: Record<string, string> = {
    'users.manage': '/api/admin/users',
    'roles.manage': '/api/admin/roles',
    'schema.manage': '/api/admin/collections',
    'security.manage': '/api/admin/settings',
    'audit.read': '/api/admin/security-events',
    'accounts.unlock': '/api/admin/locked-accounts',
    'apikeys.manage': '/api/admin/api-keys',
  };
  const uid = await createUser(t, admin, 'doc-probe', 'Documented-rules-7731');
  for (const perm of all) {
    const route = probes[perm]!;
    assert.ok(rows.get(perm)!.includes(route), `${perm}: the README lists ${route}`);
    ok(await req('POST', '/api/admin/roles', admin, { name: `only-${perm.replace('.', '-')}`, permissions: [perm] }));
  }
  for (const perm of all) {
    ok(await req('PUT', `/api/admin/users/${uid}/roles`, admin, { roles: [`only-${perm.replace('.', '-')}`] }), 204);
    const tk = (await login(t, 'doc-probe', 'Documented-rules-7731')).token;
    for (const [other, route] of Object.entries(probes)) {
      const r = await req('GET', route, tk);
      if (other === perm) assert.equal(r.statusCode, 200, `${perm} opens ${route}: ${r.body}`);
      else assert.equal(r.statusCode, 403, `${perm} does not open ${route}`);
    }
  }
  // Data and field level (the tests of test/records prove each): the rules a reader of the README gets.
  for (const rule of [
    'No grant of any kind on a collection answers 404',
    "A record outside the\n  caller's scope answers 404",
    'The row scope is part of the SQL `WHERE`. Each row carries only the fields of the grants that hold for it.',
    'Backend-only (`hidden`) fields never leave the server.',
    'A write to a system, ungranted or ownership field is refused (`FIELD_NOT_WRITABLE`).',
    'An update that would move a record into or out of a status or scope the caller lacks is rolled back (403).',
    'Grants add up. No grant means no access, and a grant with no\nfields grants no fields.',
  ]) {
    assert.ok(readme.replaceAll('\n  ', ' ').replaceAll('\n', ' ').includes(rule.replaceAll('\n  ', ' ').replaceAll('\n', ' ')), rule);
  }
});
