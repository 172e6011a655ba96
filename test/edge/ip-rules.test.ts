// EDGE-2, EDGE-3: IP allow and block lists, country rules, self-lockout protection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { login, bearer, events, ROOT, type TestApp, useApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  {},
  true,
);

const from = (ip: string, url = '/api/auth/me', token = admin) => t.app.inject({ method: 'GET', url, headers: bearer(token), remoteAddress: ip });
const addRule = (body: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/api/admin/ip-rules', headers: bearer(admin), payload: body });
const rules = async () => (await t.app.inject({ method: 'GET', url: '/api/admin/ip-rules', headers: bearer(admin) })).json().rules;

test('a block rule refuses its range, IPv4-mapped forms included; others and health probes pass [ASVS V8.2.4]', async () => {
  const r = await addRule({ action: 'block', cidr: '198.51.100.0/24', note: 'abuse' });
  assert.equal(r.statusCode, 201);
  for (const ip of ['198.51.100.7', '::ffff:198.51.100.7']) {
    const res = await from(ip);
    assert.equal(res.statusCode, 403, ip);
    assert.equal(res.json().error.code, 'IP_BLOCKED');
  }
  assert.equal((await from('198.51.101.7')).statusCode, 200);
  assert.equal((await from('198.51.100.7', '/healthz')).statusCode, 200);
  // The block applies before authentication: no sign-in either.
  const signIn = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'root', password: 'x' }, remoteAddress: '198.51.100.8' });
  assert.equal(signIn.statusCode, 403);
});

test('IPv6 ranges', async () => {
  await addRule({ action: 'block', cidr: '2001:db8:bad::/48' });
  assert.equal((await from('2001:db8:bad:1::5')).statusCode, 403);
  assert.equal((await from('2001:db8:600d::5')).statusCode, 200);
});

test('an admin-scoped allow list guards the admin routes only [ASVS V8.2.4, V8.4.2]', async () => {
  assert.equal((await addRule({ action: 'allow', cidr: '127.0.0.1', scope: 'admin' })).statusCode, 201);
  assert.equal((await addRule({ action: 'allow', cidr: '10.0.0.0/8', scope: 'admin' })).statusCode, 201);
  // An administrator signed in from 10.2.3.4 works there (a session is bound to its network, D444).
  const there = (await t.app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: '10.2.3.4', payload: ROOT })).json().token as string;
  assert.equal((await from('10.2.3.4', '/api/admin/users', there)).statusCode, 200);
  assert.equal((await from('192.0.2.1', '/api/admin/users')).statusCode, 403);
  assert.equal((await from('192.0.2.1', '/api/auth/me')).statusCode, 200);
  // Path spellings do not sneak past the admin scope.
  assert.equal((await from('192.0.2.1', '/API/ADMIN/users')).statusCode, 403);
  // The admin UI's screens are under the admin scope like the API they call; its sign-in page is not.
  assert.equal((await from('192.0.2.1', '/admin/users')).statusCode, 403);
  assert.equal((await from('10.2.3.4', '/admin/users', there)).statusCode, 200);
  assert.equal((await from('192.0.2.1', '/sign-in')).statusCode, 200);
});

test('a rule that would shut out the administrator making it is refused and not stored', async () => {
  const allow = await addRule({ action: 'allow', cidr: '10.0.0.0/8' });
  assert.equal(allow.statusCode, 409);
  assert.equal(allow.json().error.code, 'SELF_LOCKOUT');
  const block = await addRule({ action: 'block', cidr: '127.0.0.0/8', scope: 'admin' });
  assert.equal(block.json().error.code, 'SELF_LOCKOUT');
  assert.deepEqual(await rules(), []);
  // Removing the rule that lets the administrator in is refused too.
  const mine = (await addRule({ action: 'allow', cidr: '127.0.0.1' })).json().rule;
  await addRule({ action: 'allow', cidr: '10.0.0.0/8' });
  const del = await t.app.inject({ method: 'DELETE', url: `/api/admin/ip-rules/${mine.id}`, headers: bearer(admin) });
  assert.equal(del.json().error.code, 'SELF_LOCKOUT');
  assert.equal((await rules()).length, 2);
});

test('malformed rules are refused and never stored', async () => {
  for (const cidr of ['10.0.0.0/33', 'fe80::1%eth0', 'abc', '1.2.3', '1.2.3.4/ 8', '::1/129', '0x7f.0.0.1', '1.2.3.4/-1']) {
    const r = await addRule({ action: 'block', cidr });
    assert.equal(r.statusCode, 400, cidr);
  }
  assert.equal((await addRule({ action: 'deny', cidr: '1.2.3.4' })).statusCode, 400);
  assert.equal((await addRule({ action: 'block', cidr: '1.2.3.4', extra: 1 })).statusCode, 400);
  assert.deepEqual(await rules(), []);
  const ok = await addRule({ action: 'block', cidr: '203.0.113.77/24' });
  assert.equal(ok.json().rule.cidr, '203.0.113.0/24', 'host bits are cleared');
  assert.equal((await addRule({ action: 'block', cidr: '203.0.113.0/24' })).statusCode, 409, 'duplicates refused');
});

test('rejections are logged, sampled under a flood; rule changes are audited [ASVS V16.3.3]', async () => {
  await addRule({ action: 'block', cidr: '198.51.100.0/24' });
  for (let i = 0; i < 25; i++) await from('198.51.100.9');
  await from('198.51.100.10');
  const rejected = await events(t, admin, 'ip.rejected');
  assert.equal(rejected.length, 2, 'one event per address per minute');
  assert.equal(rejected[0]!.ip, '198.51.100.10');
  assert.equal((await events(t, admin, 'ip_rule.created')).length, 1);
});

test('only administrators manage rules', async () => {
  await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'ops', password: 'Operator-secret-91' },
  });
  const user = (await login(t, 'ops', 'Operator-secret-91')).token;
  const r = await t.app.inject({ method: 'POST', url: '/api/admin/ip-rules', headers: bearer(user), payload: { action: 'block', cidr: '192.0.2.0/24' } });
  assert.equal(r.statusCode, 403);
  assert.deepEqual(await rules(), []);
});

test('countries: only allowed ones pass; unknown-country addresses follow the setting; allow-listed addresses skip the check [ASVS V8.2.4]', async () => {
  const set = (body: unknown) => t.app.inject({ method: 'PATCH', url: '/api/admin/settings/geo', headers: bearer(admin), payload: body as object });
  assert.equal((await set({ allowedCountries: ['de'] })).statusCode, 400);
  assert.equal((await set({ allowedCountries: ['DE'] })).statusCode, 200);
  assert.equal((await from('2a02:2e0::1')).statusCode, 200, 'a German address');
  const gb = await from('81.2.69.142');
  assert.equal(gb.statusCode, 403, 'a British address');
  assert.equal(gb.json().error.code, 'IP_BLOCKED');
  assert.equal((await from('127.0.0.1')).statusCode, 200, 'no country, unknownCountry=allow');
  const lockout = await set({ unknownCountry: 'block' });
  assert.equal(lockout.json().error.code, 'SELF_LOCKOUT', 'the admin at 127.0.0.1 has no country');
  await addRule({ action: 'allow', cidr: '127.0.0.1' });
  await addRule({ action: 'allow', cidr: '81.2.69.0/24' });
  assert.equal((await set({ unknownCountry: 'block' })).statusCode, 200);
  assert.equal((await from('81.2.69.142')).statusCode, 200, 'allow-listed');
  assert.equal((await from('2a02:2e0::1')).statusCode, 403, 'allow list in force for everyone else');
});

test('a block on an IPv4 range also holds through 6to4, NAT64 and Teredo addresses', async () => {
  await addRule({ action: 'block', cidr: '198.51.100.0/24' });
  for (const ip of ['2002:c633:6407::1', '64:ff9b::c633:6407', '2001:0:4136:e378:8000:63bf:39cc:9bf8']) {
    // 2001:0:...:39cc:9bf8 carries 198.51.100.7 inverted: 0x39cc9bf8 ^ 0xffffffff = 0xc6336407.
    assert.equal((await from(ip)).statusCode, 403, ip);
  }
  assert.equal((await from('2002:c633:6507::1')).statusCode, 200, '198.51.101.7 is not blocked');
});

test('the README defines the context attributes behind security decisions, each with its threshold, its action and the settings the server serves for it [ASVS V8.1.3, V8.1.4]', async () => {
  const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
  const at = readme.indexOf('\n### Context in security decisions\n');
  assert.ok(at > 0, 'the section exists');
  const section = readme.slice(at, readme.indexOf('\n### ', at + 5));
  assert.match(section.replaceAll('\n', ' '), /the time of day, the device and its security posture are not used/);
  const rows = [...section.matchAll(/^\| (?!Attribute|---)(.+) \| (.+) \| (.+) \| (.+) \|$/gm)];
  assert.ok(rows.length >= 8, 'a row per attribute and use');
  const attributes = new Set(rows.map((r) => r[1]!.replace(/ \(.*\)$/, '')));
  for (const a of [
    'client address',
    'country of the address',
    'failed sign-ins of an account',
    'failed sign-ins of all accounts',
    'time since sign-in and since the last request',
  ]) {
    assert.ok(attributes.has(a), a);
  }
  for (const [, , evaluated, threshold, action] of rows) {
    assert.ok(evaluated && threshold && action, 'each row says when, at what threshold and what happens');
    assert.match(action!, /^(deny|allow|as a trusted)/);
  }
  // Every settings area the table names is one the server serves, so an operator finds each threshold where it says.
  const served = new Set(
    ((await t.app.inject({ method: 'GET', url: '/api/admin/settings', headers: bearer(admin) })).json().areas as { path: string }[]).map((a) => a.path),
  );
  const named = [...section.matchAll(/`(\/api\/admin\/settings\/[a-z-]+)`/g)].map((m) => m[1]!);
  assert.ok(named.length >= 6);
  for (const p of named) assert.ok(served.has(p), `${p} is served`);
  // Every refusal code it names is one the API answers with (docs/errors.md is checked against the registry).
  const errors = readFileSync(path.resolve(import.meta.dirname, '../../docs/errors.md'), 'utf8');
  for (const m of section.matchAll(/(\d{3}) `([A-Z_]+)`/g)) assert.match(errors, new RegExp(`\\| \`${m[2]}\` \\| ${m[1]} \\|`), m[2]);
});
