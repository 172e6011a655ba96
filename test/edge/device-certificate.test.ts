// ASVS V8.4.2 (D445): with ADMIN_CLIENT_CA_FILE, built-in TLS asks every client for a certificate, and a session
// reaches the administrator routes only over a connection that presented one the organisation's device CA signed
// (the certificate a device-management system gives to compliant devices). Other routes do not need one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import https from 'node:https';
import { ROOT, configProblems, makeApp } from '../helpers/app.js';
import { listen } from '../helpers/raw-http.js';

const dir = mkdtempSync(path.join(tmpdir(), 'palisade-device-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (n: string) => path.join(dir, n);
const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });

/** A CA (basicConstraints CA:TRUE) that signs device certificates. */
function makeCa(name: string): void {
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    file(`${name}.key`),
    '-out',
    file(`${name}.crt`),
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}
/** A client certificate for a device, signed by `ca`. */
function makeDevice(name: string, ca: string): { cert: Buffer; key: Buffer } {
  writeFileSync(file('client.ext'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`]);
  openssl([
    'x509',
    '-req',
    '-in',
    file(`${name}.csr`),
    '-CA',
    file(`${ca}.crt`),
    '-CAkey',
    file(`${ca}.key`),
    '-CAcreateserial',
    '-out',
    file(`${name}.crt`),
    '-days',
    '2',
    '-extfile',
    file('client.ext'),
  ]);
  return { cert: readFileSync(file(`${name}.crt`)), key: readFileSync(file(`${name}.key`)) };
}

makeCa('devices-ca');
makeCa('other-ca');
// The server's own certificate, for 127.0.0.1.
openssl([
  'req',
  '-x509',
  '-newkey',
  'rsa:2048',
  '-nodes',
  '-keyout',
  file('server.key'),
  '-out',
  file('server.crt'),
  '-days',
  '2',
  '-subj',
  '/CN=palisade',
  '-addext',
  'subjectAltName=IP:127.0.0.1',
]);
const managed = makeDevice('laptop-42', 'devices-ca');
const stranger = makeDevice('home-pc', 'other-ca');
const serverCa = readFileSync(file('server.crt'));

function request(
  port: number,
  method: string,
  url: string,
  o: { token?: string; device?: { cert: Buffer; key: Buffer }; body?: unknown; agent?: https.Agent } = {},
) {
  return new Promise<{ status: number; json: any; reused: boolean }>((resolve, reject) => {
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: url,
        ca: serverCa,
        ...(o.device ?? {}),
        agent: o.agent ?? false,
        headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        const reused = (res.socket as import('node:tls').TLSSocket).isSessionReused();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null, reused }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('with a device CA, administrator routes need a managed device: none or another CA is refused, the managed laptop gets in; other routes need none [ASVS V8.4.2]', async () => {
  const t = await makeApp({ env: { TLS_CERT_FILE: file('server.crt'), TLS_KEY_FILE: file('server.key'), ADMIN_CLIENT_CA_FILE: file('devices-ca.crt') } });
  try {
    const port = await listen(t.app);
    // Signing in needs no device certificate; nor does one's own account.
    const signIn = await request(port, 'POST', '/api/auth/login', { body: ROOT });
    assert.equal(signIn.status, 200, JSON.stringify(signIn.json));
    const token = signIn.json.token as string;
    assert.equal((await request(port, 'GET', '/api/auth/me', { token })).status, 200);
    // The attack: an administrator's session from an unmanaged device.
    const bare = await request(port, 'GET', '/api/admin/users', { token });
    assert.equal(bare.status, 403);
    assert.equal(bare.json.error.code, 'DEVICE_CERTIFICATE_REQUIRED');
    assert.equal((await request(port, 'GET', '/api/admin/users', { token, device: stranger })).json.error.code, 'DEVICE_CERTIFICATE_REQUIRED', 'another CA');
    // A resumed TLS session (a ticket from a connection without a certificate) reads `authorized` in Node: still refused.
    const agent = new https.Agent({ keepAlive: false, maxCachedSessions: 10 });
    try {
      assert.equal((await request(port, 'GET', '/api/admin/users', { token, agent })).json.error.code, 'DEVICE_CERTIFICATE_REQUIRED');
      const resumed = await request(port, 'GET', '/api/admin/users', { token, agent });
      assert.equal(resumed.reused, true, 'the second connection resumed the first one’s session');
      assert.equal(resumed.json?.error?.code, 'DEVICE_CERTIFICATE_REQUIRED', 'a resumed session without a certificate');
    } finally {
      agent.destroy();
    }
    // The managed device.
    const ok = await request(port, 'GET', '/api/admin/users', { token, device: managed });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    // The refusal is a security event, read from the managed device (an injected request has no TLS socket: refused too).
    await t.s.tasks.drain();
    const log = await request(port, 'GET', '/api/admin/security-events?type=access.refused', { token, device: managed });
    const refused = (log.json.events as Array<{ details: { reason: string } }>).filter((e) => e.details.reason === 'DEVICE_CERTIFICATE_REQUIRED');
    assert.ok(refused.length >= 1, JSON.stringify(log.json));
  } finally {
    await t.close();
  }
});

test('ADMIN_CLIENT_CA_FILE needs built-in TLS and a readable CA certificate', () => {
  const tlsEnv = { TLS_CERT_FILE: file('server.crt'), TLS_KEY_FILE: file('server.key') };
  assert.deepEqual(configProblems({ ...tlsEnv, ADMIN_CLIENT_CA_FILE: file('devices-ca.crt') }), []);
  assert.match(configProblems({ ADMIN_CLIENT_CA_FILE: file('devices-ca.crt') }).join('\n'), /ADMIN_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE/);
  assert.match(configProblems({ ...tlsEnv, ADMIN_CLIENT_CA_FILE: file('missing.crt') }).join('\n'), /ADMIN_CLIENT_CA_FILE: cannot read/);
  assert.match(configProblems({ ...tlsEnv, ADMIN_CLIENT_CA_FILE: file('laptop-42.crt') }).join('\n'), /not a CA certificate/);
  assert.match(configProblems({ ...tlsEnv, ADMIN_CLIENT_CA_FILE: file('laptop-42.key') }).join('\n'), /not a PEM certificate/);
});
