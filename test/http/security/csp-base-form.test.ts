// Bug class: a policy without base-uri or form-action. Neither falls back to default-src (CSP 3), so a page that an
// injected <base> or <form> reaches could load its scripts from, or post its fields to, another origin. Every answer
// names both: the admin UI's pages (base-uri 'none', form-action 'self': its own forms post to itself) and every API
// answer, router and framework answers included (base-uri 'none', form-action 'none').
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, cookies, ROOT, useApp, type Res, type TestApp } from '../../helpers/app.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
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

test('API answers name base-uri none and form-action none, whatever wrote them [ASVS V3.4.3, V3.4.6]', async () => {
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
test('admin UI pages name base-uri none and form-action self, and load nothing from elsewhere [ASVS V3.4.3, V3.6.1, V3.7.1, V14.2.3]', {
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

/** Answers of every kind the API writes: success, refusal, unknown route, unparsable body, a router answer. */
async function apiAnswers(): Promise<Array<[string, Res]>> {
  return [
    ['health', await t.app.inject({ method: 'GET', url: '/healthz' })],
    ['signed in', await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) })],
    ['signed out', await t.app.inject({ method: 'GET', url: '/api/auth/me' })],
    ['no such route', await t.app.inject({ method: 'GET', url: '/api/no-such-thing', headers: bearer(admin) })],
    ['malformed URL', await t.app.inject({ method: 'GET', url: '/api/%', headers: bearer(admin) })],
    [
      'unparsable body',
      await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"username":' }),
    ],
  ];
}

// Bug class: a header set on some answers only. Referrer-Policy keeps paths and queries (record ids, reset-link
// tokens) out of the Referer sent to other sites; nosniff keeps a JSON or text answer from being run as a script.
test('every answer, API or page, success or error, forbids MIME sniffing and sends no referrer [ASVS V3.4.4, V3.4.5]', async () => {
  const answers = await apiAnswers();
  if (ui !== null) for (const url of ['/', '/sign-in', '/admin/users']) answers.push([url, await t.app.inject({ method: 'GET', url })]);
  for (const [name, r] of answers) {
    assert.equal(r.headers['x-content-type-options'], 'nosniff', name);
    assert.equal(r.headers['referrer-policy'], 'no-referrer', name);
  }
  assert.deepEqual(answers.map(([, r]) => r.statusCode).slice(0, 6), [200, 200, 401, 404, 400, 400], 'the legitimate answers are served, the refusals refused');
});

// Bug class: cross-origin leaks through windows and no-cors loads. Another site's page that opens or is opened by
// Palisade's keeps no handle on its window (tabnabbing, frame counting); an <img> or <script> of another site pointing
// at an answer (a signed-in read, a file) is blocked by the browser before that site can measure or run it.
test('every answer keeps its window and its content to its own origin: COOP and CORP same-origin [ASVS V3.4.8, V3.5.8]', async () => {
  const answers = await apiAnswers();
  if (ui !== null) for (const url of ['/', '/sign-in', '/admin/users']) answers.push([url, await t.app.inject({ method: 'GET', url })]);
  for (const [name, r] of answers) {
    assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin', name);
    assert.equal(r.headers['cross-origin-resource-policy'], 'same-origin', name);
  }
  const signedIn = answers.find(([name]) => name === 'signed in')![1];
  assert.equal(signedIn.json().user.username !== undefined, true, 'the same-origin reader gets the answer');
});

// Bug class: JSONP. A callback parameter that wrapped an answer in a function call would let any site read it with a
// <script> tag, the user's cookie attached (cross-site script inclusion).
test('no answer is JavaScript: a callback parameter gets JSON or a refusal, never a function call [ASVS V3.5.6]', async () => {
  for (const q of ['callback=alert', 'jsonp=alert', 'cb=alert', '_callback=alert', 'callback=alert&format=js']) {
    for (const url of [`/api/auth/me?${q}`, `/api/collections?${q}`, `/healthz?${q}`]) {
      const r = await t.app.inject({ method: 'GET', url, headers: bearer(admin) });
      assert.match(String(r.headers['content-type']), /^application\/json/, `${url}: ${r.headers['content-type']}`);
      assert.doesNotMatch(r.body, /^\s*alert\s*\(/, url);
      assert.doesNotThrow(() => JSON.parse(r.body), url);
      assert.ok(r.statusCode < 500, `${url}: ${r.statusCode}`);
    }
  }
  // The same reads without a callback are served as usual.
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) })).json().user.username, ROOT.username);
});

// Bug class: cross-site script inclusion of a page's data. The admin UI's page and scripts are the same bytes for
// everyone: what a user may see reaches the page only through the API (JSON, CORS-governed), never inside a script
// that another site could include.
test('the admin UI page and its scripts carry no data of the signed-in user: the same bytes for a stranger [ASVS V3.5.7]', {
  skip: ui === null && 'the admin UI is not built (npm run build)',
}, async () => {
  const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password, mode: 'cookie' } });
  const jar = Object.fromEntries(Object.entries(cookies(res)).map(([k, v]) => [k, v.value]));
  const page = await t.app.inject({ method: 'GET', url: '/', cookies: jar });
  const strangerPage = await t.app.inject({ method: 'GET', url: '/' });
  assert.equal(page.body, strangerPage.body);
  const scripts = [...page.body.matchAll(/src="(\/assets\/[^"]+\.js)"/g)].map((m) => m[1]!);
  assert.ok(scripts.length > 0, 'the page loads its scripts');
  for (const src of scripts) {
    const signedIn = await t.app.inject({ method: 'GET', url: src, cookies: jar, headers: bearer(admin) });
    const stranger = await t.app.inject({ method: 'GET', url: src });
    assert.equal(stranger.statusCode, 200, src);
    assert.match(String(stranger.headers['content-type']), /javascript/, src);
    assert.ok(signedIn.rawPayload.equals(stranger.rawPayload), `${src} is the same for everyone`);
    for (const secret of [admin, jar['__Host-palisade_session']!, res.json().xsrfToken as string]) {
      assert.ok(!stranger.body.includes(secret), `${src} carries a credential`);
    }
  }
  // The user's own data comes from the API, as JSON, to the signed-in caller only.
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', cookies: jar })).json().user.username, ROOT.username);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me' })).statusCode, 401);
});

// Bug class: a policy that fails silently. The pages name where to report what they refused; the endpoint takes
// both report formats from anyone (browsers send reports without credentials), logs only what helps (no query, which
// may carry a token), and refuses what is not a report in the envelope.
test('the pages report CSP violations to /csp-reports, which logs each one and refuses anything else [ASVS V3.4.7]', async () => {
  if (ui !== null) {
    const page = await t.app.inject({ method: 'GET', url: '/sign-in' });
    const d = directives(page);
    assert.equal(d.get('report-uri'), '/csp-reports');
  }
  const send = (type: string, payload: string) => t.app.inject({ method: 'POST', url: '/csp-reports', headers: { 'content-type': type }, payload });
  const legacy = {
    'csp-report': {
      'document-uri': 'https://palisade.example.test/admin/users?token=document-secret',
      'violated-directive': 'script-src-elem',
      'effective-directive': 'script-src-elem',
      'blocked-uri': 'https://evil.example/x.js?k=blocked-secret',
      'line-number': 12,
    },
  };
  const before = t.logs.length;
  assert.equal((await send('application/csp-report', JSON.stringify(legacy))).statusCode, 204);
  const modern = [
    {
      type: 'csp-violation',
      url: 'https://palisade.example.test/sign-in',
      body: {
        documentURL: 'https://palisade.example.test/sign-in#frag',
        effectiveDirective: 'require-trusted-types-for',
        blockedURL: 'trusted-types-sink',
        disposition: 'enforce',
      },
    },
  ];
  assert.equal((await send('application/reports+json', JSON.stringify(modern))).statusCode, 204);
  const logged = t.logs
    .slice(before)
    .filter((l) => l.includes('"event":"csp.violation"'))
    .map((l) => JSON.parse(l));
  assert.equal(logged.length, 2);
  assert.equal(logged[0].directive, 'script-src-elem');
  assert.equal(logged[0].blocked, 'https://evil.example/x.js');
  assert.equal(logged[0].document, 'https://palisade.example.test/admin/users');
  assert.equal(logged[1].directive, 'require-trusted-types-for');
  assert.equal(logged[1].blocked, 'trusted-types-sink');
  assert.ok(!t.logs.slice(before).some((l) => /document-secret|blocked-secret/.test(l)), 'no query reaches the log');

  // A flood of the same report from one address is one line a minute, not one a report; another violation still gets its own.
  const flood = t.logs.length;
  for (let i = 0; i < 30; i++) assert.equal((await send('application/csp-report', JSON.stringify(legacy))).statusCode, 204);
  const other = { 'csp-report': { ...legacy['csp-report'], 'blocked-uri': 'https://other.example/y.js' } };
  assert.equal((await send('application/csp-report', JSON.stringify(other))).statusCode, 204);
  const flooded = t.logs.slice(flood).filter((l) => l.includes('"event":"csp.violation"'));
  const blocked = flooded.map((l) => JSON.parse(l).blocked);
  // At most one more line of the repeated report (a new minute may begin during the flood).
  assert.ok(blocked.filter((b) => b === 'https://evil.example/x.js').length <= 1, `the repeated report is sampled: ${blocked.length} lines`);
  assert.equal(blocked.filter((b) => b === 'https://other.example/y.js').length, 1);

  // Not a report: refused with a stable code, nothing logged.
  const after = t.logs.length;
  const refusals: Array<[string, string, number, string]> = [
    ['application/csp-report', '{"csp-report":', 400, 'INVALID_JSON'],
    ['application/csp-report', '{"hello":"world"}', 400, 'VALIDATION_FAILED'],
    ['application/reports+json', '[{"type":"deprecation","body":{}}]', 400, 'VALIDATION_FAILED'],
    ['application/csp-report', '{"__proto__":{"x":1},"csp-report":{}}', 400, 'UNSAFE_INPUT'],
    ['text/plain', 'hello', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['application/csp-report', JSON.stringify({ 'csp-report': { 'blocked-uri': 'x'.repeat(20_000) } }), 413, 'PAYLOAD_TOO_LARGE'],
  ];
  for (const [type, payload, status, code] of refusals) {
    const r = await send(type, payload);
    assert.equal(r.statusCode, status, `${type} ${payload.slice(0, 40)}: ${r.body}`);
    assert.equal(r.json().error.code, code, payload.slice(0, 40));
  }
  assert.ok(!t.logs.slice(after).some((l) => l.includes('"event":"csp.violation"')));
});

// The documentation of what a browser must support (docs/ui.md) names every security header and directive the pages
// are served with, and says what happens without each: a header or directive added without it fails here.
test('docs/ui.md names each security feature the pages rely on and what happens without it [ASVS V3.1.1]', {
  skip: ui === null && 'the admin UI is not built (npm run build)',
}, async () => {
  const doc = readFileSync(path.resolve(import.meta.dirname, '../../../docs/ui.md'), 'utf8');
  const start = doc.indexOf('## What a browser needs, and what happens without it');
  assert.ok(start >= 0, 'the section exists');
  const section = doc.slice(start, doc.indexOf('\n## ', start + 1));
  const page = await t.app.inject({ method: 'GET', url: '/sign-in' });
  const sent = [
    'Strict-Transport-Security',
    ...Object.keys(page.headers).filter(
      (h) => /^(content-security-policy|x-|referrer-policy|cross-origin-|permissions-policy)/.test(h) && h !== 'x-request-id',
    ),
  ];
  for (const h of sent) assert.ok(section.toLowerCase().includes(`\`${h.toLowerCase()}`), `${h} is not in the section`);
  for (const directive of directives(page).keys()) assert.ok(section.includes(`\`${directive}\``), `${directive} is not in the section`);
  for (const line of section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Feature'))) {
    assert.ok((line.split(' | ').at(-1) ?? '').replace(/\|\s*$/, '').trim().length > 0, `no "without it" for ${line.slice(0, 40)}`);
  }
  assert.match(section, /neither blocks nor warns/);
});
