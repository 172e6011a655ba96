import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DIALECT, PG_URL, ROOT, bearer, cliEnv, createUser, login, makeApp, type TestApp } from '../helpers/app.js';
import { SETTINGS_AREAS, type Env } from '../../src/app-config.js';
import { Doctor } from '../../src/doctor/index.js';
import { cli, freePort, startServer } from '../helpers/cli.js';
import { notesWorld, createKey } from '../auth/api-keys/world.js';

type Check = { id: string; status: 'pass' | 'warn' | 'fail'; detail: string; fix: string; title: string };

async function doctor(t: TestApp, token: string): Promise<Map<string, Check>> {
  const r = await t.app.inject({ method: 'GET', url: '/api/admin/doctor', headers: bearer(token) });
  assert.equal(r.statusCode, 200, r.body);
  const body = r.json() as { worst: string; checks: Check[] };
  for (const c of body.checks) {
    assert.ok(c.title && c.detail, `${c.id} says what it found`);
    assert.equal(c.fix === '', c.status === 'pass', `${c.id}: a fix exactly when it does not pass`);
  }
  return new Map(body.checks.map((c) => [c.id, c]));
}

async function withApp(env: Env, fn: (t: TestApp, root: string) => Promise<void>, redis = false): Promise<void> {
  const t = await makeApp({ env, redis });
  try {
    await fn(t, (await login(t)).token);
  } finally {
    await t.close();
  }
}

test('doctor: administrators only; never a secret in the report', async () => {
  await withApp({}, async (t, root) => {
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/doctor' })).statusCode, 401);
    await createUser(t, root, 'viewer', 'Lantern-orbit-2291');
    const viewer = (await login(t, 'viewer', 'Lantern-orbit-2291')).token;
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/doctor', headers: bearer(viewer) })).statusCode, 403);
    const r = await t.app.inject({ method: 'GET', url: '/api/admin/doctor', headers: bearer(root) });
    assert.equal(r.statusCode, 200);
    for (const secret of [t.shared.appKey, ROOT.password]) assert.ok(!r.body.includes(secret), 'no secret value in the report');
  });
});

test('doctor: the first administrator with the initial password and no second factor fails; a changed password leaves a warning', async () => {
  await withApp({}, async (t, root) => {
    const c = (await doctor(t, root)).get('root-password')!;
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /initial|created/);
    t.clock.advance(60);
    const changed = await t.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(root),
      payload: { currentPassword: ROOT.password, newPassword: 'Granite-harbour-7713-lamp' },
    });
    assert.ok(changed.statusCode < 300, changed.body);
    const after = (await doctor(t, (await login(t, ROOT.username, 'Granite-harbour-7713-lamp')).token)).get('root-password')!;
    assert.equal(after.status, 'warn', 'changed, but no second factor yet');
    assert.match(after.detail, /no second factor/);
  });
});

test('doctor: APP_KEY, data directory and secrets given as plain variables', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-doctor-'));
  try {
    const keyFile = path.join(dir, 'app.key');
    writeFileSync(keyFile, randomBytes(48).toString('base64url'), { mode: 0o600 });
    await withApp({ APP_KEY: undefined, APP_KEY_FILE: keyFile }, async (t, root) => {
      let r = await doctor(t, root);
      assert.equal(r.get('app-key')!.status, 'pass');
      assert.doesNotMatch(r.get('secrets-env')!.detail, /APP_KEY/, 'INIT_ROOT_PASSWORD is still given directly by the test; APP_KEY no longer is');
      assert.equal(r.get('data-dir')!.status, 'pass');
      chmodSync(keyFile, 0o644);
      chmodSync(t.shared.dataDir, 0o755);
      r = await doctor(t, root);
      assert.equal(r.get('app-key')!.status, 'fail');
      assert.match(r.get('app-key')!.fix, /chmod 600/);
      assert.equal(r.get('data-dir')!.status, 'fail');
      chmodSync(t.shared.dataDir, 0o750);
      assert.equal((await doctor(t, root)).get('data-dir')!.status, 'warn');
      chmodSync(t.shared.dataDir, 0o700);
    });
    // The test default gives APP_KEY and the root password directly.
    await withApp({}, async (t, root) => {
      const r = await doctor(t, root);
      assert.equal(r.get('app-key')!.status, 'warn');
      assert.equal(r.get('secrets-env')!.status, 'warn');
      assert.match(r.get('secrets-env')!.detail, /APP_KEY, INIT_ROOT_PASSWORD/);
      assert.ok(!r.get('secrets-env')!.detail.includes(t.shared.appKey));
      assert.equal(r.get('init-root-password')!.status, 'warn');
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('doctor: HTTPS, forced redirect and HSTS', async () => {
  await withApp({}, async (t, root) => {
    const r = await doctor(t, root);
    assert.equal(r.get('https')!.status, 'pass', 'loopback only');
    assert.equal(r.get('force-https')!.status, 'pass');
  });
  await withApp({ HOST: '0.0.0.0' }, async (t, root) => {
    const r = await doctor(t, root);
    assert.equal(r.get('https')!.status, 'fail');
    assert.match(r.get('https')!.fix, /TLS_CERT_FILE/);
    assert.equal(r.get('hsts')!.status, 'warn');
  });
  await withApp({ HOST: '0.0.0.0', TRUSTED_PROXIES: '127.0.0.1', PUBLIC_URL: 'https://palisade.example.test' }, async (t, root) => {
    const r = await doctor(t, root);
    assert.equal(r.get('https')!.status, 'pass');
    assert.equal(r.get('force-https')!.status, 'pass');
    assert.equal(r.get('hsts')!.status, 'pass');
  });
  await withApp(
    { HOST: '0.0.0.0', TRUSTED_PROXIES: '127.0.0.1', PUBLIC_URL: 'https://palisade.example.test', FORCE_HTTPS: 'false', HSTS_MAX_AGE: '1d' },
    async (t, root) => {
      const r = await doctor(t, root);
      assert.equal(r.get('force-https')!.status, 'fail');
      assert.equal(r.get('hsts')!.status, 'warn');
    },
  );
});

test('doctor: policies switched off or lifted, API keys that never expire, the audit chain', async () => {
  await withApp({}, async (t, root) => {
    let r = await doctor(t, root);
    // makeApp lifts the rate limits for tests: the doctor sees it.
    assert.equal(r.get('rate-limits')!.status, 'warn');
    assert.equal(r.get('password-policy')!.status, 'pass');
    assert.equal(r.get('api-keys')!.status, 'pass');
    assert.equal(r.get('audit-verified')!.status, 'warn');
    assert.equal(r.get('settings')!.status, 'pass');
    assert.equal(r.get('lockout')!.status, 'pass');

    const patch = (url: string, payload: object) => t.app.inject({ method: 'PATCH', url, headers: bearer(root), payload });
    assert.equal((await patch('/api/admin/settings/password-policy', { blocklist: false })).statusCode, 200);
    assert.equal((await patch('/api/admin/settings/rate-limits', { readPerIp: 300 })).statusCode, 200);
    assert.equal((await patch('/api/admin/settings/lockout', { maxAttempts: 50 })).statusCode, 200);
    const { ann } = await notesWorld(t, root);
    assert.equal((await patch('/api/admin/settings/api-keys', { allowNever: true })).statusCode, 200);
    assert.equal((await createKey(t, ann, { name: 'forever', expiresIn: null })).statusCode, 201);
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/admin/audit/verify', headers: bearer(root), payload: {} })).statusCode, 200);
    r = await doctor(t, root);
    assert.equal(r.get('password-policy')!.status, 'fail');
    assert.match(r.get('password-policy')!.detail, /blocklist/);
    assert.equal(r.get('settings')!.status, 'warn', 'the area itself says the blocklist is off');
    assert.equal(r.get('api-keys')!.status, 'warn');
    assert.equal(r.get('lockout')!.status, 'warn');
    assert.match(r.get('lockout')!.detail, /50 failed attempts/);
    assert.match(r.get('api-keys')!.detail, /"forever"/);
    assert.equal(r.get('audit-verified')!.status, 'pass');
    t.clock.advance(8 * 86400);
    assert.equal((await doctor(t, (await login(t)).token)).get('audit-verified')!.status, 'warn', 'older than a week');
  });
});

test('doctor: database, Redis and Node.js', async () => {
  await withApp(
    {},
    async (t, root) => {
      const r = await doctor(t, root);
      assert.equal(r.get('database-tls')!.status, 'pass', 'SQLite, or PostgreSQL on this host');
      if (DIALECT === 'postgres') assert.equal(r.get('database-role')!.status, 'fail', 'the test database user is the superuser postgres');
      else assert.equal(r.get('database-role'), undefined);
      assert.equal(r.get('redis-auth')!.status, 'pass', 'Redis on this host');
      // The local Redis runs without snapshots or append-only file (.ci/run): a warning, not a failure.
      assert.ok(['pass', 'warn'].includes(r.get('redis-persistence')!.status));
      const major = Number(process.versions.node.split('.')[0]);
      assert.equal(r.get('node')!.status, major <= 20 ? 'fail' : 'pass', `Node ${major} on ${new Date(t.clock.now()).toISOString()}`);
    },
    true,
  );
});

test('palisade doctor: the report on the command line, exit code by the worst check', async () => {
  const t = await makeApp();
  try {
    const text = await cli(['doctor'], cliEnv(t));
    assert.equal(text.code, 2, text.stderr);
    assert.match(text.stdout, /^FAIL {2}root-password: /m);
    assert.match(text.stdout, /^ {6}fix: /m);
    assert.match(text.stdout, /passed, \d+ warnings, \d+ failed: not ready for production/);
    const json = await cli(['doctor', '--json'], cliEnv(t));
    assert.equal(json.code, 2);
    const body = JSON.parse(json.stdout) as { worst: string; checks: Check[] };
    assert.equal(body.worst, 'fail');
    assert.ok(body.checks.some((c) => c.id === 'backups' && c.status === 'warn'));
    assert.ok(!json.stdout.includes(t.shared.appKey));
  } finally {
    await t.close();
  }
});

test('palisade start: every check that does not pass is a warning line at each boot', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-doctor-boot-'));
  const schema = DIALECT === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined;
  const env: Env = {
    DATA_DIR: dataDir,
    APP_KEY: randomBytes(32).toString('base64url'),
    PORT: String(await freePort()),
    LOG_LEVEL: 'info',
    INIT_ROOT_USERNAME: ROOT.username,
    ...(schema ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema } : {}),
  };
  const srv = await startServer({ ...env, INIT_ROOT_PASSWORD: ROOT.password });
  try {
    let out = '';
    for (let i = 0; i < 100 && !/"event":"doctor\.warning".*"check":"backups"/.test(out); i++) {
      await new Promise((r) => setTimeout(r, 100));
      out = srv.output();
    }
    const lines = out.split('\n').filter((l) => l.includes('"event":"doctor.warning"'));
    assert.ok(
      lines.some((l) => l.includes('"check":"root-password"') && l.includes('"status":"fail"')),
      out.slice(-2000),
    );
    assert.ok(lines.some((l) => l.includes('"check":"backups"')));
    assert.ok(!lines.some((l) => l.includes('"status":"pass"')), 'passing checks are not logged');
    assert.ok(!out.includes(ROOT.password) && !out.includes(env.APP_KEY!), 'no secret in the log');
  } finally {
    await srv.stop();
    rmSync(dataDir, { recursive: true, force: true });
    if (schema) {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }
});

test('doctor: proxies and /metrics open to anyone fail; a token passes', async () => {
  await withApp({ HOST: '0.0.0.0', TRUSTED_PROXIES: '0.0.0.0/0' }, async (t, root) => {
    const r = await doctor(t, root);
    assert.equal(r.get('trusted-proxies')!.status, 'fail');
    assert.equal(r.get('https')!.status, 'fail');
  });
  await withApp({ TRUSTED_PROXIES: '10.0.0.0/8' }, async (t, root) => {
    assert.equal((await doctor(t, root)).get('trusted-proxies'), undefined, 'a proxy subnet is fine');
  });
  await withApp({ METRICS_ALLOW: '127.0.0.1' }, async (t, root) => {
    assert.equal((await doctor(t, root)).get('metrics')!.status, 'warn');
  });
  await withApp({ METRICS_ALLOW: '0.0.0.0/0' }, async (t, root) => {
    assert.equal((await doctor(t, root)).get('metrics')!.status, 'fail');
  });
  await withApp({ METRICS_TOKEN: randomBytes(32).toString('base64url') }, async (t, root) => {
    const r = await doctor(t, root);
    assert.equal(r.get('metrics')!.status, 'pass');
    assert.match(r.get('secrets-env')!.detail, /METRICS_TOKEN/, 'a token given directly is a plain secret');
  });
});

test('doctor reads DATABASE_URL as pg does, finds the first administrator whatever its name, and sees passwords in URL queries', async () => {
  await withApp({}, async (t) => {
    const s = t.s;
    const run = async (config: object, env: Env = {}) => {
      const d = new Doctor({
        config: { ...s.config, ...config } as never,
        env,
        db: s.db,
        dialect: 'postgres',
        now: s.now,
        settings: s.settings,
        apiKeys: s.apiKeys,
        securityLog: s.securityLog,
        areas: SETTINGS_AREAS,
      });
      return new Map((await d.run()).checks.map((c) => [c.id, c]));
    };
    const tls = async (url: string, env: Env = {}) => (await run({ databaseUrl: url }, env)).get('database-tls')!;
    assert.equal((await tls('postgres://p:pw@localhost/x?host=db.prod.example.net')).status, 'fail', 'pg connects to the host of the query');
    assert.equal((await tls('postgres://p@db.prod.example.net/x?sslmode=verify-full&sslmode=disable')).status, 'fail', 'pg takes the last sslmode');
    assert.equal((await tls('postgres://p@127.db.prod.example.net/x')).status, 'fail', 'a name is not a loopback address');
    assert.equal((await tls('postgres:///x', { PGHOST: 'db.prod.example.net' })).status, 'fail', 'PGHOST when the URL has no host');
    assert.equal((await tls('postgres://p@db.prod.example.net/x?sslmode=verify-full')).status, 'pass');
    assert.equal((await tls('postgres://p@db.prod.example.net/x?sslmode=no-verify')).status, 'warn');
    assert.equal((await tls('postgres://p@127.0.0.1/x')).status, 'pass');
    const secrets = (await run({}, { DATABASE_URL: 'postgres://p@db/x?password=hunter2', SMS_KANNEL_PASSWORD: 's3cret' })).get('secrets-env')!;
    assert.equal(secrets.status, 'warn');
    assert.match(secrets.detail, /DATABASE_URL, SMS_KANNEL_PASSWORD/);
    assert.ok(!secrets.detail.includes('hunter2') && !secrets.detail.includes('s3cret'));
    // INIT_ROOT_USERNAME is read only at the first start: unset or changed later, the first administrator is still found.
    const root = (await run({ initRoot: { ...s.config.initRoot, username: 'someone-else' } })).get('root-password')!;
    assert.equal(root.status, 'fail');
    assert.match(root.detail, /"root"/);
  });
});
