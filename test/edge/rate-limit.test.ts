// EDGE-4. Bug classes: budget evasion by path spelling, spoofed headers or IPv6 address hopping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, ROOT, type TestApp, useApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  { realRateLimits: true },
  true,
);

const limits = (body: Record<string, number>) =>
  t.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(admin), payload: body });
const signIn = (ip: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: 'Wrong-password-000' }, remoteAddress: ip, headers });

test('the sign-in budget per address: 429 with Retry-After and RateLimit headers; other addresses and later windows pass [ASVS V2.4.1, V15.2.2]', async () => {
  assert.equal((await limits({ authPerIp: 3 })).statusCode, 200);
  for (let i = 0; i < 3; i++) assert.equal((await signIn('203.0.113.1')).statusCode, 401);
  const r = await signIn('203.0.113.1');
  assert.equal(r.statusCode, 429);
  assert.equal(r.json().error.code, 'RATE_LIMITED');
  assert.ok(Number(r.headers['retry-after']) >= 1);
  assert.equal(r.headers['ratelimit-limit'], '3');
  assert.equal(r.headers['ratelimit-remaining'], '0');
  assert.equal((await signIn('203.0.113.2')).statusCode, 401, 'another address has its own budget');
  t.clock.advance(120);
  assert.equal((await signIn('203.0.113.1')).statusCode, 401, 'a later window passes');
});

test('a spoofed X-Forwarded-For buys no new budget [ASVS V4.1.3, V15.3.4]', async () => {
  await limits({ authPerIp: 2 });
  await signIn('203.0.113.9', { 'x-forwarded-for': '1.1.1.1' });
  await signIn('203.0.113.9', { 'x-forwarded-for': '2.2.2.2' });
  assert.equal((await signIn('203.0.113.9', { 'x-forwarded-for': '3.3.3.3' })).statusCode, 429);
});

test('IPv6 clients share one budget per /64', async () => {
  await limits({ authPerIp: 2 });
  await signIn('2001:db8:1:2::1');
  await signIn('2001:db8:1:2::2');
  assert.equal((await signIn('2001:db8:1:2:ffff::3')).statusCode, 429);
  assert.equal((await signIn('2001:db8:1:3::1')).statusCode, 401, 'another /64');
});

test('path spellings share one budget', async () => {
  await limits({ readPerIp: 4 });
  const spellings = ['/api/auth/me', '/api/auth/me/', '/API/auth/me', '/api/auth/%6De'];
  for (const url of spellings) assert.notEqual((await t.app.inject({ method: 'GET', url, headers: bearer(admin) })).statusCode, 429, url);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me?x=1', headers: bearer(admin) })).statusCode, 429);
});

test('the per-user budget holds across addresses; other users are not affected [ASVS V2.4.1]', async () => {
  await limits({ readPerUser: 3 });
  await createUser(t, admin, 'reader', 'Steady-viewer-301');
  const reader = (await login(t, 'reader', 'Steady-viewer-301')).token;
  const me = (token: string, ip: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token), remoteAddress: ip });
  assert.equal((await me(reader, '192.0.2.1')).statusCode, 200);
  assert.equal((await me(reader, '192.0.2.2')).statusCode, 200);
  const ok = await me(reader, '192.0.2.3');
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.headers['ratelimit-remaining'], '0');
  assert.equal((await me(reader, '192.0.2.4')).statusCode, 429);
  assert.equal((await me(admin, '192.0.2.5')).statusCode, 200);
});

test('writes have their own budget [ASVS V2.4.1]', async () => {
  await createUser(t, admin, 'writer', 'Busy-author-4410');
  await limits({ writePerUser: 1 });
  const a = await t.app.inject({ method: 'POST', url: '/api/auth/logout-all', headers: bearer((await login(t, 'writer', 'Busy-author-4410')).token) });
  assert.equal(a.statusCode, 204);
  const other = (await login(t, 'writer', 'Busy-author-4410')).token;
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(other) })).statusCode, 200, 'reads unaffected');
  assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(other) })).statusCode, 429);
});

test('invalid rate-limit settings are refused', async () => {
  assert.equal((await limits({ window: 0 })).statusCode, 400);
  assert.equal((await limits({ authPerIp: -1 })).statusCode, 400);
  assert.equal((await limits({ bogus: 1 })).statusCode, 400);
});

test('upload budgets count bytes as well as requests (no upload route exists yet: the limiter itself)', async () => {
  await limits({ uploadBytesPerIp: 1000, uploadPerIp: 100 });
  const ok = await t.s.rateLimiter.consume('upload', 'ip', '192.0.2.77', 600);
  assert.equal(ok!.limit, 100);
  await assert.rejects(t.s.rateLimiter.consume('upload', 'ip', '192.0.2.77', 600), (e: { code?: string }) => e.code === 'RATE_LIMITED');
  await t.s.rateLimiter.consume('upload', 'ip', '192.0.2.78', 600);
});

test('forgot-password has its own budget: a spent sign-in budget does not block it, and the reverse', async () => {
  await limits({ authPerIp: 2, resetPerIp: 2 });
  await signIn('203.0.113.30');
  await signIn('203.0.113.30');
  assert.equal((await signIn('203.0.113.30')).statusCode, 429);
  const forgot = () =>
    t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { email: 'someone@example.org' }, remoteAddress: '203.0.113.30' });
  assert.equal((await forgot()).statusCode, 202);
  assert.equal((await forgot()).statusCode, 202);
  assert.equal((await forgot()).statusCode, 429);
  assert.equal((await signIn('203.0.113.31')).statusCode, 401);
});

test('docs/edge.md lists every rate budget, per address and per user, with the default and meaning the server applies [ASVS V2.1.3]', async () => {
  const { readFileSync } = await import('node:fs');
  const path = await import('node:path');
  const doc = readFileSync(path.resolve(import.meta.dirname, '../../docs/edge.md'), 'utf8');
  const documented = new Map<string, { def: number; meaning: string }>();
  for (const m of doc.matchAll(/^\| `([A-Za-z]+)` \| (\d+) \| ([^|]+) \|$/gm)) documented.set(m[1]!, { def: Number(m[2]), meaning: m[3]!.trim() });
  // The server's own description of the area, as an administrator reads it.
  const index = (await t.app.inject({ method: 'GET', url: '/api/admin/settings', headers: bearer(admin) })).json();
  type Field = { name: string; schema: { default: number; description: string } };
  const area = (index.areas as Array<{ key: string; fields: Field[] }>).find((a) => a.key === 'rateLimits');
  assert.ok(area, JSON.stringify(index).slice(0, 300));
  assert.ok(area.fields.some((f) => f.name.endsWith('PerIp')) && area.fields.some((f) => f.name.endsWith('PerUser')));
  for (const f of area.fields) assert.deepEqual(documented.get(f.name), { def: f.schema.default, meaning: f.schema.description }, f.name);
});

test("RateLimit headers: a signed-in read shows the user's budget, a public one the address's, a refused credential none; the address's budget is spent either way", async () => {
  await limits({ readPerIp: 50, readPerUser: 7 });
  const ip = '203.0.113.77';
  const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin), remoteAddress: ip });
  assert.equal(me.statusCode, 200);
  assert.equal(me.headers['ratelimit-limit'], '7', "the user's budget");
  assert.ok(Number(me.headers['ratelimit-reset']) >= 1);
  const open = await t.app.inject({ method: 'GET', url: '/api/openapi.json', remoteAddress: ip });
  assert.equal(open.statusCode, 200);
  assert.equal(open.headers['ratelimit-limit'], '50', "the address's budget");
  assert.equal(open.headers['ratelimit-remaining'], '48', 'the signed-in read spent the address budget too');
  const refused = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: 'Bearer a.b.c' }, remoteAddress: ip });
  assert.equal(refused.statusCode, 401);
  assert.equal(refused.headers['ratelimit-limit'], undefined);
  const after = await t.app.inject({ method: 'GET', url: '/api/openapi.json', remoteAddress: ip });
  assert.equal(after.headers['ratelimit-remaining'], '46', 'the refused request spent it as well');
});
