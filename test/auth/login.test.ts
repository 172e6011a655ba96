import { test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { hash as argon2Hash } from '@node-rs/argon2';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { scryptSync, randomBytes } from 'node:crypto';
import { login, bearer, createUser, events, cookies, makeApp, ROOT, type TestApp, useApp } from '../helpers/app.js';
import { ROOT_DIR } from '../helpers/cli.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

const post = (payload: unknown) => t.app.inject({ method: 'POST', url: '/api/auth/login', payload: payload as object });

test('root signs in with a bearer token and reaches /me', async () => {
  const { token } = await login(t);
  const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
  assert.equal(me.statusCode, 200);
  assert.equal(me.json().user.username, ROOT.username);
  assert.equal(me.json().user.isAdmin, true);
  assert.equal(me.json().session.mode, 'bearer');
  assert.equal('password_hash' in me.json().user, false);
});

test('sign-in by email works, case-insensitively', async () => {
  await createUser(t, admin, 'mailer', 'Letter-carrier-42', { email: 'Mailer@Example.org' });
  const res = await post({ email: 'MAILER@example.org', password: 'Letter-carrier-42' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().user.username, 'mailer');
});

test('unknown user, wrong password and disabled user get the same answer; the reason stays server-side [ASVS V16.3.1, V6.3.8]', async () => {
  const id = await createUser(t, admin, 'dora', 'Explorer-map-4711');
  await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(admin), payload: { status: 'disabled' } });
  const unknown = await post({ username: 'nobody-here', password: 'Whatever-password-1' });
  const wrong = await post({ username: ROOT.username, password: 'Not-the-password-1' });
  const disabled = await post({ username: 'dora', password: 'Explorer-map-4711' });
  for (const r of [unknown, wrong, disabled]) {
    assert.equal(r.statusCode, 401);
    assert.deepEqual(r.json(), { error: { code: 'INVALID_CREDENTIALS', message: 'Invalid username or password.' } });
  }
  const failures = (await events(t, admin, 'auth.login')).filter((e) => e.outcome === 'failure');
  const reasons = failures.map((e) => e.details.reason);
  assert.ok(reasons.includes('unknown_user'));
  assert.ok(reasons.includes('bad_password'));
  assert.ok(reasons.includes('disabled'));
});

test('cookie mode sets __Host- HttpOnly Secure SameSite=Lax cookies and returns no token in the body [ASVS V3.3.1, V3.3.2, V3.3.3, V3.3.4]', async () => {
  const res = await post({ username: ROOT.username, password: ROOT.password, mode: 'cookie' });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.token, undefined);
  assert.equal(typeof body.xsrfToken, 'string');
  const c = cookies(res);
  const session = c['__Host-palisade_session'];
  assert.ok(session, 'session cookie set');
  assert.match(session.attrs, /HttpOnly/);
  assert.match(session.attrs, /Secure/);
  assert.match(session.attrs, /SameSite=Lax/);
  assert.match(session.attrs, /Path=\//);
  assert.doesNotMatch(session.attrs, /Domain=/);
  assert.doesNotMatch(session.attrs, /Max-Age/, 'without remember me the cookie lives for the browser session');
  assert.equal(c['__Host-palisade_xsrf']?.value, body.xsrfToken);
  assert.doesNotMatch(c['__Host-palisade_xsrf']!.attrs, /HttpOnly/);
});

test('remember me makes the cookie persistent until the longer absolute end', async () => {
  const res = await post({ username: ROOT.username, password: ROOT.password, mode: 'cookie', rememberMe: true });
  const c = cookies(res)['__Host-palisade_session']!;
  assert.match(c.attrs, /Max-Age=604800/);
  const end = Date.parse(res.json().sessionExpiresAt) - t.clock.now();
  assert.equal(end, 7 * 86400 * 1000);
});

test('a bad request to login is refused before any lookup', async () => {
  assert.equal((await post({ username: 'a', email: 'a@b.c', password: 'x' })).json().error.code, 'VALIDATION_FAILED');
  assert.equal((await post({ password: 'x' })).json().error.code, 'VALIDATION_FAILED');
  assert.equal((await post({ username: ROOT.username, password: 'x'.repeat(1025) })).json().error.code, 'VALIDATION_FAILED');
  assert.equal((await post({ username: ROOT.username, password: ROOT.password, isAdmin: true })).json().error.code, 'VALIDATION_FAILED');
  assert.equal((await post({ username: ROOT.username, password: ROOT.password, rememberMe: 'true' })).json().error.code, 'VALIDATION_FAILED');
});

test('type confusion: a password or user name that is not a string (array, object, number, true, null) is 400 VALIDATION_FAILED, never a sign-in; the string signs in [ASVS V15.3.5]', async () => {
  // A loose comparison or a query built from an object ({"$ne": ""}) would match without knowing the password.
  const before = JSON.stringify((await events(t, admin, 'auth.login'))[0]);
  for (const odd of [[ROOT.password], { $ne: '' }, { toString: ROOT.password }, 0, 1, true, null]) {
    for (const body of [
      { username: ROOT.username, password: odd },
      { username: odd, password: ROOT.password },
    ]) {
      const r = await post(body);
      assert.equal(r.statusCode, 400, `${JSON.stringify(body)}: ${r.body}`);
      assert.equal(r.json().error.code, 'VALIDATION_FAILED', JSON.stringify(body));
      assert.equal(r.headers['set-cookie'], undefined);
    }
  }
  assert.equal(JSON.stringify((await events(t, admin, 'auth.login'))[0]), before, 'refused before any lookup: no sign-in event');
  const ok = await post({ username: ROOT.username, password: ROOT.password });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(typeof ok.json().token, 'string');
});

test('an imported bcrypt hash verifies and is re-hashed as argon2id at the first sign-in [ASVS V11.4.2, V11.2.2]', async () => {
  const hash = bcrypt.hashSync('Bcrypt-imported-pw-1', 10);
  const res = await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: bearer(admin), payload: { username: 'legacy-b', passwordHash: hash } });
  assert.equal(res.statusCode, 201);
  assert.equal((await post({ username: 'legacy-b', password: 'wrong-password-123' })).statusCode, 401);
  assert.equal((await post({ username: 'legacy-b', password: 'Bcrypt-imported-pw-1' })).statusCode, 200);
  const row = await t.s.db.selectFrom('users').select('password_hash').where('username', '=', 'legacy-b').executeTakeFirstOrThrow();
  assert.match(row.password_hash!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.equal((await post({ username: 'legacy-b', password: 'Bcrypt-imported-pw-1' })).statusCode, 200);
  const rehashed = await events(t, admin, 'auth.password_rehashed');
  assert.ok(rehashed.some((e) => e.details.from === '2a' || e.details.from === '2b'));
});

test('an imported scrypt hash verifies and is re-hashed as argon2id [ASVS V11.4.2, V11.2.2]', async () => {
  const salt = randomBytes(16);
  const h = scryptSync('Scrypt-imported-pw-1', salt, 32, { N: 2 ** 14, r: 8, p: 1 });
  const stored = `$scrypt$ln=14,r=8,p=1$${salt.toString('base64')}$${h.toString('base64')}`;
  const res = await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: bearer(admin), payload: { username: 'legacy-s', passwordHash: stored } });
  assert.equal(res.statusCode, 201);
  assert.equal((await post({ username: 'legacy-s', password: 'Scrypt-imported-pw-2' })).statusCode, 401);
  assert.equal((await post({ username: 'legacy-s', password: 'Scrypt-imported-pw-1' })).statusCode, 200);
  const row = await t.s.db.selectFrom('users').select('password_hash').where('username', '=', 'legacy-s').executeTakeFirstOrThrow();
  assert.match(row.password_hash!, /^\$argon2id\$/);
});

test('a malformed imported hash is refused and nothing is written', async () => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { username: 'legacy-x', passwordHash: '$md5$abc' },
  });
  assert.equal(res.statusCode, 400);
  const row = await t.s.db.selectFrom('users').select('id').where('username', '=', 'legacy-x').executeTakeFirst();
  assert.equal(row, undefined);
});

test('an imported hash costlier than a sign-in may be is refused; one already stored verifies nothing (D466)', async () => {
  const salt = 'c2FsdHNhbHRzYWx0c2FsdA';
  const tail = 'A'.repeat(43);
  const create = (username: string, passwordHash: string) =>
    t.app.inject({ method: 'POST', url: '/api/admin/users', headers: bearer(admin), payload: { username, passwordHash } });
  // Each would make every sign-in to the account take the server's memory or CPU (the first one, 4 TiB of memory).
  for (const [i, bomb] of [
    `$argon2id$v=19$m=4294967295,t=4294967295,p=1$${salt}$${tail}`,
    `$argon2id$v=19$m=19456,t=4294967295,p=1$${salt}$${tail}`,
    `$argon2id$v=19$m=19456,t=2,p=16777215$${salt}$${tail}`,
    `$argon2id$v=19$m=1048576,t=1,p=1$${salt}$${tail}`,
    `$2b$31$${'a'.repeat(53)}`,
    `$2b$15$${'a'.repeat(53)}`,
    `$scrypt$ln=20,r=32,p=1$${salt}$${tail}`,
  ].entries()) {
    const r = await create(`bomb-${i}`, bomb);
    assert.equal(r.statusCode, 400, `${bomb}: ${r.body}`);
    assert.equal(await t.s.db.selectFrom('users').select('id').where('username', '=', `bomb-${i}`).executeTakeFirst(), undefined);
  }
  // What other systems write by default is taken: argon2id at 64 MiB, 3 passes, 4 lanes (node-argon2's defaults).
  const fair = await argon2Hash('Argon2-imported-pw-1', { algorithm: 2, memoryCost: 65536, timeCost: 3, parallelism: 4 });
  assert.equal((await create('legacy-a', fair)).statusCode, 201);
  assert.equal((await post({ username: 'legacy-a', password: 'Argon2-imported-pw-1' })).statusCode, 200);
  // A bomb written around the check (a restored row, a hand edit) is refused at the sign-in without being run.
  const hashCheck = async () =>
    (
      (await t.app.inject({ method: 'GET', url: '/api/admin/doctor', headers: bearer(admin) })).json().checks as Array<{
        id: string;
        status: string;
        detail: string;
      }>
    ).find((c) => c.id === 'password-hashes');
  assert.equal((await hashCheck())?.status, 'pass');
  await createUser(t, admin, 'planted', 'Quiet-harbour-lamp-77');
  await t.s.db
    .updateTable('users')
    .set({ password_hash: `$argon2id$v=19$m=4294967295,t=4294967295,p=1$${salt}$${tail}` })
    .where('username', '=', 'planted')
    .execute();
  assert.equal((await post({ username: 'planted', password: 'Quiet-harbour-lamp-77' })).statusCode, 401);
  assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  // The doctor names the account, so that an operator sets its password again.
  const check = await hashCheck();
  assert.equal(check?.status, 'warn');
  assert.match(check!.detail, /^1 account cannot sign in with a password: .*\(planted\)$/);
});

test('new passwords are stored as argon2id with at least 19 MiB, t=2, p=1 [ASVS V11.4.2]', async () => {
  await createUser(t, admin, 'hashy', 'Salted-stored-99');
  const row = await t.s.db.selectFrom('users').select('password_hash').where('username', '=', 'hashy').executeTakeFirstOrThrow();
  assert.match(row.password_hash!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
});

test('a password is verified exactly as typed: a changed case, a cut, a longer copy or added spaces are refused; the exact one signs in [ASVS V6.2.8]', async () => {
  // 100 characters: a hash that cut at 64 or 72 (bcrypt) would take the shorter and the longer forms alike.
  const exact = `Harbour Lantern-${'quiet-meadow-'.repeat(6)}${'z'.repeat(100 - 16 - 78 - 6)}-Tail7`;
  assert.equal(exact.length, 100);
  await createUser(t, admin, 'verbatim', exact);
  const altered = [
    exact.toLowerCase(),
    exact.toUpperCase(),
    `h${exact.slice(1)}`,
    exact.slice(0, 72),
    exact.slice(0, 64),
    exact.slice(0, -1),
    `${exact}8`,
    ` ${exact}`,
    `${exact} `,
    exact.replace(' ', ''),
  ];
  for (const password of altered) {
    const r = await post({ username: 'verbatim', password });
    assert.equal(r.statusCode, 401, `${JSON.stringify(password)} must be refused`);
    assert.equal(r.json().error.code, 'INVALID_CREDENTIALS');
  }
  // Ten altered forms are ten failures: the account would lock at the default ten, so unlock before the control.
  const id = (await t.s.users.findByName('verbatim'))!.id;
  assert.equal((await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/unlock`, headers: bearer(admin) })).statusCode, 204);
  const ok = await post({ username: 'verbatim', password: exact });
  assert.equal(ok.statusCode, 200, ok.body);
});

test('with the default policy a password does not expire: ten years on it still signs in, with no reminder and no forced change [ASVS V6.2.10]', async () => {
  await createUser(t, admin, 'steady', 'Quiet-meadow-harbour-2931');
  const policy = await t.app.inject({ method: 'GET', url: '/api/admin/settings/password-policy', headers: bearer(admin) });
  assert.equal(policy.json().validity, 0);
  const tenYears = 10 * 365 * 86400;
  t.clock.advance(tenYears);
  try {
    const r = await post({ username: 'steady', password: 'Quiet-meadow-harbour-2931' });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().passwordExpiresAt, null);
    assert.equal(r.json().passwordExpiryReminder, false);
  } finally {
    // Back to now: the other tests' administrator token is still live.
    t.clock.advance(-tenYears);
  }
});

test('no default account: a fresh installation has only the operator-named first administrator; the usual default credentials sign nobody in [ASVS V6.3.2]', async () => {
  const fresh = await makeApp({ env: { INIT_ROOT_USERNAME: 'ops-chief' } });
  try {
    const users = await fresh.s.db.selectFrom('users').select(['username', 'is_admin']).execute();
    assert.deepEqual(
      users.map((u) => u.username),
      ['ops-chief'],
    );
    const tries: Array<[string, string]> = [
      ['root', 'root'],
      ['root', ROOT.password],
      ['admin', 'admin'],
      ['admin', 'password'],
      ['administrator', 'administrator'],
      ['sa', ''],
      ['sa', 'sa'],
      ['palisade', 'palisade'],
      ['guest', 'guest'],
      ['test', 'test'],
    ];
    for (const [username, password] of tries) {
      const r = await fresh.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
      assert.ok([400, 401].includes(r.statusCode), `${username}/${password}: ${r.statusCode} ${r.body}`);
      assert.notEqual(r.statusCode, 200);
    }
    // The control: the operator's own account and password (INIT_ROOT_PASSWORD) work.
    await login(fresh, 'ops-chief', ROOT.password);
  } finally {
    await fresh.close();
  }
});

test('an unknown account takes as long to refuse as a wrong password: a dummy hash is checked, so timing tells no account apart [ASVS V6.3.8]', async () => {
  await createUser(t, admin, 'timed-a', 'Quiet-meadow-harbour-7712');
  await createUser(t, admin, 'timed-b', 'Quiet-meadow-harbour-7712');
  const median = async (username: string): Promise<number> => {
    const ms: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      const r = await post({ username, password: `Wrong-guess-harbour-${i}` });
      ms.push(performance.now() - t0);
      assert.equal(r.json().error.code, 'INVALID_CREDENTIALS');
    }
    return ms.sort((a, b) => a - b)[3]!;
  };
  // Warm up, then alternate so that load on the machine falls on both alike; seven failures per account stay under the lockout.
  await median('nobody-warming-up');
  const k1 = await median('timed-a');
  const u = await median('nobody-timed');
  const k2 = await median('timed-b');
  const k = Math.min(k1, k2);
  // Without the dummy hash an unknown name answers in a millisecond or two, a known one after argon2id (tens of ms).
  assert.ok(u > k * 0.4, `unknown ${u.toFixed(1)} ms vs known ${k.toFixed(1)} ms`);
  // The control: the right password still signs in.
  assert.equal((await post({ username: 'timed-a', password: 'Quiet-meadow-harbour-7712' })).statusCode, 200);
});

// Bug class: a cookie over the browser's 4096-byte limit is dropped silently, and with it the session. The session
// cookie carries a signed reference (user id, session id), never the user's data, so its size does not grow with a
// long name, an address or many roles.
test('every cookie Palisade writes, name and value together, stays under 4096 bytes, whatever the user [ASVS V3.3.5]', async () => {
  const name = `u${'x'.repeat(63)}`;
  const roles = [];
  for (let i = 0; i < 20; i++) {
    const role = `role-with-a-rather-long-name-${String(i).padStart(2, '0')}`;
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: bearer(admin), payload: { name: role } })).statusCode, 201);
    roles.push(role);
  }
  const id = await createUser(t, admin, name, 'Long-name-password-2187', { email: `${'e'.repeat(60)}@${'d'.repeat(60)}.example.org` });
  assert.equal((await t.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: bearer(admin), payload: { roles } })).statusCode, 204);
  const signIn = await post({ username: name, password: 'Long-name-password-2187', mode: 'cookie', rememberMe: true });
  assert.equal(signIn.statusCode, 200, signIn.body);
  const jar = cookies(signIn);
  const session = jar['__Host-palisade_session']!.value;
  const refreshed = await t.app.inject({
    method: 'POST',
    url: '/api/auth/refresh',
    cookies: { '__Host-palisade_session': session },
    headers: { 'x-xsrf-token': signIn.json().xsrfToken },
  });
  assert.equal(refreshed.statusCode, 200, refreshed.body);
  const written = [...Object.entries(jar), ...Object.entries(cookies(refreshed))];
  assert.ok(written.length >= 3, 'the sign-in and the renewal wrote their cookies');
  for (const [cookie, { value }] of written) {
    assert.ok(Buffer.byteLength(cookie + value) <= 4096, `${cookie}: ${Buffer.byteLength(cookie + value)} bytes`);
  }
  // The cookie written is the one that works.
  const me = await t.app.inject({
    method: 'GET',
    url: '/api/auth/me',
    cookies: { '__Host-palisade_session': cookies(refreshed)['__Host-palisade_session']!.value },
  });
  assert.equal(me.json().user.username, name);
});

test('every route an anonymous caller reaches under /api/auth and /oidc is a way in documented in docs/authentication.md, and every route it names exists [ASVS V6.1.3, V6.3.4]', async () => {
  // All registered routes, read back from fastify's route tree (one segment per line, indented by depth).
  const routes: Array<{ method: string; url: string }> = [];
  const stack: string[] = [];
  for (const line of t.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+?)(?: \(([^)]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack[depth] = (stack[depth - 1] ?? '') + m[2]!;
    for (const method of m[3]?.split(', ') ?? []) if (method !== 'HEAD') routes.push({ method, url: stack[depth]! });
  }
  assert.ok(
    routes.some((r) => r.method === 'POST' && r.url === '/api/auth/login'),
    'the route tree was read',
  );
  // Without any credential: a route that does not answer AUTH_REQUIRED is open to anyone.
  const open: string[] = [];
  for (const { method, url } of routes.filter((r) => /^\/(api\/auth|oidc)\//.test(r.url))) {
    const r = await t.app.inject({
      method: method as 'GET',
      url: url.replace(/:[A-Za-z]+/g, 'x'),
      ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }),
    });
    assert.ok(r.statusCode < 500, `${method} ${url}: ${r.statusCode}`);
    if (r.statusCode !== 401 || r.json().error.code !== 'AUTH_REQUIRED') open.push(`${method} ${url}`);
  }
  const doc = readFileSync(path.join(ROOT_DIR, 'docs/authentication.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/[^`\s]+)`/g)].map((m) => `${m[1]} ${m[2]}`));
  const undocumented = open.filter((r) => !documented.has(r));
  assert.deepEqual(undocumented, [], 'open routes missing from docs/authentication.md');
  // Every route the page names exists (the refresh route is named though it needs a live token).
  const known = new Set(routes.map((r) => `${r.method} ${r.url}`));
  for (const r of documented) assert.ok(known.has(r), `docs/authentication.md names ${r}, which is not a route`);
  assert.ok(open.includes('POST /api/auth/login') && open.includes('POST /api/auth/passkeys/login/verify'));
  // A route of a signed-in user is not a way in: it stays closed without a credential.
  assert.ok(!open.includes('POST /api/auth/password') && !open.includes('POST /api/auth/api-keys'));
});
