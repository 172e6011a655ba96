import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeApp, login, bearer, cliEnv, events, DIALECT, PG_URL, type TestApp } from '../helpers/app.js';
import { cli, freePort, startServer } from '../helpers/cli.js';

let t: TestApp;
before(async () => {
  t = await makeApp();
});
after(() => t.close());

test('user create reads the password from stdin; the user signs in over HTTP', async () => {
  const r = await cli(['user', 'create', '--username', 'cli-made', '--email', 'cli@example.org', '--password-stdin'], cliEnv(t), 'Typed-on-stdin-42\n');
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /Typed-on-stdin-42/, 'the password is never echoed');
  await login(t, 'cli-made', 'Typed-on-stdin-42');
  const weak = await cli(['user', 'create', '--username', 'cli-weak', '--password-stdin'], cliEnv(t), 'short\n');
  assert.equal(weak.code, 1);
  assert.match(weak.stderr, /PASSWORD_REJECTED/);
});

test('user create without a password prints a generated one once, a one-time password to change at the first sign-in [ASVS V6.4.1]', async () => {
  const r = await cli(['user', 'create', '--username', 'cli-gen'], cliEnv(t));
  assert.equal(r.code, 0, r.stderr);
  const pw = /shown once: (\S+)/.exec(r.stdout)?.[1];
  assert.ok(pw && pw.length >= 24);
  const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'cli-gen', password: pw } });
  assert.equal(res.statusCode, 403);
  assert.equal(res.json().error.code, 'PASSWORD_CHANGE_REQUIRED');
  assert.ok(res.json().error.details.changeToken);
});

test("user set-password and user disable end the user's sessions", async () => {
  await cli(['user', 'create', '--username', 'cli-ses', '--password-stdin'], cliEnv(t), 'First-secret-4242');
  const s1 = (await login(t, 'cli-ses', 'First-secret-4242')).token;
  const set = await cli(['user', 'set-password', '--username', 'cli-ses', '--password-stdin'], cliEnv(t), 'Second-secret-4242');
  assert.equal(set.code, 0, set.stderr);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(s1) })).statusCode, 401);
  const s2 = (await login(t, 'cli-ses', 'Second-secret-4242')).token;
  const dis = await cli(['user', 'disable', '--username', 'cli-ses'], cliEnv(t));
  assert.equal(dis.code, 0, dis.stderr);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(s2) })).statusCode, 401);
  await assert.rejects(login(t, 'cli-ses', 'Second-secret-4242'));
});

test('sessions revoke --user ends every session of that user only [ASVS V7.4.5]', async () => {
  await cli(['user', 'create', '--username', 'cli-rev', '--password-stdin'], cliEnv(t), 'Revocable-pw-777');
  const a = (await login(t, 'cli-rev', 'Revocable-pw-777')).token;
  const b = (await login(t, 'cli-rev', 'Revocable-pw-777')).token;
  const root = (await login(t)).token;
  const r = await cli(['sessions', 'revoke', '--user', 'cli-rev'], cliEnv(t));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ended 2 session/);
  for (const tok of [a, b]) assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(tok) })).statusCode, 401);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(root) })).statusCode, 200);
  const missing = await cli(['sessions', 'revoke', '--user', 'nobody'], cliEnv(t));
  assert.equal(missing.code, 2);
});

test('sessions revoke --all ends every session of every user; everyone signs in again [ASVS V7.4.5]', async () => {
  await cli(['user', 'create', '--username', 'cli-all', '--password-stdin'], cliEnv(t), 'Everyone-out-pw-818');
  const user = (await login(t, 'cli-all', 'Everyone-out-pw-818')).token;
  const root = (await login(t)).token;
  const both = await cli(['sessions', 'revoke', '--all', '--user', 'cli-all'], cliEnv(t));
  assert.equal(both.code, 2, 'one or the other');
  for (const tok of [user, root]) assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(tok) })).statusCode, 200);
  const r = await cli(['sessions', 'revoke', '--all'], cliEnv(t));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ended \d+ session\(s\) of all users/);
  for (const tok of [user, root]) {
    const res = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(tok) });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error.code, 'SESSION_ENDED');
  }
  const fresh = (await login(t)).token;
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(fresh) })).statusCode, 200, 'a new sign-in works');
  const ended = (await events(t, fresh, 'session.ended')).filter((e) => e.details.reason === 'revoked_by_cli' && e.subjectId === null);
  assert.equal(ended.length, 1);
  assert.ok(ended[0]!.details.count >= 2);
  assert.equal(ended[0]!.actor.name, 'cli');
});

test('keys rotate adds a key that the running server signs with; old tokens keep working', async () => {
  const old = (await login(t)).token;
  const r = await cli(['keys', 'rotate'], cliEnv(t));
  assert.equal(r.code, 0, r.stderr);
  const kid = /new signing key (\S+);/.exec(r.stdout)?.[1];
  const fresh = (await login(t)).token;
  assert.equal(JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid, kid);
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(old) })).statusCode, 200);
  const ev = await events(t, fresh, 'key.rotated');
  assert.equal(ev[0]!.actor.name, 'cli');
});

test('first start: root gets a generated password in a 0600 file, never on the log stream; the last line is the URL; a restart prints nothing', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-boot-'));
  const schema = `boot_${randomBytes(5).toString('hex')}`;
  const port = await freePort();
  const env = {
    DATA_DIR: dataDir,
    PORT: String(port),
    INIT_ROOT_USERNAME: 'admin',
    INIT_ROOT_EMAIL: 'admin@example.org',
    ...(DIALECT === 'postgres' ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema } : {}),
  };
  try {
    const first = await startServer(env);
    let pw: string | undefined;
    try {
      // Without a terminal the password goes to a file only Palisade's user may read; the output names it.
      const file = /password is in (\S+) \(mode 0600\)/.exec(first.output())?.[1];
      assert.ok(file, first.output());
      assert.equal(statSync(file).mode & 0o777, 0o600);
      pw = readFileSync(file, 'utf8').trim();
      assert.ok(pw.length >= 24);
      assert.equal(first.output().includes(pw), false, 'the password is on no output stream');
      for (let i = 0; i < 50 && !first.output().includes('ready;'); i++) await new Promise((r) => setTimeout(r, 100));
      // The operator's lines (stderr; the JSON log lines are the log stream): the last one is where to go.
      const lines = first
        .output()
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('{'));
      assert.match(lines[lines.length - 1]!, new RegExp(`ready; open http://127\\.0\\.0\\.1:${port}/ in a browser$`));
      assert.match(first.output(), /generated a signing key/);
      const res = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: pw }),
      });
      // The generated password is one-time (ASVS V6.4.1): the first sign-in gets a change token, not a session.
      assert.equal(res.status, 403);
      const refused = (await res.json()) as { error: { code: string; details: { changeToken: string } } };
      assert.equal(refused.error.code, 'PASSWORD_CHANGE_REQUIRED');
      const changed = await fetch(`http://127.0.0.1:${port}/api/auth/password/reset`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: refused.error.details.changeToken, newPassword: 'Chosen-by-the-operator-77' }),
      });
      assert.equal(changed.status, 204, await changed.text());
      const again = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: 'Chosen-by-the-operator-77' }),
      });
      assert.equal(again.status, 200);
      const token = ((await again.json()) as { token: string }).token;
      const me = await fetch(`http://127.0.0.1:${port}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(me.status, 200);
      // Nothing else answers: there are no default credentials.
      for (const [u, p] of [
        ['root', 'root'],
        ['admin', 'admin'],
        ['admin', 'password'],
      ]) {
        const bad = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: u, password: p }),
        });
        assert.equal(bad.status, 401);
      }
    } finally {
      await first.stop();
    }
    const second = await startServer(env);
    try {
      assert.doesNotMatch(second.output(), /generated password/);
      assert.equal(second.output().includes(pw!), false);
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    if (DIALECT === 'postgres') {
      const pg = (await import('pg')).default;
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }
});

test('user unlock lifts any lock; user set-password lifts it too (the recovery path)', async () => {
  await cli(['user', 'create', '--username', 'cli-lock', '--password-stdin'], cliEnv(t), 'Lockable-secret-3030');
  const admin = (await login(t)).token;
  const id = (await t.app.inject({ method: 'GET', url: '/api/admin/users', headers: bearer(admin) }))
    .json()
    .users.find((u: { username: string }) => u.username === 'cli-lock').id;
  await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/lock`, headers: bearer(admin), payload: { reason: 'test' } });
  await assert.rejects(login(t, 'cli-lock', 'Lockable-secret-3030'));
  const r = await cli(['user', 'unlock', '--username', 'cli-lock'], cliEnv(t));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /unlocked cli-lock/);
  await login(t, 'cli-lock', 'Lockable-secret-3030');
  await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/lock`, headers: bearer(admin), payload: { reason: 'again' } });
  const set = await cli(['user', 'set-password', '--username', 'cli-lock', '--password-stdin'], cliEnv(t), 'Recovered-secret-4040');
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /unlocked/);
  await login(t, 'cli-lock', 'Recovered-secret-4040');
});
