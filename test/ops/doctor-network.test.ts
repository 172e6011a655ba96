// `palisade doctor` (OPS-2) against services of the test's own, reached over a network address: Redis servers
// started here (never the shared one on 6379), and PostgreSQL behind a front started here on the machine's
// non-loopback address (the shared server listens on 127.0.0.1 only and is never reconfigured), speaking
// PostgreSQL's TLS handshake with a certificate made by openssl, or none.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DIALECT, PG_URL, bearer, cliEnv, login, makeApp, type TestApp } from '../helpers/app.js';
import type { Env } from '../../src/app-config.js';
import { cli, freePort } from '../helpers/cli.js';

type Check = { id: string; status: 'pass' | 'warn' | 'fail'; detail: string; fix: string };

/** The machine's first non-loopback IPv4 address: what a service on another host looks like to the doctor. */
const ADDR = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;
const NO_ADDR = ADDR === undefined ? 'this machine has no non-loopback IPv4 address' : false;

const dir = mkdtempSync(path.join(tmpdir(), 'palisade-doctor-net-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate for `ip`: its own CA, given to the clients by NODE_EXTRA_CA_CERTS or sslrootcert. */
function makeCert(ip: string): { cert: string; key: string } {
  const cert = path.join(dir, 'svc.crt');
  const key = path.join(dir, 'svc.key');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=doctor', '-addext', `subjectAltName=IP:${ip}`],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

/** A redis-server of this test's own, stopped by its process id afterwards. */
async function redisServer(args: string[]): Promise<{ stop: () => Promise<void> }> {
  const data = mkdtempSync(path.join(dir, 'redis-'));
  const child = spawn('redis-server', ['--dir', data, '--save', '', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited ${code}: ${out}`));
    });
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * A front for the shared PostgreSQL on `host`: a client's SSLRequest is answered with TLS (when a
 * certificate is given) and the decrypted stream goes on to the server; without one, the connection is
 * passed on as it is. What a PostgreSQL server on another host with `ssl = on`, or off, looks like.
 */
async function pgFront(host: string, pair: { cert: string; key: string } | null): Promise<{ port: number; close: () => Promise<void> }> {
  const upstream = new URL(PG_URL);
  const sockets = new Set<net.Socket>();
  const context = pair ? tls.createSecureContext({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }) : null;
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => client.destroy());
    client.once('data', (first) => {
      client.pause();
      const back = net.connect(Number(upstream.port || 5432), upstream.hostname);
      sockets.add(back);
      back.on('error', () => client.destroy());
      const sslRequest = first.length === 8 && first.readInt32BE(0) === 8 && first.readInt32BE(4) === 80_877_103;
      if (sslRequest && context !== null) {
        client.write('S');
        const secure = new tls.TLSSocket(client, { isServer: true, secureContext: context });
        secure.on('error', () => client.destroy());
        secure.pipe(back).pipe(secure);
      } else {
        if (sslRequest) client.write('N');
        else back.write(first);
        client.pipe(back).pipe(client);
        client.resume();
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `palisade doctor --json` on this app's storage, with `env` over it. */
async function doctorCli(t: TestApp, env: Env): Promise<Map<string, Check>> {
  const r = await cli(['doctor', '--json'], { ...cliEnv(t), ...env });
  assert.ok(r.code === 1 || r.code === 2, `exit ${r.code}: ${r.stderr.slice(-1500)}`);
  return new Map((JSON.parse(r.stdout) as { checks: Check[] }).checks.map((c) => [c.id, c]));
}

async function apiDoctor(t: TestApp): Promise<Map<string, Check>> {
  const r = await t.app.inject({ method: 'GET', url: '/api/admin/doctor', headers: bearer((await login(t)).token) });
  assert.equal(r.statusCode, 200, r.body);
  return new Map((r.json() as { checks: Check[] }).checks.map((c) => [c.id, c]));
}

test('doctor: Redis on a network address without a password fails, with one over plain TCP warns, over TLS passes; persistence off warns, on passes [ASVS V12.3.1]', {
  skip: NO_ADDR,
}, async () => {
  const host = ADDR!;
  const password = randomBytes(18).toString('base64url');
  const { cert, key } = makeCert(host);
  const [open, plainPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const bare = await redisServer(['--bind', host, '--port', String(open), '--appendonly', 'no', '--protected-mode', 'no']);
  // A server that fails to start must not leave the first one running.
  const guarded = await redisServer([
    '--bind',
    host,
    '--port',
    String(plainPort),
    '--tls-port',
    String(tlsPort),
    '--tls-cert-file',
    cert,
    '--tls-key-file',
    key,
    '--tls-ca-cert-file',
    cert,
    '--tls-auth-clients',
    'no',
    '--requirepass',
    password,
    '--appendonly',
    'yes',
  ]).catch(async (e: unknown) => {
    await bare.stop();
    throw e;
  });
  try {
    const t = await makeApp({ env: { REDIS_URL: `redis://${host}:${open}`, ALLOW_PLAINTEXT: 'redis' } });
    try {
      const r = await apiDoctor(t);
      assert.equal(r.get('redis-auth')!.status, 'fail');
      assert.equal(r.get('redis-auth')!.detail, `Redis on ${host} without a password`);
      assert.equal(r.get('redis-persistence')!.status, 'warn');
      assert.match(r.get('redis-persistence')!.detail, /^save "" and appendonly no: /);
    } finally {
      await t.close();
    }
    const u = await makeApp({ env: { REDIS_URL: `redis://:${password}@${host}:${plainPort}`, ALLOW_PLAINTEXT: 'redis' } });
    try {
      const r = await apiDoctor(u);
      assert.equal(r.get('redis-auth')!.status, 'warn');
      assert.equal(r.get('redis-auth')!.detail, `Redis on ${host} over plain TCP`);
      assert.equal(r.get('redis-persistence')!.status, 'pass');
      assert.equal(r.get('redis-persistence')!.detail, 'appendonly yes');
      // Over TLS (rediss://) the same server passes; the CLI process trusts the test's certificate.
      const c = await doctorCli(u, { REDIS_URL: `rediss://:${password}@${host}:${tlsPort}`, NODE_EXTRA_CA_CERTS: cert });
      assert.equal(c.get('redis-auth')!.status, 'pass');
      assert.equal(c.get('redis-auth')!.detail, `Redis on ${host} with a password over TLS`);
      assert.equal(c.get('redis-persistence')!.status, 'pass');
      assert.ok(!JSON.stringify([...c.values()]).includes(password), 'never the password');
    } finally {
      await u.close();
    }
  } finally {
    await bare.stop();
    await guarded.stop();
  }
});

test('doctor: PostgreSQL on a network address: without TLS fails; TLS that the URL does not require verified (ssl=true, sslmode=require, no-verify) warns; verify-full passes [ASVS V12.3.1, V12.3.2, V12.3.4]', {
  skip: DIALECT !== 'postgres' ? 'PostgreSQL only' : NO_ADDR,
}, async () => {
  const host = ADDR!;
  const pair = makeCert(host);
  const plain = await pgFront(host, null);
  const secure = await pgFront(host, pair);
  const t = await makeApp();
  try {
    // The start refuses these unverified connections unless ALLOW_PLAINTEXT names the database (D433): the doctor still grades them.
    const tlsOf = async (url: string, env: Env = {}) => (await doctorCli(t, { DATABASE_URL: url, ALLOW_PLAINTEXT: 'database', ...env })).get('database-tls')!;
    const off = await tlsOf(`postgres://postgres@${host}:${plain.port}/test`);
    assert.equal(off.status, 'fail');
    assert.equal(off.detail, `PostgreSQL on ${host} without TLS (sslmode=unset)`);
    assert.match(off.fix, /sslmode=verify-full/);

    const s = `postgres://postgres@${host}:${secure.port}/test`;
    // ssl=true: node-postgres 8 checks the certificate against Node's store (the test's CA is added to
    // it here), but nothing in the URL asks for it: reported as not required, like sslmode=require.
    const sslTrue = await tlsOf(`${s}?ssl=true`, { NODE_EXTRA_CA_CERTS: pair.cert });
    assert.equal(sslTrue.status, 'warn');
    assert.match(sslTrue.detail, /^ssl=true: encrypted, but the URL does not require the server's certificate and host name to be verified$/);
    const require = await tlsOf(`${s}?sslmode=require&sslrootcert=${pair.cert}`);
    assert.equal(require.status, 'warn');
    assert.match(require.detail, /^sslmode=require: encrypted, but the URL does not require/);
    const noVerify = await tlsOf(`${s}?sslmode=no-verify`);
    assert.equal(noVerify.status, 'warn');
    assert.equal(noVerify.detail, "sslmode=no-verify: encrypted, but the server's certificate is not verified");
    const full = await tlsOf(`${s}?sslmode=verify-full&sslrootcert=${pair.cert}`);
    assert.equal(full.status, 'pass');
    assert.equal(full.detail, "TLS with the server's certificate and host name verified (sslmode=verify-full)");
  } finally {
    await t.close();
    await plain.close();
    await secure.close();
  }
});

test('doctor: a database role that owns only its own schema passes; one that may create databases warns; a superuser fails', {
  skip: DIALECT !== 'postgres' && 'PostgreSQL only',
}, async () => {
  const role = `palisade_doctor_${randomBytes(6).toString('hex')}`;
  const schema = `s_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    // What Palisade needs: to log in and to own its schema (it creates its tables there). Nothing on the
    // database itself, no other schema, no role attribute.
    await admin.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT`);
    await admin.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${role}`);
    const url = new URL(PG_URL);
    url.username = role;
    url.password = '';
    const t = await makeApp({ env: { DATABASE_URL: url.toString(), DATABASE_SCHEMA: schema } });
    try {
      let c = (await apiDoctor(t)).get('database-role')!;
      assert.equal(c.status, 'pass');
      assert.equal(c.detail, `"${role}": no superuser, role or database creation rights`);
      await admin.query(`ALTER ROLE ${role} CREATEDB`);
      c = (await apiDoctor(t)).get('database-role')!;
      assert.equal(c.status, 'warn');
      assert.equal(c.detail, `"${role}" may create databases`);
      await admin.query(`ALTER ROLE ${role} NOCREATEDB`);
      await admin.query(`GRANT pg_read_server_files TO ${role}`);
      c = (await apiDoctor(t)).get('database-role')!;
      assert.equal(c.status, 'fail');
      assert.match(c.detail, /pg_\*_server_\* role/);
      await admin.query(`REVOKE pg_read_server_files FROM ${role}`);
      assert.equal((await apiDoctor(t)).get('database-role')!.status, 'pass');
    } finally {
      await t.close();
    }
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  }
});
