// AUTH-10. Bug class: credential stuffing spread over many accounts, which per-account lockout misses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, events, ROOT, type TestApp, useApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  { env: { SPREAD_THRESHOLD: '10', SPREAD_WINDOW: '60', SPREAD_PAUSE: '30' } },
  true,
);

const stuff = (i: number) => t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: `victim${i}`, password: `leaked-${i}` } });

test('failures across many accounts pause password sign-in for everyone; signed-in users work on [ASVS V16.3.3, V6.3.1]', async () => {
  for (let i = 0; i < 9; i++) assert.equal((await stuff(i)).statusCode, 401);
  assert.equal((await login(t)).res.statusCode, 200, 'below the threshold sign-in works');
  assert.equal((await stuff(9)).statusCode, 401);
  const paused = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password } });
  assert.equal(paused.statusCode, 503);
  assert.equal(paused.json().error.code, 'SIGN_IN_PAUSED');
  assert.equal(paused.headers['retry-after'], '30');
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) })).statusCode, 200);
  const started = await events(t, admin, 'signin.paused');
  assert.equal(started.length, 1);
  t.clock.advance(31);
  const fresh = await login(t);
  assert.equal(fresh.res.statusCode, 200);
  assert.equal((await events(t, fresh.token, 'signin.resumed')).length, 1);
});

test('failures spread over more than the window do not pause', async () => {
  for (let i = 0; i < 30; i++) {
    await stuff(i);
    t.clock.advance(15);
  }
  assert.equal((await login(t)).res.statusCode, 200);
});

test('the settings are validated and editable at runtime', async () => {
  const bad = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/spread', headers: bearer(admin), payload: { threshold: 1 } });
  assert.equal(bad.statusCode, 400);
  const ok = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/spread', headers: bearer(admin), payload: { threshold: 1000 } });
  assert.equal(ok.json().threshold, 1000);
  for (let i = 0; i < 12; i++) await stuff(i);
  assert.equal((await login(t)).res.statusCode, 200);
});
