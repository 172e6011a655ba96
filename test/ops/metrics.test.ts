import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DIALECT, ROOT, configProblems, makeApp, type TestApp } from '../helpers/app.js';
import type { Env } from '../../src/app-config.js';

const TOKEN = randomBytes(32).toString('base64url');

async function withApp(env: Env, fn: (t: TestApp) => Promise<void>): Promise<void> {
  const t = await makeApp({ env });
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

const scrape = (t: TestApp, headers: Record<string, string> = {}, remoteAddress?: string) =>
  t.app.inject({ method: 'GET', url: '/metrics', headers, ...(remoteAddress ? { remoteAddress } : {}) });

test('metrics are off by default: /metrics is not there [ASVS V13.4.5]', async () => {
  await withApp({}, async (t) => {
    const r = await scrape(t, { authorization: `Bearer ${TOKEN}` });
    assert.equal(r.statusCode, 404);
    assert.equal(r.json().error.code, 'NOT_FOUND');
  });
});

test('metrics behind METRICS_TOKEN: refused without it or with another, served with it; routes by pattern, refusals by code, sign-ins by outcome [ASVS V13.4.5]', async () => {
  await withApp({ METRICS_TOKEN: TOKEN }, async (t) => {
    assert.equal((await scrape(t)).statusCode, 404);
    assert.equal((await scrape(t, { authorization: `Bearer ${TOKEN}x` })).statusCode, 404);
    assert.equal((await scrape(t, { authorization: `Bearer ${randomBytes(32).toString('base64url')}` })).statusCode, 404);
    await t.app.inject({ method: 'GET', url: '/healthz' });
    await t.app.inject({ method: 'GET', url: '/api/collections/orders/records/0f5e1d52-secret-id' });
    await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: 'wrong-password-123456' } });
    await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password } });
    const r = await scrape(t, { authorization: `Bearer ${TOKEN}` });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const body = r.body;
    assert.match(body, /palisade_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1/);
    assert.match(body, /palisade_http_requests_total\{method="GET",route="\/api\/collections\/:collection\/records\/:id",status="401"\} 1/);
    assert.ok(!body.includes('0f5e1d52-secret-id'), 'never the raw path');
    assert.match(body, /palisade_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/healthz"\}/);
    assert.match(body, /palisade_refusals_total\{code="AUTH_REQUIRED"\} 1/);
    assert.match(body, /palisade_security_events_total\{type="[a-z.]*login[a-z.]*",outcome="failure"\} 1/);
    assert.match(body, /palisade_security_events_total\{type="[a-z.]*login[a-z.]*",outcome="success"\} 1/);
    assert.match(body, /palisade_password_hash_queue\{state="waiting"\} 0/);
    assert.match(body, /palisade_shared_state_redis 0/);
    assert.match(body, /palisade_process_cpu_seconds_total/);
    if (DIALECT === 'postgres') assert.match(body, /palisade_db_pool_clients\{state="total"\} \d+/);
    else assert.ok(!body.includes('palisade_db_pool_clients'));
    assert.ok(!body.includes(TOKEN) && !body.includes(ROOT.password), 'no secret in the metrics');
  });
});

test('metrics behind METRICS_ALLOW: only from the listed addresses (and with the token when both are set) [ASVS V13.4.5]', async () => {
  await withApp({ METRICS_ALLOW: '10.0.0.0/8' }, async (t) => {
    assert.equal((await scrape(t)).statusCode, 404, 'from 127.0.0.1');
    assert.equal((await scrape(t, {}, '192.0.2.7')).statusCode, 404);
    assert.equal((await scrape(t, {}, '10.4.5.6')).statusCode, 200);
  });
  await withApp({ METRICS_ALLOW: '10.0.0.0/8', METRICS_TOKEN: TOKEN }, async (t) => {
    assert.equal((await scrape(t, {}, '10.4.5.6')).statusCode, 404, 'the token is needed too');
    assert.equal((await scrape(t, { authorization: `Bearer ${TOKEN}` })).statusCode, 404, 'the address is needed too');
    assert.equal((await scrape(t, { authorization: `Bearer ${TOKEN}` }, '10.4.5.6')).statusCode, 200);
  });
});

test('metrics configuration is checked at boot', () => {
  const problems = configProblems;
  assert.match(problems({ METRICS_TOKEN: 'short' }).join('\n'), /METRICS_TOKEN must be at least 32 characters/);
  assert.match(problems({ METRICS_ALLOW: '10.0.0.0/8,not-an-ip' }).join('\n'), /METRICS_ALLOW: "not-an-ip"/);
  assert.deepEqual(problems({ METRICS_TOKEN: TOKEN, METRICS_ALLOW: '10.0.0.0/8, ::1' }), []);
});
