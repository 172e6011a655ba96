// Application logs (AUDIT-2): the request log (route pattern, status, time, query names only), the
// system log (start, stop, settings changes, errors, each with a stable `event`) and the SQL log
// (LOG_SQL, off by default; text and parameter count, never a value). Bug class: secrets in logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { makeApp, login, bearer, createUser, DIALECT, PG_URL, ROOT, type TestApp } from '../helpers/app.js';
import { freePort, startServer } from '../helpers/cli.js';
import { buildApp } from '../../src/http/app.js';
import { loadConfig, ConfigError } from '../../src/app-config.js';
import { maskedPath, queryNames } from '../../src/http/request-log.js';

const lines = (t: TestApp) =>
  t.logs
    .flatMap((l) => l.split('\n'))
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
const ofEvent = (t: TestApp, event: string) => lines(t).filter((l) => l.event === event);

test('request log: one line per request with method, route pattern, status, time and query names; never a query value', async () => {
  const t = await makeApp({ env: { LOG_LEVEL: 'trace' } });
  try {
    const admin = (await login(t)).token;
    const uid = await createUser(t, admin, 'carol', 'Lantern-meadow-5521');
    const before = t.logs.length;
    const r = await t.app.inject({ method: 'GET', url: `/api/admin/users/${uid}?token=SECRETVALUE&x=1`, headers: bearer(admin) });
    assert.equal(r.statusCode, 200, r.body);
    // Unmatched routes: the path without its query, long or encoded segments masked.
    const longToken = randomBytes(24).toString('base64url');
    const nf = await t.app.inject({ method: 'GET', url: `/api/no-such-thing/${longToken}?token=SECRETVALUE`, headers: bearer(admin) });
    assert.equal(nf.statusCode, 404);
    // A URL the router refuses (malformed percent-encoding) is logged too, without its query.
    await t.app.inject({ method: 'GET', url: '/api/admin/users/%E0%A4%A?token=SECRETVALUE' });

    const log = t.logs.slice(before).join('');
    assert.equal(log.includes('SECRETVALUE'), false, 'a query value reached the log');
    assert.equal(log.includes(longToken), false, 'a token-like path segment reached the log');
    assert.equal(log.includes(uid), false, 'the route pattern is logged, not the raw path');
    const reqs = ofEvent(t, 'http.request');
    const one = reqs.find((l) => l.route === '/api/admin/users/:id')!;
    assert.ok(one, 'the request was logged with its route pattern');
    assert.equal(one.method, 'GET');
    assert.equal(one.status, 200);
    assert.equal(typeof one.ms, 'number');
    assert.deepEqual(one.query, ['token', 'x']);
    assert.equal(one.userId, (await login(t)).userId, 'the signed-in user is named by id');
    assert.equal(one.url, undefined, 'no raw URL');
    assert.equal(reqs.filter((l) => l.reqId === one.reqId).length, 1, 'exactly one line for the request');
    const unmatched = reqs.find((l) => l.route === '(unmatched)' && l.status === 404)!;
    assert.equal(unmatched.path, '/api/no-such-thing/*');
    assert.deepEqual(unmatched.query, ['token']);
    assert.ok(
      reqs.some((l) => l.status === 400 && l.query?.[0] === 'token'),
      'the malformed URL was logged',
    );
    assert.equal(
      lines(t).some((l) => l.msg === 'incoming request' || l.msg === 'request completed'),
      false,
      "Fastify's own request lines are gone",
    );
  } finally {
    await t.close();
  }
});

test('query names and masked paths: bounded, values dropped', () => {
  assert.deepEqual(queryNames('/a?token=abc&x=1&x=2&flag'), ['token', 'x', 'flag']);
  assert.deepEqual(queryNames('/a'), []);
  assert.equal(queryNames(`/a?${Array.from({ length: 50 }, (_, i) => `p${i}=v`).join('&')}`).length, 20);
  assert.equal(maskedPath('/reset/abc.def?token=1'), '/reset/abc.def');
  assert.equal(maskedPath('/x/%2Fetc%2Fpasswd'), '/x/*');
  assert.equal(maskedPath(`/${'a/'.repeat(30)}`).endsWith('/...'), true);
});

test('system log: settings changes name the area and the keys, never a value (write-only fields included)', async () => {
  const t = await makeApp();
  try {
    const admin = (await login(t)).token;
    const secret = `rc-secret-${randomBytes(8).toString('hex')}`;
    const r = await t.app.inject({
      method: 'PATCH',
      url: '/api/admin/settings/bot-check',
      headers: bearer(admin),
      payload: { mode: 'recaptcha', recaptchaSiteKey: 'site-key', recaptchaSecretKey: secret },
    });
    assert.equal(r.statusCode, 200, r.body);
    const changed = ofEvent(t, 'system.settings_changed').find((l) => l.area === 'botCheck')!;
    assert.ok(changed, 'the change was logged');
    assert.deepEqual(changed.keys, ['mode', 'recaptchaSecretKey', 'recaptchaSiteKey']);
    assert.equal(changed.audited, true);
    assert.equal(typeof changed.actorId, 'string');
    assert.equal(t.logs.join('').includes(secret), false, 'the secret reached the log');
    assert.equal(t.logs.join('').includes('site-key'), false, 'no value at all is logged');
    // A refused change is no change: nothing logged for it.
    const n = ofEvent(t, 'system.settings_changed').length;
    const bad = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/bot-check', headers: bearer(admin), payload: { mode: 'nonsense' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(ofEvent(t, 'system.settings_changed').length, n);
  } finally {
    await t.close();
  }
});

test('system log: a failing request and a failing background task log system.error with the error summary only', async () => {
  const t = await makeApp();
  const app = await buildApp(t.s);
  try {
    app.get('/test-boom', { config: { auth: 'public' } }, async () => {
      const e = new TypeError('kaput in the handler') as TypeError & { detail?: string };
      e.detail = 'Key (email)=(victim@example.org) already exists'; // what a driver error may carry
      throw e;
    });
    await app.ready();
    const r = await app.inject({ method: 'GET', url: '/test-boom?token=SECRETVALUE' });
    assert.equal(r.statusCode, 500);
    assert.equal(r.body.includes('kaput'), false, 'no internal detail to the client');
    t.s.tasks.run('test-task', async () => {
      throw new Error('background kaput');
    });
    await t.s.tasks.drain();
    const errors = ofEvent(t, 'system.error');
    const req = errors.find((l) => l.err?.message === 'kaput in the handler')!;
    assert.ok(req, 'the request error was logged');
    assert.equal(req.err.name, 'TypeError');
    assert.equal(req.code, 'INTERNAL_ERROR');
    assert.ok(Array.isArray(req.frames) && req.frames.length > 0, 'where it failed');
    assert.ok(errors.some((l) => l.task === 'test-task' && l.err.message === 'background kaput'));
    const log = t.logs.join('');
    assert.equal(log.includes('victim@example.org'), false, "the error's other properties are not logged");
    assert.equal(log.includes('SECRETVALUE'), false);
    const line = ofEvent(t, 'http.request').find((l) => l.route === '/test-boom')!;
    assert.equal(line.status, 500);
  } finally {
    await app.close();
    await t.close();
  }
});

test('SQL log, LOG_SQL=true: statement text, parameter count and duration; never a password or a record value', async () => {
  const t = await makeApp({ env: { LOG_SQL: 'true' } });
  try {
    const admin = (await login(t)).token;
    const c = await t.app.inject({
      method: 'POST',
      url: '/api/admin/collections',
      headers: bearer(admin),
      payload: { name: 'parcels', fields: [{ name: 'title', type: 'string', required: true }] },
    });
    assert.equal(c.statusCode, 201, c.body);
    const value = `Parcel-${randomBytes(6).toString('hex')}`;
    const rec = await t.app.inject({ method: 'POST', url: '/api/collections/parcels/records', headers: bearer(admin), payload: { title: value } });
    assert.equal(rec.statusCode, 201, rec.body);
    await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: 'Wrong-but-secret-987' } });
    const sqlLines = ofEvent(t, 'sql');
    assert.ok(sqlLines.length > 5, 'statements were logged');
    assert.ok(
      sqlLines.some((l) => /^insert into .*"title"/i.test(l.sql) && l.params > 0),
      'the insert of the record was logged with its parameter count',
    );
    assert.ok(
      sqlLines.some((l) => /from "users"/.test(l.sql)),
      'the sign-in lookup was logged',
    );
    assert.ok(sqlLines.every((l) => typeof l.ms === 'number' && typeof l.params === 'number' && !('parameters' in l)));
    const log = t.logs.join('');
    for (const secret of [value, ROOT.password, 'Wrong-but-secret-987']) assert.equal(log.includes(secret), false, `a value reached the SQL log: ${secret}`);
  } finally {
    await t.close();
  }
});

test('SQL log is off by default: no SQL line', async () => {
  const t = await makeApp({ env: { LOG_LEVEL: 'trace' } });
  try {
    await login(t);
    assert.equal(ofEvent(t, 'sql').length, 0);
    assert.equal(t.logs.join('').includes('select'), false);
  } finally {
    await t.close();
  }
});

test('log settings are checked at boot: a bad destination, a CA file without TLS, a bad facility', () => {
  const base = { APP_KEY: randomBytes(32).toString('base64url'), DATA_DIR: tmpdir() };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env }, { generateKey: false });
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
  };
  assert.match(problems({ LOG_DESTINATION: 'http://collector:514' }).join(), /LOG_DESTINATION must be/);
  assert.match(problems({ LOG_DESTINATION: 'file:relative.log' }).join(), /absolute path/);
  assert.match(problems({ LOG_DESTINATION: 'syslog+tcp://h:99999' }).join(), /port/);
  assert.match(problems({ LOG_SYSLOG_CA_FILE: '/etc/hostname', LOG_DESTINATION: 'syslog+tcp://h:514' }).join(), /needs LOG_DESTINATION=syslog\+tls/);
  assert.match(problems({ LOG_DESTINATION: 'syslog+tls://h:6514', LOG_SYSLOG_CA_FILE: '/no/such/ca.pem' }).join(), /cannot read/);
  assert.match(problems({ LOG_DESTINATION: 'syslog+tls://h:6514', LOG_SYSLOG_FACILITY: 'kern' }).join(), /LOG_SYSLOG_FACILITY/);
  assert.match(problems({ LOG_SQL: 'yes' }).join(), /LOG_SQL must be true or false/);
  assert.deepEqual(problems({ LOG_DESTINATION: 'syslog+tls://[::1]:6514', LOG_SYSLOG_FACILITY: 'local3', LOG_SQL: 'true' }), []);
  const { config, warnings } = loadConfig({ ...base, LOG_DESTINATION: 'syslog+tcp://collector.internal:514' }, { generateKey: false });
  assert.deepEqual(config.logging.destination, { kind: 'syslog', tls: false, host: 'collector.internal', port: 514 });
  assert.ok(warnings.some((w) => w.includes('unencrypted')));
  assert.deepEqual(loadConfig(base, { generateKey: false }).config.logging, {
    sql: false,
    destination: { kind: 'stdout' },
    syslogCaFile: null,
    syslogFacility: 16,
    queueMax: 10_000,
  });
});

test('system log: palisade start logs system.start (version, dialect, address; no secret) and SIGTERM logs system.stop', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-syslog-'));
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const appKey = randomBytes(32).toString('base64url');
  const port = await freePort();
  const env = {
    DATA_DIR: dataDir,
    APP_KEY: appKey,
    PORT: String(port),
    INIT_ROOT_PASSWORD: ROOT.password,
    ...(DIALECT === 'postgres' ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema } : {}),
  };
  try {
    const srv = await startServer(env);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 200);
    await srv.stop();
    const out = srv.output();
    const json = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>);
    const start = json.find((l) => l.event === 'system.start')!;
    assert.ok(start, out);
    assert.match(start.version, /^\d+\.\d+\.\d+/);
    assert.equal(start.dialect, DIALECT);
    assert.deepEqual(start.listen, { host: '127.0.0.1', port });
    assert.equal(start.log.destination, 'stdout');
    const stop = json.find((l) => l.event === 'system.stop')!;
    assert.ok(stop, out);
    assert.equal(stop.signal, 'SIGTERM');
    assert.equal(typeof stop.uptimeSeconds, 'number');
    for (const secret of [appKey, ROOT.password, PG_URL]) assert.equal(out.includes(secret), false, 'a secret reached the start output');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    if (DIALECT === 'postgres') {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }
});
