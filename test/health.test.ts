import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp } from './helpers/app.js';

test('healthz answers and readyz reports the database', async () => {
  const t = await makeApp();
  try {
    const h = await t.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(h.statusCode, 200);
    const r = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().checks.database, 'ok');
  } finally {
    await t.close();
  }
});

test('readyz answers 503 when Redis is unreachable, naming the failed check', async () => {
  const t = await makeApp({ env: { REDIS_URL: 'redis://127.0.0.1:1' } });
  try {
    const r = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(r.statusCode, 503);
    assert.deepEqual(r.json().checks, { database: 'ok', redis: 'down' });
    assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  } finally {
    await t.close();
  }
});
