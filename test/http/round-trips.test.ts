// Issue 14: what one authenticated request costs in round trips to shared storage, counted where they happen: the
// database's statements in the SQL log (LOG_SQL), Redis's commands on a MONITOR connection (PostgreSQL run, which
// uses Redis). Aims: at most 3 for a record read (here: 1), at most 1 for /api/auth/me (here: 0); and the caches that bring
// them down serve no change late: a grant, role or lock changed between two requests applies at the second.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import path from 'node:path';
import { makeApp, login, bearer, createUser, DIALECT, REDIS_URL, pastOtherCommits, type TestApp } from '../helpers/app.js';
import { openSqliteFile } from '../../src/db/index.js';
import { sql } from 'kysely';

let t: TestApp;
let admin: string;
let editor: string;
let editorId: string;
let monitor: Redis | null = null;
const commands: string[] = [];

before(async () => {
  t = await makeApp({ env: { LOG_SQL: 'true' }, redis: DIALECT === 'postgres', keyCacheMs: 60_000 });
  admin = (await login(t)).token;
  const h = bearer(admin);
  const ok = (r: { statusCode: number; body: string }, code = 201) => assert.equal(r.statusCode, code, r.body);
  ok(
    await t.app.inject({
      method: 'POST',
      url: '/api/admin/collections',
      headers: h,
      payload: {
        name: 'articles',
        fields: [
          { name: 'title', type: 'string' },
          { name: 'status', type: 'status', values: ['draft', 'published'] },
        ],
      },
    }),
  );
  ok(await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: h, payload: { name: 'editor' } }));
  ok(
    await t.app.inject({
      method: 'POST',
      url: '/api/admin/grants',
      headers: h,
      payload: { role: 'editor', collection: 'articles', actions: ['view', 'create'], fields: ['title', 'status'], scope: { createdBy: '$user.id' } },
    }),
  );
  editorId = await createUser(t, admin, 'eddie', 'Editor-desk-lamp-4242');
  ok(await t.app.inject({ method: 'PUT', url: `/api/admin/users/${editorId}/roles`, headers: h, payload: { roles: ['editor'] } }), 204);
  editor = (await login(t, 'eddie', 'Editor-desk-lamp-4242')).token;
  for (const title of ['one', 'two', 'three'])
    ok(await t.app.inject({ method: 'POST', url: '/api/collections/articles/records', headers: bearer(editor), payload: { title } }));
  if (t.shared.redis) {
    // ioredis' monitor() opens a connection of its own: that one is kept, to close.
    monitor = await new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 }).monitor();
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((a) => a.includes(t.shared.redisPrefix))) commands.push(args.join(' ').slice(0, 200));
    });
    // The counter sees our commands: a request's rate windows, sent by a flush, reach it.
    await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(editor) });
    await t.s.rateLimiter.flush();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(commands.length > 0, "MONITOR sees the instance's commands");
  }
});

after(async () => {
  monitor?.disconnect();
  await t.close();
});

const sqlCount = (from: number) =>
  t.logs
    .slice(from)
    .flatMap((l) => l.split('\n'))
    .filter(Boolean)
    .filter((l) => JSON.parse(l).event === 'sql').length;

/**
 * The statements and Redis commands one request costs, once the caches are warm: the least of five requests, since
 * the SQL log and MONITOR also see background work (checkpoints, schedulers) that may land beside any one of them.
 */
async function cost(url: string, token: string): Promise<{ statements: number; redis: number; status: number }> {
  // The rate windows' background flush is not part of a request: stopped while counting (its own test is
  // test/edge/rate-limit-local.test.ts).
  await t.s.rateLimiter.close();
  await t.app.inject({ method: 'GET', url, headers: bearer(token) });
  let least: { statements: number; redis: number; status: number } | null = null;
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const logsFrom = t.logs.length;
    const redisFrom = commands.length;
    const res = await t.app.inject({ method: 'GET', url, headers: bearer(token) });
    // MONITOR reports a command after it ran: wait for the stream before counting.
    await new Promise((r) => setTimeout(r, 20));
    const c = { statements: sqlCount(logsFrom), redis: commands.length - redisFrom, status: res.statusCode };
    if (!least || c.statements + c.redis < least.statements + least.redis) least = c;
  }
  return least!;
}

test('an authenticated record read costs at most 3 round trips to shared storage (here 1: the page)', async () => {
  const c = await cost('/api/collections/articles/records?perPage=50', editor);
  assert.equal(c.status, 200);
  assert.ok(c.statements + c.redis <= 3, `round trips: ${c.statements} statements + ${c.redis} Redis commands`);
  // The session's row is kept while the change mark has not moved: on SQLite while no row of the database changed
  // (D450), on PostgreSQL while no change to the credential's tables was notified and this instance wrote nothing (D453).
  assert.equal(c.statements, 1, 'the page only: the session read under an unchanged mark is kept');
  assert.equal(c.redis, 0, 'rate windows are counted in process');
});

test('/api/auth/me costs no round trip while nothing changed', async () => {
  const c = await cost('/api/auth/me', editor);
  assert.equal(c.status, 200);
  assert.equal(c.statements + c.redis, 0, `round trips: ${c.statements} statements + ${c.redis} Redis commands`);
});

test('a grant changed between two reads applies at the second (the caches are kept under the stamps)', async () => {
  const list = async () =>
    (await t.app.inject({ method: 'GET', url: '/api/collections/articles/records?perPage=50', headers: bearer(editor) })).json().items as Array<
      Record<string, unknown>
    >;
  const before = await list();
  assert.equal(before.length, 3);
  assert.ok('status' in before[0]!);
  const grants = (await t.app.inject({ method: 'GET', url: '/api/admin/grants?collection=articles', headers: bearer(admin) })).json().grants as Array<{
    id: string;
  }>;
  assert.equal((await t.app.inject({ method: 'DELETE', url: `/api/admin/grants/${grants[0]!.id}`, headers: bearer(admin) })).statusCode, 204);
  const narrower = await t.app.inject({
    method: 'POST',
    url: '/api/admin/grants',
    headers: bearer(admin),
    payload: { role: 'editor', collection: 'articles', actions: ['view', 'create'], fields: ['title'], scope: { createdBy: '$user.id' } },
  });
  assert.equal(narrower.statusCode, 201, narrower.body);
  const after = await list();
  assert.equal(after.length, 3);
  assert.ok(!('status' in after[0]!), 'the field taken away is no longer served');
  // The role taken away: nothing at the next request.
  assert.equal(
    (await t.app.inject({ method: 'PUT', url: `/api/admin/users/${editorId}/roles`, headers: bearer(admin), payload: { roles: [] } })).statusCode,
    204,
  );
  const none = await t.app.inject({ method: 'GET', url: '/api/collections/articles/records?perPage=50', headers: bearer(editor) });
  assert.ok(none.statusCode === 403 || none.statusCode === 404 || (none.statusCode === 200 && none.json().items.length === 0), none.body);
  assert.equal(
    (await t.app.inject({ method: 'PUT', url: `/api/admin/users/${editorId}/roles`, headers: bearer(admin), payload: { roles: ['editor'] } })).statusCode,
    204,
  );
});

test('a lock and a sign-out apply at the next request, although the session, user and lock are read in one statement', async () => {
  const own = await login(t, 'eddie', 'Editor-desk-lamp-4242');
  const me = () => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(own.token) });
  assert.equal((await me()).statusCode, 200);
  // A lock written as the lockout writes it (another instance's, say): refused at the next request, served once it is gone.
  await t.s.db
    .insertInto('account_locks')
    .values({ user_id: editorId, locked_at: t.clock.now(), locked_until: t.clock.now() + 60_000, reason: 'test', locked_by: null })
    .execute();
  const refused = await me();
  assert.equal(refused.statusCode, 401, refused.body);
  assert.equal(refused.json().error.code, 'ACCOUNT_LOCKED');
  await t.s.db.deleteFrom('account_locks').where('user_id', '=', editorId).execute();
  assert.equal((await me()).statusCode, 200);
  assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(own.token) })).statusCode, 204);
  const ended = await me();
  assert.equal(ended.statusCode, 401);
  assert.equal(ended.json().error.code, 'SESSION_ENDED');
});

test('SQLite: a change made through another connection to the file (the CLI, another instance) applies to the requests that follow it (D454: after OTHER_COMMITS_MS)', {
  skip: DIALECT !== 'sqlite',
}, async () => {
  const other = openSqliteFile(path.join(t.shared.dataDir, 'palisade.db'), { readonly: false });
  try {
    const own = await login(t, 'eddie', 'Editor-desk-lamp-4242');
    const me = () => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(own.token) });
    // Warm: the session is now kept under the current change mark (the same request costs no statement, above).
    assert.equal((await me()).statusCode, 200);
    assert.equal((await me()).statusCode, 200);
    await other.updateTable('users').set({ status: 'disabled' }).where('id', '=', editorId).execute();
    await pastOtherCommits();
    const disabled = await me();
    assert.equal(disabled.statusCode, 401, disabled.body);
    await other.updateTable('users').set({ status: 'active' }).where('id', '=', editorId).execute();
    await pastOtherCommits();
    assert.equal((await me()).statusCode, 200, 'served again once the other connection undid it');
    await other.updateTable('sessions').set({ revoked_at: t.clock.now(), revoked_reason: 'test' }).where('user_id', '=', editorId).execute();
    await pastOtherCommits();
    const ended = await me();
    assert.equal(ended.statusCode, 401, ended.body);
    assert.equal(ended.json().error.code, 'SESSION_ENDED');
    // An API key revoked elsewhere: refused at its next use too.
    assert.equal(
      (await t.app.inject({ method: 'POST', url: '/api/admin/roles', headers: bearer(admin), payload: { name: 'keymaker', permissions: ['apikeys.manage'] } }))
        .statusCode,
      201,
    );
    const roles = { roles: ['editor', 'keymaker'] };
    assert.equal((await t.app.inject({ method: 'PUT', url: `/api/admin/users/${editorId}/roles`, headers: bearer(admin), payload: roles })).statusCode, 204);
    const session = await login(t, 'eddie', 'Editor-desk-lamp-4242');
    const made = await t.app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: bearer(session.token), payload: { name: 'mark', role: 'editor' } });
    assert.equal(made.statusCode, 201, made.body);
    const key = { 'x-api-key': made.json().secret as string };
    const list = () => t.app.inject({ method: 'GET', url: '/api/collections/articles/records', headers: key });
    assert.equal((await list()).statusCode, 200);
    assert.equal((await list()).statusCode, 200);
    await other.updateTable('api_keys').set({ revoked_at: t.clock.now(), revoked_reason: 'test' }).where('id', '=', made.json().key.id).execute();
    await pastOtherCommits();
    const refused = await list();
    assert.equal(refused.statusCode, 401, refused.body);
    assert.equal(refused.json().error.code, 'API_KEY_INVALID');
  } finally {
    await other.destroy();
  }
});

test('PostgreSQL: a kept prepared lookup whose result type changed under it (a column altered at runtime) is prepared afresh', {
  skip: DIALECT !== 'postgres',
}, async () => {
  const own = await login(t, 'eddie', 'Editor-desk-lamp-4242');
  // A write of this instance moves the change mark (D453): each request then runs the lookup instead of its kept row.
  const me = async () => {
    await sql`update state_stamps set id = id where id = -1`.execute(t.s.db);
    return t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(own.token) });
  };
  // Prepared on every pool connection the lookups have used.
  for (let i = 0; i < 12; i++) assert.equal((await me()).statusCode, 200);
  await sql`alter table sessions alter column user_agent type varchar(2000)`.execute(t.s.db);
  try {
    for (let i = 0; i < 12; i++) {
      const r = await me();
      assert.equal(r.statusCode, 200, r.body);
    }
  } finally {
    await sql`alter table sessions alter column user_agent type text`.execute(t.s.db);
  }
  assert.equal((await me()).statusCode, 200);
});
