import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { X509Certificate, randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import { Clock, DIALECT, PG_URL, ROOT, bearer, cliEnv, createUser, login, makeApp, type MakeOptions, type TestApp } from '../helpers/app.js';
import { SETTINGS_AREAS, type Env } from '../../src/app-config.js';
import { Doctor, NODE_EOL } from '../../src/doctor/index.js';
import { certificateVerdict } from '../../src/doctor/certificate.js';
import { cli, freePort, startServer } from '../helpers/cli.js';
import { notesWorld, createKey } from '../auth/api-keys/world.js';
import { totp } from '../auth/mfa/world.js';
import { asDba } from '../helpers/audit.js';

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

async function withApp(env: Env, fn: (t: TestApp, root: string) => Promise<void>, o: Omit<MakeOptions, 'env'> = {}): Promise<void> {
  const t = await makeApp({ ...o, env });
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
    const token = (await login(t, ROOT.username, 'Granite-harbour-7713-lamp')).token;
    const started = await t.app.inject({
      method: 'POST',
      url: '/api/auth/mfa/totp',
      headers: bearer(token),
      payload: { password: 'Granite-harbour-7713-lamp' },
    });
    assert.equal(started.statusCode, 200, started.body);
    const confirmed = await t.app.inject({
      method: 'POST',
      url: '/api/auth/mfa/totp/confirm',
      headers: bearer(token),
      payload: { code: totp(t, started.json().secret) },
    });
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    const both = (await doctor(t, token)).get('root-password')!;
    assert.equal(both.status, 'pass');
    assert.equal(both.detail, '"root" changed the initial password and has a second factor');
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

test('doctor: secrets.key readable by others fails, 0600 passes; SECRETS_KEY as a plain variable warns; backups not configured warn', async () => {
  await withApp({}, async (t, root) => {
    const file = path.join(t.shared.dataDir, 'secrets.key');
    let r = await doctor(t, root);
    assert.equal(r.get('secrets-key')!.status, 'pass');
    assert.match(r.get('secrets-key')!.detail, /mode 0600/);
    assert.doesNotMatch(r.get('secrets-env')!.detail, /SECRETS_KEY/);
    chmodSync(file, 0o644);
    try {
      r = await doctor(t, root);
      assert.equal(r.get('secrets-key')!.status, 'fail');
      assert.match(r.get('secrets-key')!.detail, /readable by others \(mode 0644\)/);
      assert.match(r.get('secrets-key')!.fix, /chmod 600/);
    } finally {
      chmodSync(file, 0o600);
    }
    assert.equal(r.get('backups')!.status, 'warn');
    assert.match(r.get('backups')!.detail, /not configured/);
    assert.match(r.get('backups')!.fix, /BACKUP_PASSPHRASE_FILE/);
  });
  const key = randomBytes(32).toString('base64url');
  await withApp({ SECRETS_KEY: key }, async (t, root) => {
    const r = await doctor(t, root);
    assert.equal(r.get('secrets-env')!.status, 'warn');
    assert.match(r.get('secrets-env')!.detail, /SECRETS_KEY/);
    assert.match(r.get('secrets-env')!.fix, /SECRETS_KEY_FILE/);
    assert.ok(!JSON.stringify([...r.values()]).includes(key), 'never the key itself');
    assert.equal(r.has('secrets-key'), false);
  });
});

test('doctor: an APP_KEY file owned by another user, or in a directory others can write or own, fails; owned by Palisade’s user in a closed directory passes', {
  skip: process.getuid?.() !== 0 && 'needs root to give a file to another user',
}, async () => {
  const base = mkdtempSync(path.join(tmpdir(), 'palisade-doctor-key-'));
  const dir = path.join(base, 'keys');
  const keyFile = path.join(dir, 'app.key');
  const nobody = 65534;
  try {
    chmodSync(base, 0o700);
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(keyFile, randomBytes(48).toString('base64url'), { mode: 0o600 });
    await withApp({ APP_KEY: undefined, APP_KEY_FILE: keyFile }, async (t, root) => {
      const key = async () => (await doctor(t, root)).get('app-key')!;
      assert.equal((await key()).status, 'pass');
      chownSync(keyFile, nobody, nobody);
      let c = await key();
      assert.equal(c.status, 'fail');
      assert.equal(c.detail, `the key file ${keyFile} is owned by uid ${nobody}, not by the user Palisade runs as (uid 0): that user can read or replace it`);
      chownSync(keyFile, 0, 0);
      assert.equal((await key()).status, 'pass');
      // A directory above the file that others may write (no sticky bit): the file can be replaced.
      chmodSync(dir, 0o777);
      c = await key();
      assert.equal(c.status, 'fail');
      assert.equal(c.detail, `the directory ${dir} is writable by other users (mode 0777, no sticky bit): another user can replace the key file`);
      assert.equal(c.fix, `chmod go-w ${dir} (or move the key to a directory only root and Palisade's user can write).`);
      chmodSync(dir, 0o700);
      chmodSync(base, 0o770);
      assert.match((await key()).detail, new RegExp(`^the directory ${base} is writable by other users \\(mode 0770`), 'any directory above, group too');
      // With the sticky bit (as /tmp) others cannot remove or rename a file they do not own.
      chmodSync(base, 0o1777);
      assert.equal((await key()).status, 'pass');
      chmodSync(base, 0o700);
      chownSync(dir, nobody, nobody);
      c = await key();
      assert.equal(c.status, 'fail');
      assert.match(c.detail, new RegExp(`^the directory ${dir} is owned by uid ${nobody}, neither root nor Palisade's user`));
      chownSync(dir, 0, 0);
      assert.equal((await key()).status, 'pass');
    });
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('doctor: HTTPS, forced redirect and HSTS [ASVS V12.2.1]', async () => {
  await withApp({}, async (t, root) => {
    const r = await doctor(t, root);
    assert.equal(r.get('https')!.status, 'pass', 'loopback only');
    assert.equal(r.get('force-https')!.status, 'pass');
    assert.equal(r.get('cookies')!.status, 'pass');
    assert.equal(r.get('trusted-proxies')!.status, 'pass');
    assert.equal(r.get('trusted-proxies')!.detail, 'no proxy is trusted: forwarding headers are ignored');
  });
  await withApp({ COOKIE_INSECURE_DEV: 'true' }, async (t, root) => {
    const c = (await doctor(t, root)).get('cookies')!;
    assert.equal(c.status, 'warn');
    assert.equal(c.detail, 'COOKIE_INSECURE_DEV=true: cookies without Secure');
  });
  // HSTS configured but no answer is over HTTPS (no TLS, no proxy, not loopback): it is never sent.
  await withApp({ HOST: '0.0.0.0', PUBLIC_URL: 'https://palisade.example.test' }, async (t, root) => {
    const c = (await doctor(t, root)).get('hsts')!;
    assert.equal(c.status, 'fail');
    assert.equal(c.detail, 'no answer is over HTTPS, so HSTS is never sent');
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
    assert.equal(r.get('api-keys')!.detail, '1 live key never expires', 'a count, never the names (the report reaches logs)');
    assert.match(r.get('api-keys')!.fix, /GET \/api\/admin\/api-keys/);
    assert.equal(r.get('audit-verified')!.status, 'pass');
    t.clock.advance(8 * 86400);
    const later = (await login(t)).token;
    assert.equal((await doctor(t, later)).get('audit-verified')!.status, 'warn', 'older than a week');
    // An entry altered behind Palisade's back (as a database administrator could): the next verification fails.
    const ev = await t.s.db.selectFrom('security_events').select('seq').where('seq', 'is not', null).orderBy('seq').limit(1).executeTakeFirstOrThrow();
    await asDba(t.s.db, () => sql`update security_events set ip = '203.0.113.66' where seq = ${ev.seq}`.execute(t.s.db));
    const verify = await t.app.inject({ method: 'POST', url: '/api/admin/audit/verify', headers: bearer(later), payload: {} });
    assert.equal(verify.json().ok, false, verify.body);
    const broken = (await doctor(t, later)).get('audit-verified')!;
    assert.equal(broken.status, 'fail');
    assert.match(broken.detail, /found the chain broken/);
  });
  await withApp(
    {},
    async (t, root) => {
      const c = (await doctor(t, root)).get('rate-limits')!;
      assert.equal(c.status, 'pass');
      assert.equal(c.detail, 'every budget within 100 times its default');
    },
    { realRateLimits: true },
  );
});

test('doctor: the database and Redis on this host', async () => {
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
    },
    { redis: true },
  );
});

test('doctor: a service reached with a default password (admin/admin, tester/foobar, the user name again) fails, naming the variable and never the password; random ones pass [ASVS V13.2.3]', async () => {
  const mail = { MAIL_FROM: 'palisade@example.org', PUBLIC_URL: 'https://palisade.example.test' };
  const kannel = { SMS_KANNEL_URL: 'http://127.0.0.1:13013/cgi-bin/sendsms', SMS_FROM: 'Palisade' };
  await withApp(
    { ...mail, ...kannel, SMTP_URL: 'smtp://admin:Admin@127.0.0.1:2525', SMS_KANNEL_USER: 'tester', SMS_KANNEL_PASSWORD: 'foobar' },
    async (t, root) => {
      const r = await doctor(t, root);
      const c = r.get('service-credentials')!;
      assert.equal(c.status, 'fail');
      assert.equal(c.detail, 'SMTP_URL, SMS_KANNEL_PASSWORD: a default or well-known password, or the user name again');
      const report = (await t.app.inject({ method: 'GET', url: '/api/admin/doctor', headers: bearer(root) })).body;
      assert.equal(/Admin@|foobar/.test(report), false, 'a password in the report');
    },
  );
  await withApp(
    { ...mail, ...kannel, SMTP_URL: 'smtp://mailer:mailer@127.0.0.1:2525', SMS_KANNEL_USER: 'palisade', SMS_KANNEL_PASSWORD: 'Kq3v-8zWm-Lr2p' },
    async (t, root) => {
      assert.equal((await doctor(t, root)).get('service-credentials')!.detail, 'SMTP_URL: a default or well-known password, or the user name again');
    },
  );
  await withApp(
    { ...mail, ...kannel, SMTP_URL: 'smtp://mailer:Hx7-pq2Rt9-Vb4@127.0.0.1:2525', SMS_KANNEL_USER: 'palisade', SMS_KANNEL_PASSWORD: 'Kq3v-8zWm-Lr2p' },
    async (t, root) => {
      const c = (await doctor(t, root)).get('service-credentials')!;
      assert.equal(c.status, 'pass', c.detail);
      assert.equal(c.detail, 'no service password is a well-known default');
    },
  );
});

test('doctor: stored secrets past their rotation schedule warn by name (service passwords after 90 days, the rest and the data key after 365); setting them again passes [ASVS V13.3.4]', async () => {
  await withApp({}, async (t, first) => {
    // Tokens do not live a year: sign in again after each jump of the clock.
    let root = first;
    const put = async (name: string, value: string) =>
      assert.equal((await t.app.inject({ method: 'PUT', url: `/api/admin/secrets/${name}`, headers: bearer(root), payload: { value } })).statusCode, 200);
    await put('smtp.password', 'Sm7p-first-value');
    await put('partner.token', 'Pt4-first-value');
    let c = (await doctor(t, root)).get('secrets-age')!;
    assert.equal(c.status, 'pass', c.detail);
    assert.equal(c.detail, '2 stored, none past its schedule');
    t.clock.advance(91 * 86_400);
    root = (await login(t)).token;
    c = (await doctor(t, root)).get('secrets-age')!;
    assert.equal(c.status, 'warn');
    assert.equal(c.detail, 'due for rotation: smtp.password (service passwords every 90 days, the rest every 365)');
    t.clock.advance(275 * 86_400);
    root = (await login(t)).token;
    c = (await doctor(t, root)).get('secrets-age')!;
    assert.equal(c.detail, 'due for rotation: partner.token, smtp.password, the data key (service passwords every 90 days, the rest every 365)');
    assert.equal(/first-value/.test(JSON.stringify(c)), false);
    await put('smtp.password', 'Sm7p-second-value');
    await put('partner.token', 'Pt4-second-value');
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/admin/secrets/rotate-key', headers: bearer(root) })).statusCode, 200);
    c = (await doctor(t, root)).get('secrets-age')!;
    assert.equal(c.status, 'pass', c.detail);
  });
});

test('doctor: the Node.js line against its end of life, on the doctor’s clock: passes before, warns within 90 days, fails from the date', async () => {
  const major = Number(process.versions.node.split('.')[0]);
  const eol = NODE_EOL[major];
  assert.ok(eol, `Node.js ${major} is missing from NODE_EOL (src/doctor/index.ts): add its end-of-life date`);
  const DAY = 86_400;
  const clock = new Clock();
  clock.t = Date.parse(eol) - 200 * DAY * 1000;
  await withApp(
    {},
    async (t, root) => {
      const node = async () => (await doctor(t, (await login(t)).token)).get('node')!;
      let c = (await doctor(t, root)).get('node')!;
      assert.equal(c.status, 'pass');
      assert.equal(c.detail, `Node.js ${process.versions.node} (supported until ${eol})`);
      t.clock.advance(120 * DAY);
      c = await node();
      assert.equal(c.status, 'warn', '80 days before the end');
      assert.equal(c.detail, `Node.js ${process.versions.node}: end of life on ${eol}`);
      t.clock.advance(80 * DAY);
      c = await node();
      assert.equal(c.status, 'fail', 'the day itself');
      assert.equal(c.detail, `Node.js ${process.versions.node}: end of life since ${eol}`);
    },
    { clock },
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
    const byId = (out: string) => new Map((JSON.parse(out) as { checks: Check[] }).checks.map((c) => [c.id, c]));
    assert.equal(byId(json.stdout).get('secrets-env')!.status, 'warn', 'APP_KEY given directly');
    assert.equal(byId(json.stdout).get('secrets-env')!.detail.startsWith('given directly: APP_KEY '), true);
    // The same deployment with the key in a file and no INIT_ROOT_PASSWORD: no secret in the environment.
    const keyFile = path.join(t.shared.dataDir, 'from-file.key');
    writeFileSync(keyFile, t.shared.appKey, { mode: 0o600 });
    const filed = await cli(['doctor', '--json'], { ...cliEnv(t), APP_KEY: undefined, APP_KEY_FILE: keyFile });
    assert.equal(filed.code, 2, filed.stderr);
    const checks = byId(filed.stdout);
    assert.equal(checks.get('secrets-env')!.status, 'pass');
    assert.equal(checks.get('secrets-env')!.detail, 'no secret is given as a plain environment variable');
    assert.equal(checks.get('init-root-password')!.status, 'pass');
    assert.equal(checks.get('app-key')!.status, 'pass');
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
  // A key that never expires, made beforehand on the same storage: its name must not reach the log.
  const keyName = `payroll-export-${randomBytes(4).toString('hex')}`;
  const before = await makeApp({ env: { DATA_DIR: dataDir, APP_KEY: env.APP_KEY, ...(schema ? { DATABASE_SCHEMA: schema } : {}) } });
  try {
    const admin = (await login(before)).token;
    const { ann } = await notesWorld(before, admin);
    const allow = await before.app.inject({ method: 'PATCH', url: '/api/admin/settings/api-keys', headers: bearer(admin), payload: { allowNever: true } });
    assert.equal(allow.statusCode, 200, allow.body);
    assert.equal((await createKey(before, ann, { name: keyName, expiresIn: null })).statusCode, 201);
  } finally {
    await before.close();
  }
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
    const keys = lines.find((l) => l.includes('"check":"api-keys"'));
    assert.ok(keys, out.slice(-2000));
    assert.equal(JSON.parse(keys).detail, '1 live key never expires');
    assert.ok(!out.includes(keyName), 'no API key name in the log');
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
    const c = (await doctor(t, root)).get('trusted-proxies')!;
    assert.equal(c.status, 'pass', 'a proxy subnet is fine');
    assert.equal(c.detail, 'trusts 10.0.0.0/8');
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
    // TLS that the URL does not ask to verify: warned whatever node-postgres's current reading is.
    for (const q of ['ssl=true', 'ssl=1', 'sslmode=require', 'sslmode=prefer', 'sslmode=verify-ca', 'uselibpqcompat=true&sslmode=require'])
      assert.equal((await tls(`postgres://p@db.prod.example.net/x?${q}`)).status, 'warn', q);
    assert.equal((await tls('postgres://p@db.prod.example.net/x?ssl=0')).status, 'fail');
    assert.equal((await tls('postgres://p@db.prod.example.net/x?uselibpqcompat=true&sslmode=verify-full')).status, 'pass');
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

test('doctor: the database signed in to with a client certificate passes, with a password warns naming the variable and never the password [ASVS V13.2.1]', async () => {
  await withApp({}, async (t) => {
    const s = t.s;
    const auth = async (config: object, env: Env = {}) => {
      const d = new Doctor({
        config: { ...s.config, databaseMigrationUrl: null, ...config } as never,
        env,
        db: s.db,
        dialect: 'postgres',
        now: s.now,
        settings: s.settings,
        apiKeys: s.apiKeys,
        securityLog: s.securityLog,
        areas: SETTINGS_AREAS,
      });
      const c = (await d.run()).checks.find((x) => x.id === 'database-auth')!;
      return { status: c.status, detail: c.detail };
    };
    // The files are not read: the doctor says how the URL signs in (the start checked the files).
    const cert = 'postgres://app@db.internal/x?sslmode=verify-full&sslrootcert=/etc/palisade/ca.crt&sslcert=/etc/palisade/app.crt&sslkey=/etc/palisade/app.key';
    assert.deepEqual(await auth({ databaseUrl: cert }), { status: 'pass', detail: 'DATABASE_URL: a client certificate' });
    const pw = await auth({
      databaseUrl: 'postgres://app:Hx7-pq2Rt9-Vb4@db.internal/x?sslmode=verify-full',
      databaseMigrationUrl: cert.replace('app@', 'owner@'),
    });
    assert.deepEqual(pw, { status: 'warn', detail: 'DATABASE_URL: signs in with a password, a credential that does not change by itself' });
    assert.equal(
      (await auth({ databaseUrl: cert, databaseMigrationUrl: 'postgres://owner@db.internal/x?password=Zq8-Lm3' })).detail.split(':')[0],
      'DATABASE_MIGRATION_URL',
    );
    assert.equal((await auth({ databaseUrl: 'postgres://app@db.internal/x' }, { PGPASSWORD: 'Kq3v-8zWm' })).status, 'warn', 'PGPASSWORD is a password too');
    assert.deepEqual(await auth({ databaseUrl: 'postgres://app@127.0.0.1/x' }), {
      status: 'pass',
      detail: 'DATABASE_URL: no password or certificate (pg_hba.conf decides: peer, trust or ~/.pgpass)',
    });
    const report = JSON.stringify(await auth({ databaseUrl: 'postgres://app:Hx7-pq2Rt9-Vb4@db.internal/x' }));
    assert.ok(!report.includes('Hx7-pq2Rt9-Vb4'), 'never the password');
  });
});

test('doctor: without FILES_SCANNER the files check warns; with a scanner that does not answer it fails', async () => {
  await withApp({}, async (t, root) => {
    const r = await doctor(t, root);
    assert.equal(r.get('files')!.status, 'warn');
    assert.match(r.get('files')!.detail, /no FILES_SCANNER/);
    assert.match(r.get('files')!.fix, /FILES_SCANNER/);
  });
  await withApp({ FILES_SCANNER: 'clamd:///nonexistent/palisade-test/clamd.sock', FILES_SCAN_TIMEOUT: '1' }, async (t, root) => {
    const r = await doctor(t, root);
    assert.equal(r.get('files')!.status, 'fail');
    assert.match(r.get('files')!.detail, /does not answer/);
  });
});

/** openssl: a self-signed certificate, or one `ca` signs; the files' paths. */
function openssl(dir: string, name: string, ca?: { cert: string; key: string }, days = 90): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const subj = `/CN=${name}`;
  if (ca === undefined) {
    const ext = name.includes('root') ? ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'] : [];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', String(days), '-subj', subj, ...ext], {
      stdio: 'ignore',
    });
  } else {
    const csr = path.join(dir, `${name}.csr`);
    execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subj], { stdio: 'ignore' });
    const ext = path.join(dir, `${name}.ext`);
    writeFileSync(ext, name.includes('intermediate') ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' : 'subjectAltName=DNS:localhost\n');
    execFileSync(
      'openssl',
      ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', String(days), '-extfile', ext],
      { stdio: 'ignore' },
    );
  }
  return { cert, key };
}

test('doctor: a built-in TLS certificate that browsers do not trust warns; a chain to a public root passes; an expired one fails [ASVS V12.2.2]', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-doctor-tls-'));
  try {
    // Through the server: a self-signed certificate is served, and the doctor says browsers will not trust it.
    const self = openssl(dir, 'palisade.example.test');
    await withApp({ TLS_CERT_FILE: self.cert, TLS_KEY_FILE: self.key }, async (t, root) => {
      const c = (await doctor(t, root)).get('tls-certificate')!;
      assert.equal(c.status, 'warn');
      assert.match(c.detail, /self-signed/);
      assert.match(c.fix, /public CA/);
    });
    await withApp({}, async (t, root) => assert.equal((await doctor(t, root)).get('tls-certificate'), undefined, 'no built-in TLS, no check'));

    // The chain walk, with a test root standing in for the public store.
    const rootCa = openssl(dir, 'test-root');
    const inter = openssl(dir, 'test-intermediate', rootCa);
    const leaf = openssl(dir, 'leaf', inter);
    const roots = [new X509Certificate(readFileSync(rootCa.cert))];
    const pem = (...files: string[]) => files.map((f) => readFileSync(f, 'utf8')).join('\n');
    const now = Date.now();
    const full = certificateVerdict(pem(leaf.cert, inter.cert), now, roots);
    assert.equal(full.status, 'pass', full.detail);
    assert.match(full.detail, /^leaf, publicly trusted through test-root/);
    assert.equal(certificateVerdict(pem(leaf.cert, inter.cert, rootCa.cert), now, roots).status, 'pass', 'the root in the file too');
    const missing = certificateVerdict(pem(leaf.cert), now, roots);
    assert.equal(missing.status, 'warn', 'an intermediate missing from the file');
    assert.match(missing.detail, /does not lead to a publicly trusted root/);
    assert.equal(certificateVerdict(pem(leaf.cert, inter.cert), now, []).status, 'warn', 'a private CA');
    // A file whose intermediate did not sign the leaf (a forged chain) does not pass.
    const stranger = openssl(dir, 'other-intermediate', openssl(dir, 'other-root'));
    assert.equal(certificateVerdict(pem(leaf.cert, stranger.cert), now, roots).status, 'warn');
    const validTo = Date.parse(new X509Certificate(readFileSync(leaf.cert)).validTo);
    assert.equal(certificateVerdict(pem(leaf.cert, inter.cert), validTo - 7 * 86_400_000, roots).status, 'warn', 'a week left');
    const expired = certificateVerdict(pem(leaf.cert, inter.cert), validTo + 1000, roots);
    assert.equal(expired.status, 'fail');
    assert.match(expired.detail, /expired/);
    assert.equal(certificateVerdict('not a certificate', now, roots).status, 'fail');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('doctor: a PUBLIC_URL that is a path on another host name warns: it shares an origin and cookies; a host name of its own passes [ASVS V3.5.4]', async () => {
  await withApp({ PUBLIC_URL: 'https://apps.example.org/palisade' }, async (t, root) => {
    const c = (await doctor(t, root)).get('public-origin')!;
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /a path on apps\.example\.org/);
    assert.match(c.fix, /host name of its own/);
  });
  await withApp({ PUBLIC_URL: 'https://palisade.example.org' }, async (t, root) => {
    const c = (await doctor(t, root)).get('public-origin')!;
    assert.equal(c.status, 'pass');
    assert.equal(c.detail, 'palisade.example.org');
  });
});
