import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { login, bearer, createUser, type TestApp, useApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

const list = (q: string, token = admin) =>
  t.app.inject({ method: 'GET', url: `/api/admin/security-events${q}`, headers: { ...bearer(token), 'user-agent': 'Auditor/1.0' } });

test('events carry UTC time, actor, IP, user agent and request id [ASVS V16.2.1, V16.2.2]', async () => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username: 'root', password: 'Wrong-password-000' },
    headers: { 'user-agent': 'Probe/9' },
  });
  assert.equal(res.statusCode, 401);
  const ev = (await list('?type=auth.login&outcome=failure')).json().events[0];
  assert.match(ev.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(ev.ip, '127.0.0.1');
  assert.equal(ev.userAgent, 'Probe/9');
  assert.equal(ev.requestId, res.headers['x-request-id']);
  assert.equal(ev.actor.name, 'root');
  assert.equal(ev.details.reason, 'bad_password');
});

test('filters by type, outcome and subject, and pages with beforeId', async () => {
  const id = await createUser(t, admin, 'filtered', 'Filter-me-please-1');
  await login(t, 'filtered', 'Filter-me-please-1');
  await login(t, 'filtered', 'Filter-me-please-1');
  const mine = (await list(`?subjectId=${id}&type=auth.login`)).json().events;
  assert.equal(mine.length, 2);
  assert.ok(mine.every((e: { subjectId: string; outcome: string }) => e.subjectId === id && e.outcome === 'success'));
  const page1 = (await list('?limit=2')).json().events;
  assert.equal(page1.length, 2);
  const page2 = (await list(`?limit=2&beforeId=${page1[1].id}`)).json().events;
  assert.ok(page2[0].id < page1[1].id);
  const since = (await list(`?since=${encodeURIComponent(new Date(t.clock.now() + 1000).toISOString())}`)).json().events;
  assert.equal(since.length, 0);
});

test('bad filters are refused', async () => {
  assert.equal((await list('?type=not.a.type')).statusCode, 400);
  assert.equal((await list('?since=yesterday')).statusCode, 400);
  assert.equal((await list('?limit=100000')).statusCode, 400);
});

test('only administrators read the log [ASVS V16.4.2]', async () => {
  await createUser(t, admin, 'snoop', 'Curious-reader-77');
  const user = (await login(t, 'snoop', 'Curious-reader-77')).token;
  const r = await list('', user);
  assert.equal(r.statusCode, 403);
  assert.equal((await list('')).statusCode, 200);
});

test('the store is append-only at the database level [ASVS V16.4.2]', async () => {
  await assert.rejects(sql`UPDATE security_events SET type = 'x'`.execute(t.s.db), /append-only/);
  await assert.rejects(sql`DELETE FROM security_events`.execute(t.s.db), /append-only/);
  assert.ok((await list('')).json().events.length > 0);
});

test('format directives in what a client sends are kept as text: a user agent full of %s, %d, %j and %o is recorded as sent, and every log line stays one JSON object [ASVS V1.3.10]', async () => {
  const ua = 'Probe %s %d %i %f %j %o %O %c %% %n';
  const before = t.logs.length;
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username: 'root', password: 'Wrong-password-000' },
    headers: { 'user-agent': ua },
  });
  assert.equal(res.statusCode, 401);
  const ev = (await list('?type=auth.login&outcome=failure')).json().events[0];
  assert.equal(ev.requestId, res.headers['x-request-id']);
  assert.equal(ev.userAgent, ua);
  for (const l of t.logs
    .slice(before)
    .flatMap((x) => x.split('\n'))
    .filter(Boolean))
    assert.doesNotThrow(() => JSON.parse(l), l);
});
