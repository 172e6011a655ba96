// Application logs (AUDIT-2): the request log (route pattern, status, time, query names only), the
// system log (start, stop, settings changes, errors, each with a stable `event`) and the SQL log
// (LOG_SQL, off by default; text and parameter count, never a value). Bug class: secrets in logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { makeApp, login, bearer, createUser, DIALECT, PG_URL, ROOT, type TestApp } from '../helpers/app.js';
import { freePort, ROOT_DIR, startServer } from '../helpers/cli.js';
import { buildApp } from '../../src/http/app.js';
import { loadConfig, ConfigError } from '../../src/app-config.js';
import { maskedPath, queryNames } from '../../src/http/request-log.js';
import { SECURITY_EVENT_TYPES } from '../../src/audit/events.js';

const lines = (t: TestApp) =>
  t.logs
    .flatMap((l) => l.split('\n'))
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
const ofEvent = (t: TestApp, event: string) => lines(t).filter((l) => l.event === event);

test('request log: one line per request with method, route pattern, status, time and query names; never a query value [ASVS V16.2.1, V16.2.5]', async () => {
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

test('request log by level: at info (the default) every answer has its line; at warn none', async () => {
  for (const level of ['info', 'warn'] as const) {
    const t = await makeApp({ env: { LOG_LEVEL: level } });
    try {
      const before = t.logs.length;
      const r = await t.app.inject({ method: 'GET', url: '/healthz?probe=1' });
      assert.equal(r.statusCode, 200);
      const got = lines({ ...t, logs: t.logs.slice(before) }).filter((l) => l.event === 'http.request');
      if (level === 'info')
        assert.deepEqual(
          got.map((l) => [l.route, l.status, l.query]),
          [['/healthz', 200, ['probe']]],
        );
      else assert.deepEqual(got, []);
    } finally {
      await t.close();
    }
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

test('the log inventory: every event the code logs is in docs/logging.md, every security event type in docs/audit.md, and nothing more [ASVS V16.1.1]', () => {
  // The sources, not .test-build's compiled copies (scripts/build-tests.mjs).
  const root = ROOT_DIR;
  const logging = readFileSync(path.join(root, 'docs/logging.md'), 'utf8');
  const audit = readFileSync(path.join(root, 'docs/audit.md'), 'utf8');
  const logged = new Set<string>();
  for (const f of readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' })) {
    if (!f.endsWith('.ts')) continue;
    for (const m of readFileSync(path.join(root, 'src', f), 'utf8').matchAll(/\bevent: '([a-z_.]+)'/g)) logged.add(m[1]!);
  }
  assert.ok(logged.has('system.error') && logged.has('http.request') && logged.size > 10, 'the scan finds the events');
  const undocumented = [...logged].filter((e) => !logging.includes(`\`${e}\``) && !logging.includes(`"${e}"`));
  assert.deepEqual(undocumented, [], 'logged events missing from docs/logging.md');
  const table = logging.slice(logging.indexOf('## System log'), logging.indexOf('## SQL log'));
  const listed = [...table.matchAll(/^\| ([^|]+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([a-z_]+\.[a-z_.]+)`/g)].map((x) => x[1]!));
  assert.ok(listed.length > 10);
  assert.deepEqual(
    listed.filter((e) => !logged.has(e)),
    [],
    'documented events the code never logs',
  );
  const types = audit.slice(audit.indexOf('## Security event types'), audit.indexOf('## Reading the log'));
  const documented = [...types.matchAll(/^\|[^|]+\| ([^|]+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([a-z_.]+)`/g)].map((x) => x[1]!));
  assert.deepEqual([...documented].sort(), [...SECURITY_EVENT_TYPES].sort(), 'docs/audit.md and SECURITY_EVENT_TYPES list the same types');
});

test('log injection: line breaks and a forged JSON line in a query name stay inside one encoded line [ASVS V16.4.1]', async () => {
  const t = await makeApp();
  try {
    const admin = (await login(t)).token;
    const forged = '\n{"level":50,"event":"system.error","msg":"forged"}\r\n';
    const before = t.logs.length;
    const r = await t.app.inject({ method: 'GET', url: `/api/admin/users?${encodeURIComponent(forged)}=1`, headers: bearer(admin) });
    assert.equal(r.statusCode, 400, 'an unknown query parameter is refused');
    const ok = await t.app.inject({ method: 'GET', url: '/api/admin/users?limit=5', headers: bearer(admin) });
    assert.equal(ok.statusCode, 200, ok.body);
    const written = t.logs
      .slice(before)
      .flatMap((l) => l.split('\n'))
      .filter(Boolean);
    const parsed = written.map((l) => JSON.parse(l) as Record<string, any>); // every line is one whole JSON object
    assert.equal(
      parsed.some((l) => l.msg === 'forged'),
      false,
      'no line was forged',
    );
    const line = parsed.find((l) => l.event === 'http.request' && l.reqId === r.headers['x-request-id'])!;
    assert.deepEqual(line.query, [forged], 'the name is logged as it came, encoded inside its line');
    const legit = parsed.find((l) => l.event === 'http.request' && l.reqId === ok.headers['x-request-id'])!;
    assert.deepEqual(legit.query, ['limit']);
  } finally {
    await t.close();
  }
});

test('refused input is logged: validation, prototype poisoning and the rate limit leave a request refused line with the code and request id; an accepted request none [ASVS V16.3.3]', async () => {
  const t = await makeApp();
  try {
    const admin = (await login(t)).token;
    const refusedLine = (r: { headers: Record<string, unknown> }) => lines(t).find((l) => l.msg === 'request refused' && l.reqId === r.headers['x-request-id']);
    const unknownField = await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(admin),
      payload: { mustChangePassword: false, username: 'mass', password: 'Unused-password-81', role: 'root' },
    });
    assert.equal(unknownField.statusCode, 400);
    const poisoned = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"username":"root","password":"x","__proto__":{"isAdmin":true}}',
    });
    assert.equal(poisoned.statusCode, 400);
    const limited = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(admin), payload: { authPerIp: 1 } });
    assert.equal(limited.statusCode, 200, limited.body);
    const signIn = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: ROOT.username, password: 'Wrong-password-000' },
        remoteAddress: '203.0.113.5',
      });
    assert.equal((await signIn()).statusCode, 401);
    const flooded = await signIn();
    assert.equal(flooded.statusCode, 429);
    for (const [r, code] of [
      [unknownField, 'VALIDATION_FAILED'],
      [poisoned, 'UNSAFE_INPUT'],
      [flooded, 'RATE_LIMITED'],
    ] as const) {
      assert.equal(r.json().error.code, code);
      assert.equal(refusedLine(r)?.code, code, `the ${code} refusal was logged`);
      const req = lines(t).find((l) => l.event === 'http.request' && l.reqId === r.headers['x-request-id'])!;
      assert.equal(req.status, r.statusCode, 'with its request line');
    }
    assert.equal(JSON.stringify(lines(t)).includes('Unused-password-81'), false, 'never the values sent');
    const accepted = await t.app.inject({ method: 'GET', url: '/api/admin/users', headers: bearer(admin) });
    assert.equal(accepted.statusCode, 200);
    assert.equal(refusedLine(accepted), undefined);
  } finally {
    await t.close();
  }
});

test('system log: settings changes name the area and the keys, never a value (write-only fields included) [ASVS V16.2.5]', async () => {
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

test('system log: a failing request and a failing background task log system.error with the error summary only [ASVS V16.3.4, V16.5.1, V16.5.4]', async () => {
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

test('SQL log, LOG_SQL=true: statement text, parameter count and duration; never a password or a record value [ASVS V16.2.5]', async () => {
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
    // The audit chain's append runs its fixed statements outside Kysely on SQLite (D463): they are logged all the same.
    // (On PostgreSQL the entry goes to audit_pending, which a trigger links at COMMIT, D464.)
    assert.ok(
      sqlLines.some((l) => /insert into (audit_log|audit_pending) \(/.test(l.sql) && l.params > 0),
      'the change entry of the record was logged',
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
  // Plain TCP to another host only where ALLOW_PLAINTEXT names syslog (D433), with a warning.
  assert.match(problems({ LOG_DESTINATION: 'syslog+tcp://collector.internal:514' }).join(), /LOG_DESTINATION reaches collector\.internal without TLS/);
  const { config, warnings } = loadConfig(
    { ...base, LOG_DESTINATION: 'syslog+tcp://collector.internal:514', ALLOW_PLAINTEXT: 'syslog' },
    { generateKey: false },
  );
  assert.deepEqual(config.logging.destination, { kind: 'syslog', tls: false, host: 'collector.internal', port: 514 });
  assert.ok(warnings.some((w) => w.includes('without TLS')));
  assert.deepEqual(loadConfig(base, { generateKey: false }).config.logging, {
    sql: false,
    destination: { kind: 'stdout' },
    syslogCaFile: null,
    syslogClientCert: null,
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

test('last resort: a rejection nobody awaited is logged and the server serves on; an uncaught exception is logged, then the server stops and exits 1 [ASVS V16.5.4, V16.3.4]', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-lastresort-'));
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const port = await freePort();
  // Stands for a bug in detached work: the first SIGUSR2 rejects a promise nobody awaits, the second throws.
  const fault = path.join(dataDir, 'fault.mjs');
  writeFileSync(
    fault,
    "let n = 0;\nprocess.on('SIGUSR2', () => {\n  if (n++ === 0) Promise.reject(new Error('stray rejection kaput'));\n  else throw new Error('stray exception kaput');\n});\n",
  );
  const env = {
    DATA_DIR: dataDir,
    APP_KEY: randomBytes(32).toString('base64url'),
    PORT: String(port),
    INIT_ROOT_PASSWORD: ROOT.password,
    NODE_OPTIONS: `--import ${pathToFileURL(fault).href}`,
    ...(DIALECT === 'postgres' ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema } : {}),
  };
  const json = (out: string) =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>);
  try {
    const srv = await startServer(env);
    const exited = new Promise<number | null>((resolve) => srv.child.once('exit', (code) => resolve(code)));
    srv.child.kill('SIGUSR2');
    const until = Date.now() + 10_000;
    while (!json(srv.output()).some((l) => l.err?.message === 'stray rejection kaput') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const rejected = json(srv.output()).find((l) => l.err?.message === 'stray rejection kaput')!;
    assert.ok(rejected, srv.output());
    assert.equal(rejected.event, 'system.error');
    assert.equal(rejected.task, 'unhandled rejection');
    assert.ok(rejected.frames.length > 0, 'where it failed');
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'the server serves on');

    srv.child.kill('SIGUSR2');
    assert.equal(await exited, 1, 'a supervisor sees the failure and restarts it');
    const lines = json(srv.output());
    const fatal = lines.find((l) => l.err?.message === 'stray exception kaput')!;
    assert.ok(fatal, srv.output());
    assert.equal(fatal.event, 'system.error');
    assert.equal(fatal.task, 'uncaught exception');
    assert.equal(fatal.level, 60);
    const stop = lines.find((l) => l.event === 'system.stop')!;
    assert.ok(stop, 'it stopped in order, the log flushed');
    assert.equal(stop.signal, null);
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
