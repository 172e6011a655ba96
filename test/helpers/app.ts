import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { before, after, beforeEach, afterEach } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { Redis } from 'ioredis';
import { ConfigError, loadConfig, type Env } from '../../src/app-config.js';
import { createServices, ensureRootUser, type Services } from '../../src/services.js';
import { buildApp } from '../../src/http/app.js';
import { RATE_LIMIT_DEFAULTS, rateLimitArea } from '../../src/edge/rate-limit.js';
import { OTHER_COMMITS_MS } from '../../src/db/index.js';

/**
 * Returns once OTHER_COMMITS_MS have passed by the monotonic clock (a timer alone may fire early: it counts from the
 * event loop's cached time): from then on a SQLite instance's change mark shows every commit another connection made
 * before this was called (D454).
 */
export async function pastOtherCommits(): Promise<void> {
  const from = performance.now();
  while (performance.now() - from < OTHER_COMMITS_MS) await new Promise((r) => setTimeout(r, 1));
}

/** The dialect under test: the suite runs once per dialect (scripts/test.sh). */
export const DIALECT = process.env.TEST_DB === 'postgres' ? 'postgres' : 'sqlite';
// The tests' sessions do not wait for each commit's WAL flush (synchronous_commit=off): durability across a crash of
// the server is not what they test, and the wait was most of the PostgreSQL suite's time on a busy disk.
export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test?options=-c%20synchronous_commit%3Doff';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const ROOT = { username: 'root', password: 'Correct-horse-battery-9' };

/** The problems config loading reports for `env` (over a valid data directory and key), or none. */
export function configProblems(env: Env): string[] {
  try {
    loadConfig({ DATA_DIR: tmpdir(), APP_KEY: randomBytes(32).toString('base64url'), ...env }, { generateKey: false });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

/** A clock the tests move by hand. */
export class Clock {
  t = Date.UTC(2026, 10, 23, 12, 0, 0);
  now = (): number => this.t;
  advance(seconds: number): void {
    this.t += seconds * 1000;
  }
}

export interface TestApp {
  app: FastifyInstance;
  s: Services;
  clock: Clock;
  logs: string[];
  /** Shared with a second instance: same storage, same key, same Redis prefix. */
  shared: { dataDir: string; pgSchema?: string; redisPrefix: string; appKey: string; redis: boolean };
  close(): Promise<void>;
}

/** Environment for a CLI run against this app's storage. */
export function cliEnv(t: TestApp): Env {
  return {
    PATH: process.env.PATH,
    DATA_DIR: t.shared.dataDir,
    APP_KEY: t.shared.appKey,
    ...(DIALECT === 'postgres' ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: t.shared.pgSchema } : {}),
  };
}

export interface MakeOptions {
  env?: Env;
  redis?: boolean;
  clock?: Clock;
  /** Keep the default rate limits (otherwise lifted for tests that are not about them). */
  realRateLimits?: boolean;
  /** With realRateLimits: how long a refusal is held (ms); tests default to 0, answered at once. */
  refusalDelay?: number;
  /** Start a second instance on the first one's storage. */
  peerOf?: TestApp;
  /** Key-ring cache in ms (the service default when given); tests default to 0, no cache. */
  keyCacheMs?: number;
}

export async function makeApp(o: MakeOptions = {}): Promise<TestApp> {
  const shared = o.peerOf?.shared ?? {
    dataDir: mkdtempSync(path.join(tmpdir(), 'palisade-test-')),
    pgSchema: DIALECT === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined,
    redisPrefix: `palisade-test:${randomBytes(6).toString('hex')}:`,
    appKey: randomBytes(32).toString('base64url'),
    redis: o.redis ?? false,
  };
  const env: Env = {
    DATA_DIR: shared.dataDir,
    APP_KEY: shared.appKey,
    INIT_ROOT_USERNAME: ROOT.username,
    INIT_ROOT_PASSWORD: ROOT.password,
    LOG_LEVEL: 'info',
    ...(DIALECT === 'postgres' ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: shared.pgSchema } : {}),
    ...(shared.redis ? { REDIS_URL: REDIS_URL } : {}),
    ...o.env,
  };
  const { config } = loadConfig(env, { generateKey: false });
  const clock = o.clock ?? o.peerOf?.clock ?? new Clock();
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const s = await createServices({ config, env, now: clock.now, redisPrefix: shared.redisPrefix, keyCacheMs: o.keyCacheMs ?? 0, logStream: stream });
  if (!o.peerOf) {
    await ensureRootUser(s);
    // Every test signs in from 127.0.0.1 under a frozen clock: lift the per-address budgets unless
    // the test is about them (test/edge/rate-limit.test.ts).
    if (!o.realRateLimits) {
      const high = Object.fromEntries(Object.keys(RATE_LIMIT_DEFAULTS).map((k) => [k, k === 'window' ? 60 : k === 'refusalDelay' ? 0 : 1_000_000]));
      await s.settings.update(rateLimitArea, high, null, clock.now());
    } else if (o.refusalDelay !== undefined) {
      await s.settings.update(rateLimitArea, { refusalDelay: o.refusalDelay }, null, clock.now());
    } else {
      // Refusals answered at once, unless the test is about holding them (test/edge/refusal-delay.test.ts).
      await s.settings.update(rateLimitArea, { refusalDelay: 0 }, null, clock.now());
    }
  }
  const app = await buildApp(s);
  await app.ready();
  return {
    app,
    s,
    clock,
    logs,
    shared,
    async close() {
      await app.close();
      await s.close();
      if (o.peerOf) return;
      if (shared.pgSchema) {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${shared.pgSchema} CASCADE`);
        await c.end();
      }
      if (shared.redis) {
        const r = new Redis(REDIS_URL);
        const keys = await r.keys(`${shared.redisPrefix}*`);
        if (keys.length) await r.del(...keys);
        r.disconnect();
      }
      rmSync(shared.dataDir, { recursive: true, force: true });
    },
  };
}

export type Res = LightMyRequestResponse;

export interface LoginResult {
  token: string;
  sessionId: string;
  userId: string;
  res: Res;
}

export async function login(t: TestApp, username = ROOT.username, password = ROOT.password, extra: Record<string, unknown> = {}): Promise<LoginResult> {
  const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password, ...extra } });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  const b = res.json();
  return { token: b.token, sessionId: b.session.id, userId: b.user.id, res };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Creates a user through the admin API and returns its id. */
export async function createUser(t: TestApp, adminToken: string, username: string, password: string, extra: Record<string, unknown> = {}): Promise<string> {
  const create = (token: string) =>
    t.app.inject({ method: 'POST', url: '/api/admin/users', headers: bearer(token), payload: { username, password, mustChangePassword: false, ...extra } });
  let res = await create(adminToken);
  // A fixture, not the subject: a file whose clock moved past the step-up window (D432) creates as a fresh root.
  if (res.statusCode === 403 && res.json().error?.code === 'REAUTH_REQUIRED') res = await create((await login(t)).token);
  if (res.statusCode !== 201) throw new Error(`create user failed: ${res.statusCode} ${res.body}`);
  return res.json().user.id;
}

/** Reads the security events of a type through the admin API. */
export async function events(t: TestApp, adminToken: string, type: string): Promise<Array<Record<string, any>>> {
  await t.s.tasks.drain(); // events written after an answer (access.refused)
  const res = await t.app.inject({ method: 'GET', url: `/api/admin/security-events?type=${type}`, headers: bearer(adminToken) });
  if (res.statusCode !== 200) throw new Error(`events failed: ${res.statusCode} ${res.body}`);
  return res.json().events;
}

/** Parses Set-Cookie headers into name -> {value, attributes}. */
export function cookies(res: Res): Record<string, { value: string; attrs: string }> {
  const raw = res.headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const out: Record<string, { value: string; attrs: string }> = {};
  for (const c of list) {
    const [pair, ...rest] = c.split(';');
    const i = pair!.indexOf('=');
    out[pair!.slice(0, i)] = { value: pair!.slice(i + 1), attrs: rest.join(';').trim() };
  }
  return out;
}

/**
 * The preamble of a test file: an app (one per file, or a fresh one per test with `perTest`), root
 * signed in, closed afterwards. `set` hands the app and root's token to the file's variables; it may
 * be async and do the file's own setup (fixtures), which then runs in the same hook. Setup that needs
 * the app goes there, not in a separate top-level `before`: Node 20 starts top-level `before` hooks
 * without waiting for the previous one. `o` may be a function, possibly async, called when the hook
 * runs, for options known only then (the URL of an SMTP server it starts).
 */
export function useApp(
  set: (t: TestApp, admin: string) => void | Promise<void>,
  o: MakeOptions | (() => MakeOptions | Promise<MakeOptions>) = {},
  perTest = false,
): void {
  let app: TestApp | undefined;
  (perTest ? beforeEach : before)(async () => {
    app = await makeApp(typeof o === 'function' ? await o() : o);
    await set(app, (await login(app)).token);
  });
  (perTest ? afterEach : after)(() => app?.close());
}
