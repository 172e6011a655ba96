import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import type { Env } from '../../src/config/index.js';

const ROOT_DIR = path.resolve(import.meta.dirname, '../..');
const ENTRY = ['--import', 'tsx', path.join(ROOT_DIR, 'src/cli/main.ts')];

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

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `palisade start`, resolves once it listens, with everything it printed so far. */
export function startServer(env: Env): Promise<{ child: ChildProcess; output: () => string; stop: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...ENTRY, 'start'], { env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv, cwd: ROOT_DIR });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${out}`));
    }, 20000);
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
