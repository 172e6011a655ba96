// Dependencies that a fault test owns: its own redis-server and its own PostgreSQL, on spare ports,
// started as child processes and killed by the test. The shared ones (6379, 5432) are never touched.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, chownSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../helpers/cli.js';

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}

/** Resolves once something accepts a TCP connection on the port and answers `probe` as expected. */
async function waitFor(port: number, ok: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await ok()) return;
    await sleep(50);
  }
  throw new Error(`${what} on port ${port} did not start`);
}

/** Files of a TLS-only redis-server (`tls-auth-clients yes`), and the client certificate its readiness probe offers. */
export interface RedisTlsFiles {
  cert: string;
  key: string;
  ca: string;
  clientCert: string;
  clientKey: string;
}

function redisPong(port: number, tlsFiles?: RedisTlsFiles): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tlsFiles
      ? tlsConnect({
          port,
          host: '127.0.0.1',
          ca: readFileSync(tlsFiles.ca),
          cert: readFileSync(tlsFiles.clientCert),
          key: readFileSync(tlsFiles.clientKey),
        })
      : connect(port, '127.0.0.1');
    let buf = '';
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(false));
    s.on(tlsFiles ? 'secureConnect' : 'connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n')) {
        s.destroy();
        resolve(buf.startsWith('+PONG'));
      }
    });
  });
}

async function stop(c: ChildProcess | null, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  try {
    process.kill(-c.pid!, signal);
  } catch {
    /* gone */
  }
  await exited;
}

export interface OwnRedis {
  port: number;
  url: string;
  /** SIGKILL: the data (none is persisted) is gone. */
  kill(): Promise<void>;
  /** Starts again on the same port, empty. */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: the connection stays open, nothing answers. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/** `tls`: TLS only on the port (rediss://), clients must show a certificate of `tls.ca`. */
export async function startRedis(extraArgs: string[] = [], tls?: RedisTlsFiles): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-redis-'));
  let child: ChildProcess | null = null;
  const listen = tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        tls.cert,
        '--tls-key-file',
        tls.key,
        '--tls-ca-cert-file',
        tls.ca,
        '--tls-auth-clients',
        'yes',
      ]
    : ['--port', String(port)];
  const r: OwnRedis = {
    port,
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    async start() {
      child = track(
        spawn('redis-server', [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, ...extraArgs], {
          stdio: 'ignore',
          detached: true,
        }),
      );
      await waitFor(port, () => redisPong(port, tls), 'redis-server');
    },
    async kill() {
      await stop(child);
      child = null;
    },
    pause() {
      process.kill(child!.pid!, 'SIGSTOP');
    },
    resume() {
      process.kill(child!.pid!, 'SIGCONT');
    },
    async close() {
      if (child)
        try {
          process.kill(child.pid!, 'SIGCONT');
        } catch {
          /* gone */
        }
      await stop(child);
      child = null;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await r.start();
  return r;
}

export interface OwnPostgres {
  port: number;
  url: string;
  /** The directory of its Unix socket: `host` for a connection as the superuser `postgres` (trusted there). */
  socketDir: string;
  /** SIGKILL of the postmaster and every backend: a crash, recovered from at the next start. */
  kill(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** The newest PostgreSQL server binaries on this machine, or null. */
export function postgresBin(): string | null {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => existsSync(path.join(base, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(base, versions[0]!, 'bin') : null;
}

/**
 * initdb into a temporary directory and runs `postgres` on a spare port. PostgreSQL refuses to run
 * as root, so as root the processes run as the `postgres` user. `extraArgs` are more server options
 * (`-c ssl=on`...): files they name must be readable by that user.
 */
export async function startPostgres(extraArgs: string[] = []): Promise<OwnPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql');
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-pg-'));
  const ids =
    process.getuid?.() === 0
      ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) }
      : {};
  if (ids.uid !== undefined) chownSync(dir, ids.uid, ids.gid!);
  const data = path.join(dir, 'data');
  execFileSync(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'], { ...ids, stdio: 'ignore', cwd: dir });
  let child: ChildProcess | null = null;
  const isReady = async () => {
    try {
      execFileSync(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  const pg: OwnPostgres = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    socketDir: dir,
    async start() {
      child = track(
        spawn(
          path.join(bin, 'postgres'),
          [
            '-D',
            data,
            '-p',
            String(port),
            '-k',
            dir,
            '-c',
            'listen_addresses=127.0.0.1',
            '-c',
            'fsync=off',
            '-c',
            'full_page_writes=off',
            '-c',
            'shared_buffers=16MB',
            '-c',
            'max_connections=40',
            ...extraArgs,
          ],
          { ...ids, stdio: 'ignore', detached: true, cwd: dir },
        ),
      );
      await waitFor(port, isReady, 'postgres');
    },
    async kill() {
      await stop(child);
      child = null;
    },
    async close() {
      await stop(child, 'SIGQUIT');
      child = null;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await pg.start();
  return pg;
}
