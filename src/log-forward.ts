import { type Socket, connect as netConnect, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { pino } from 'pino';

/**
 * Where the JSON log lines go (LOG_DESTINATION), for a SIEM: stdout, an append-only file, or a syslog
 * collector over TCP or TLS (RFC 5424 messages framed by octet counting, RFC 6587 / RFC 5425). A leaf:
 * it imports nothing of Palisade's. The syslog stream never blocks nor throws at the logger: lines wait
 * in a bounded queue while the collector is away or slow; when it is full, new lines are dropped and
 * counted, and the count is reported in the stream itself once there is room again (`log.dropped`).
 */
export type LogDestination =
  | { readonly kind: 'stdout' }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'syslog'; readonly tls: boolean; readonly host: string; readonly port: number };

/** Syslog facilities an operator may choose (RFC 5424 section 6.2.1). */
export const FACILITIES: Readonly<Record<string, number>> = Object.freeze({
  user: 1,
  daemon: 3,
  auth: 4,
  authpriv: 10,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
});

/** Parses LOG_DESTINATION; a string is the problem to report. */
export function parseLogDestination(raw: string | undefined): LogDestination | string {
  const v = raw ?? '';
  if (v === '' || v === 'stdout') return { kind: 'stdout' };
  if (v.startsWith('file:')) {
    const p = v.slice('file:'.length);
    if (!p.startsWith('/')) return 'LOG_DESTINATION file: needs an absolute path, such as file:/var/log/palisade/palisade.log';
    return { kind: 'file', path: p };
  }
  const m = /^syslog\+(tcp|tls):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})\/?$/.exec(v);
  if (m) {
    const port = Number(m[3]);
    if (port < 1 || port > 65535) return 'LOG_DESTINATION: the syslog port must be from 1 to 65535';
    const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
    if (m[2]!.startsWith('[') && isIP(host) !== 6) return 'LOG_DESTINATION: a bracketed host must be an IPv6 address';
    return { kind: 'syslog', tls: m[1] === 'tls', host, port };
  }
  return 'LOG_DESTINATION must be stdout, file:/absolute/path, syslog+tcp://host:port or syslog+tls://host:port';
}

/** The RFC 5424 severity of a pino level: fatal crit, error err, warn warning, info info, debug and trace debug. */
export function severityOf(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/** PRINTUSASCII (33 to 126) only, at most `max` characters; "-" when nothing is left (the NILVALUE). */
function header(v: string, max: number): string {
  const s = v.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return s === '' ? '-' : s;
}

export interface FrameOptions {
  facility: number;
  hostname: string;
  appName: string;
  procId: string;
}

/**
 * One JSON log line as an RFC 5424 message with its octet count (RFC 6587 3.4.1):
 * `LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - MSG`. The level and time come from the line
 * itself (pino writes them first); MSG is the JSON line, without a BOM, so that it parses as is.
 */
export function frame(line: string, o: FrameOptions): Buffer {
  const json = line.endsWith('\n') ? line.slice(0, -1) : line;
  const head = /^\{"level":(\d+),"time":(\d+)/.exec(json);
  const level = head ? Number(head[1]) : 30;
  const time = head ? Number(head[2]) : Date.now();
  const pri = o.facility * 8 + severityOf(level);
  const msg = Buffer.from(
    `<${pri}>1 ${new Date(time).toISOString()} ${header(o.hostname, 255)} ${header(o.appName, 48)} ${header(o.procId, 128)} - - ${json}`,
    'utf8',
  );
  return Buffer.concat([Buffer.from(`${msg.length} `, 'ascii'), msg]);
}

export interface SyslogOptions {
  host: string;
  port: number;
  tls: boolean;
  /** PEM file of the CA(s) that sign the collector's certificate; unset: Node's built-in roots. */
  caFile?: string | null;
  /** The client certificate and key (PEM) offered to a collector that requires one (D448). */
  clientCert?: { cert: string; key: string } | null;
  facility?: number;
  /** Lines kept while the collector is away or slow; past it new lines are dropped and counted. */
  queueMax?: number;
  /** Bytes kept likewise (the bound that holds whatever the lines' size). */
  queueBytesMax?: number;
  appName?: string;
  hostname?: string;
  /** Where the stream says that it lost or regained its collector; stderr by default. Never the log itself. */
  report?: (message: string) => void;
  /** First and longest wait before reconnecting, ms. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** A connection whose writes have not drained for this long is dropped and made again, ms. */
  stallMs?: number;
}

export interface ForwardStats {
  connected: boolean;
  queued: number;
  queuedBytes: number;
  /** Lines dropped since start. */
  dropped: number;
  /** Lines handed to a connection since start. */
  sent: number;
}

/** A pino destination stream that sends each line to a syslog collector. */
export class SyslogStream {
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private socket: Socket | null = null;
  private connected = false;
  private waitingDrain = false;
  private stallTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private backoff: number;
  private closed = false;
  private dropped = 0;
  private droppedReported = 0;
  private sent = 0;
  private down = false;
  private readonly frameOpts: FrameOptions;
  private readonly ca: Buffer | undefined;
  private readonly drainWaiters: Array<() => void> = [];

  constructor(private readonly o: SyslogOptions) {
    this.backoff = o.backoffMinMs ?? 200;
    this.ca = o.caFile ? readFileSync(o.caFile) : undefined;
    this.frameOpts = {
      facility: o.facility ?? FACILITIES.local0!,
      hostname: o.hostname ?? osHostname(),
      appName: o.appName ?? 'palisade',
      procId: String(process.pid),
    };
    this.connect();
  }

  /** pino's destination interface: takes one line, never blocks, never throws. */
  write(line: string): boolean {
    if (this.closed) return true;
    this.reportDrops();
    this.enqueue(frame(line, this.frameOpts));
    this.pump();
    return true;
  }

  stats(): ForwardStats {
    return { connected: this.connected, queued: this.queue.length, queuedBytes: this.queuedBytes, dropped: this.dropped, sent: this.sent };
  }

  /** Waits (at most `timeoutMs`) for the queue to reach the collector, then closes the connection. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.closed) return;
    const deadline = Date.now() + timeoutMs;
    if (this.connected && this.queue.length > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.drainWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.clearStall();
    const s = this.socket;
    this.socket = null;
    this.connected = false;
    if (!s) return;
    // What the socket still buffers gets the rest of the time to leave; a peer that does not read is cut off.
    await new Promise<void>((resolve) => {
      const t = setTimeout(
        () => {
          s.destroy();
          resolve();
        },
        Math.max(50, deadline - Date.now()),
      );
      s.end(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private enqueue(buf: Buffer): boolean {
    const max = this.o.queueMax ?? 10_000;
    const maxBytes = this.o.queueBytesMax ?? 16 * 1024 * 1024;
    if (this.queue.length >= max || this.queuedBytes + buf.length > maxBytes) {
      this.dropped++;
      return false;
    }
    this.queue.push(buf);
    this.queuedBytes += buf.length;
    return true;
  }

  /** Once there is room again, the lines lost since the last report are reported in the stream itself. */
  private reportDrops(): boolean {
    const lost = this.dropped - this.droppedReported;
    if (lost === 0 || this.queue.length >= (this.o.queueMax ?? 10_000) / 2) return false;
    const line = JSON.stringify({
      level: 40,
      time: Date.now(),
      pid: process.pid,
      event: 'log.dropped',
      dropped: lost,
      droppedTotal: this.dropped,
      msg: 'log lines were dropped: the syslog collector was unreachable or too slow',
    });
    if (!this.enqueue(frame(line, this.frameOpts))) {
      this.dropped--; // the report itself did not fit: not a line of the application's
      return false;
    }
    this.droppedReported = this.dropped;
    this.say(`palisade: log forwarding dropped ${lost} line(s) (total ${this.dropped}); the collector was unreachable or too slow`);
    return true;
  }

  private say(message: string): void {
    try {
      (this.o.report ?? ((m: string) => process.stderr.write(`${m}\n`)))(message);
    } catch {
      /* reporting must not break logging */
    }
  }

  private connect(): void {
    if (this.closed) return;
    const { host, port } = this.o;
    const s = this.o.tls
      ? tlsConnect({
          host,
          port,
          ca: this.ca,
          ...(this.o.clientCert ? { cert: this.o.clientCert.cert, key: this.o.clientCert.key } : {}),
          servername: isIP(host) === 0 ? host : undefined,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2',
        })
      : netConnect({ host, port });
    this.socket = s;
    s.unref(); // the log never keeps the process alive; close() waits for the queue
    s.setTimeout(10_000, () => {
      if (!this.connected) s.destroy(new Error('connect timeout'));
    });
    s.once(this.o.tls ? 'secureConnect' : 'connect', () => {
      s.setTimeout(0);
      s.setKeepAlive(true, 30_000);
      s.setNoDelay(true);
      this.connected = true;
      this.backoff = this.o.backoffMinMs ?? 200;
      if (this.down) this.say(`palisade: log forwarding reconnected to ${host}:${port}`);
      this.down = false;
      this.reportDrops();
      this.pump();
    });
    s.on('drain', () => {
      this.waitingDrain = false;
      this.clearStall();
      this.pump();
    });
    s.on('data', () => {
      /* a collector sends nothing; whatever it sends is ignored */
    });
    s.on('error', (e: Error) => {
      if (!this.down && !this.closed)
        this.say(`palisade: log forwarding to ${host}:${port} failed (${(e as NodeJS.ErrnoException).code ?? e.message}); queueing, then dropping`);
      this.down = true;
    });
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = null;
      this.connected = false;
      this.waitingDrain = false;
      this.clearStall();
      this.down = true;
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    const wait = Math.round(this.backoff * (0.5 + Math.random() / 2));
    this.backoff = Math.min(this.backoff * 2, this.o.backoffMaxMs ?? 30_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, wait);
    this.retryTimer.unref();
  }

  /** Hands queued lines to the socket while it accepts them; stops at backpressure until 'drain'. */
  private pump(): void {
    const s = this.socket;
    if (!s || !this.connected || this.waitingDrain) return;
    while (this.queue.length > 0) {
      const buf = this.queue.shift()!;
      this.queuedBytes -= buf.length;
      this.sent++;
      if (!s.write(buf)) {
        this.waitingDrain = true;
        this.armStall(s);
        return;
      }
    }
    if (this.reportDrops()) {
      this.pump();
      return;
    }
    for (const w of this.drainWaiters.splice(0)) w();
  }

  /** A collector that accepts but never reads would hold the queue forever: reconnect after a while. */
  private armStall(s: Socket): void {
    this.clearStall();
    this.stallTimer = setTimeout(() => {
      this.say('palisade: log forwarding stalled (the collector does not read); reconnecting');
      s.destroy();
    }, this.o.stallMs ?? 30_000);
    this.stallTimer.unref();
  }

  private clearStall(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }
}

/** What the server's logger writes to, and how to let go of it. */
export interface OpenedDestination {
  /** undefined: pino's own stdout. */
  stream?: { write(line: string): unknown };
  /** After a log rotation (SIGHUP): reopen the file. */
  reopen(): void;
  stats(): ForwardStats | null;
  close(timeoutMs?: number): Promise<void>;
}

export interface ForwardOptions {
  caFile?: string | null;
  clientCert?: { cert: string; key: string } | null;
  facility?: number;
  queueMax?: number;
  report?: (message: string) => void;
}

/** Opens LOG_DESTINATION. A syslog collector that is down is no error: lines wait, then are dropped and counted. */
export function openLogDestination(d: LogDestination, o: ForwardOptions = {}): OpenedDestination {
  if (d.kind === 'stdout') return { reopen: () => undefined, stats: () => null, close: async () => undefined };
  if (d.kind === 'file') {
    const file = pino.destination({ dest: d.path, append: true, mkdir: true, sync: false, mode: 0o600 });
    return {
      stream: file,
      reopen: () => file.reopen(),
      stats: () => null,
      close: () =>
        new Promise<void>((resolve) => {
          try {
            file.flushSync();
          } catch {
            /* not ready yet or already closed */
          }
          file.end();
          resolve();
        }),
    };
  }
  const s = new SyslogStream({
    host: d.host,
    port: d.port,
    tls: d.tls,
    caFile: o.caFile,
    clientCert: o.clientCert,
    facility: o.facility,
    queueMax: o.queueMax,
    report: o.report,
  });
  return { stream: s, reopen: () => undefined, stats: () => s.stats(), close: (t) => s.close(t) };
}
