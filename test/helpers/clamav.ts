import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clamdScanner, type ClamdAddress } from '../../src/files/scanner.js';

/** Debian's clamd (package clamav-daemon, installed by .ci/run). It ships no signature database: we bring our own. */
export const CLAMD = process.env.CLAMD_BIN ?? '/usr/sbin/clamd';

/**
 * The project's test "virus": a line no real file holds, matched by a body signature (.ndb, any file type, any
 * offset), so it is found inside a larger file too. Built from parts so that this source file does not match.
 */
export const TEST_MARKER = ['PALISADE', 'TEST', 'MALWARE', 'SIGNATURE', '7f3a9c1e5b2d4086'].join('-');
const SIGNATURE_NAME = 'Palisade.Test.Malware-7f3a';
/** clamd appends `.UNOFFICIAL` to names from databases that ClamAV did not sign. */
export const TEST_SIGNATURE = `${SIGNATURE_NAME}.UNOFFICIAL`;

export interface TestClamd {
  address: ClamdAddress;
  /** A file that our signature matches: the marker line on its own. */
  infected: Buffer;
  /** The signature name clamd reports for `infected`. */
  signature: string;
  /** clamd's StreamMaxLength in bytes: a longer INSTREAM is refused. */
  streamMaxLength: number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const p of running) kill(p, 'SIGKILL');
  });
}

function kill(p: ChildProcess, sig: NodeJS.Signals): void {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, sig);
  } catch {
    /* already gone */
  }
}

function exited(p: ChildProcess, ms: number): Promise<boolean> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * A real clamd for one test file, in the foreground on a unix socket in a temporary folder (no port to race for),
 * with a database of our one test signature. It runs as whoever runs the tests, root included: without a `User`
 * line clamd never changes user, and everything it touches is in the folder. Resolves once PING answers PONG.
 */
export async function startClamd(opts: { streamMaxLength?: number; startTimeoutMs?: number } = {}): Promise<TestClamd> {
  if (!existsSync(CLAMD)) throw new Error(`${CLAMD} not found: install the Debian package clamav-daemon (or set CLAMD_BIN)`);
  hookExit();
  const streamMaxLength = opts.streamMaxLength ?? 4 * 1024 * 1024;
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-clamd-'));
  const db = path.join(dir, 'db');
  const tmp = path.join(dir, 'tmp');
  mkdirSync(db);
  mkdirSync(tmp);
  const socket = path.join(dir, 'clamd.sock');
  // .ndb: Name:TargetType:Offset:HexSignature (the hex is what `sigtool --hex-dump` prints for the marker).
  writeFileSync(path.join(db, 'palisade-test.ndb'), `${SIGNATURE_NAME}:0:*:${Buffer.from(TEST_MARKER).toString('hex')}\n`);
  const conf = path.join(dir, 'clamd.conf');
  writeFileSync(
    conf,
    [
      'Foreground yes',
      `LocalSocket ${socket}`,
      'LocalSocketMode 600',
      `DatabaseDirectory ${db}`,
      `TemporaryDirectory ${tmp}`,
      `StreamMaxLength ${streamMaxLength}`,
      'MaxThreads 4',
      'ReadTimeout 10',
      'CommandReadTimeout 5',
      'Bytecode no',
      'SelfCheck 0',
      '',
    ].join('\n'),
  );
  let output = '';
  // setpriv --pdeathsig: the kernel kills clamd when this test process dies, even by SIGKILL.
  const p = spawn('setpriv', ['--pdeathsig', 'KILL', CLAMD, '--config-file', conf], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(p);
  p.on('error', () => undefined);
  const keep = (c: Buffer): void => {
    output = (output + c.toString('utf8')).slice(-8192);
  };
  p.stdout!.on('data', keep);
  p.stderr!.on('data', keep);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    kill(p, 'SIGTERM');
    if (!(await exited(p, 5000))) {
      kill(p, 'SIGKILL');
      await exited(p, 5000);
    }
    running.delete(p);
    rmSync(dir, { recursive: true, force: true });
  };

  const address: ClamdAddress = { socket };
  const probe = clamdScanner({ address, timeoutMs: 1000 });
  const end = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    if (existsSync(socket) && (await probe.ping())) break;
    if (p.exitCode !== null || p.signalCode !== null || Date.now() > end) {
      const why = p.exitCode !== null || p.signalCode !== null ? `exited (${p.exitCode ?? p.signalCode})` : 'did not answer PING in time';
      await stop();
      throw new Error(`clamd ${why}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { address, infected: Buffer.from(`${TEST_MARKER}\n`), signature: TEST_SIGNATURE, streamMaxLength, stop };
}
