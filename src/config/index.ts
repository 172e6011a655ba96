import { readFileSync, existsSync, mkdirSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import path from 'node:path';
import type { Static } from 'typebox';
import { boolVar, durationVar, intVar, secretVar, type Env } from './env.js';
import { deepFreeze, seedArea, type SettingsArea } from './settings-area.js';
import { checkAppKey } from './app-key.js';
import { plainConnection, plaintextAllowed, postgresTarget } from './plaintext.js';
import { postgresClientFiles, redisClientTls, type ClientTls } from './client-certs.js';
import { OutboundAllowlist } from './outbound.js';

export { checkAppKey };
export type { ClientTls } from './client-certs.js';
export type { Env } from './env.js';

/**
 * What config itself reads: listening, storage, keys, logging and limits. The settings areas
 * and the features' env sections are declared by the features and walked by `loadConfig`
 * (src/app-config.ts lists them), so config imports no feature.
 */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly databaseUrl: string | null;
  readonly databaseSchema: string | null;
  /** PostgreSQL: the role that runs migrations and schema changes (DATABASE_MIGRATION_URL); null: DATABASE_URL's (D376). */
  readonly databaseMigrationUrl: string | null;
  readonly redisUrl: string | null;
  /** REDIS_TLS_CA, REDIS_TLS_CERT, REDIS_TLS_KEY read at start: Redis's CA and Palisade's client certificate (D437); null: none set. */
  readonly redisTls: ClientTls | null;
  /** OUTBOUND_ALLOW: the systems Palisade may connect to; null: no list (D435). */
  readonly outbound: OutboundAllowlist | null;
  readonly appKey: string;
  readonly appKeySource: 'env' | 'file' | 'generated';
  readonly initRoot: { readonly username: string; readonly email: string | null; readonly password: string | null };
  readonly logLevel: string;
  readonly bodyLimit: number;
  /** Seconds a request may take to arrive whole, headers and body (REQUEST_TIMEOUT); past it 408 and the connection closes. */
  readonly requestTimeout: number;
  readonly renewalGrace: number;
  readonly cookieInsecureDev: boolean;
  readonly hashConcurrency: number;
  readonly hashQueueMax: number;
  readonly dbPoolMax: number;
  /** PostgreSQL: keep credential rows per instance under the listened change mark (DATABASE_LISTEN, D453). */
  readonly databaseListen: boolean;
}

/** Env variables a feature reads outside any settings area (client IP, mail...); merged into the config. */
export interface ConfigSection<T extends object> {
  read(env: Env, problems: string[], warnings: string[], base: Config): T;
}

/** What a feature adds to config loading: its settings areas, env sections and checks across them. */
export interface ConfigPlan {
  readonly areas: readonly SettingsArea[];
  readonly sections: readonly ConfigSection<object>[];
  /** Checks that need the whole config (the root user's password and email). */
  readonly checks: readonly ((config: Config & Record<string, unknown>) => string[])[];
}

/** The env-seeded value of every area, by area key. */
export type AreaValues<A extends readonly SettingsArea[]> = { readonly [X in A[number] as X['key']]: Readonly<Static<X['schema']>> };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export const keyFilePath = (dataDir: string): string => path.join(dataDir, 'app.key');

export interface LoadOptions {
  /** Generate and persist a key in DATA_DIR when none is configured (start, migrate). */
  generateKey: boolean;
}

export interface LoadResult<C extends Config = Config> {
  config: C;
  warnings: string[];
}

/**
 * Validates the whole environment at once: config's own variables, then each settings area seeded
 * from its env variables, each feature section, and the checks across them. Throws ConfigError
 * listing every problem; returns the config deep-frozen.
 */
/** A URL, or null when it does not parse (its own check names the problem). */
function parsedUrl(raw: string): URL | null {
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

export function loadConfig<C extends Config = Config>(env: Env, opts: LoadOptions, plan: ConfigPlan): LoadResult<C> {
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
  const migrationUrl = secretVar(env, 'DATABASE_MIGRATION_URL', problems).value ?? null;
  if (migrationUrl !== null && !/^postgres(ql)?:\/\//.test(migrationUrl)) problems.push('DATABASE_MIGRATION_URL must be a postgres:// URL');
  else if (migrationUrl !== null && dbUrl === null) problems.push('DATABASE_MIGRATION_URL needs DATABASE_URL (embedded SQLite has no database roles)');
  const redisUrl = secretVar(env, 'REDIS_URL', problems).value ?? null;
  if (redisUrl !== null && !/^rediss?:\/\//.test(redisUrl)) problems.push('REDIS_URL must be a redis:// or rediss:// URL');
  plaintextAllowed(env, problems);
  for (const [name, url] of [
    ['DATABASE_URL', dbUrl],
    ['DATABASE_MIGRATION_URL', migrationUrl],
  ] as const) {
    if (url === null || !/^postgres(ql)?:\/\//.test(url)) continue;
    postgresClientFiles(name, url, problems, warnings);
    const pg = postgresTarget(url, env);
    if (!pg.tls) plainConnection(env, 'database', name, pg.host, 'add sslmode=verify-full (with sslrootcert)', problems, warnings);
  }
  const redisParsed = redisUrl?.startsWith('redis://') ? parsedUrl(redisUrl) : null;
  // ioredis takes a host given in the query over the URL's.
  if (redisParsed)
    plainConnection(env, 'redis', 'REDIS_URL', redisParsed.searchParams.get('host') ?? redisParsed.hostname, 'use rediss://', problems, warnings);
  const redisTls = redisClientTls(env, redisUrl, problems, warnings);

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
      writeFileSync(file, `${appKey}\n`, { mode: 0o600, flag: 'wx' });
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

  const logLevel = env.LOG_LEVEL || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel))
    problems.push('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent');

  const cookieInsecureDev = boolVar(env, 'COOKIE_INSECURE_DEV', problems);
  if (cookieInsecureDev) {
    if (!['127.0.0.1', '::1', 'localhost'].includes(host)) problems.push('COOKIE_INSECURE_DEV is allowed only when HOST is a loopback address');
    else warnings.push('COOKIE_INSECURE_DEV=true: session cookies are sent without Secure, for plain-http development on localhost only');
  }

  const base: Config = {
    host,
    port,
    dataDir,
    databaseUrl: dbUrl,
    databaseSchema,
    databaseMigrationUrl: migrationUrl,
    redisUrl,
    redisTls,
    outbound: OutboundAllowlist.fromEnv(env, problems),
    appKey,
    appKeySource,
    initRoot,
    logLevel,
    bodyLimit: intVar(env, 'BODY_LIMIT', 1048576, 1024, 104857600, problems),
    requestTimeout: durationVar(env, 'REQUEST_TIMEOUT', 300, 1, problems, 3600),
    renewalGrace: durationVar(env, 'RENEWAL_GRACE', 10, 0, problems),
    cookieInsecureDev,
    hashConcurrency: intVar(env, 'HASH_CONCURRENCY', 2, 1, 64, problems),
    hashQueueMax: intVar(env, 'HASH_QUEUE_MAX', 128, 1, 100000, problems),
    dbPoolMax: intVar(env, 'DATABASE_POOL_MAX', 10, 1, 1000, problems),
    databaseListen: boolVar(env, 'DATABASE_LISTEN', problems, true),
  };
  const config: Config & Record<string, unknown> = { ...base };
  for (const area of plan.areas) {
    if (area.key in config) throw new TypeError(`settings area ${area.key}: the key is taken`);
    config[area.key] = seedArea(area, env, problems, warnings);
  }
  for (const section of plan.sections) {
    const part = section.read(env, problems, warnings, base);
    // Two parts under one key would silently replace one another (a section's `host` once hid HOST): a programming error.
    for (const key of Object.keys(part)) if (Object.hasOwn(config, key)) throw new Error(`config: two parts of the configuration are named ${key}`);
    Object.assign(config, part);
  }
  for (const check of plan.checks) problems.push(...check(config));
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: deepFreeze(config) as unknown as C, warnings };
}
