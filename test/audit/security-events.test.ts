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

test('events carry UTC time, actor, IP, user agent and request id', async () => {
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

test('only administrators read the log', async () => {
  await createUser(t, admin, 'snoop', 'Curious-reader-77');
  const user = (await login(t, 'snoop', 'Curious-reader-77')).token;
  const r = await list('', user);
  assert.equal(r.statusCode, 403);
  assert.equal((await list('')).statusCode, 200);
});

test('the store is append-only at the database level', async () => {
  await assert.rejects(sql`UPDATE security_events SET type = 'x'`.execute(t.s.db), /append-only/);
  await assert.rejects(sql`DELETE FROM security_events`.execute(t.s.db), /append-only/);
  assert.ok((await list('')).json().events.length > 0);
});
