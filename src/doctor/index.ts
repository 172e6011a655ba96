/**
 * `palisade doctor` (OPS-2): the deployment checked against the pre-deployment checklist. Each check
 * says pass, warn or fail, why, and how to fix it; the worst sets the exit code. Read-only: a check
 * never changes anything, and never shows a secret (names of variables, never their values).
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parsePg } from 'pg-connection-string';
import { sql } from 'kysely';
import type { Db, Dialect } from '../db/index.js';
import type { Env } from '../config/env.js';
import { keyFilePath } from '../config/index.js';
import type { SettingsStore } from '../config/settings.js';
import type { SettingsArea } from '../config/settings-area.js';
import type { AppConfig } from '../app-config.js';
import type { ApiKeyService } from '../auth/api-keys/index.js';
import { factorState, hasFactor } from '../auth/mfa/factors.js';
import { passwordPolicyArea } from '../auth/password-policy/schema.js';
import { lockoutArea } from '../auth/lockout-settings.js';
import { RATE_LIMIT_DEFAULTS, rateLimitArea } from '../edge/rate-limit.js';
import type { Cidr } from '../edge/ip.js';
import { isLoopbackHost as isLoopback } from '../util/hosts.js';
import type { SecurityLog } from '../audit/events.js';
import { redisPersistence } from '../shared-state/redis.js';
import { previousRuns } from '../backup/env.js';
import { ddlRights, ddlVerdict } from './database-ddl.js';
import { databaseAuthVerdict } from './database-auth.js';
import { s3AuthVerdict, smsAuthVerdict, smtpAuthVerdict } from './service-auth.js';
import { withoutCertFiles } from '../config/client-certs.js';
import { certificateVerdict } from './certificate.js';
import { passwordHashVerdict } from './password-hashes.js';
import type { BackupStatus } from '../backup/index.js';
import { MetadataStripper } from '../files/metadata.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found (no secret values). */
  detail: string;
  /** How to fix it; empty when it passes. */
  fix: string;
}

export interface DoctorReport {
  checks: Check[];
  worst: CheckStatus;
  /** 0 pass, 1 warn, 2 fail: the CLI's exit code. */
  exitCode: 0 | 1 | 2;
}

export interface DoctorDeps {
  config: AppConfig;
  /** The process environment the deployment was started with (only names and shapes are read). */
  env: Env;
  db: Db;
  dialect: Dialect;
  now: () => number;
  settings: SettingsStore;
  apiKeys: ApiKeyService;
  securityLog: SecurityLog;
  areas: readonly SettingsArea[];
  /** The backups' configuration and the last one made (src/backup/). */
  backups: () => Promise<BackupStatus>;
  /** Whether the configured virus scanner answers (src/files/); absent: not asked. */
  scannerReachable?: () => Promise<boolean>;
}

/** The earliest time a backup counts as recent: before the last two scheduled runs (both missed), or two days. */
function backupDueSince(schedule: string | null, now: number): number {
  if (schedule === null) return now - 2 * DAY;
  const runs = previousRuns(schedule, 2, new Date(now));
  return (runs[1] ?? runs[0])?.getTime() ?? now - 2 * DAY;
}

/**
 * Node.js release lines and their end of life (nodejs.org release schedule). The `node` check compares the
 * running line's date with the doctor's clock (`now`): it warns 90 days ahead and fails from the date on. A
 * line missing here (newer than this table) warns: update the table with each Node.js LTS.
 */
export const NODE_EOL: Readonly<Record<number, string>> = { 18: '2025-04-30', 20: '2026-04-30', 22: '2027-04-30', 24: '2028-04-30', 26: '2029-04-30' };
const DAY = 86_400_000;
/** A backup counts as recently verified (restorable) within this many days. */
const VERIFY_BACKUP_WITHIN_DAYS = 31;
/** The audit chain counts as recently verified within this many days. */
export const VERIFY_WITHIN_DAYS = 7;

/**
 * Days after which a stored secret is due for rotation (docs/connections.md, D398): the service passwords after 90,
 * every other secret and the secrets' data key after 365.
 */
export const ROTATE_AFTER_DAYS: Readonly<Record<string, number>> = { 'smtp.password': 90, 'sms.kannelPassword': 90 };
export const ROTATE_DEFAULT_DAYS = 365;

/**
 * Passwords that servers, images and examples ship with (PostgreSQL, Redis, Kannel, SMTP test servers): a service
 * account signing in with one of them, or with its own user name, is a default credential (ASVS V13.2.3, D396).
 */
export const DEFAULT_PASSWORDS: ReadonlySet<string> = new Set([
  'postgres',
  'password',
  'passw0rd',
  'admin',
  'administrator',
  'root',
  'toor',
  'redis',
  'secret',
  'changeme',
  'change-me',
  'default',
  'test',
  'tester',
  'guest',
  'foobar',
  'foo',
  'bar',
  'kannel',
  'smtp',
  'mail',
  'letmein',
  'qwerty',
  'palisade',
  '1234',
  '12345',
  '123456',
  '12345678',
  '123456789',
]);

/** Secrets that have a `_FILE` form: set directly, they sit in the process environment and `/proc`. */
const FILE_SECRETS = [
  'APP_KEY',
  'SECRETS_KEY',
  'DATABASE_URL',
  'DATABASE_MIGRATION_URL',
  'REDIS_URL',
  'SMTP_URL',
  'INIT_ROOT_PASSWORD',
  'SMS_KANNEL_PASSWORD',
  'METRICS_TOKEN',
];

/** A range so wide that its "proxies" are anyone: their forwarding headers are the client's word. */
const tooWide = (c: Cidr): boolean => c.bits < (c.addr.kind() === 'ipv4' ? 8 : 32);

const rank: Record<CheckStatus, number> = { pass: 0, warn: 1, fail: 2 };

/** Records one check's outcome; true, so that a step can `return add(...)`. */
type AddFn = (id: string, title: string, status: CheckStatus, detail: string, fix?: string) => true;

export class Doctor {
  constructor(private readonly d: DoctorDeps) {}

  async run(): Promise<DoctorReport> {
    const checks: Check[] = [];
    const add: AddFn = (id, title, status, detail, fix = '') => {
      checks.push({ id, title, status, detail, fix: status === 'pass' ? '' : fix });
      return true;
    };
    const steps: Array<[string, (add: AddFn) => unknown]> = [
      ['root', (a) => this.root(a)],
      ['app-key', (a) => this.appKey(a)],
      ['secrets-key', (a) => this.secretsKey(a)],
      ['data-dir', (a) => this.dataDir(a)],
      ['transport', (a) => this.transport(a)],
      ['database', (a) => this.database(a)],
      ['database-ddl', (a) => this.databaseDdl(a)],
      ['database-auth', (a) => this.databaseAuth(a)],
      ['smtp-auth', (a) => this.smtpAuth(a)],
      ['sms-auth', (a) => this.smsAuth(a)],
      ['s3-auth', (a) => this.s3Auth(a)],
      ['redis', (a) => this.redis(a)],
      ['service-credentials', (a) => this.serviceCredentials(a)],
      ['outbound-allowlist', (a) => this.outboundAllowlist(a)],
      ['secrets', (a) => this.secrets(a)],
      ['secrets-age', (a) => this.secretsAge(a)],
      ['api-keys', (a) => this.apiKeys(a)],
      ['password-hashes', (a) => this.passwordHashes(a)],
      ['policies', (a) => this.policies(a)],
      ['settings', (a) => this.weakened(a)],
      ['node', (a) => this.node(a)],
      ['memory-encryption', (a) => this.memoryEncryption(a)],
      ['backups', (a) => this.backups(a)],
      ['files', (a) => this.files(a)],
      ['file-metadata', (a) => this.fileMetadata(a)],
      ['audit', (a) => this.audit(a)],
    ];
    for (const [id, step] of steps) {
      try {
        await step(add);
      } catch (e) {
        add(
          id,
          `check ${id}`,
          'fail',
          `the check could not run: ${e instanceof Error ? e.message.slice(0, 200) : 'error'}`,
          'See the server log; rerun `palisade doctor`.',
        );
      }
    }
    const worst = checks.reduce<CheckStatus>((w, c) => (rank[c.status] > rank[w] ? c.status : w), 'pass');
    return { checks, worst, exitCode: rank[worst] as 0 | 1 | 2 };
  }

  private async root(add: AddFn) {
    // The first administrator, whatever its name now (INIT_ROOT_USERNAME is read only at the first start).
    const root = await this.d.db
      .selectFrom('users')
      .selectAll()
      .where('is_admin', '=', 1)
      .orderBy('created_at', 'asc')
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    const title = 'The first administrator has changed the initial password or has a second factor';
    if (!root) return add('root-password', title, 'warn', 'no administrator was found', 'Create an administrator: palisade user create --admin.');
    const name = root.username;
    if (root.password_hash === null) return add('root-password', title, 'pass', `"${name}" has no local password (single sign-on only)`);
    const initial = root.password_changed_at === null || root.password_changed_at <= root.created_at;
    const factor = hasFactor(await factorState(this.d.db, root));
    if (initial && !factor)
      add(
        'root-password',
        title,
        'fail',
        `"${name}" still signs in with the password it was created with (generated at first start or INIT_ROOT_PASSWORD) and has no second factor`,
        `Sign in as ${name}, change the password and enrol a second factor; then unset INIT_ROOT_PASSWORD.`,
      );
    else if (initial) add('root-password', title, 'warn', `"${name}" still has its initial password (it has a second factor)`, `Change ${name}'s password.`);
    else if (!factor) add('root-password', title, 'warn', `"${name}" has no second factor`, `Enrol a second factor for ${name} (Account, Second factor).`);
    else add('root-password', title, 'pass', `"${name}" changed the initial password and has a second factor`);
    const initTitle = 'INIT_ROOT_PASSWORD is unset once the first administrator exists';
    if (this.d.env.INIT_ROOT_PASSWORD || this.d.env.INIT_ROOT_PASSWORD_FILE)
      add(
        'init-root-password',
        initTitle,
        'warn',
        `${this.d.env.INIT_ROOT_PASSWORD ? 'INIT_ROOT_PASSWORD' : 'INIT_ROOT_PASSWORD_FILE'} is still set`,
        'Unset INIT_ROOT_PASSWORD (and INIT_ROOT_PASSWORD_FILE): it is read only when there is no user.',
      );
    else add('init-root-password', initTitle, 'pass', 'INIT_ROOT_PASSWORD is unset');
  }

  private appKey(add: AddFn) {
    const title = 'APP_KEY is strong and readable by Palisade only';
    const { appKeySource } = this.d.config;
    // A weak or placeholder-like key is refused at boot (config/app-key.ts): reaching here, it is strong.
    if (appKeySource === 'env')
      return add(
        'app-key',
        title,
        'warn',
        'APP_KEY is given in the environment',
        'Put the key in a file readable by Palisade only (mode 0600) and set APP_KEY_FILE to it.',
      );
    const file = appKeySource === 'file' ? (this.d.env.APP_KEY_FILE ?? '') : keyFilePath(this.d.config.dataDir);
    const st = statOf(file);
    if (st === null)
      return add('app-key', title, 'warn', `the key file ${file} cannot be inspected`, 'Check that the key file exists and is readable by Palisade.');
    if (st.mode & 0o077)
      return add(
        'app-key',
        title,
        'fail',
        `the key file ${file} is readable by others (mode ${octal(st.mode & 0o777)})`,
        `chmod 600 ${file} (and own it by the user Palisade runs as).`,
      );
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid)
      return add(
        'app-key',
        title,
        'fail',
        `the key file ${file} is owned by uid ${st.uid}, not by the user Palisade runs as (uid ${uid}): that user can read or replace it`,
        `chown the key file to the user Palisade runs as (uid ${uid}) and keep mode 0600.`,
      );
    const open = openAncestor(file, uid);
    if (open !== null)
      return add(
        'app-key',
        title,
        'fail',
        `the directory ${open.dir} ${open.why}: another user can replace the key file`,
        `chmod go-w ${open.dir} (or move the key to a directory only root and Palisade's user can write).`,
      );
    add(
      'app-key',
      title,
      'pass',
      `key from ${appKeySource === 'file' ? 'APP_KEY_FILE' : 'the data directory'}, mode ${octal(st.mode & 0o777)}, owned by Palisade's user`,
    );
  }

  /** The secret store's data key (DATA-1): a key file readable by others opens every stored secret. */
  private secretsKey(add: AddFn) {
    const title = 'The secrets key is readable by Palisade only';
    const { source, file } = this.d.config.secrets;
    if (source === 'env' || file === null) return; // the secrets-env check warns of SECRETS_KEY given directly
    const st = statOf(file);
    if (st === null)
      return add('secrets-key', title, 'warn', `the key file ${file} cannot be inspected`, 'Check that the key file exists and is readable by Palisade.');
    const mode = st.mode & 0o777;
    // SECRETS_KEY_FILE from a container platform may be group-readable (0440): a warning; others, or the data directory's key, fail.
    if (mode & (source === 'file' ? 0o007 : 0o077))
      return add(
        'secrets-key',
        title,
        'fail',
        `the key file ${file} is readable by others (mode ${octal(mode)})`,
        `chmod 600 ${file} (and own it by the user Palisade runs as).`,
      );
    if (mode & 0o070)
      return add(
        'secrets-key',
        title,
        'warn',
        `the key file ${file} is readable by its group (mode ${octal(mode)})`,
        `chmod 400 ${file} (or 600), owned by the user Palisade runs as.`,
      );
    add('secrets-key', title, 'pass', `key from ${source === 'file' ? 'SECRETS_KEY_FILE' : 'the data directory'} ${file}, mode ${octal(mode)}`);
  }

  private dataDir(add: AddFn) {
    const title = 'The data directory is not open to other users';
    const dir = this.d.config.dataDir;
    const mode = modeOf(dir);
    if (mode === null) return add('data-dir', title, 'fail', `${dir} cannot be inspected`, 'Check DATA_DIR.');
    if (mode & 0o007) return add('data-dir', title, 'fail', `${dir} is open to every user (mode ${octal(mode)})`, `chmod 700 ${dir}`);
    if (mode & 0o070) return add('data-dir', title, 'warn', `${dir} is open to its group (mode ${octal(mode)})`, `chmod 700 ${dir}`);
    add('data-dir', title, 'pass', `${dir}, mode ${octal(mode)}`);
  }

  private transport(add: AddFn) {
    const c = this.d.config;
    const loopback = isLoopback(c.host);
    const title = 'Clients reach Palisade over HTTPS';
    const wide = c.trustedProxies.filter(tooWide).map((r) => r.text);
    if (wide.length > 0)
      add(
        'trusted-proxies',
        'TRUSTED_PROXIES names the proxies only',
        'fail',
        `TRUSTED_PROXIES trusts ${wide.join(', ')}: any client there can set its own address and scheme (X-Forwarded-For, X-Forwarded-Proto), past IP rules, rate limits and forced HTTPS`,
        'List the proxies’ own addresses or their subnet in TRUSTED_PROXIES.',
      );
    else
      add(
        'trusted-proxies',
        'TRUSTED_PROXIES names the proxies only',
        'pass',
        c.trustedProxies.length > 0 ? `trusts ${c.trustedProxies.map((r) => r.text).join(', ')}` : 'no proxy is trusted: forwarding headers are ignored',
      );
    if (c.tls) add('https', title, 'pass', 'built-in TLS (TLS_CERT_FILE)');
    else if (wide.length > 0)
      add('https', title, 'fail', 'TLS is said to end at proxies that are anyone (see trusted-proxies)', 'List the proxies’ own addresses in TRUSTED_PROXIES.');
    else if (c.trustedProxies.length > 0) add('https', title, 'pass', 'behind the proxies of TRUSTED_PROXIES, which terminate TLS');
    else if (loopback) add('https', title, 'pass', `listens on ${c.host} only (a proxy on this host terminates TLS, or local use)`);
    else
      add(
        'https',
        title,
        'fail',
        `plain HTTP on ${c.host} without TLS or a trusted proxy: passwords and tokens cross the network in clear`,
        'Set TLS_CERT_FILE and TLS_KEY_FILE, or put Palisade behind a TLS proxy and name it in TRUSTED_PROXIES.',
      );
    if (c.tls) this.certificate(add, c.tls.certFile);
    const publicUrl = c.mail.publicUrl;
    const httpsPublic = publicUrl.startsWith('https://');
    const forceTitle = 'Plain-HTTP requests are redirected to HTTPS';
    if (c.forceHttpsTo !== null) add('force-https', forceTitle, 'pass', `to ${c.forceHttpsTo}`);
    else if (httpsPublic)
      add(
        'force-https',
        forceTitle,
        'fail',
        'PUBLIC_URL is https:// but plain-HTTP requests are served',
        'Unset FORCE_HTTPS=false, and set TRUSTED_PROXIES or built-in TLS so that HTTPS requests can be told.',
      );
    else if (loopback && !c.tls) add('force-https', forceTitle, 'pass', 'local use (loopback, no PUBLIC_URL with https://)');
    else add('force-https', forceTitle, 'warn', `PUBLIC_URL is ${publicUrl}, not https://`, 'Set PUBLIC_URL to the https:// address users reach.');
    // Browsers isolate by origin and cookies by host name: an application under a path of another's host shares
    // both with it (its scripts read Palisade's pages, its cookies reach Palisade's), ASVS V3.5.4.
    const own = new URL(publicUrl);
    const originTitle = 'Palisade has a host name of its own';
    if (own.pathname !== '/' && own.pathname !== '')
      add(
        'public-origin',
        originTitle,
        'warn',
        `PUBLIC_URL ${publicUrl} is a path on ${own.host}: Palisade shares its origin and cookies with whatever else that host serves`,
        'Serve Palisade on a host name of its own (palisade.example.org), not under a path of another application’s host.',
      );
    else add('public-origin', originTitle, 'pass', `${own.host}`);
    const hstsTitle = 'HSTS tells browsers to keep to HTTPS';
    if (c.hsts === null)
      add(
        'hsts',
        hstsTitle,
        loopback && !c.tls ? 'pass' : 'warn',
        'PUBLIC_URL is not an https:// URL with a host name: no Strict-Transport-Security header',
        'Set PUBLIC_URL to the https:// address users reach.',
      );
    else if (/max-age=(\d+)/.exec(c.hsts.value)?.[1] !== undefined && Number(/max-age=(\d+)/.exec(c.hsts.value)?.[1]) < 15_552_000)
      add('hsts', hstsTitle, 'warn', c.hsts.value, 'Unset HSTS_MAX_AGE (one year) or set it to 180 days or more.');
    else if (!c.tls && c.trustedProxies.length === 0 && !loopback)
      add('hsts', hstsTitle, 'fail', 'no answer is over HTTPS, so HSTS is never sent', 'Serve HTTPS (see the https check).');
    else add('hsts', hstsTitle, 'pass', `${c.hsts.value} for ${c.hsts.host}`);
    if (c.metrics !== null) {
      const mTitle = '/metrics is readable by the scraper only';
      const loopbackAllowed = c.metrics.allow.some((r) => r.addr.range() === 'loopback');
      if (c.metrics.token !== null) add('metrics', mTitle, 'pass', `behind METRICS_TOKEN${c.metrics.allow.length > 0 ? ' and METRICS_ALLOW' : ''}`);
      else if (c.metrics.allow.some(tooWide))
        add('metrics', mTitle, 'fail', 'METRICS_ALLOW is a range of anyone and there is no token', 'Set METRICS_TOKEN_FILE and narrow METRICS_ALLOW.');
      else if (loopbackAllowed && c.trustedProxies.length === 0)
        add(
          'metrics',
          mTitle,
          'warn',
          'METRICS_ALLOW lists a loopback address and no proxy is named: through a proxy on this host every client is 127.0.0.1',
          'Set METRICS_TOKEN_FILE, or name the proxy in TRUSTED_PROXIES.',
        );
      else add('metrics', mTitle, 'warn', 'behind METRICS_ALLOW only, no token', 'Set METRICS_TOKEN_FILE as well.');
    }
    if (c.cookieInsecureDev)
      add(
        'cookies',
        'Session cookies are Secure',
        'warn',
        'COOKIE_INSECURE_DEV=true: cookies without Secure',
        'Unset COOKIE_INSECURE_DEV outside development.',
      );
    else add('cookies', 'Session cookies are Secure', 'pass', '__Host- cookies with Secure');
  }

  /** Built-in TLS: the served chain leads to a publicly trusted root and is within its validity (D391). */
  private certificate(add: AddFn, file: string) {
    const title = 'The TLS certificate is publicly trusted and valid';
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch {
      return add('tls-certificate', title, 'warn', `${file} cannot be read`, 'Check TLS_CERT_FILE.');
    }
    const v = certificateVerdict(pem, this.d.now());
    add('tls-certificate', title, v.status, v.detail, v.fix);
  }

  private async database(add: AddFn) {
    const c = this.d.config;
    if (this.d.dialect === 'sqlite' || c.databaseUrl === null) {
      add('database-tls', 'The database connection is encrypted', 'pass', 'embedded SQLite: no network connection');
      return;
    }
    // Read as pg reads it (its own parser, then the PG* variables it falls back to), not as a generic URL:
    // a `host` or a second `sslmode` in the query wins there.
    let parsed: ReturnType<typeof parsePg>;
    try {
      parsed = parsePg(withoutCertFiles(c.databaseUrl));
    } catch {
      return add('database-tls', 'The database connection is encrypted', 'fail', 'DATABASE_URL cannot be read', 'Check DATABASE_URL.');
    }
    const host = parsed.host || this.d.env.PGHOST || 'localhost';
    const ssl = parsed.ssl;
    const tlsTitle = 'The database connection is encrypted';
    // Verified is what the URL itself requires: sslmode=verify-full, the one mode that means certificate and
    // host name checked in libpq and in every node-postgres version. `ssl=true` and sslmode=require, prefer or
    // verify-ca leave verification to the driver's reading, which pg announces will become libpq's (none).
    const unverified = typeof ssl === 'object' && ssl !== null && (ssl.rejectUnauthorized === false || 'checkServerIdentity' in ssl);
    const said = parsed.sslmode ? `sslmode=${parsed.sslmode}` : ssl === true ? 'ssl=true' : 'TLS without sslmode';
    if (isLoopback(host) || host.startsWith('/')) add('database-tls', tlsTitle, 'pass', `PostgreSQL on ${host} (this host)`);
    else if (ssl && parsed.sslmode === 'verify-full' && !unverified)
      add('database-tls', tlsTitle, 'pass', `TLS with the server's certificate and host name verified (sslmode=verify-full)`);
    else if (ssl)
      add(
        'database-tls',
        tlsTitle,
        'warn',
        unverified
          ? `${said}: encrypted, but the server's certificate is not verified`
          : `${said}: encrypted, but the URL does not require the server's certificate and host name to be verified`,
        'Use sslmode=verify-full (and sslrootcert when the CA is private).',
      );
    else
      add(
        'database-tls',
        tlsTitle,
        'fail',
        `PostgreSQL on ${host} without TLS (sslmode=${parsed.sslmode ?? 'unset'})`,
        'Add sslmode=verify-full to DATABASE_URL and enable TLS on the server.',
      );
    const role = (
      await sql<{
        rolsuper: boolean;
        rolcreaterole: boolean;
        rolcreatedb: boolean;
        rolserverfiles: boolean;
        rolname: string;
      }>`select current_user as rolname,
        bool_or(r.rolsuper) as rolsuper, bool_or(r.rolcreaterole) as rolcreaterole, bool_or(r.rolcreatedb) as rolcreatedb,
        bool_or(r.rolname in ('pg_execute_server_program', 'pg_write_server_files', 'pg_read_server_files')) as rolserverfiles
        from pg_roles r where pg_has_role(current_user, r.oid, 'MEMBER')`.execute(this.d.db)
    ).rows[0];
    const roleTitle = 'The database user has no more rights than Palisade needs';
    if (!role) add('database-role', roleTitle, 'warn', 'the current role could not be read', 'Check the database user.');
    else if (role.rolsuper)
      add(
        'database-role',
        roleTitle,
        'fail',
        `"${role.rolname}" is a superuser, or a member of one: a flaw in Palisade would own the whole database server`,
        'Create a role that owns only Palisade’s database (or schema) and use it in DATABASE_URL.',
      );
    else if (role.rolserverfiles)
      add(
        'database-role',
        roleTitle,
        'fail',
        `"${role.rolname}" is a member of a pg_*_server_* role: COPY reaches the database server's files or programs`,
        `REVOKE pg_execute_server_program, pg_write_server_files, pg_read_server_files FROM ${role.rolname};`,
      );
    else if (role.rolcreaterole || role.rolcreatedb)
      add(
        'database-role',
        roleTitle,
        'warn',
        `"${role.rolname}" may create ${role.rolcreaterole ? 'roles' : 'databases'}`,
        `ALTER ROLE ${role.rolname} NOCREATEROLE NOCREATEDB;`,
      );
    else add('database-role', roleTitle, 'pass', `"${role.rolname}": no superuser, role or database creation rights`);
  }

  /** The requests' role cannot change the schema's structure (ASVS V13.2.2, D376). SQLite has no roles: no check. */
  private async databaseDdl(add: AddFn) {
    if (this.d.dialect === 'sqlite' || this.d.config.databaseUrl === null) return;
    const title = 'The requests’ database role cannot create, alter or drop tables';
    const rights = await ddlRights(this.d.db);
    if (!rights) return add('database-ddl', title, 'warn', 'the connection has no current schema', 'Check DATABASE_SCHEMA and the role’s search_path.');
    const v = ddlVerdict(rights, this.d.config.databaseMigrationUrl !== null);
    add('database-ddl', title, v.status, v.detail, v.fix);
  }

  /** The database is signed in to with a client certificate rather than a password (ASVS V13.2.1, D437). */
  private databaseAuth(add: AddFn) {
    const c = this.d.config;
    if (this.d.dialect === 'sqlite' || c.databaseUrl === null) return;
    const urls: Array<[string, string]> = [['DATABASE_URL', c.databaseUrl]];
    if (c.databaseMigrationUrl !== null) urls.push(['DATABASE_MIGRATION_URL', c.databaseMigrationUrl]);
    const v = databaseAuthVerdict(urls, this.d.env);
    add('database-auth', 'The database is signed in to without a password', v.status, v.detail, v.fix);
  }

  /** The SMTP server, the SMS gateway and S3 admit Palisade by a client certificate (ASVS V13.2.1, D447, D448). */
  private async smtpAuth(add: AddFn) {
    const m = this.d.config.mail;
    if (m.smtpUrl === null) return;
    const stored = await this.d.db.selectFrom('secrets').select('name').where('name', '=', 'smtp.password').executeTakeFirst();
    const v = smtpAuthVerdict({ smtpUrl: m.smtpUrl, certificate: Boolean(m.tls?.cert), storedPassword: stored !== undefined });
    add('smtp-auth', 'The SMTP server is signed in to without a password', v.status, v.detail, v.fix);
  }

  private smsAuth(add: AddFn) {
    const sms = this.d.config.sms;
    if (sms === null) return;
    const v = smsAuthVerdict(Boolean(sms.kannel.tls?.cert));
    add('sms-auth', 'The SMS gateway is reached with a client certificate', v.status, v.detail, v.fix);
  }

  private s3Auth(add: AddFn) {
    const c = this.d.config;
    const used = (
      [
        ['BACKUP_S3', c.backup.s3],
        ['FILES_S3', c.files.s3],
      ] as const
    ).flatMap(([v, t]) => (t === null ? [] : [[v, Boolean(t.tls?.cert)] as const]));
    if (used.length === 0) return;
    const v = s3AuthVerdict(used);
    add('s3-auth', 'S3 endpoints are reached with a client certificate', v.status, v.detail, v.fix);
  }

  /** OUTBOUND_ALLOW (D435): without it, the server connects wherever its configuration points. */
  private outboundAllowlist(add: AddFn): void {
    const title = 'Outbound connections are limited to a list (OUTBOUND_ALLOW)';
    if (this.d.config.outbound !== null) add('outbound-allowlist', title, 'pass', 'OUTBOUND_ALLOW is set: other destinations are refused');
    else
      add(
        'outbound-allowlist',
        title,
        'warn',
        'OUTBOUND_ALLOW is not set: an administrator may point an SSO provider or the reCAPTCHA verifier at any address',
        'Set OUTBOUND_ALLOW to the hosts and ranges Palisade must reach (database, Redis, SMTP, identity providers, S3, syslog), and block the rest at the firewall too.',
      );
  }

  /** The services' own credentials: none may be a default one. Only the variable's name is ever reported. */
  private serviceCredentials(add: AddFn) {
    const c = this.d.config;
    const found: string[] = [];
    const weak = (user: string, pass: string) => DEFAULT_PASSWORDS.has(pass.toLowerCase()) || (user !== '' && pass.toLowerCase() === user.toLowerCase());
    const urls: Array<[string, string | null]> = [
      ['DATABASE_URL', c.databaseUrl],
      ['DATABASE_MIGRATION_URL', c.databaseMigrationUrl],
      ['REDIS_URL', c.redisUrl],
      ['SMTP_URL', c.mail.smtpUrl],
    ];
    for (const [name, url] of urls) {
      if (url === null) continue;
      let u: URL;
      try {
        u = new URL(url);
      } catch {
        continue;
      }
      if (u.password !== '' && weak(decodeURIComponent(u.username), decodeURIComponent(u.password))) found.push(name);
    }
    const kannel = c.sms?.kannel;
    if (kannel && kannel.password !== '' && weak(kannel.username, kannel.password)) found.push('SMS_KANNEL_PASSWORD');
    const title = 'Services are not reached with a default password';
    if (found.length > 0)
      add(
        'service-credentials',
        title,
        'fail',
        `${found.join(', ')}: a default or well-known password, or the user name again`,
        'Give each service account its own random password (openssl rand -base64 24), set it on the service, and pass it in the _FILE form or the secret store.',
      );
    else add('service-credentials', title, 'pass', 'no service password is a well-known default');
  }

  private async redis(add: AddFn) {
    const url = this.d.config.redisUrl;
    if (url === null) return;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return add('redis', 'Redis is protected', 'fail', 'REDIS_URL cannot be read as a URL', 'Check REDIS_URL.');
    }
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const title = 'Redis is protected';
    // A client certificate (REDIS_TLS_CERT, D437) signs in without a password, over rediss:// only.
    const certificate = this.d.config.redisTls?.cert != null;
    if (certificate) add('redis-auth', title, 'pass', `Redis on ${host} with a client certificate over TLS`);
    else if (!isLoopback(host) && !u.password)
      add('redis-auth', title, 'fail', `Redis on ${host} without a password`, 'Set requirepass (or an ACL user) on Redis and put it in REDIS_URL_FILE.');
    else if (!isLoopback(host) && u.protocol !== 'rediss:')
      add('redis-auth', title, 'warn', `Redis on ${host} over plain TCP`, 'Use rediss:// (TLS) to reach Redis on another host.');
    else
      add(
        'redis-auth',
        title,
        'pass',
        isLoopback(host) ? `Redis on ${host} (this host)` : `Redis on ${host} with a password${u.protocol === 'rediss:' ? ' over TLS' : ''}`,
      );
    const p = await redisPersistence(url, this.d.config.redisTls);
    const pTitle = 'Redis keeps its data across a restart';
    if (p.state === 'persistent') add('redis-persistence', pTitle, 'pass', p.detail);
    else if (p.state === 'none')
      add(
        'redis-persistence',
        pTitle,
        'warn',
        `${p.detail}: a Redis restart forgets the rate-limit windows and the sign-in pause (counts, locks and revocations are in the database)`,
        'Set appendonly yes (or save) in redis.conf.',
      );
    else add('redis-persistence', pTitle, 'warn', `could not be verified: ${p.detail}`, 'Check that Redis runs, answers CONFIG GET, and REDIS_URL is right.');
  }

  private secrets(add: AddFn) {
    const direct = FILE_SECRETS.filter((n) => {
      const v = this.d.env[n];
      if (!v) return false;
      // A URL without a password (in its user part or its query) holds no secret.
      if (n.endsWith('_URL')) {
        try {
          const u = new URL(v);
          return u.password !== '' || u.searchParams.has('password');
        } catch {
          return true;
        }
      }
      return true;
    });
    const title = 'Secrets come from files, not plain environment variables';
    if (direct.length === 0) add('secrets-env', title, 'pass', 'no secret is given as a plain environment variable');
    else
      add(
        'secrets-env',
        title,
        'warn',
        `given directly: ${direct.join(', ')} (any process of the same user, and /proc, can read them)`,
        `Use the _FILE form (${direct.map((n) => `${n}_FILE`).join(', ')}) with files of mode 0600.`,
      );
  }

  /** Stored secrets and the data key past their rotation schedule (ASVS V13.3.4): names only, never a value. */
  private async secretsAge(add: AddFn) {
    const now = this.d.now();
    const rows = await this.d.db.selectFrom('secrets').select(['name', 'updated_at']).orderBy('name').execute();
    const due = rows.filter((r) => now - r.updated_at > (ROTATE_AFTER_DAYS[r.name] ?? ROTATE_DEFAULT_DAYS) * DAY).map((r) => r.name);
    const key = await this.d.db.selectFrom('secrets_key').select('updated_at').where('id', '=', 1).executeTakeFirst();
    if (key && now - key.updated_at > ROTATE_DEFAULT_DAYS * DAY) due.push('the data key');
    const title = 'Stored secrets are rotated on schedule';
    if (due.length > 0)
      add(
        'secrets-age',
        title,
        'warn',
        `due for rotation: ${due.join(', ')} (service passwords every ${ROTATE_AFTER_DAYS['smtp.password']} days, the rest every ${ROTATE_DEFAULT_DAYS})`,
        'Set each again on the Secrets screen or with `palisade secrets set`; rotate the data key with `palisade secrets rotate-key` (docs/connections.md).',
      );
    else add('secrets-age', title, 'pass', rows.length === 0 ? 'no secret is stored' : `${rows.length} stored, none past its schedule`);
  }

  private async apiKeys(add: AddFn) {
    const keys = await this.d.apiKeys.neverExpiring();
    const title = 'API keys expire';
    if (keys.length === 0) add('api-keys', title, 'pass', 'every live key has an expiry');
    else
      add(
        'api-keys',
        title,
        'warn',
        // A count only: the report goes to the boot log and to CI output; the names are in the admin list.
        `${keys.length} live key${keys.length === 1 ? '' : 's'} never expire${keys.length === 1 ? 's' : ''}`,
        'See them in GET /api/admin/api-keys (neverExpiring; Admin, API keys); replace them with keys that expire and revoke these.',
      );
  }

  private async passwordHashes(add: AddFn) {
    const v = await passwordHashVerdict(this.d.db);
    add('password-hashes', 'Stored password hashes can be verified', v.status, v.detail, v.fix);
  }

  private async policies(add: AddFn) {
    const p = await this.d.settings.get(passwordPolicyArea);
    const title = 'The password policy meets OWASP ASVS level 1';
    const problems: string[] = [];
    if (p.minLength < 8) problems.push(`minimum length ${p.minLength} (ASVS: at least 8)`);
    if (!p.blocklist) problems.push('the blocklist of common and breached passwords is off (ASVS 6.2.4)');
    if (p.maxLength < 64) problems.push(`maximum length ${p.maxLength} (ASVS: at least 64 allowed)`);
    const advice: string[] = [];
    if (p.requireLowercase || p.requireUppercase || p.requireDigit || p.requireSymbol) advice.push('composition rules are on (ASVS 6.2.5: none)');
    if (p.validity > 0) advice.push('passwords expire periodically (ASVS 6.2.10: no periodic rotation)');
    if (p.minLength < 12) advice.push(`minimum length ${p.minLength} (ASVS recommends 15)`);
    if (problems.length > 0)
      add(
        'password-policy',
        title,
        'fail',
        problems.join('; '),
        'PATCH /api/admin/settings/password-policy (Settings, Password policy): blocklist on, minimum 15.',
      );
    else if (advice.length > 0)
      add('password-policy', title, 'warn', advice.join('; '), 'Settings, Password policy: no composition rules, no expiry, minimum 15.');
    else add('password-policy', title, 'pass', `minimum ${p.minLength}, blocklist on`);

    const l = await this.d.settings.get(lockoutArea);
    const lTitle = 'Accounts lock after repeated failures';
    if (l.maxAttempts > 20) add('lockout', lTitle, 'warn', `${l.maxAttempts} failed attempts before a lock`, 'Settings, Lockout: 10 attempts (the default).');
    else add('lockout', lTitle, 'pass', `${l.maxAttempts} attempts in ${l.interval} s`);

    const r = (await this.d.settings.get(rateLimitArea)) as Record<string, number>;
    const lifted = Object.entries(RATE_LIMIT_DEFAULTS)
      .filter(([k, def]) => k !== 'window' && typeof def === 'number' && (r[k] ?? 0) > def * 100)
      .map(([k]) => k);
    const rTitle = 'Rate limits are in force';
    if (lifted.length > 0)
      add(
        'rate-limits',
        rTitle,
        'warn',
        `budgets over 100 times their default, in effect off: ${lifted.join(', ')}`,
        'Settings, Rate limits: restore the defaults.',
      );
    else add('rate-limits', rTitle, 'pass', 'every budget within 100 times its default');
  }

  /** What each settings area says weakens security, for the values in force (changed at runtime or seeded by env). */
  private async weakened(add: AddFn) {
    const found: string[] = [];
    for (const a of this.d.areas) found.push(...a.warnings((await this.d.settings.get(a)) as never));
    const title = 'No setting switches a protection off';
    if (found.length === 0) add('settings', title, 'pass', 'no settings area reports a protection switched off');
    else
      add('settings', title, 'warn', found.join('; '), 'Review these settings (Settings in the admin UI) and restore the defaults where the reason is gone.');
  }

  private node(add: AddFn) {
    const major = Number(process.versions.node.split('.')[0]);
    const eol = NODE_EOL[major];
    const title = 'Node.js still gets security fixes';
    if (!eol)
      return add('node', title, 'warn', `Node.js ${process.versions.node}: end of life unknown to this version of Palisade`, 'Run Node.js 22 or 24 (LTS).');
    const left = Date.parse(eol) - this.d.now();
    if (left <= 0) add('node', title, 'fail', `Node.js ${process.versions.node}: end of life since ${eol}`, 'Run Node.js 22 or 24 (LTS).');
    else if (left < 90 * DAY) add('node', title, 'warn', `Node.js ${process.versions.node}: end of life on ${eol}`, 'Plan the move to the next LTS line.');
    else add('node', title, 'pass', `Node.js ${process.versions.node} (supported until ${eol})`);
  }

  /** ASVS V11.7.1 (D443): a confidential VM keeps memory in use unreadable to the hypervisor; informational unless required. */
  private memoryEncryption(add: AddFn) {
    const title = 'The host encrypts memory in use (confidential VM)';
    const { found } = this.d.config.memory.memoryEncryption;
    if (found.length > 0)
      return add(
        'memory-encryption',
        title,
        'pass',
        `${found.join(', ')}${this.d.config.memory.requireMemoryEncryption ? ' (required: REQUIRE_MEMORY_ENCRYPTION)' : ''}`,
      );
    add(
      'memory-encryption',
      title,
      'pass',
      'not a confidential VM: memory in use is readable by the hypervisor and the host (ASVS level 3 asks for AMD SEV-SNP or Intel TDX; then set REQUIRE_MEMORY_ENCRYPTION=true)',
    );
  }

  /** DATA-3: uploads are scanned before anyone may download them. */
  private async files(add: AddFn) {
    const title = 'Uploaded files are scanned for viruses before they can be downloaded';
    const f = this.d.config.files;
    if (f.scanner === null)
      return add(
        'files',
        title,
        'warn',
        'no FILES_SCANNER: uploads are stored `unscanned` and downloadable at once',
        'Run clamd and set FILES_SCANNER (for example clamd:///run/clamav/clamd.ctl), with its StreamMaxLength at or above FILES_MAX_BYTES (docs/files.md).',
      );
    if (this.d.scannerReachable && !(await this.d.scannerReachable()))
      return add(
        'files',
        title,
        'fail',
        'FILES_SCANNER is set but clamd does not answer PING: new uploads stay quarantined',
        'Start clamd, or fix FILES_SCANNER; quarantined files are released by the sweep once it answers.',
      );
    return add('files', title, 'pass', `clamd answers; files up to ${f.maxBytes} bytes`);
  }

  /** ASVS V14.2.8: uploads' metadata (GPS position, camera serials, authors) is removed; its tools run. */
  private async fileMetadata(add: AddFn) {
    const title = "Uploaded files' metadata is removed before they are stored";
    const tools = this.d.config.files.metadata;
    if (tools === null)
      return add(
        'file-metadata',
        title,
        'warn',
        'FILES_STRIP_METADATA=false: images, PDF and MP4 files are stored with their metadata (GPS position, camera serial numbers, authors)',
        'Install exiftool and qpdf (Debian: libimage-exiftool-perl qpdf) and unset FILES_STRIP_METADATA (docs/files.md#metadata).',
      );
    const v = await new MetadataStripper(tools).versions();
    if ('problem' in v)
      return add(
        'file-metadata',
        title,
        'fail',
        `the metadata tools do not run (${v.problem}): uploads of images, PDF and MP4 files are refused`,
        `Reinstall exiftool and qpdf (Debian: libimage-exiftool-perl qpdf); ${tools.exiftool} and ${tools.qpdf} must run as the server's user.`,
      );
    return add('file-metadata', title, 'pass', `ExifTool ${v.exiftool} and ${v.qpdf} run (${tools.exiftool}, ${tools.qpdf})`);
  }

  private async backups(add: AddFn) {
    const title = 'Backups are scheduled, copied off the machine, recent and restorable';
    const b = await this.d.backups();
    if (!b.configured)
      return add(
        'backups',
        title,
        'warn',
        'backups are not configured (no BACKUP_PASSPHRASE)',
        'Set BACKUP_PASSPHRASE_FILE (a 0600 file, 12 characters or more, also kept away from this server), BACKUP_SCHEDULE (for example `0 3 * * *`) and BACKUP_S3_BUCKET; check a backup with `palisade backup verify FILE` (docs/backups.md).',
      );
    const worst: { status: CheckStatus; what: string; fix: string }[] = [];
    if (b.schedule === null)
      worst.push({
        status: 'warn',
        what: 'no BACKUP_SCHEDULE: backups are made only when someone runs them',
        fix: 'Set BACKUP_SCHEDULE (for example `0 3 * * *`, UTC).',
      });
    if (b.s3 === null)
      worst.push({
        status: 'warn',
        what: `the backups stay on this machine (${b.dir})`,
        fix: 'Set BACKUP_S3_BUCKET (and its endpoint and keys) so that a lost disk does not take them along.',
      });
    if (b.last === null)
      worst.push({ status: 'warn', what: 'no backup has been made yet', fix: 'Run `palisade backup create`, then `palisade backup verify FILE`.' });
    else {
      // Two scheduled runs missed (or two days without a schedule), with an hour of slack for a slow backup.
      if (b.last.at < backupDueSince(b.schedule, this.d.now()) - 3_600_000)
        worst.push({
          status: b.schedule ? 'fail' : 'warn',
          what: `the last backup is from ${new Date(b.last.at).toISOString()}`,
          fix: 'See the log for `scheduled backup failed`; run `palisade backup create`.',
        });
      if (b.last.copy === 'failed')
        worst.push({ status: 'fail', what: `the last backup's copy to ${b.s3 ?? 'S3'} failed`, fix: 'See the `backup.copy_failed` event for the reason.' });
      // Restorable: the last verification passed, and is recent (each backup's own with BACKUP_VERIFY).
      const v = b.lastVerified;
      if (v && !v.ok)
        worst.push({
          status: 'fail',
          what: `the last verification (${v.name}) failed`,
          fix: 'See the `backup.verified` event for the reason; make a new backup and verify it.',
        });
      // Judged by when the verified backup was made, not when it was checked: verifying an old file today says
      // nothing of the backups made since.
      else if (!v || (v.backupAt ?? v.at) < this.d.now() - VERIFY_BACKUP_WITHIN_DAYS * DAY)
        worst.push({
          status: 'warn',
          what: v ? `the newest verified backup was made ${new Date(v.backupAt ?? v.at).toISOString()}` : 'no backup has been verified',
          fix: `Keep BACKUP_VERIFY on, or run \`palisade backup verify FILE\` at least every ${VERIFY_BACKUP_WITHIN_DAYS} days.`,
        });
    }
    if (worst.length === 0)
      return add(
        'backups',
        title,
        'pass',
        `scheduled (${b.schedule}), last ${new Date(b.last!.at).toISOString()}, copied to ${b.s3}, verified ${new Date(b.lastVerified!.at).toISOString()}`,
      );
    const status = worst.some((w) => w.status === 'fail') ? 'fail' : 'warn';
    add(
      'backups',
      title,
      status,
      worst.map((w) => w.what).join('; '),
      `${worst.map((w) => w.fix).join(' ')} Keep the passphrase where the backups are not: without it they cannot be opened.`,
    );
  }

  private async audit(add: AddFn) {
    const [last] = await this.d.securityLog.list({ type: 'audit.verified', limit: 1 });
    const title = `The audit chain was verified in the last ${VERIFY_WITHIN_DAYS} days`;
    const fix = 'Run `palisade audit verify` (or POST /api/admin/audit/verify) on a schedule, daily.';
    if (!last) return add('audit-verified', title, 'warn', 'the chain has never been verified', fix);
    if (last.outcome === 'failure')
      return add(
        'audit-verified',
        title,
        'fail',
        `the last verification (${last.at}) found the chain broken`,
        'Investigate: `palisade audit verify` names the first broken entry.',
      );
    const age = this.d.now() - Date.parse(last.at);
    if (age > VERIFY_WITHIN_DAYS * DAY) add('audit-verified', title, 'warn', `last verified ${last.at}`, fix);
    else add('audit-verified', title, 'pass', `last verified ${last.at}, intact`);
  }
}

function modeOf(p: string): number | null {
  const st = statOf(p);
  return st === null ? null : st.mode & 0o777;
}

/** The permission bits (with the sticky bit) and owner of a path, following links; null when it cannot be read. */
function statOf(p: string): { mode: number; uid: number } | null {
  try {
    const st = statSync(p);
    return { mode: st.mode & 0o1777, uid: st.uid };
  } catch {
    return null;
  }
}

/**
 * The first directory above `file` (as given and as resolved through links) that lets another user replace
 * it: writable by group or others without the sticky bit, or owned by a user other than root and Palisade's.
 */
function openAncestor(file: string, uid: number | undefined): { dir: string; why: string } | null {
  const paths = [path.resolve(file)];
  try {
    const real = realpathSync(file);
    if (real !== paths[0]) paths.push(real);
  } catch {
    /* statOf already read it */
  }
  const seen = new Set<string>();
  for (const p of paths) {
    for (let dir = path.dirname(p); !seen.has(dir); dir = path.dirname(dir)) {
      seen.add(dir);
      const st = statOf(dir);
      if (st === null) return { dir, why: 'cannot be inspected' };
      if (st.mode & 0o022 && !(st.mode & 0o1000)) return { dir, why: `is writable by other users (mode ${octal(st.mode & 0o777)}, no sticky bit)` };
      if (uid !== undefined && st.uid !== 0 && st.uid !== uid) return { dir, why: `is owned by uid ${st.uid}, neither root nor Palisade's user` };
    }
  }
  return null;
}
const octal = (m: number) => `0${m.toString(8).padStart(3, '0')}`;
