// Bug class: path-spelling bypass (EDGE-2). Every decision that depends on the path (IP rule
// scope, rate-limit class, authentication level, permission) is taken on the route the router
// matched. Encoded, doubled-slash, dot-segment, case, backslash and absolute-form spellings of a
// guarded path never reach it around the decision.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, ROOT, type TestApp, useApp } from '../../helpers/app.js';
import { listen, rawRequest, pathSpellings, type RawResponse } from '../../helpers/raw-http.js';
import { ERRORS } from '../../../src/errors.js';

let t: TestApp;
let port: number;
let admin: string;
let plain: string;
let ruleId: string;
useApp(async (app, token) => {
  t = app;
  admin = token;
  await createUser(t, admin, 'plain', 'Ordinary-member-secret-77');
  plain = (await login(t, 'plain', 'Ordinary-member-secret-77')).token;
  port = await listen(t.app);
});

/** Our envelope with a registered code, and never a success. */
function refused(r: RawResponse, what: string): string {
  assert.ok(r.status >= 400 && r.status < 500, `${what} answered ${r.status}: ${r.body.slice(0, 200)}`);
  const code = r.json().error?.code as string;
  assert.ok(code in ERRORS, `${what}: unregistered code ${code}`);
  return code;
}

const ADMIN_PATHS = ['/api/admin/users', '/api/admin/ip-rules', '/api/admin/security-events'];

test('path-spelling bypass: an admin-scoped IP rule holds for every spelling of an admin path, and the blocked address cannot delete it', async () => {
  // The administrator blocks 127.0.0.1 from the admin scope while working from another address, signed in there
  // (an administrator session is bound to the network it was signed in from, D444).
  const there = await t.app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: '10.9.9.9', payload: ROOT });
  const remote = there.json().token as string;
  const add = await t.app.inject({
    method: 'POST',
    url: '/api/admin/ip-rules',
    headers: bearer(remote),
    remoteAddress: '10.9.9.9',
    payload: { action: 'block', cidr: '127.0.0.1/32', scope: 'admin' },
  });
  assert.equal(add.statusCode, 201, add.body);
  ruleId = add.json().rule?.id ?? add.json().id;
  try {
    // Legitimate: canonical admin path from another address, and non-admin routes from the blocked one.
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/users', headers: bearer(remote), remoteAddress: '10.9.9.9' })).statusCode, 200);
    assert.equal((await rawRequest(port, 'GET', '/api/auth/me', bearer(admin))).status, 200);
    let tried = 0;
    for (const p of ADMIN_PATHS) {
      for (const target of [p, ...pathSpellings(p)]) {
        const r = await rawRequest(port, 'GET', target, bearer(admin));
        const code = refused(r, `GET ${target}`);
        assert.ok(['IP_BLOCKED', 'URL_INVALID', 'BAD_REQUEST'].includes(code), `GET ${target}: ${code}`);
        tried++;
      }
    }
    const del = `/api/admin/ip-rules/${ruleId}`;
    for (const target of [del, ...pathSpellings(del)]) refused(await rawRequest(port, 'DELETE', target, bearer(admin)), `DELETE ${target}`);
    assert.ok(tried > 100, `tried ${tried} spellings`);
    const still = await t.app.inject({ method: 'GET', url: '/api/admin/ip-rules', headers: bearer(remote), remoteAddress: '10.9.9.9' });
    assert.equal(still.json().rules.length, 1, 'the rule survived');
  } finally {
    await t.app.inject({ method: 'DELETE', url: `/api/admin/ip-rules/${ruleId}`, headers: bearer(remote), remoteAddress: '10.9.9.9' });
  }
});

test('path-spelling bypass: authentication and permissions hold for every spelling', async () => {
  for (const p of ADMIN_PATHS) {
    for (const target of [p, ...pathSpellings(p)]) {
      refused(await rawRequest(port, 'GET', target), `anonymous GET ${target}`);
      refused(await rawRequest(port, 'GET', target, bearer(plain)), `plain GET ${target}`);
    }
  }
  // Legitimate: the administrator reaches the canonical path, and so does a percent-encoded spelling of it
  // (the same route, the same decisions).
  assert.equal((await rawRequest(port, 'GET', '/api/admin/users', bearer(admin))).status, 200);
  assert.equal((await rawRequest(port, 'GET', '/api/%61dmin/users', bearer(admin))).status, 200);
});

test('path-spelling bypass: the sign-in budget counts every spelling of the sign-in route', async () => {
  const set = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(admin), payload: { authPerIp: 3 } });
  assert.equal(set.statusCode, 200, set.body);
  try {
    const body = JSON.stringify({ username: ROOT.username, password: 'wrong-password-000' });
    const json = { 'content-type': 'application/json' };
    const spellings = pathSpellings('/api/auth/login');
    const codes: string[] = [];
    for (const target of ['/api/auth/login', ...spellings]) codes.push(refused(await rawRequest(port, 'POST', target, json, body), `POST ${target}`));
    // Three attempts at most reach the password check, whatever the spelling; spellings that match
    // no route are not sign-ins at all (401 AUTH_REQUIRED, no password checked).
    assert.ok(codes.filter((c) => c === 'INVALID_CREDENTIALS').length <= 3, codes.join(','));
    assert.ok(codes.filter((c) => c === 'RATE_LIMITED').length >= 5, codes.join(','));
    assert.deepEqual(
      [...new Set(codes)].filter((c) => !['INVALID_CREDENTIALS', 'RATE_LIMITED', 'AUTH_REQUIRED', 'IP_BLOCKED', 'URL_INVALID', 'BAD_REQUEST'].includes(c)),
      [],
    );
  } finally {
    await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(admin), payload: { authPerIp: 1_000_000 } });
  }
});
