import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Env } from '../../src/app-config.js';

/** Debian's Kannel (installed by .ci/run): the bearerbox, the smsbox and the fake SMSC of kannel-extras. */
export const BEARERBOX = process.env.KANNEL_BEARERBOX ?? '/usr/sbin/bearerbox';
export const SMSBOX = process.env.KANNEL_SMSBOX ?? '/usr/sbin/smsbox';
export const FAKESMSC = process.env.KANNEL_FAKESMSC ?? '/usr/lib/kannel/test/fakesmsc';

/** A message the fake SMSC received from the bearerbox: what a phone would have been sent. */
export interface Sms {
  from: string;
  to: string;
  /** fakesmsc's type field: `text` for plain text (the text as is), else `data`, `ucs-2`... (text URL-encoded). */
  type: string;
  text: string;
}

/** Every process the helper started, so that an exit however it happens leaves none behind. */
const running = new Set<ChildProcess>();
function killAll(): void {
  for (const p of running) killGroup(p, 'SIGKILL');
}
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.kill(process.pid, sig);
    });
  }
}

function killGroup(p: ChildProcess, sig: NodeJS.Signals): void {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, sig);
  } catch {
    /* already gone */
  }
}

/** `n` distinct free loopback ports: all held open at once, then released for Kannel to bind. */
async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/**
 * The line fakesmsc logs for each message it receives: `... DEBUG: Got message 1: <from to type text>`.
 * The fake SMSC protocol is one message a line, so a text with a line break arrives as two messages.
 */
const GOT = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[\d+\] \[\d+\] DEBUG: Got message \d+: <(.*)>$/;

/** The messages in fakesmsc's log, in order. */
export function parseFakesmsc(log: string): Sms[] {
  const out: Sms[] = [];
  for (const line of log.split('\n')) {
    const got = GOT.exec(line);
    if (!got) continue;
    const [from = '', to = '', type = '', ...rest] = got[1]!.split(' ');
    const raw = rest.join(' ');
    out.push({ from, to, type, text: type === 'text' ? raw : safeDecode(raw) });
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/**
 * A real Kannel for one test file: a bearerbox with a `fake` SMSC, an smsbox with the sendsms
 * interface and one sendsms-user, and fakesmsc connected as the SMSC, on spare loopback ports in a
 * temporary folder. What fakesmsc receives is in `messages`. Each process runs in its own process
 * group under `setpriv --pdeathsig KILL`, so it dies with the test process even if that is killed;
 * `stop()` (and the process's exit, on any path) kills the groups.
 */
export class TestKannel {
  readonly username = `palisade-${randomBytes(4).toString('hex')}`;
  readonly password = randomBytes(12).toString('base64url');
  /** The sendsms URL (set by start). */
  url = '';
  adminUrl = '';
  private readonly adminPassword = randomBytes(12).toString('base64url');
  private dir = '';
  private bearerbox: ChildProcess | null = null;
  private smsbox: ChildProcess | null = null;
  private fakesmsc: ChildProcess | null = null;
  private fakesmscLog = '';

  /** Starts the three peers and waits until the SMSC is online and sendsms answers; retries on a port race. */
  async start(): Promise<this> {
    let last: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.startOnce();
        return this;
      } catch (e) {
        last = e;
        await this.stop();
      }
    }
    throw last;
  }

  /** SMS_* variables for a Palisade that sends through this gateway. */
  env(extra: Env = {}): Env {
    return { SMS_KANNEL_URL: this.url, SMS_KANNEL_USER: this.username, SMS_KANNEL_PASSWORD: this.password, SMS_FROM: 'Palisade', ...extra };
  }

  /** Everything fakesmsc received so far, in order. */
  get messages(): Sms[] {
    return parseFakesmsc(this.fakesmscLog);
  }

  /** Messages sent to one number. */
  to(number: string): Sms[] {
    return this.messages.filter((m) => m.to === number);
  }

  /** Waits until `count` messages have reached `number` (delivery follows sendsms's answer) and returns the last. */
  async waitFor(number: string, count = 1, timeoutMs = 5000): Promise<Sms> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const got = this.to(number);
      if (got.length >= count) return got[count - 1]!;
      if (Date.now() > end) throw new Error(`fakesmsc got ${got.length} message(s) for ${number}, expected ${count}`);
      await sleep(25);
    }
  }

  /** A slow gateway: the smsbox stops answering (SIGSTOP) while its port still accepts connections. */
  pause(): void {
    if (this.smsbox) killGroup(this.smsbox, 'SIGSTOP');
  }

  resume(): void {
    if (this.smsbox) killGroup(this.smsbox, 'SIGCONT');
  }

  async stop(): Promise<void> {
    const procs = [this.fakesmsc, this.smsbox, this.bearerbox].filter((p): p is ChildProcess => p !== null);
    for (const p of procs) {
      killGroup(p, 'SIGCONT');
      killGroup(p, 'SIGKILL');
    }
    await Promise.all(procs.map((p) => exited(p)));
    for (const p of procs) running.delete(p);
    this.bearerbox = this.smsbox = this.fakesmsc = null;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = '';
  }

  private async startOnce(): Promise<void> {
    hookExit();
    const [admin, box, smsc, sendsms] = (await freePorts(4)) as [number, number, number, number];
    this.dir = mkdtempSync(path.join(tmpdir(), 'palisade-kannel-'));
    const conf = path.join(this.dir, 'kannel.conf');
    writeFileSync(conf, this.config(admin, box, smsc, sendsms), { mode: 0o600 });
    this.url = `http://127.0.0.1:${sendsms}/cgi-bin/sendsms`;
    this.adminUrl = `http://127.0.0.1:${admin}`;
    this.fakesmscLog = '';
    this.bearerbox = this.spawn(BEARERBOX, ['-v', '4', conf], 'ignore');
    await this.until(() => this.status().then((s) => s !== null), 'the bearerbox admin port');
    this.smsbox = this.spawn(SMSBOX, ['-v', '4', conf], 'ignore');
    this.fakesmsc = this.spawn(FAKESMSC, ['-H', '127.0.0.1', '-r', String(smsc), '-i', '0.1', '-m', '0', '1 2 text unused'], 'pipe');
    this.fakesmsc.stderr!.on('data', (c: Buffer) => {
      this.fakesmscLog += c.toString('utf8');
    });
    await this.until(async () => /\(online/.test((await this.status()) ?? ''), 'the fake SMSC online');
    await this.until(async () => (await this.sendsmsAnswers()) && /smsbox:.*on-line/.test((await this.status()) ?? ''), 'the smsbox and sendsms');
  }

  private config(admin: number, box: number, smsc: number, sendsms: number): string {
    const log = (name: string) => JSON.stringify(path.join(this.dir, name));
    return [
      'group = core',
      `admin-port = ${admin}`,
      `admin-password = ${this.adminPassword}`,
      'admin-allow-ip = "127.0.0.1"',
      `smsbox-port = ${box}`,
      'box-allow-ip = "127.0.0.1"',
      `log-file = ${log('bearerbox.log')}`,
      'log-level = 1',
      '',
      'group = smsc',
      'smsc = fake',
      'smsc-id = fake',
      `port = ${smsc}`,
      'connect-allow-ip = "127.0.0.1"',
      '',
      'group = smsbox',
      'bearerbox-host = 127.0.0.1',
      `sendsms-port = ${sendsms}`,
      `log-file = ${log('smsbox.log')}`,
      'log-level = 1',
      '',
      'group = sendsms-user',
      `username = ${this.username}`,
      `password = ${this.password}`,
      '',
    ].join('\n');
  }

  /** Starts a peer with its stderr ignored (the boxes log to files in the folder) or piped (fakesmsc). */
  private spawn(cmd: string, args: string[], stderr: 'ignore' | 'pipe'): ChildProcess {
    // setpriv --pdeathsig: the kernel kills the peer when this test process dies, even by SIGKILL.
    const p = spawn('setpriv', ['--pdeathsig', 'KILL', cmd, ...args], { cwd: this.dir, detached: true, stdio: ['ignore', 'ignore', stderr] });
    running.add(p);
    p.on('error', () => undefined);
    return p;
  }

  /** The bearerbox's status page (which lists the SMSC and the boxes), or null while it is not up. */
  private async status(): Promise<string | null> {
    try {
      const res = await fetch(`${this.adminUrl}/status.txt?password=${encodeURIComponent(this.adminPassword)}`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200 ? await res.text() : null;
    } catch {
      return null;
    }
  }

  private async sendsmsAnswers(): Promise<boolean> {
    try {
      const res = await fetch(this.url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      return true;
    } catch {
      return false;
    }
  }

  private async until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await check())) {
      for (const p of [this.bearerbox, this.smsbox, this.fakesmsc]) {
        if (p && (p.exitCode !== null || p.signalCode !== null)) throw new Error(`Kannel did not start (${what}): a process exited\n${this.logs()}`);
      }
      if (Date.now() > end) throw new Error(`Kannel did not start in time: waiting for ${what}\n${this.logs()}`);
      await sleep(50);
    }
  }

  private logs(): string {
    return ['bearerbox.log', 'smsbox.log']
      .map((f) => {
        try {
          return `--- ${f}\n${readFileSync(path.join(this.dir, f), 'utf8').split('\n').slice(-15).join('\n')}`;
        } catch {
          return `--- ${f}: none`;
        }
      })
      .concat(`--- fakesmsc\n${this.fakesmscLog.split('\n').slice(-10).join('\n')}`)
      .join('\n');
  }
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    setTimeout(resolve, 3000).unref();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
