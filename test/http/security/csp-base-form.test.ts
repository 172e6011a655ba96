// Bug class: a policy without base-uri or form-action. Neither falls back to default-src (CSP 3), so a page that an
// injected <base> or <form> reaches could load its scripts from, or post its fields to, another origin. Every answer
// names both: the admin UI's pages (base-uri 'none', form-action 'self': its own forms post to itself) and every API
// answer, router and framework answers included (base-uri 'none', form-action 'none').
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, useApp, type Res, type TestApp } from '../../helpers/app.js';
import { findUiDir } from '../../../src/http/routes/ui.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

/** The policy's directives by name; a directive given twice is a test failure (the browser keeps the first). */
function directives(r: Res): Map<string, string> {
  const csp = String(r.headers['content-security-policy'] ?? '');
  const out = new Map<string, string>();
  for (const part of csp
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name, ...values] = part.split(/\s+/);
    assert.ok(!out.has(name!), `${name} given twice: ${csp}`);
    out.set(name!, values.join(' '));
  }
  return out;
}

test('API answers name base-uri none and form-action none, whatever wrote them [ASVS V3.4.3]', async () => {
  const answers: Array<[string, Res, number]> = [
    ['health', await t.app.inject({ method: 'GET', url: '/healthz' }), 200],
    ['signed in', await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) }), 200],
    ['signed out', await t.app.inject({ method: 'GET', url: '/api/auth/me' }), 401],
    ['no such route', await t.app.inject({ method: 'GET', url: '/api/no-such-thing', headers: bearer(admin) }), 404],
    [
      'unparsable body',
      await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"username":' }),
      400,
    ],
  ];
  for (const [name, r, status] of answers) {
    assert.equal(r.statusCode, status, `${name}: ${r.body}`);
    const d = directives(r);
    assert.equal(d.get('default-src'), "'none'", name);
    assert.equal(d.get('base-uri'), "'none'", name);
    assert.equal(d.get('form-action'), "'none'", name);
    assert.equal(d.get('frame-ancestors'), "'none'", name);
  }
});

const ui = findUiDir();
test('admin UI pages name base-uri none and form-action self, and load nothing from elsewhere [ASVS V3.4.3]', {
  skip: ui === null && 'the admin UI is not built (npm run build)',
}, async () => {
  for (const url of ['/', '/sign-in', '/admin/users']) {
    const r = await t.app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 200, url);
    assert.match(String(r.headers['content-type']), /text\/html/, url);
    const d = directives(r);
    assert.equal(d.get('base-uri'), "'none'", url);
    assert.equal(d.get('form-action'), "'self'", url);
    assert.equal(d.get('default-src'), "'none'", url);
    assert.equal(d.get('script-src'), "'self'", url);
  }
});
