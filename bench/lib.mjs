// Shared helpers of the benchmarks in bench/: environment parsing, starting and stopping the real
// server (and other child processes) on 127.0.0.1, signing in, lifting rate limits, autocannon with
// a hard stop, and the run's clean-up, watchdog and exit code.
//
// Every child process and temporary directory made through a run is cleaned up when the run ends,
// on SIGINT/SIGTERM, and when the watchdog fires. Only 127.0.0.1 is ever targeted.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const autocannon = require('autocannon');

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');
export const HOST = '127.0.0.1';
export const STARTUP_TIMEOUT_MS = 30_000;
export const SHUTDOWN_TIMEOUT_MS = 5_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * CPU pinning (BENCH_PIN; on by default where Linux's `taskset` exists and two CPUs or more are allowed): every server
 * a bench measures runs on the last allowed CPU (`server`), and the bench itself (autocannon runs inside its
 * process), the bench scripts it starts and wrk on the others (`load`), so that the load generator never takes the
 * measured server's core and the scheduler never moves one onto the other's (D461). The peer (Directus) is given every
 * allowed CPU (`all`), as it had before: its SQLite driver works in libuv's threads. The sets are found once, from the
 * CPUs this process may use (`Cpus_allowed_list`: a container's set, not the host's), and handed to the bench scripts
 * started from here in BENCH_PIN_SET, since those start already held to `load`. BENCH_PIN=0 leaves everything where
 * the operating system puts it.
 */
export const PIN = pinning();
function pinning() {
  if (process.env.BENCH_PIN === '0' || process.platform !== 'linux') return null;
  let pin = null;
  try {
    pin = JSON.parse(process.env.BENCH_PIN_SET ?? 'null');
  } catch {
    pin = null;
  }
  if (!pin || typeof pin.server !== 'string' || typeof pin.load !== 'string' || typeof pin.all !== 'string') {
    const allowed = allowedCpus();
    if (allowed.length < 2) return null;
    pin = { server: String(allowed.at(-1)), load: allowed.slice(0, -1).join(','), all: allowed.join(',') };
  }
  const r = spawnSync('taskset', ['-a', '-p', '-c', pin.load, String(process.pid)], { stdio: 'ignore' });
  if (r.status !== 0) return null;
  process.env.BENCH_PIN_SET = JSON.stringify(pin);
  return pin;
}

/** The CPUs this process may run on, in order ([] when unknown). */
function allowedCpus() {
  let list = '';
  try {
    list = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
  } catch {
    return [];
  }
  const out = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (!Number.isInteger(a)) return [];
    for (let c = a; c <= (Number.isInteger(b) ? b : a); c++) out.push(c);
  }
  return out;
}

/** `[command, args]` that runs `cmd args` on `PIN[which]` (`server`, `load` or `all`) when pinning is on, else unchanged. */
export const onCpus = (which, cmd, args) => (PIN?.[which] ? ['taskset', ['-c', PIN[which], cmd, ...args]] : [cmd, args]);

/** An integer from the environment, `def` when unset; throws when out of range. */
export function intEnv(name, def, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** A port on 127.0.0.1 that was free a moment ago. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The q-quantile (0..1) of sorted numbers, by the nearest rank; null when there are none. */
export const quantile = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] : null);

/**
 * autocannon as a promise, stopped by force 15 s after its duration in case it hangs. The result also carries
 * `exactLatencyMs` (p50, p99 and mean of the 2xx answers' own times, in ms to the microsecond): autocannon's
 * histogram keeps whole milliseconds, so that a ratio of two p50s of 2 to 5 ms moves by a third on rounding alone.
 */
export function cannon(opts) {
  const url = new URL(opts.url);
  if (url.hostname !== HOST) throw new Error(`refusing to load ${url.hostname}: only ${HOST} is a target`);
  return new Promise((resolve, reject) => {
    const times = [];
    const exact = () => {
      const s = Float64Array.from(times).sort();
      const r3 = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
      return { p50: r3(quantile(s, 0.5)), p99: r3(quantile(s, 0.99)), mean: r3(s.length ? s.reduce((a, b) => a + b, 0) / s.length : null), n: s.length };
    };
    const inst = autocannon({ timeout: 10, ...opts }, (err, res) => (err ? reject(err) : resolve(Object.assign(res, { exactLatencyMs: exact() }))));
    inst.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) times.push(ms);
    });
    const t = setTimeout(
      () => {
        inst.stop();
      },
      (opts.duration + 15) * 1000,
    );
    inst.once('done', () => clearTimeout(t));
  });
}

/** One autocannon result as the benches report it; `extra` is merged in. */
export function summarise(name, r, extra = {}) {
  const ok = r['2xx'];
  return {
    name,
    connections: r.connections,
    durationS: r.duration,
    requests: r.requests.total,
    ok2xx: ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count])),
    // Successful responses per second over the actual measured duration.
    reqPerSec: Math.round((ok / r.duration) * 10) / 10,
    // autocannon's mean of per-second samples (all status codes).
    reqPerSecSampleMean: r.requests.average,
    latencyMs: {
      p50: r.latency.p50,
      p97_5: r.latency.p97_5,
      p99: r.latency.p99,
      mean: Math.round(r.latency.average * 100) / 100,
      max: r.latency.max,
    },
    ...(r.exactLatencyMs ? { exactLatencyMs: r.exactLatencyMs } : {}),
    ...extra,
  };
}

/**
 * A password the default policy accepts: 24 characters mixing upper and lower case, digits and
 * symbols, without any of `avoid` (the username, the product name).
 */
export function benchPassword(avoid = ['root', 'palisade']) {
  const sets = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!@#$%^&*'];
  for (;;) {
    const bytes = randomBytes(24);
    const pw = [...bytes]
      .map((b, i) => {
        const set = sets[i % 4];
        return set[b % set.length];
      })
      .join('');
    if (!avoid.some((w) => pw.toLowerCase().includes(w.toLowerCase()))) return pw;
  }
}

/**
 * A JSON request with a 10 s time limit. Throws unless the answer has status `expect` (a number or
 * a list); returns the parsed body (null for an empty one).
 */
export async function api(base, token, method, urlPath, body, expect = 200) {
  const r = await fetch(`${base}${urlPath}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await r.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  const ok = Array.isArray(expect) ? expect.includes(r.status) : r.status === expect;
  if (!ok)
    throw new Error(`${method} ${urlPath}: HTTP ${r.status} ${typeof parsed === 'string' ? parsed.slice(0, 500) : JSON.stringify(parsed)?.slice(0, 500)}`);
  return parsed;
}

/** Signs in (bearer mode) and returns the token. */
export async function login(base, password, username = 'root') {
  const body = await api(base, null, 'POST', '/api/auth/login', { username, password });
  if (!body || typeof body.token !== 'string') throw new Error(`login as ${username}: no token in ${JSON.stringify(body)}`);
  return body.token;
}

/** GET or PATCH /api/admin/settings/<area>; returns the settings now in force. */
export function adminSettings(base, token, method, area, patch) {
  return api(base, token, method, `/api/admin/settings/${area}`, patch);
}

/** Raises every rate-limit budget (not the window, not the refusal delay) to 1e9; returns the settings now in force. */
export async function liftRateLimits(base, token) {
  const current = await adminSettings(base, token, 'GET', 'rate-limits');
  const patch = Object.fromEntries(
    Object.keys(current)
      .filter((k) => k !== 'window' && k !== 'refusalDelay')
      .map((k) => [k, 1e9]),
  );
  return adminSettings(base, token, 'PATCH', 'rate-limits', patch);
}

/**
 * A benchmark run: clean-up tasks (run last-in first-out), a watchdog, SIGINT/SIGTERM handling,
 * and the child processes it started. `tag` prefixes every message.
 */
export function createRun(tag, watchdogMs) {
  const tasks = [];
  const children = [];
  let cleanedUp = false;
  const log = (msg) => process.stderr.write(`${tag}: ${msg}\n`);
  log(PIN ? `servers on CPU ${PIN.server}, this load generator on CPU ${PIN.load} (BENCH_PIN=0: unpinned)` : 'CPUs not pinned');

  async function cleanup() {
    if (cleanedUp) return;
    cleanedUp = true;
    while (tasks.length > 0) {
      const fn = tasks.pop();
      try {
        await fn();
      } catch (e) {
        log(`clean-up step failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  const watchdog = setTimeout(async () => {
    log(`watchdog: run exceeded ${Math.round(watchdogMs / 1000)} s, aborting`);
    await cleanup();
    process.exit(3);
  }, watchdogMs);
  watchdog.unref();

  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, async () => {
      log(`${sig}, cleaning up`);
      await cleanup();
      process.exit(130);
    });
  }

  /** Registers a clean-up task; returns a function that runs it now (once) and unregisters it. */
  function onCleanup(fn) {
    let done = false;
    const once = async () => {
      if (done) return;
      done = true;
      await fn();
    };
    tasks.push(once);
    return async () => {
      const i = tasks.indexOf(once);
      if (i >= 0) tasks.splice(i, 1);
      await once();
    };
  }

  /** A fresh temporary directory, removed at clean-up (or by the returned handle's remove()). */
  function tempDir(prefix) {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    const remove = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    return { dir, remove };
  }

  /**
   * Spawns `node <args>` with `env` (nothing inherited but PATH and HOME), keeps the last 40 lines
   * of its output, and waits until `readyUrl` answers 2xx. Returns a handle with stop().
   */
  async function spawnNode({ name, args, env, readyUrl, execArgv = [], cwd = ROOT, startupTimeoutMs = STARTUP_TIMEOUT_MS }) {
    const tail = [];
    const remember = (chunk) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
      }
    };
    // On the servers' CPU (`PIN`); taskset replaces itself with node (exec), so the pid is the server's.
    const [cmd, argv] = onCpus('server', process.execPath, [...execArgv, ...args]);
    const child = spawn(cmd, argv, {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stdout.on('data', remember);
    child.stderr.on('data', remember);
    const handle = { name, child, tail, exit, pid: child.pid, alive: () => child.exitCode === null && child.signalCode === null };
    handle.stop = onCleanup(async () => {
      if (!handle.alive()) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exit.then(() => true), sleep(SHUTDOWN_TIMEOUT_MS).then(() => false)]);
      if (!done) {
        log(`${name} did not stop within ${SHUTDOWN_TIMEOUT_MS / 1000} s of SIGTERM; sending SIGKILL`);
        child.kill('SIGKILL');
        await Promise.race([exit, sleep(2000)]);
      }
    });
    children.push(handle);

    const deadline = Date.now() + startupTimeoutMs;
    let exited = null;
    exit.then((x) => {
      exited = x;
    });
    while (Date.now() < deadline) {
      if (exited) throw new Error(`${name} exited during start-up (code ${exited.code}, signal ${exited.signal})`);
      try {
        const r = await fetch(readyUrl, { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        if (r.ok) return handle;
      } catch {
        /* not up yet */
      }
      await sleep(100);
    }
    throw new Error(`${name} did not answer ${readyUrl} within ${startupTimeoutMs / 1000} s`);
  }

  /**
   * Starts `node dist/cli/main.js start` on 127.0.0.1:`port` with a random APP_KEY, the given root
   * password and LOG_LEVEL=warn, in `dataDir` (default: a fresh temporary one, removed at clean-up).
   * With `databaseUrl` (postgres://...) it runs on a throw-away schema palisade_bench_<random>,
   * dropped at clean-up. Returns the process handle plus { base, dataDir, startupMs, backend }.
   */
  async function startServer({ port, password, dataDir, prefix = 'palisade-bench-', databaseUrl = null, env = {}, execArgv = [], main = MAIN }) {
    const data = dataDir ? { dir: dataDir, remove: async () => {} } : tempDir(prefix);
    const full = {
      NODE_ENV: 'production',
      HOST,
      PORT: String(port),
      DATA_DIR: data.dir,
      APP_KEY: randomBytes(48).toString('base64url'),
      INIT_ROOT_USERNAME: 'root',
      INIT_ROOT_PASSWORD: password,
      LOG_LEVEL: 'warn',
      ...env,
    };
    let dropSchema = async () => {};
    if (databaseUrl) {
      const pg = require('pg');
      const schema = `palisade_bench_${randomBytes(5).toString('hex')}`;
      const u = new URL(databaseUrl);
      u.searchParams.set('options', `-c search_path=${schema}`);
      const c = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
      await c.connect();
      try {
        await c.query(`CREATE SCHEMA ${schema}`);
      } finally {
        await c.end();
      }
      dropSchema = onCleanup(async () => {
        const d = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
        try {
          await d.connect();
          await d.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        } catch (e) {
          log(`could not drop schema ${schema}: ${e.message}`);
        } finally {
          await d.end().catch(() => {});
        }
      });
      full.DATABASE_URL = u.toString();
    }
    const base = `http://${HOST}:${port}`;
    const t0 = Date.now();
    const h = await spawnNode({
      name: main === MAIN ? 'server' : 'compared server',
      args: [main, 'start'],
      env: full,
      readyUrl: `${base}/healthz`,
      execArgv,
    });
    const stopProcess = h.stop;
    return Object.assign(h, {
      base,
      port,
      dataDir: data.dir,
      startupMs: Date.now() - t0,
      backend: databaseUrl ? 'postgresql' : 'sqlite',
      /** Stops the process, drops the schema and removes the data directory (unless it was given). */
      stop: async () => {
        await stopProcess();
        await dropSchema();
        await data.remove();
      },
      /** Stops only the process; the data directory stays. */
      stopProcess,
    });
  }

  /**
   * Runs `main` (which resolves to an exit code), cleans up and exits. On an exception: exit 2,
   * with the message and the last output of every child process.
   */
  async function finish(main) {
    let code = 1;
    try {
      code = await main();
    } catch (e) {
      log(e instanceof Error ? e.message : String(e));
      for (const c of children) if (c.tail.length) log(`last ${c.name} output (pid ${c.pid}):\n  ${c.tail.join('\n  ')}`);
      code = 2;
    } finally {
      await cleanup();
      clearTimeout(watchdog);
    }
    if (code === 0) for (const c of children) if (c.tail.length) log(`${c.name} output (pid ${c.pid}):\n  ${c.tail.join('\n  ')}`);
    process.exit(code);
  }

  return { tag, log, onCleanup, tempDir, spawnNode, startServer, finish, cleanup };
}
