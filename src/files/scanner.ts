/**
 * The virus scanner of quarantined uploads (DATA-3): a client of ClamAV's `clamd` over its documented INSTREAM
 * protocol (`man clamd`), hand-written over node:net because the protocol is a few lines and the npm clients
 * (clamscan, clamdjs) bring far more than it (D240). It fails closed: any reply other than `OK` or `... FOUND` is
 * an error, never "clean"; every wait is bounded by `timeoutMs` (D241).
 */
import { connect, type Socket } from 'node:net';
import { AppError } from '../errors.js';

export type ScanVerdict = { verdict: 'clean' } | { verdict: 'infected'; signature: string };

export interface Scanner {
  readonly kind: 'clamd';
  /** Streams the bytes to the scanner; rejects with AppError('SCANNER_UNAVAILABLE') when it cannot be reached, times out or errors. */
  scan(input: NodeJS.ReadableStream | Buffer): Promise<ScanVerdict>;
  /** PING/PONG within the timeout. */
  ping(): Promise<boolean>;
}

export type ClamdAddress = { socket: string } | { host: string; port: number };

/** Chunks sent to clamd: small enough to keep memory flat, large enough to keep the frame overhead negligible. */
const CHUNK = 64 * 1024;
/** clamd's replies are one short line; anything longer is not clamd. */
const MAX_REPLY = 1024;
/** A signature name as passed on (logged, audited, shown to the uploader): printable ASCII, bounded. */
const MAX_SIGNATURE = 128;

const unavailable = (why: string): AppError => new AppError('SCANNER_UNAVAILABLE', undefined, `clamd: ${why}`);

/** Printable ASCII only (no control characters, no line breaks for a log to split on), at most MAX_SIGNATURE long. */
function sanitiseSignature(name: string): string {
  const clean = name
    .replace(/[^\x20-\x7e]/g, '?')
    .trim()
    .slice(0, MAX_SIGNATURE);
  return clean === '' ? 'unknown' : clean;
}

/** The reply to zINSTREAM (without its NUL): a verdict, or the AppError it stands for. */
function verdictOf(reply: string): ScanVerdict {
  if (reply === 'stream: OK') return { verdict: 'clean' };
  const found = /^stream: (.+) FOUND$/s.exec(reply);
  if (found) return { verdict: 'infected', signature: sanitiseSignature(found[1]!) };
  // StreamMaxLength: retrying cannot help, so this is not "unavailable" (D242).
  if (/size limit exceeded/i.test(reply)) throw new AppError('FILE_TOO_LARGE_TO_SCAN', undefined, `clamd: ${sanitiseSignature(reply)}`);
  throw unavailable(`unexpected reply ${JSON.stringify(sanitiseSignature(reply))}`);
}

/** A signal that the exchange ended (reply, error, timeout) while bytes were still being sent. */
class Ended extends Error {}

/** clamd closed the connection, without a reply we could read, before it had the whole request. */
class ClosedWhileSending extends Error {}

/**
 * One connection: sends a request through `send` and resolves with clamd's reply up to its NUL (or to the end of
 * the connection), and whether it came before the whole request was sent. The connection must open within `timeoutMs`, and the socket may not be silent longer than that
 * (sending or waiting for the reply); an error of the input itself is passed on as it is.
 */
function exchange(
  address: ClamdAddress,
  timeoutMs: number,
  send: (write: (bytes: Buffer) => Promise<void>) => Promise<void>,
): Promise<{ reply: string; early: boolean }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = 'socket' in address ? connect({ path: address.socket }) : connect({ host: address.host, port: address.port });
    const received: Buffer[] = [];
    let size = 0;
    let settled = false;
    let sending = false;
    const replyText = (): string => Buffer.concat(received).toString('latin1').split('\0')[0]!.trim();
    const finish = (err: Error | null, reply?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      socket.destroy();
      if (err) reject(err);
      else resolve({ reply: reply!, early: sending });
    };
    const connectTimer = setTimeout(() => finish(unavailable(`no connection within ${timeoutMs} ms`)), timeoutMs);
    socket.setTimeout(timeoutMs, () => finish(unavailable(`silent for ${timeoutMs} ms`)));
    socket.on('data', (data: Buffer) => {
      received.push(data);
      size += data.length;
      if (data.includes(0)) finish(null, replyText());
      else if (size > MAX_REPLY) finish(unavailable('reply too long'));
    });
    // clamd closes after its reply; one that closes early (size limit) may make our write fail: its reply wins.
    const closed = (why: string): void => {
      if (size > 0) finish(null, replyText());
      else finish(sending ? new ClosedWhileSending(why) : unavailable(`${why} without a reply`));
    };
    socket.on('end', () => closed('closed'));
    socket.on('close', () => closed('closed'));
    socket.on('error', (e: NodeJS.ErrnoException) => closed(e.code ?? e.name));

    const write = async (bytes: Buffer): Promise<void> => {
      // One turn of the event loop first, so that a reply clamd sent before closing (its size limit) is read before a
      // write into the closed connection fails (EPIPE), which would throw the unread reply away with the socket.
      await new Promise((next) => setImmediate(next));
      if (settled) throw new Ended();
      if (socket.write(bytes)) return;
      await new Promise<void>((done) => {
        const go = (): void => {
          socket.off('drain', go);
          socket.off('close', go);
          done();
        };
        socket.on('drain', go);
        socket.on('close', go);
      });
      if (settled) throw new Ended();
    };
    socket.once('connect', () => {
      clearTimeout(connectTimer);
      sending = true;
      send(write).then(
        () => {
          sending = false;
        },
        (e: unknown) => {
          if (!(e instanceof Ended)) finish(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  });
}

/** The INSTREAM body: each chunk after its 4-byte big-endian length, then a zero length. */
async function sendStream(input: NodeJS.ReadableStream | Buffer, write: (bytes: Buffer) => Promise<void>): Promise<void> {
  await write(Buffer.from('zINSTREAM\0', 'latin1'));
  const sendChunk = async (chunk: Buffer): Promise<void> => {
    for (let at = 0; at < chunk.length; at += CHUNK) {
      const part = chunk.subarray(at, at + CHUNK);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(part.length);
      await write(Buffer.concat([length, part]));
    }
  };
  if (Buffer.isBuffer(input)) await sendChunk(input);
  else for await (const chunk of input) await sendChunk(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  await write(Buffer.alloc(4));
}

export function clamdScanner(opts: { address: ClamdAddress; timeoutMs: number }): Scanner {
  const { address, timeoutMs } = opts;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError('clamdScanner: timeoutMs must be a positive integer');
  const ping = async (): Promise<boolean> => {
    try {
      return (await exchange(address, timeoutMs, (write) => write(Buffer.from('zPING\0', 'latin1')))).reply === 'PONG';
    } catch {
      return false;
    }
  };
  return Object.freeze({
    kind: 'clamd' as const,
    async scan(input: NodeJS.ReadableStream | Buffer): Promise<ScanVerdict> {
      try {
        try {
          const { reply, early } = await exchange(address, timeoutMs, (write) => sendStream(input, write));
          const verdict = verdictOf(reply);
          // clamd answers OK only after the whole file: an earlier OK did not scan it.
          if (early && verdict.verdict === 'clean') throw unavailable('answered OK before the end of the file');
          return verdict;
        } catch (e) {
          if (!(e instanceof ClosedWhileSending)) throw e;
          // clamd closes mid-stream at its StreamMaxLength, after a reply that a failed write (EPIPE) can throw away
          // unread; it closes mid-stream for no other reason while it runs. A clamd that still answers PING is
          // therefore refusing the size (D242); one that does not has gone.
          if (await ping()) throw new AppError('FILE_TOO_LARGE_TO_SCAN', undefined, `clamd: closed while the file was sent (${e.message})`);
          throw unavailable(`closed while the file was sent (${e.message})`);
        }
      } catch (e) {
        // A stream left half read (clamd gone, or refused it early) must not stay open waiting for a reader.
        const stream = input as { destroy?: () => void };
        if (!Buffer.isBuffer(input) && typeof stream.destroy === 'function') stream.destroy();
        throw e;
      }
    },
    ping,
  });
}

/** Parses FILES_SCANNER: `clamd://host:port` or `clamd:///absolute/path/to/clamd.sock`; returns a problem string or the address. */
export function parseScannerUrl(url: string): { address: ClamdAddress } | { problem: string } {
  // The problems never repeat the URL: whatever an operator pasted there stays out of logs.
  if (!url.startsWith('clamd://')) return { problem: 'must start with clamd:// (the only scanner built in)' };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { problem: 'is not a URL; use clamd://host:port or clamd:///path/to/clamd.sock' };
  }
  if (u.protocol !== 'clamd:') return { problem: 'must start with clamd:// (the only scanner built in)' };
  if (u.username !== '' || u.password !== '') return { problem: 'must not carry a user name or password (clamd has none)' };
  if (u.search !== '' || u.hash !== '') return { problem: 'must not have a query or fragment' };
  if (u.hostname === '') {
    let socket: string;
    try {
      socket = decodeURIComponent(u.pathname);
    } catch {
      return { problem: 'has a badly encoded socket path' };
    }
    if (u.port !== '') return { problem: 'a socket path takes no port' };
    // Checked on the text as written: the URL parser would quietly resolve `/a/../b`.
    const dotted = /\/\.{1,2}(\/|$)/.test(url.slice('clamd://'.length));
    if (!socket.startsWith('/') || socket.endsWith('/') || socket.includes('\0') || dotted) {
      return { problem: 'needs an absolute socket path, such as clamd:///run/clamav/clamd.ctl' };
    }
    return { address: { socket } };
  }
  if (u.pathname !== '' && u.pathname !== '/') return { problem: 'takes a host and port or a socket path, not both' };
  if (u.port === '' || u.port === '0') return { problem: 'needs a port, such as clamd://127.0.0.1:3310' };
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { address: { host, port: Number(u.port) } };
}
