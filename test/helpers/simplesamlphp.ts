// A real SAML 2.0 identity provider for the tests: Debian's SimpleSAMLphp under `php -S` on a spare port, from a
// temporary configuration directory (SIMPLESAMLPHP_CONFIG_DIR), with exampleauth:UserPass users and attributes.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../auth/passkeys/world.js';

const WWW = '/usr/share/simplesamlphp/www';
export const simpleSamlInstalled = () => existsSync(WWW) && existsSync('/usr/bin/php') && existsSync('/etc/simplesamlphp/config.php');

export interface SamlUser {
  uid: string;
  password: string;
  mail: string;
  groups: string[];
}
export const SAML_USERS: SamlUser[] = [
  { uid: 'ada', password: 'Ada-idp-pass-1', mail: 'ada@example.org', groups: ['data-editors', 'staff'] },
  { uid: 'ben', password: 'Ben-idp-pass-2', mail: 'ben@example.org', groups: ['staff'] },
];

export interface SpRegistration {
  entityId: string;
  acs: string;
  /** Our certificate (PEM) when the IdP should encrypt assertions to it. */
  encryptTo?: string;
  /** Our single logout service (HTTP-POST binding), when the IdP should send logout messages there. */
  slo?: string;
  /** Our certificate (PEM) when the IdP should require our logout messages signed by it (`validate.logout`). */
  logoutSignedBy?: string;
}

export interface Idp {
  base: string;
  entityId: string;
  ssoUrl: string;
  sloUrl: string;
  certificate: string;
  /** The IdP's key: a test may sign with it to make a legitimate-looking answer. */
  privateKey: string;
  dir: string;
  close(): Promise<void>;
}

/** A key and a self-signed certificate, made by openssl in `dir`. */
export function keyPair(dir: string, name: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], {
    stdio: 'ignore',
  });
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

const php = (v: unknown): string => JSON.stringify(v).replace(/\$/g, '\\$');
const phpArray = (o: Record<string, unknown>): string =>
  `[${Object.entries(o)
    .map(
      ([k, v]) =>
        `${php(k)} => ${Array.isArray(v) ? `[${v.map(php).join(', ')}]` : typeof v === 'object' && v !== null ? phpArray(v as Record<string, unknown>) : php(v)}`,
    )
    .join(', ')}]`;

export async function startSimpleSaml(sps: SpRegistration[]): Promise<Idp> {
  const dir = await mkdtemp(join(tmpdir(), 'palisade-ssp-'));
  for (const d of ['config', 'metadata', 'cert', 'log', 'data', 'tmp', 'sessions']) await mkdir(join(dir, d));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const entityId = `${base}/idp`;
  const { key, cert } = keyPair(join(dir, 'cert'), 'idp');
  const persistent = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
  const config = `${readFileSync('/etc/simplesamlphp/config.php', 'utf8')}
$config['baseurlpath'] = ${php(`${base}/`)};
$config['certdir'] = ${php(`${dir}/cert/`)};
$config['loggingdir'] = ${php(`${dir}/log/`)};
$config['datadir'] = ${php(`${dir}/data/`)};
$config['tempdir'] = ${php(`${dir}/tmp`)};
$config['metadatadir'] = ${php(`${dir}/metadata/`)};
$config['metadata.sources'] = [['type' => 'flatfile']];
$config['logging.handler'] = 'file';
$config['logging.level'] = SimpleSAML\\Logger::WARNING;
$config['secretsalt'] = 'palisade-test-salt-0912';
$config['auth.adminpassword'] = 'palisade-test-admin-1';
$config['technicalcontact_email'] = 'test@example.org';
$config['timezone'] = 'UTC';
$config['enable.saml20-idp'] = true;
$config['module.enable'] = ['exampleauth' => true, 'core' => true, 'saml' => true];
$config['store.type'] = 'phpsession';
$config['session.phpsession.savepath'] = ${php(`${dir}/sessions`)};
$config['session.cookie.secure'] = false;
$config['session.cookie.samesite'] = null;
$config['language.cookie.secure'] = false;
$config['language.cookie.samesite'] = null;
`;
  await writeFile(join(dir, 'config', 'config.php'), config);
  const users = Object.fromEntries(
    SAML_USERS.map((u) => [`${u.uid}:${u.password}`, { uid: [u.uid], mail: [u.mail], groups: u.groups, displayName: [u.uid.toUpperCase()] }]),
  );
  await writeFile(
    join(dir, 'config', 'authsources.php'),
    `<?php\n$config = ['admin' => ['core:AdminPassword'], 'users' => array_merge(['exampleauth:UserPass'], ${phpArray(users)})];\n`,
  );
  await writeFile(
    join(dir, 'metadata', 'saml20-idp-hosted.php'),
    `<?php\n$metadata[${php(entityId)}] = ['host' => '__DEFAULT__', 'privatekey' => ${php(`${dir}/cert/idp.key`)}, 'certificate' => ${php(`${dir}/cert/idp.crt`)}, 'auth' => 'users', 'sign.logout' => true, 'NameIDFormat' => ${php(persistent)}, 'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic', 'authproc' => [10 => ['class' => 'saml:AttributeNameID', 'attribute' => 'uid', 'Format' => ${php(persistent)}]]];\n`,
  );
  let remote = '<?php\n';
  const certData = (pem: string) => php(pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, ''));
  for (const sp of sps) {
    const slo = sp.slo ? `, 'SingleLogoutService' => [['Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', 'Location' => ${php(sp.slo)}]]` : '';
    const validateLogout = sp.logoutSignedBy ? `'validate.logout' => true, 'certData' => ${certData(sp.logoutSignedBy)}` : `'validate.logout' => false`;
    remote += `$metadata[${php(sp.entityId)}] = ['AssertionConsumerService' => ${php(sp.acs)}, 'NameIDFormat' => ${php(persistent)}, 'saml20.sign.assertion' => true, 'saml20.sign.response' => true, 'validate.authnrequest' => false, ${validateLogout}${slo}${
      sp.encryptTo ? `, 'assertion.encryption' => true, 'certData' => ${certData(sp.encryptTo)}` : ''
    }];\n`;
  }
  await writeFile(join(dir, 'metadata', 'saml20-sp-remote.php'), remote);
  const child: ChildProcess = spawn('php', ['-S', `127.0.0.1:${port}`, '-t', WWW], {
    env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: join(dir, 'config') },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  await waitForPort(port, Date.now() + 10_000);
  return {
    base,
    entityId,
    ssoUrl: `${base}/saml2/idp/SSOService.php`,
    sloUrl: `${base}/saml2/idp/SingleLogoutService.php`,
    certificate: cert,
    privateKey: key,
    dir,
    async close() {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, until: number): Promise<void> {
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`SimpleSAMLphp did not listen on ${port}`);
}
