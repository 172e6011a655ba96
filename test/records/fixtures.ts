// The two worlds of the records regression suite (issue 3). Each test file builds the one it
// needs in its own `before` and closes it in `after`; tests of one file share its world.
import assert from 'node:assert/strict';
import { makeApp, login, bearer, createUser, type TestApp } from '../helpers/app.js';

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
type Response = { statusCode: number; body: string };

/** Asserts the status code (201 unless told), with the body as the message. */
export const ok = (r: Response, code = 201) => assert.equal(r.statusCode, code, r.body);
export const q = (o: Record<string, string>) => `?${new URLSearchParams(o).toString()}`;
export const errCode = (r: { json(): { error?: { code: string } } }) => r.json().error?.code;
/** The sorted titles of a 200 list response. */
export const titles = (r: Response & { json(): { items: Array<{ title: string }> } }) => {
  assert.equal(r.statusCode, 200, r.body);
  return r
    .json()
    .items.map((x) => x.title)
    .sort();
};

function requester(t: TestApp) {
  return (method: Method, url: string, token: string, payload?: unknown) =>
    t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
}

export const CASES_PW = { ann: 'Quarterly-report-4411', bob: 'Builder-hammer-7723', aud: 'Ledger-checker-9901' };

/**
 * The `cases` world: agents ann and bob (their own cases; everyone's closed cases, title and state
 * only; updates of open cases only), auditor aud (every case with the finance block), and four cases:
 * ann-open, ann-closed, bob-open and admin-made (with an amount and a backend-only secret).
 */
export async function casesWorld() {
  const t = await makeApp();
  const req = requester(t);
  const admin = (await login(t)).token;
  const ids: Record<string, string> = {};
  for (const [u, p] of Object.entries(CASES_PW)) ids[u] = await createUser(t, admin, u, p);
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'cases',
      fields: [
        { name: 'title', type: 'string', required: true },
        { name: 'state', type: 'status', values: ['open', 'closed'], default: 'open' },
        { name: 'owner_note', type: 'text' },
        { name: 'amount', type: 'integer', block: 'finance' },
        { name: 'secret', type: 'text', hidden: true },
      ],
    }),
  );
  ok(await req('POST', '/api/admin/roles', admin, { name: 'agent' }));
  ok(await req('POST', '/api/admin/roles', admin, { name: 'auditor' }));
  ok(await req('PUT', `/api/admin/users/${ids.ann}/roles`, admin, { roles: ['agent'] }), 204);
  ok(await req('PUT', `/api/admin/users/${ids.bob}/roles`, admin, { roles: ['agent'] }), 204);
  ok(await req('PUT', `/api/admin/users/${ids.aud}/roles`, admin, { roles: ['auditor'] }), 204);
  // Agents: their own cases, three fields; open cases only for updates.
  ok(
    await req('POST', '/api/admin/grants', admin, {
      role: 'agent',
      collection: 'cases',
      actions: ['view', 'create', 'delete'],
      fields: ['title', 'state', 'owner_note'],
      scope: { createdBy: '$user.id' },
    }),
  );
  ok(
    await req('POST', '/api/admin/grants', admin, {
      role: 'agent',
      collection: 'cases',
      actions: ['update'],
      fields: ['title', 'state', 'owner_note'],
      statuses: ['open'],
      scope: { createdBy: '$user.id' },
    }),
  );
  // Agents also see everyone's closed cases, title and state only.
  ok(
    await req('POST', '/api/admin/grants', admin, { role: 'agent', collection: 'cases', actions: ['view'], fields: ['title', 'state'], statuses: ['closed'] }),
  );
  // Auditors read every case with the finance block.
  ok(await req('POST', '/api/admin/grants', admin, { role: 'auditor', collection: 'cases', actions: ['view'], fields: ['title', 'state', 'block:finance'] }));
  const ann = (await login(t, 'ann', CASES_PW.ann)).token;
  const bob = (await login(t, 'bob', CASES_PW.bob)).token;
  const aud = (await login(t, 'aud', CASES_PW.aud)).token;
  for (const [token, title, state] of [
    [ann, 'ann-open', 'open'],
    [ann, 'ann-closed', 'closed'],
    [bob, 'bob-open', 'open'],
  ] as const) {
    ok(await req('POST', '/api/collections/cases/records', token, { title, state, owner_note: `note of ${title}` }));
  }
  ok(await req('POST', '/api/collections/cases/records', admin, { title: 'admin-made', amount: 42, secret: 's3cr3t' }));
  const list = (token: string, qs = '') => req('GET', `/api/collections/cases/records${qs}`, token);
  /** The caller's visible case of that title (id and title). */
  const find = async (token: string, title: string) =>
    ((await list(token)).json().items as Array<{ id: string; title: string }>).find((x) => x.title === title)!;
  /** A new user with the agent role, signed in. */
  const agent = async (username: string, password: string) => {
    const id = await createUser(t, admin, username, password);
    ok(await req('PUT', `/api/admin/users/${id}/roles`, admin, { roles: ['agent'] }), 204);
    return { id, token: (await login(t, username, password)).token };
  };
  return { t, admin, ann, bob, aud, ids, req, list, find, agent, q, titles, errCode, ok };
}

export type CasesWorld = Awaited<ReturnType<typeof casesWorld>>;

/**
 * The `orders` world: clerk sees northern customers' names only (Acme, not Southco), no supplier,
 * and every order but `internal`, without the finance block. Orders o1 (Acme, supplier Bolts),
 * o2 (Southco), o3 (Acme, parent o1) and internal (Acme).
 */
export async function ordersWorld() {
  const t = await makeApp();
  const req = requester(t);
  const admin = (await login(t)).token;
  const id: Record<string, string> = {};
  const uid = await createUser(t, admin, 'clerk', 'Paper-stack-sorter-5150');
  ok(await req('POST', '/api/admin/collections', admin, { name: 'suppliers', fields: [{ name: 'name', type: 'string' }] }));
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'customers',
      fields: [
        { name: 'name', type: 'string' },
        { name: 'region', type: 'string' },
        { name: 'credit', type: 'integer', block: 'finance' },
        { name: 'secret', type: 'text', hidden: true },
      ],
    }),
  );
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'orders',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'amount', type: 'integer' },
        { name: 'cost', type: 'integer', block: 'finance' },
        { name: 'customer', type: 'relation', target: 'customers' },
        { name: 'supplier', type: 'relation', target: 'suppliers' },
        { name: 'parent', type: 'relation', target: 'orders' },
      ],
    }),
  );
  ok(await req('POST', '/api/admin/roles', admin, { name: 'clerk' }));
  ok(await req('PUT', `/api/admin/users/${uid}/roles`, admin, { roles: ['clerk'] }), 204);
  // Clerks see northern customers' names only, and every order but the internal ones, without the finance block.
  ok(
    await req('POST', '/api/admin/grants', admin, { role: 'clerk', collection: 'customers', actions: ['view'], fields: ['name'], scope: { region: 'north' } }),
  );
  ok(
    await req('POST', '/api/admin/grants', admin, {
      role: 'clerk',
      collection: 'orders',
      actions: ['view'],
      fields: ['title', 'amount', 'customer', 'supplier', 'parent'],
      scope: { title: { $ne: 'internal' } },
    }),
  );
  const mk = async (c: string, body: Record<string, unknown>) => {
    const r = await req('POST', `/api/collections/${c}/records`, admin, body);
    ok(r);
    return r.json().id as string;
  };
  id.acme = await mk('customers', { name: 'Acme', region: 'north', credit: 900, secret: 'acme-secret' });
  id.southco = await mk('customers', { name: 'Southco', region: 'south', credit: 50, secret: 'south-secret' });
  id.sup = await mk('suppliers', { name: 'Bolts' });
  id.o1 = await mk('orders', { title: 'o1', amount: 10, cost: 7, customer: id.acme, supplier: id.sup });
  id.o2 = await mk('orders', { title: 'o2', amount: 20, cost: 9, customer: id.southco });
  id.o3 = await mk('orders', { title: 'o3', amount: 30, cost: 1, customer: id.acme, parent: id.o1 });
  id.internal = await mk('orders', { title: 'internal', amount: 999, cost: 0, customer: id.acme });
  const clerk = (await login(t, 'clerk', 'Paper-stack-sorter-5150')).token;
  const orders = (o: Record<string, string>, token = clerk) => req('GET', `/api/collections/orders/records${q(o)}`, token);
  return { t, admin, clerk, id, req, orders, q, titles, errCode, ok };
}

export type OrdersWorld = Awaited<ReturnType<typeof ordersWorld>>;
