// Debian's stunnel (stunnel4, installed by .ci/run) as a TLS front that admits only clients with a certificate of a
// given CA, before a plain TCP service: how an operator puts certificate authentication in front of a service that
// has none of its own (Kannel's sendsms interface, an S3-compatible server). One process per front, in the
// foreground, on a spare loopback port, its configuration in a private directory; stopped with the test file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './cli.js';

export const STUNNEL = process.env.STUNNEL ?? '/usr/bin/stunnel4';

export interface TlsFront {
  /** The loopback port the front listens on (TLS). */
  readonly port: number;
  stop(): Promise<void>;
}

/** Whether a TCP connection to the port is accepted. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * A front on a spare port for the service on `targetPort`: the server certificate and key (PEM files), and the CA
 * whose certificates it requires of every client (`requireCert`, `verifyChain`); no other client gets through.
 */
export async function startTlsFront(o: { targetPort: number; cert: string; key: string; clientCa: string }): Promise<TlsFront> {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-stunnel-'));
  const port = await freePort();
  const conf = path.join(dir, 'stunnel.conf');
  writeFileSync(
    conf,
    [
      'foreground = yes',
      'pid =',
      'debug = 3',
      '[front]',
      `accept = 127.0.0.1:${port}`,
      `connect = 127.0.0.1:${o.targetPort}`,
      `cert = ${o.cert}`,
      `key = ${o.key}`,
      `CAfile = ${o.clientCa}`,
      'requireCert = yes',
      'verifyChain = yes',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(STUNNEL, [conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (b: Buffer) => {
    err = (err + b.toString('utf8')).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([gone, sleep(3000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    if (await listening(port)) return { port, stop };
    await sleep(50);
  }
  await stop();
  throw new Error(`stunnel did not listen on ${port}: ${err}`);
}
