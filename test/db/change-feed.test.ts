// Issue 14, D453: on PostgreSQL a credential's row is kept per instance under a change mark that moves with every
// notice of a change to the tables its lookup reads (migration 0026's triggers), every write of the instance itself,
// and the loss of the listening connection; the mark is vouched for only while the connection's own beat comes back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { makeApp, login, bearer, createUser, DIALECT, PG_URL, type TestApp } from '../helpers/app.js';
import { ChangeFeed } from '../../src/db/change-feed.js';

const skip = DIALECT !== 'postgres';
let t: TestApp;
let admin: string;
let userId: string;
let other: pg.Client;

before(async () => {
  if (skip) return;
  t = await makeApp({ env: { LOG_SQL: 'true' } });
  admin = (await login(t)).token;
  userId = await createUser(t, admin, 'feeder', 'Blue-desk-lamp-4242');
  // Without the rate windows' background flush this instance writes only when a test asks it to: a kept row can then be
  // refreshed only by a notice, never by a write of its own (each of which makes the next lookup read, D453).
  await t.s.rateLimiter.close();
  // Another connection to the same schema: what the CLI, another instance or an operator's SQL would be.
  other = new pg.Client({ connectionString: PG_URL });
  await other.connect();
  await other.query(`SET search_path TO ${t.shared.pgSchema}`);
});

after(async () => {
  if (skip) return;
  await other.end();
  await t.close();
});

/** The credential lookups in an app's SQL log since `from` (the rate windows' background flush may land beside them). */
const lookupsSince = (app: TestApp, from: number) =>
  app.logs
    .slice(from)
    .flatMap((l) => l.split('\n'))
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { event?: string; sql?: string })
    .filter((l) => l.event === 'sql' && /from "(sessions|api_keys)" as c\b/.test(l.sql ?? '')).length;

/** The credential lookups a request costs (its answer too). */
async function costOf(ask: () => Promise<{ statusCode: number }>): Promise<{ statements: number; status: number }> {
  const from = t.logs.length;
  const r = await ask();
  return { statements: lookupsSince(t, from), status: r.statusCode };
}

/** Asks until `done` or 1.5 s: a change made elsewhere applies when its notice arrives, never later than 1 s. */
async function within<T>(ask: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const until = Date.now() + 1_500;
  for (;;) {
    const v = await ask();
    if (done(v) || Date.now() >= until) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The lookups a request costs once its row is kept (asked until none, or 1.5 s). */
const lookupsOnceKept = async (ask: () => Promise<{ statusCode: number }>) =>
  (
    await within(
      () => costOf(ask),
      (c) => c.statements === 0,
    )
  ).statements;

const listeners = async () =>
  (await other.query<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', [`palisade listen ${t.shared.pgSchema}`.slice(0, 63)]))
    .rows;

test('a kept session costs no statement; a change committed by another connection applies when its notice arrives', { skip }, async () => {
  const { token } = await login(t, 'feeder', 'Blue-desk-lamp-4242');
  const me = () => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
  assert.equal((await me()).statusCode, 200);
  const kept = await within(
    () => costOf(me),
    (c) => c.statements === 0,
  );
  assert.deepEqual(kept, { statements: 0, status: 200 }, 'the session is kept while nothing changed');

  // Each table the lookup reads, changed by the other connection: the kept row is not served once the notice is in.
  await other.query(`update users set status = 'disabled' where id = $1`, [userId]);
  assert.equal((await within(me, (r) => r.statusCode === 401)).statusCode, 401, 'users');
  await other.query(`update users set status = 'active' where id = $1`, [userId]);
  assert.equal((await within(me, (r) => r.statusCode === 200)).statusCode, 200);

  await other.query('insert into account_locks (user_id, locked_at, locked_until, reason) values ($1, $2, $3, $4)', [
    userId,
    t.clock.now(),
    t.clock.now() + 60_000,
    'test',
  ]);
  const locked = await within(me, (r) => r.statusCode === 401);
  assert.equal(locked.json().error.code, 'ACCOUNT_LOCKED', 'account_locks');
  await other.query('delete from account_locks where user_id = $1', [userId]);
  assert.equal((await within(me, (r) => r.statusCode === 200)).statusCode, 200);

  // A role given by SQL moves the access stamp (migration 0022), whose row the lookup reads.
  assert.equal((await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: bearer(admin), payload: { name: 'fed' } })).statusCode, 201);
  assert.equal(await lookupsOnceKept(me), 0, 'kept again');
  await other.query('insert into user_roles (user_id, role) values ($1, $2)', [userId, 'fed']);
  const roles = await within(me, (r) => (r.json().access.roles as string[]).includes('fed'));
  assert.deepEqual(roles.json().access.roles, ['fed'], 'state_stamps');

  await other.query(`update sessions set revoked_at = $1, revoked_reason = 'test' where user_id = $2`, [t.clock.now(), userId]);
  const ended = await within(me, (r) => r.statusCode === 401);
  assert.equal(ended.json().error.code, 'SESSION_ENDED', 'sessions');
});

test('a kept API key revoked by another connection is refused when the notice arrives', { skip }, async () => {
  const h = bearer(admin);
  assert.equal(
    (await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: h, payload: { name: 'keymaker', permissions: ['apikeys.manage'] } })).statusCode,
    201,
  );
  const notes = { name: 'notes', fields: [{ name: 'title', type: 'string' }] };
  assert.equal((await t.app.inject({ method: 'POST', url: '/api/admin/collections', headers: h, payload: notes })).statusCode, 201);
  const grant = { role: 'keymaker', collection: 'notes', actions: ['view'], fields: ['title'] };
  assert.equal((await t.app.inject({ method: 'POST', url: '/api/admin/grants', headers: h, payload: grant })).statusCode, 201);
  const keyer = await createUser(t, admin, 'keyer', 'Green-desk-lamp-4242');
  assert.equal((await t.app.inject({ method: 'PUT', url: `/api/admin/users/${keyer}/roles`, headers: h, payload: { roles: ['keymaker'] } })).statusCode, 204);
  const session = await login(t, 'keyer', 'Green-desk-lamp-4242');
  const made = await t.app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: bearer(session.token), payload: { name: 'fed', role: 'keymaker' } });
  assert.equal(made.statusCode, 201, made.body);
  const me = () => t.app.inject({ method: 'GET', url: '/api/collections/notes/records', headers: { 'x-api-key': made.json().secret as string } });
  assert.equal((await me()).statusCode, 200);
  assert.equal(await lookupsOnceKept(me), 0, 'kept');
  await other.query(`update api_keys set revoked_at = $1, revoked_reason = 'test' where id = $2`, [t.clock.now(), made.json().key.id]);
  const refused = await within(me, (r) => r.statusCode === 401);
  assert.equal(refused.json().error.code, 'API_KEY_INVALID', 'api_keys');
});

test('while the listening connection is lost nothing is kept; a change made meanwhile applies, and keeping resumes', { skip }, async () => {
  const { token } = await login(t, 'feeder', 'Blue-desk-lamp-4242');
  const me = () => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
  assert.equal(await lookupsOnceKept(me), 0);
  const [listener] = await listeners();
  assert.ok(listener, 'the instance listens on a connection of its own, named in pg_stat_activity');
  await other.query('select pg_terminate_backend($1)', [listener.pid]);
  // The change lands while no instance of this schema listens: no notice of it will ever come.
  await other.query(`update users set status = 'disabled' where id = $1`, [userId]);
  assert.equal((await within(me, (r) => r.statusCode === 401)).statusCode, 401, 'not served from the row kept before');
  const until = Date.now() + 5_000;
  while ((await listeners()).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await listeners()).length, 1, 'listening again');
  // Listening again: the row kept before the loss is never given again (the change was never notified).
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await me()).statusCode, 401, 'the row kept before the loss stays unused');
  await other.query(`update users set status = 'active' where id = $1`, [userId]);
  assert.equal((await within(me, (r) => r.statusCode === 200)).statusCode, 200);
  assert.equal(await lookupsOnceKept(me), 0, 'kept again');
});

test('the mark is vouched for only while a beat sent less than a second ago has come back', { skip }, async () => {
  let now = 0;
  // Beats are sent on another connection, as the pool sends them.
  const feed = new ChangeFeed(
    { connectionString: PG_URL },
    (channel, payload) => other.query('select pg_notify($1, $2)', [channel, payload]),
    () => now,
  );
  try {
    assert.match(feed.mark(), /^unconfirmed:/, 'nothing vouched before the first beat is back');
    await feed.start();
    const confirmed = async () => {
      const until = Date.now() + 2_000;
      while (!feed.confirmed() && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      return feed.confirmed();
    };
    assert.ok(await confirmed(), 'the first beat came back');
    const m = feed.mark();
    assert.equal(feed.mark(), m, 'steady while nothing changes');
    // A write of this instance: nothing is vouched for until a beat sent after it is back, behind its notices.
    feed.wrote();
    assert.match(feed.mark(), /^unconfirmed:/, 'at once after a write of this instance');
    now += 1;
    assert.ok(await confirmed(), 'a beat follows the write');
    assert.equal(feed.mark(), m, 'a write that changed no credential table leaves the mark as it was');
    // A change to a credential's table, by another connection.
    await other.query(`update users set updated_at = updated_at where id = $1`, [userId]);
    const by = Date.now() + 2_000;
    while (feed.mark() === m && Date.now() < by) await new Promise((r) => setTimeout(r, 5));
    assert.ok(feed.confirmed());
    assert.notEqual(feed.mark(), m, "a change to a credential's table moves it once its notice is in");
    // A second passes on this clock while no beat sent in it has come back: beats sent before vouch for nothing now.
    now += 1_000;
    assert.match(feed.mark(), /^unconfirmed:/);
    assert.notEqual(feed.mark(), feed.mark(), 'each unvouched mark is new: nothing kept under one is served');
  } finally {
    await feed.close();
  }
});

test('DATABASE_LISTEN=false: the credential is read at every request', { skip }, async () => {
  const strict = await makeApp({ env: { LOG_SQL: 'true', DATABASE_LISTEN: 'false' } });
  try {
    const { token } = await login(strict);
    const me = () => strict.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
    await me();
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) {
      const from = strict.logs.length;
      assert.equal((await me()).statusCode, 200);
      assert.equal(lookupsSince(strict, from), 1, 'the lookup, at each request');
    }
  } finally {
    await strict.close();
  }
});
