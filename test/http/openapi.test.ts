import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp } from '../helpers/app.js';

test('OpenAPI 3.1 is generated from the route schemas [ASVS V2.1.1]', async () => {
  const t = await makeApp();
  try {
    const r = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
    assert.equal(r.statusCode, 200);
    const doc = r.json();
    assert.equal(doc.openapi, '3.1.0');
    for (const p of [
      '/api/auth/login',
      '/api/auth/refresh',
      '/api/auth/logout',
      '/api/auth/logout-all',
      '/api/auth/me',
      '/api/auth/sessions',
      '/api/auth/sessions/{id}',
      '/api/admin/users',
      '/api/admin/settings/token-policy',
      '/api/admin/security-events',
    ]) {
      assert.ok(doc.paths[p], `missing ${p}`);
    }
    const login = doc.paths['/api/auth/login'].post;
    assert.equal(login.requestBody.content['application/json'].schema.additionalProperties, false);
    assert.ok(login.responses['200']);
  } finally {
    await t.close();
  }
});
