// A real OpenLDAP server (Debian's slapd) for one test file: its own slapd.conf, database and port under a
// temporary directory, run as the current user, seeded online (so the memberof overlay keeps memberOf),
// optionally with TLS from a CA made with openssl for the test. Never the system's slapd.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../auth/passkeys/world.js';

const run = promisify(execFile);

export const SLAPD = '/usr/sbin/slapd';
export const slapdInstalled = () => existsSync(SLAPD) && existsSync('/usr/bin/ldapadd');

export const SUFFIX = 'dc=example,dc=org';
export const ROOT_DN = `cn=admin,${SUFFIX}`;
export const ROOT_PW = 'root-secret-4411';
export const SERVICE_DN = `cn=palisade,ou=services,${SUFFIX}`;
export const SERVICE_PW = 'service-secret-7719';

export interface SeedUser {
  uid: string;
  cn: string;
  mail: string;
  password: string;
}

/** Three people and two groups (groupOfNames with member). */
export const USERS: SeedUser[] = [
  { uid: 'alice', cn: 'Alice Archer', mail: 'alice@example.org', password: 'Alice-pass-1' },
  { uid: 'bob', cn: 'Bob Baker', mail: 'bob@example.org', password: 'Bob-pass-2' },
  { uid: 'carol', cn: 'Carol Cooper', mail: 'carol@example.org', password: 'Carol-pass-3' },
];
export const GROUPS: Record<string, string[]> = { editors: ['alice'], staff: ['alice', 'bob', 'carol'] };

export const userDn = (uid: string) => `uid=${uid},ou=people,${SUFFIX}`;
export const groupDn = (cn: string) => `cn=${cn},ou=groups,${SUFFIX}`;

export interface TlsFiles {
  caFile: string;
  /** A CA that did not sign the server's certificate. */
  otherCaFile: string;
}

export interface Slapd {
  /** ldap://127.0.0.1:<port> */
  url: string;
  /** ldaps://127.0.0.1:<port> when started with TLS. */
  ldapsUrl: string | null;
  tls: TlsFiles | null;
  dir: string;
  /** ldapmodify as the root DN, with an LDIF text. */
  modify(ldif: string): Promise<void>;
  /** How many operations the server has seen a connection for (from its log): to prove it was not contacted. */
  connections(): number;
  /** The count once slapd's log has been quiet for 300 ms (it logs an ACCEPT a little after the connection). */
  settledConnections(): Promise<number>;
  stop(): Promise<void>;
}

async function hash(password: string): Promise<string> {
  return (await run('/usr/sbin/slappasswd', ['-s', password])).stdout.trim();
}

async function makeTls(dir: string): Promise<{ ca: string; otherCa: string; cert: string; key: string }> {
  const o = (args: string[]) => run('openssl', args, { cwd: dir });
  for (const name of ['ca', 'other-ca']) {
    await o([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=Palisade test ${name}`,
    ]);
  }
  await o([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=localhost',
  ]);
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await o([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  ]);
  return { ca: join(dir, 'ca.pem'), otherCa: join(dir, 'other-ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

function waitForPort(port: number, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`slapd did not listen on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startSlapd(o: { tls?: boolean } = {}): Promise<Slapd> {
  const dir = await mkdtemp(join(tmpdir(), 'palisade-slapd-'));
  await mkdir(join(dir, 'data'));
  const port = await freePort();
  const tlsPort = o.tls ? await freePort() : null;
  const tls = o.tls ? await makeTls(dir) : null;
  const conf = [
    'include /etc/ldap/schema/core.schema',
    'include /etc/ldap/schema/cosine.schema',
    'include /etc/ldap/schema/inetorgperson.schema',
    'include /etc/ldap/schema/nis.schema',
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'moduleload memberof',
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
    ...(tls ? [`TLSCACertificateFile ${tls.ca}`, `TLSCertificateFile ${tls.cert}`, `TLSCertificateKeyFile ${tls.key}`] : []),
    'database mdb',
    'maxsize 16777216',
    `suffix "${SUFFIX}"`,
    `rootdn "${ROOT_DN}"`,
    `rootpw ${await hash(ROOT_PW)}`,
    `directory ${join(dir, 'data')}`,
    'overlay memberof',
    'memberof-refint TRUE',
    // Passwords: only to bind with. Everything else: readable by a bound user, by nobody anonymous.
    'access to attrs=userPassword by anonymous auth by self write by * none',
    'access to * by users read by * none',
  ].join('\n');
  await writeFile(join(dir, 'slapd.conf'), `${conf}\n`);
  const urls = [`ldap://127.0.0.1:${port}/`, ...(tlsPort ? [`ldaps://127.0.0.1:${tlsPort}/`] : [])];
  const child: ChildProcess = spawn(SLAPD, ['-f', join(dir, 'slapd.conf'), '-h', urls.join(' '), '-d', 'stats'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (b: Buffer) => {
    log += b.toString('utf8');
    if (log.length > 4_000_000) log = log.slice(-2_000_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(port, Date.now() + 10_000);
    if (tlsPort) await waitForPort(tlsPort, Date.now() + 10_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${log.slice(-2000)}`);
  }
  const url = `ldap://127.0.0.1:${port}`;
  const ldif = async (tool: 'ldapadd' | 'ldapmodify', text: string) => {
    const p = spawn(`/usr/bin/${tool}`, ['-x', '-H', url, '-D', ROOT_DN, '-w', ROOT_PW], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (b: Buffer) => {
      err += b.toString('utf8');
    });
    p.stdin!.end(text);
    const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
    if (code !== 0) throw new Error(`${tool} failed (${code}): ${err}`);
  };
  const people = await Promise.all(
    USERS.map(
      async (u) =>
        `dn: ${userDn(u.uid)}\nobjectClass: inetOrgPerson\nuid: ${u.uid}\ncn: ${u.cn}\nsn: ${u.cn.split(' ')[1]}\nmail: ${u.mail}\nuserPassword: ${await hash(u.password)}\n`,
    ),
  );
  const seed = [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n`,
    `dn: ou=people,${SUFFIX}\nobjectClass: organizationalUnit\nou: people\n`,
    `dn: ou=groups,${SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n`,
    `dn: ou=services,${SUFFIX}\nobjectClass: organizationalUnit\nou: services\n`,
    `dn: ${SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: palisade\nuserPassword: ${await hash(SERVICE_PW)}\n`,
    ...people,
    ...Object.entries(GROUPS).map(
      ([cn, members]) => `dn: ${groupDn(cn)}\nobjectClass: groupOfNames\ncn: ${cn}\n${members.map((m) => `member: ${userDn(m)}`).join('\n')}\n`,
    ),
  ].join('\n');
  await ldif('ldapadd', seed);
  return {
    url,
    ldapsUrl: tlsPort ? `ldaps://127.0.0.1:${tlsPort}` : null,
    tls: tls ? { caFile: tls.ca, otherCaFile: tls.otherCa } : null,
    dir,
    modify: (text) => ldif('ldapmodify', text),
    connections: () => (log.match(/ ACCEPT from /g) ?? []).length,
    settledConnections: async () => {
      const count = () => (log.match(/ ACCEPT from /g) ?? []).length;
      let last = count();
      for (let quiet = 0, i = 0; quiet < 3 && i < 30; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const now = count();
        quiet = now === last ? quiet + 1 : 0;
        last = now;
      }
      return last;
    },
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
