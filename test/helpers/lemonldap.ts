// A real CAS 3.0 server for the tests: Debian's LemonLDAP::NG portal under `plackup` on a spare port, its CAS issuer
// on, its Demo authentication (dwho/dwho, rtyler/rtyler…), from a temporary File configuration (lmConf-1.json).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../auth/passkeys/world.js';

const PSGI = '/usr/share/lemonldap-ng/portal/htdocs/index.psgi';
const DEMO_CONF = '/var/lib/lemonldap-ng/conf/lmConf-1.json';
export const lemonldapInstalled = () => existsSync(PSGI) && existsSync(DEMO_CONF) && existsSync('/usr/bin/plackup');

export interface CasServer {
  base: string;
  /** The CAS server's base address (`<casUrl>/login`, `<casUrl>/p3/serviceValidate`). */
  casUrl: string;
  close(): Promise<void>;
}

export async function startLemonldap(): Promise<CasServer> {
  const dir = await mkdtemp(join(tmpdir(), 'palisade-llng-'));
  for (const d of ['conf', 'sessions/lock', 'psessions/lock', 'cache', 'notifications', 'lib/Palisade']) await mkdir(join(dir, d), { recursive: true });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const conf = JSON.parse(readFileSync(DEMO_CONF, 'utf8')) as Record<string, any>;
  Object.assign(conf, {
    cfgNum: 1,
    portal: `${base}/`,
    domain: '127.0.0.1',
    securedCookie: 0,
    globalStorageOptions: {
      Directory: join(dir, 'sessions'),
      LockDirectory: join(dir, 'sessions/lock'),
      generateModule: 'Lemonldap::NG::Common::Apache::Session::Generate::SHA256',
    },
    persistentStorageOptions: { Directory: join(dir, 'psessions'), LockDirectory: join(dir, 'psessions/lock') },
    localSessionStorageOptions: { ...conf.localSessionStorageOptions, cache_root: join(dir, 'cache') },
    notificationStorageOptions: { dirName: join(dir, 'notifications') },
    locationRules: { '127.0.0.1': { default: 'accept' } },
    issuerDBCASActivation: 1,
    casAccessControlPolicy: 'none',
    casAttributes: { mail: 'mail', cn: 'cn', uid: 'uid' },
    // No self-registration or mailed password reset (they need a mail stack), and no captcha (its default needs ImageMagick).
    registerDB: 'Null',
    portalDisplayResetPassword: 0,
    captcha: 'Palisade::NoCaptcha',
  });
  await writeFile(join(dir, 'conf', 'lmConf-1.json'), JSON.stringify(conf));
  await writeFile(
    join(dir, 'lib', 'Palisade', 'NoCaptcha.pm'),
    "package Palisade::NoCaptcha;\nuse strict;\nuse Mouse;\nextends 'Lemonldap::NG::Portal::Main::Plugin';\nsub init { 1 }\nsub check_captcha { 1 }\nsub init_captcha { 1 }\n1;\n",
  );
  await writeFile(
    join(dir, 'lemonldap-ng.ini'),
    `[all]\nlogLevel = error\ncheckTime = 1\n[configuration]\ntype = File\ndirName = ${join(dir, 'conf')}\n[portal]\nstaticPrefix = /static\ntemplateDir = /usr/share/lemonldap-ng/portal/templates\nlanguages = en\n`,
  );
  const child: ChildProcess = spawn('plackup', ['-p', String(port), '--host', '127.0.0.1', PSGI], {
    env: { ...process.env, PERL5LIB: join(dir, 'lib'), LLNG_DEFAULTCONFFILE: join(dir, 'lemonldap-ng.ini') },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  await waitForPort(port, Date.now() + 20_000);
  return {
    base,
    casUrl: `${base}/cas`,
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
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`LemonLDAP::NG did not listen on ${port}`);
}
