import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import type { Env } from '../../src/config/index.js';

/**
 * The repository's root. The suite runs compiled into .test-build/ (scripts/build-tests.mjs), whose package.json is a
 * link to the real one: its real path names the root that tools which refuse links (buildah) must be given.
 */
export const ROOT_DIR = path.dirname(realpathSync(path.resolve(import.meta.dirname, '../../package.json')));
/**
 * The CLI the tests spawn: the sources through tsx, or with PALISADE_TEST_DIST=1 (set by scripts/test.sh right after it
 * compiled them) the compiled `dist/`, which starts on half the CPU: the suite spawns the CLI hundreds of times.
 */
export const CLI_ENTRY =
  process.env.PALISADE_TEST_DIST === '1' ? [path.join(ROOT_DIR, 'dist/cli/main.js')] : ['--import', 'tsx', path.join(ROOT_DIR, 'src/cli/main.ts')];
const ENTRY = CLI_ENTRY;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the `palisade` CLI with only the given environment (plus PATH). */
export function cli(args: string[], env: Env, stdin?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...ENTRY, ...args], { env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv, cwd: ROOT_DIR });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (stdin !== undefined) child.stdin.end(stdin);
    else child.stdin.end();
  });
}

/** Ports this process has handed out: the system may give a port again once its probe is closed. */
const handedOut = new Set<number>();

/**
 * A port nothing listens on now, never one this process was given before: a test that asks for several before it
 * binds them (three Redis ports, say) gets distinct ones.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Starts `palisade start`, resolves once it listens, with everything it printed so far. */
export function startServer(env: Env): Promise<{ child: ChildProcess; output: () => string; stop: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...ENTRY, 'start'], { env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv, cwd: ROOT_DIR });
    let out = '';
    // A bound for a hang, not a speed check: a loaded 2-core CI machine has needed more than 20 s.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${out}`));
    }, 60_000);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('Server listening')) {
        clearTimeout(timer);
        resolve({
          child,
          output: () => out,
          stop: () =>
            new Promise((r) => {
              child.once('close', () => r());
              child.kill('SIGTERM');
            }),
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited ${code}: ${out}`));
    });
  });
}
