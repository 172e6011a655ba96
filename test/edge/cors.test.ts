import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, type Env } from '../../src/app-config.js';
import { findUiDir } from '../../src/http/routes/ui.js';
import { bearer, useApp, type Res, type TestApp } from '../helpers/app.js';

const APP = 'https://app.example.org';
const DEV = 'http://localhost:5173';
const EVIL = 'https://evil.example';

/** Every access-control-* header of an answer. */
const corsHeaders = (res: Res): string[] => Object.keys(res.headers).filter((h) => h.startsWith('access-control-'));
const varies = (res: Res): string[] =>
  String(res.headers.vary ?? '')
    .split(',')
    .map((x) => x.trim().toLowerCase());

function preflight(t: TestApp, origin: string | undefined, o: { url?: string; method?: string; headers?: string; ip?: string } = {}) {
  return t.app.inject({
    method: 'OPTIONS',
    url: o.url ?? '/api/auth/me',
    remoteAddress: o.ip,
    headers: {
      ...(origin === undefined ? {} : { origin }),
      'access-control-request-method': o.method ?? 'GET',
      ...(o.headers ? { 'access-control-request-headers': o.headers } : {}),
    },
  });
}

describe('CORS with listed origins (CORS_ORIGINS)', () => {
  let t: TestApp;
  let admin: string;
  // Written as an operator might: upper case, default port, trailing slash; normalised to what browsers send.
  useApp(
    (app, token) => {
      t = app;
      admin = token;
    },
    { env: { CORS_ORIGINS: ` HTTPS://App.Example.org:443/ , ${DEV}` } },
  );

  it('answers a preflight from a listed origin without any credential, with fixed lists and no reflection [ASVS V3.4.2]', async () => {
    for (const origin of [APP, DEV]) {
      const res = await preflight(t, origin, { url: '/api/collections/notes/records', method: 'POST', headers: 'authorization, content-type, x-evil' });
      assert.equal(res.statusCode, 204, res.body);
      assert.equal(res.body, '');
      assert.equal(res.headers['access-control-allow-origin'], origin);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.equal(res.headers['access-control-allow-methods'], 'GET, HEAD, POST, PUT, PATCH, DELETE');
      // The API's own request headers, not the preflight's list echoed back.
      assert.equal(res.headers['access-control-allow-headers'], 'authorization, content-type, palisade-response-key, x-api-key, x-xsrf-token');
      assert.equal(res.headers['access-control-max-age'], '600');
      assert.ok(varies(res).includes('origin'));
      // It went through the edge's rate limit stage (a read from the address's budget).
      assert.ok(res.headers['ratelimit-remaining'] !== undefined);
    }
  });

  it('refuses a preflight from an unlisted origin in the envelope, with no allow header [ASVS V3.4.2]', async () => {
    // Look-alikes of a listed origin: another scheme, port, host suffix or prefix, spelling, or no origin at all.
    for (const origin of [
      EVIL,
      'null',
      'http://app.example.org',
      'https://app.example.org:8443',
      'https://app.example.org.evil.example',
      'https://xapp.example.org',
      'https://APP.example.org',
      `${APP}/`,
      '*',
      undefined,
    ]) {
      const res = await preflight(t, origin, { method: 'DELETE', headers: 'authorization' });
      assert.equal(res.statusCode, 403, String(origin));
      assert.equal(res.json().error.code, 'CORS_ORIGIN_REFUSED');
      assert.deepEqual(corsHeaders(res), [], String(origin));
      assert.equal(res.headers['cache-control'], 'no-store');
    }
  });

  it('gives a listed origin its own origin and credentials on answers, error answers included [ASVS V3.4.2]', async () => {
    const ok = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...bearer(admin), origin: APP } });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['access-control-allow-origin'], APP);
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    const exposed = String(ok.headers['access-control-expose-headers']).split(', ');
    for (const h of ['x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after']) assert.ok(exposed.includes(h), h);
    assert.ok(varies(ok).includes('origin'));
    // A listed client can read why it was refused.
    const refused = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { origin: DEV } });
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.headers['access-control-allow-origin'], DEV);
  });

  it('processes a request from an unlisted origin as usual but gives it no CORS header [ASVS V3.4.2]', async () => {
    for (const origin of [EVIL, 'null', 'https://app.example.org.evil.example']) {
      const res = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...bearer(admin), origin } });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(corsHeaders(res), [], origin);
      // Still Vary: Origin, so no cache hands a listed origin's answer to another (or the other way round).
      assert.ok(varies(res).includes('origin'));
    }
    // Without an Origin header (curl, same-origin GET), nothing changes either.
    const plain = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) });
    assert.equal(plain.statusCode, 200);
    assert.deepEqual(corsHeaders(plain), []);
  });

  it('never answers with a wildcard origin, whatever the request [ASVS V3.4.2]', async () => {
    const seen: unknown[] = [];
    for (const origin of [APP, DEV, EVIL, '*', 'null', '']) {
      for (const method of ['GET', 'POST', 'DELETE'] as const) {
        const res = await t.app.inject({ method, url: '/api/auth/me', headers: { origin } });
        seen.push(res.headers['access-control-allow-origin']);
      }
      seen.push((await preflight(t, origin)).headers['access-control-allow-origin']);
    }
    assert.ok(!seen.includes('*'));
    assert.ok(seen.includes(APP), 'the listed origin was echoed');
  });

  it("keeps a route's own Vary and adds Origin to it (the UI's files vary on accept-encoding)", {
    skip: findUiDir() === null && 'the admin UI is not built',
  }, async () => {
    const res = await t.app.inject({ method: 'GET', url: '/', headers: { origin: EVIL, 'accept-encoding': 'gzip' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(varies(res), ['accept-encoding', 'origin']);
    assert.deepEqual(corsHeaders(res), []);
  });

  it('a plain OPTIONS that is not a preflight finds no route [ASVS V4.1.4]', async () => {
    const res = await t.app.inject({ method: 'OPTIONS', url: '/api/auth/me', headers: { origin: APP } });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'NOT_FOUND');
    assert.equal(res.headers['access-control-allow-methods'], undefined);
  });

  it('a blocked address is refused its preflight too; other addresses still get theirs', async () => {
    const rule = await t.app.inject({
      method: 'POST',
      url: '/api/admin/ip-rules',
      headers: bearer(admin),
      payload: { action: 'block', cidr: '198.51.100.0/24' },
    });
    assert.equal(rule.statusCode, 201);
    const blocked = await preflight(t, APP, { ip: '198.51.100.7' });
    assert.equal(blocked.statusCode, 403);
    assert.equal(blocked.json().error.code, 'IP_BLOCKED');
    assert.equal(blocked.headers['access-control-allow-methods'], undefined);
    const other = await preflight(t, APP, { ip: '198.51.101.7' });
    assert.equal(other.statusCode, 204);
    assert.equal(other.headers['access-control-allow-origin'], APP);
  });
});

describe('CORS preflights spend the address read budget', () => {
  let t: TestApp;
  let admin: string;
  useApp(
    (app, token) => {
      t = app;
      admin = token;
    },
    { env: { CORS_ORIGINS: APP, CORS_MAX_AGE: '2h' } },
  );

  it('a flood of preflights from one address is rate limited; another address is not', async () => {
    const patch = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(admin), payload: { readPerIp: 3 } });
    assert.equal(patch.statusCode, 200, patch.body);
    for (let i = 0; i < 3; i++) {
      const ok = await preflight(t, APP, { ip: '203.0.113.5' });
      assert.equal(ok.statusCode, 204);
      assert.equal(ok.headers['access-control-max-age'], '7200');
    }
    const limited = await preflight(t, APP, { ip: '203.0.113.5' });
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.json().error.code, 'RATE_LIMITED');
    assert.equal(limited.headers['access-control-allow-methods'], undefined);
    assert.equal((await preflight(t, APP, { ip: '203.0.113.6' })).statusCode, 204);
  });
});

describe('CORS by default (CORS_ORIGINS unset)', () => {
  let t: TestApp;
  let admin: string;
  useApp((app, token) => {
    t = app;
    admin = token;
  });

  it('no answer carries a CORS header or varies on Origin; every preflight is refused [ASVS V3.4.2]', async () => {
    for (const origin of [APP, 'http://127.0.0.1:8080', EVIL, '*']) {
      const res = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...bearer(admin), origin } });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(corsHeaders(res), []);
      assert.ok(!varies(res).includes('origin'));
      const pre = await preflight(t, origin);
      assert.equal(pre.statusCode, 403);
      assert.equal(pre.json().error.code, 'CORS_ORIGIN_REFUSED');
      assert.deepEqual(corsHeaders(pre), []);
    }
  });
});

describe('CORS configuration', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'palisade-cors-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const base = (): Env => ({ APP_KEY: 'YtVyPMwVz4BU1_dtN2pejrg7moSkrWrUlN3bL8IR', DATA_DIR: mkdtempSync(path.join(root, 'd-')) });
  const problems = (env: Env): string[] => {
    try {
      loadConfig({ ...base(), ...env }, { generateKey: false });
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.problems;
    }
    return [];
  };

  it('refuses wildcards, paths and anything that is not one http(s) origin, each named [ASVS V3.4.2]', () => {
    const star = problems({ CORS_ORIGINS: '*' });
    assert.equal(star.length, 1);
    assert.match(star[0]!, /CORS_ORIGINS: "\*" is a wildcard/);
    for (const bad of [
      'https://*.example.org',
      'https://app.example.org/api',
      'https://app.example.org?x=1',
      'https://app.example.org#x',
      'https://user:pw@app.example.org',
      'ftp://app.example.org',
      'file:///etc',
      'null',
      'app.example.org',
      'https://',
      'https://app.example.org:99999',
    ]) {
      const p = problems({ CORS_ORIGINS: `${APP},${bad}` });
      assert.equal(p.length, 1, `${bad}: ${p.join('; ')}`);
      assert.match(p[0]!, /^CORS_ORIGINS: /, bad);
    }
    assert.match(problems({ CORS_ORIGINS: Array.from({ length: 51 }, (_, i) => `https://a${i}.example.org`).join(',') })[0]!, /at most 50/);
    for (const bad of ['-1', '7201', '3h', 'soon', '1.5']) assert.match(problems({ CORS_MAX_AGE: bad }).join('\n'), /CORS_MAX_AGE must be/, bad);
  });

  it('reads valid values, normalised as browsers send them; warns about plain http off loopback', () => {
    const { config, warnings } = loadConfig(
      {
        ...base(),
        CORS_ORIGINS: 'HTTPS://App.Example.org:443/, http://[::1]:8080, https://app.example.org, http://intranet.example.org:8000',
        CORS_MAX_AGE: '10m',
      },
      { generateKey: false },
    );
    assert.deepEqual(config.cors.origins, [APP, 'http://[::1]:8080', 'http://intranet.example.org:8000']);
    assert.equal(config.cors.maxAge, 600);
    assert.ok(Object.isFrozen(config.cors.origins));
    assert.equal(warnings.filter((w) => w.startsWith('CORS_ORIGINS')).length, 1);
    assert.match(warnings.join('\n'), /http:\/\/intranet\.example\.org:8000 is plain http/);
    const unset = loadConfig(base(), { generateKey: false }).config.cors;
    assert.deepEqual(unset, { origins: [], maxAge: 600 });
    assert.equal(loadConfig({ ...base(), CORS_MAX_AGE: '0' }, { generateKey: false }).config.cors.maxAge, 0);
  });
});
