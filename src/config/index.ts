import { readFileSync, existsSync, mkdirSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import path from 'node:path';
import { parseDuration } from './durations.js';
import { parseCidr, type Cidr } from '../edge/ip.js';
import { evaluatePassword } from '../auth/password-policy/rules.js';
import type { PasswordPolicy } from '../auth/password-policy/schema.js';
import type { PasswordResetSettings } from '../auth/reset/settings.js';
import { passwordEnv, type MailConfig } from './password-env.js';
import { isPlainAddress } from '../mail/address.js';
import { checkAppKey } from './app-key.js';

export { checkAppKey };

export interface TokenPolicy {
  /** Absolute lifetime of a sign-in, seconds. Renewal never extends it. */
  sessionValidity: number;
  /** Lifetime of one token, seconds. */
  tokenValidity: number;
  /** How long after its expiry a token may still be renewed, seconds. */
  refreshLimit: number;
  /** Absolute lifetime of a "remember me" sign-in, seconds. */
  rememberMeValidity: number;
}

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly databaseUrl: string | null;
  readonly databaseSchema: string | null;
  readonly redisUrl: string | null;
  readonly appKey: string;
  readonly appKeySource: 'env' | 'file' | 'generated';
  readonly initRoot: { readonly username: string; readonly email: string | null; readonly password: string | null };
  readonly logLevel: string;
  readonly bodyLimit: number;
  readonly tokenPolicy: Readonly<TokenPolicy>;
  readonly renewalGrace: number;
  readonly cookieInsecureDev: boolean;
  readonly hashConcurrency: number;
  readonly hashQueueMax: number;
  readonly dbPoolMax: number;
  /** Client IP resolution (EDGE-1). */
  readonly trustedProxies: readonly Cidr[];
  readonly clientIpHeader: string | null;
  /** Env defaults of the lockout and spread-attack settings (AUTH-9, AUTH-10). */
  readonly lockout: Readonly<LockoutSettings>;
  readonly spread: Readonly<SpreadSettings>;
  /** Env defaults of the password policy and reset settings (AUTH-7, AUTH-8), and mail delivery. */
  readonly passwordPolicy: Readonly<PasswordPolicy>;
  readonly passwordReset: Readonly<PasswordResetSettings>;
  readonly mail: MailConfig;
}

export type Env = Record<string, string | undefined>;

export interface LockoutSettings {
  /** Invalid attempts within `interval` that lock the account. */
  maxAttempts: number;
  /** Seconds the attempts are counted in. */
  interval: number;
  /** Seconds the account stays locked; 0 = until an administrator unlocks it. */
  lockDuration: number;
  /** Mail the user a password-reset link when the account locks. */
  mailResetOnLock: boolean;
}

export interface SpreadSettings {
  /** Failed sign-ins across all accounts within `window` that pause password sign-in. */
  threshold: number;
  /** Seconds of the sliding window. */
  window: number;
  /** Seconds password sign-in stays paused. */
  pause: number;
}

export function checkLockout(l: LockoutSettings): string[] {
  const out: string[] = [];
  if (!Number.isInteger(l.maxAttempts) || l.maxAttempts < 1 || l.maxAttempts > 100) out.push('maxAttempts must be from 1 to 100');
  if (!Number.isInteger(l.interval) || l.interval < 1 || l.interval > 86400) out.push('interval must be from 1 to 86400 seconds');
  if (!Number.isInteger(l.lockDuration) || l.lockDuration < 0 || l.lockDuration > 30 * 86400) out.push('lockDuration must be from 0 to 30 days');
  return out;
}

export function checkSpread(sp: SpreadSettings): string[] {
  const out: string[] = [];
  if (!Number.isInteger(sp.threshold) || sp.threshold < 10 || sp.threshold > 10_000_000) out.push('threshold must be from 10 to 10000000');
  if (!Number.isInteger(sp.window) || sp.window < 10 || sp.window > 86400) out.push('window must be from 10 to 86400 seconds');
  if (!Number.isInteger(sp.pause) || sp.pause < 1 || sp.pause > 86400) out.push('pause must be from 1 to 86400 seconds');
  return out;
}

export const TOKEN_POLICY_DEFAULTS: Readonly<TokenPolicy> = Object.freeze({
  sessionValidity: 8 * 3600,
  tokenValidity: 15 * 60,
  refreshLimit: 15 * 60,
  rememberMeValidity: 7 * 86400,
});

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Reads VAR, or the file named by VAR_FILE (OPS-2). Both set is a problem. */
export function secretVar(env: Env, name: string, problems: string[]): { value: string | undefined; fromFile: boolean } {
  const direct = env[name] === '' ? undefined : env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && file !== undefined) {
    problems.push(`${name} and ${name}_FILE are both set; set one`);
    return { value: undefined, fromFile: false };
  }
  if (file !== undefined) {
    try {
      return { value: readFileSync(file, 'utf8').trim(), fromFile: true };
    } catch {
      problems.push(`${name}_FILE: cannot read ${file}`);
      return { value: undefined, fromFile: true };
    }
  }
  return { value: direct === '' ? undefined : direct, fromFile: false };
}

export function intVar(env: Env, name: string, def: number, min: number, max: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    problems.push(`${name} must be an integer from ${min} to ${max}`);
    return def;
  }
  return Number(raw);
}

export function durationVar(env: Env, name: string, def: number, min: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const s = parseDuration(raw);
  if (s === null || s < min) {
    problems.push(`${name} must be a duration such as 900, 15m, 8h or 7d, at least ${min}s`);
    return def;
  }
  return s;
}

export function boolVar(env: Env, name: string, problems: string[]): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  problems.push(`${name} must be true or false`);
  return false;
}

export function checkTokenPolicy(p: TokenPolicy): string[] {
  const out: string[] = [];
  if (p.sessionValidity < 60) out.push('session validity must be at least 60 seconds');
  if (p.tokenValidity < 30) out.push('token validity must be at least 30 seconds');
  if (p.tokenValidity > p.sessionValidity) out.push('token validity must not exceed session validity');
  if (p.refreshLimit < 0) out.push('refresh limit must not be negative');
  if (p.sessionValidity > 90 * 86400) out.push('session validity must not exceed 90 days');
  if (p.rememberMeValidity < p.sessionValidity) out.push('remember-me validity must be at least the session validity');
  if (p.rememberMeValidity > 90 * 86400) out.push('remember-me validity must not exceed 90 days');
  return out;
}

export const keyFilePath = (dataDir: string): string => path.join(dataDir, 'app.key');

export interface LoadOptions {
  /** Generate and persist a key in DATA_DIR when none is configured (start, migrate). */
  generateKey: boolean;
}

export interface LoadResult {
  config: Config;
  warnings: string[];
}

/** Validates the whole environment at once; throws ConfigError listing every problem. */
export function loadConfig(env: Env, opts: LoadOptions): LoadResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  const host = env.HOST || '127.0.0.1';
  if (isIP(host) === 0 && host !== 'localhost') problems.push('HOST must be an IP address or localhost');
  const port = intVar(env, 'PORT', 8080, 0, 65535, problems);
  const dataDir = path.resolve(env.DATA_DIR || './data');

  const dbUrl = secretVar(env, 'DATABASE_URL', problems).value ?? null;
  if (dbUrl !== null && !/^postgres(ql)?:\/\//.test(dbUrl)) problems.push('DATABASE_URL must be a postgres:// URL (unset it for embedded SQLite)');
  const databaseSchema = env.DATABASE_SCHEMA || null;
  if (databaseSchema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(databaseSchema)) problems.push('DATABASE_SCHEMA must be a lower-case identifier');
  if (databaseSchema !== null && dbUrl === null) problems.push('DATABASE_SCHEMA needs DATABASE_URL');
  const redisUrl = secretVar(env, 'REDIS_URL', problems).value ?? null;
  if (redisUrl !== null && !/^rediss?:\/\//.test(redisUrl)) problems.push('REDIS_URL must be a redis:// or rediss:// URL');

  const keyVar = secretVar(env, 'APP_KEY', problems);
  let appKey = keyVar.value ?? '';
  let appKeySource: Config['appKeySource'] = keyVar.fromFile ? 'file' : 'env';
  if (keyVar.value !== undefined) {
    const p = checkAppKey(keyVar.value);
    if (p) problems.push(p);
  } else {
    appKeySource = 'generated';
    const file = keyFilePath(dataDir);
    if (existsSync(file)) {
      appKey = readFileSync(file, 'utf8').trim();
      if ((statSync(file).mode & 0o077) !== 0) warnings.push(`${file} is readable by other users; chmod 600 it`);
      const p = checkAppKey(appKey);
      if (p) problems.push(`${file}: ${p}`);
    } else if (opts.generateKey && problems.length === 0) {
      appKey = randomBytes(48).toString('base64url');
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(file, appKey + '\n', { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600);
      warnings.push(`APP_KEY is not set: generated a signing key into ${file} (mode 0600); back it up, losing it signs everyone out`);
    } else {
      warnings.push(`APP_KEY is not set: a signing key will be generated into ${file} at first start`);
    }
  }

  const rootPw = secretVar(env, 'INIT_ROOT_PASSWORD', problems).value ?? null;
  const initRoot = {
    username: (env.INIT_ROOT_USERNAME || 'root').toLowerCase(),
    email: env.INIT_ROOT_EMAIL || null,
    password: rootPw,
  };
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(initRoot.username)) problems.push('INIT_ROOT_USERNAME may hold letters, digits, ".", "_" and "-" (1 to 64)');
  if (initRoot.email !== null && !isPlainAddress(initRoot.email)) problems.push('INIT_ROOT_EMAIL must be one plain address such as admin@example.org (no display name, list or quoted part)');
  const pw = passwordEnv(env, problems, warnings, { host, port });
  if (rootPw !== null) {
    const failed = evaluatePassword(rootPw, pw.passwordPolicy, { username: initRoot.username, email: initRoot.email }).map((f) => f.code);
    if (failed.length > 0) problems.push(`INIT_ROOT_PASSWORD does not meet the password policy: ${failed.join(', ')}`);
  }

  const logLevel = env.LOG_LEVEL || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) problems.push('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent');

  const tokenPolicy: TokenPolicy = {
    sessionValidity: durationVar(env, 'SESSION_VALIDITY', TOKEN_POLICY_DEFAULTS.sessionValidity, 60, problems),
    tokenValidity: durationVar(env, 'TOKEN_VALIDITY', TOKEN_POLICY_DEFAULTS.tokenValidity, 30, problems),
    refreshLimit: durationVar(env, 'REFRESH_LIMIT', TOKEN_POLICY_DEFAULTS.refreshLimit, 0, problems),
    rememberMeValidity: durationVar(env, 'REMEMBER_ME_VALIDITY', TOKEN_POLICY_DEFAULTS.rememberMeValidity, 60, problems),
  };
  problems.push(...checkTokenPolicy(tokenPolicy).map((p) => `token policy: ${p}`));

  const trustedProxies: Cidr[] = [];
  for (const item of (env.TRUSTED_PROXIES ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const c = parseCidr(item);
    if (c) trustedProxies.push(c);
    else problems.push(`TRUSTED_PROXIES: "${item.slice(0, 60)}" is not an IP address or CIDR range`);
  }
  const clientIpHeader = env.CLIENT_IP_HEADER ? env.CLIENT_IP_HEADER.toLowerCase() : null;
  if (clientIpHeader !== null && !/^[a-z0-9-]{1,64}$/.test(clientIpHeader)) problems.push('CLIENT_IP_HEADER must be a header name');
  if (clientIpHeader !== null && trustedProxies.length === 0) problems.push('CLIENT_IP_HEADER needs TRUSTED_PROXIES: the header is believed only from them');

  const lockout: LockoutSettings = {
    maxAttempts: intVar(env, 'LOCKOUT_MAX_ATTEMPTS', 10, 1, 100, problems),
    interval: durationVar(env, 'LOCKOUT_INTERVAL', 15 * 60, 1, problems),
    lockDuration: durationVar(env, 'LOCKOUT_DURATION', 15 * 60, 0, problems),
    mailResetOnLock: boolVar(env, 'LOCKOUT_MAIL_RESET', problems),
  };
  problems.push(...checkLockout(lockout).map((p) => `lockout: ${p}`));
  const spread: SpreadSettings = {
    threshold: intVar(env, 'SPREAD_THRESHOLD', 200, 10, 10_000_000, problems),
    window: durationVar(env, 'SPREAD_WINDOW', 5 * 60, 10, problems),
    pause: durationVar(env, 'SPREAD_PAUSE', 5 * 60, 1, problems),
  };
  problems.push(...checkSpread(spread).map((p) => `spread-attack detection: ${p}`));

  const cookieInsecureDev = boolVar(env, 'COOKIE_INSECURE_DEV', problems);
  if (cookieInsecureDev) {
    if (!['127.0.0.1', '::1', 'localhost'].includes(host)) problems.push('COOKIE_INSECURE_DEV is allowed only when HOST is a loopback address');
    else warnings.push('COOKIE_INSECURE_DEV=true: session cookies are sent without Secure, for plain-http development on localhost only');
  }

  const config: Config = {
    host, port, dataDir, databaseUrl: dbUrl, databaseSchema, redisUrl, appKey, appKeySource, initRoot, logLevel,
    bodyLimit: intVar(env, 'BODY_LIMIT', 1048576, 1024, 104857600, problems),
    tokenPolicy,
    renewalGrace: durationVar(env, 'RENEWAL_GRACE', 10, 0, problems),
    cookieInsecureDev,
    trustedProxies,
    clientIpHeader,
    lockout,
    spread,
    ...pw,
    hashConcurrency: intVar(env, 'HASH_CONCURRENCY', 2, 1, 64, problems),
    hashQueueMax: intVar(env, 'HASH_QUEUE_MAX', 128, 1, 100000, problems),
    dbPoolMax: intVar(env, 'DATABASE_POOL_MAX', 10, 1, 1000, problems),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: deepFreeze(config), warnings };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
