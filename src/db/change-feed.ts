import { performance } from 'node:perf_hooks';
import pg from 'pg';

/** The channel migration 0026's triggers notify on (the changed table's schema as the payload, for an operator). */
export const CREDENTIALS_CHANNEL = 'palisade_credentials';

/** How often the feed sends itself a beat. */
const BEAT_MS = 200;
/** How long after a beat was sent its return still vouches for the feed (D453): the bound on a late notice. */
const FRESH_MS = 1_000;
/** How soon after a write of this instance a beat follows it. */
const SOON_MS = 1;
/** The wait before connecting again after the listening connection failed or ended. */
const RETRY_MS = 1_000;

/**
 * PostgreSQL's change mark (issue 14, D453): the counterpart of SQLite's `total_changes()` and `data_version` (D450)
 * for the credential's kept row. A dedicated connection listens on `palisade_credentials`, which the triggers of
 * migration 0026 notify in the transaction of every change to a table the lookup reads, whoever makes it (another
 * instance, the CLI, an operator's SQL). The mark counts those notices, of every schema (another installation in the
 * same database only costs reads), and the losses of the listening connection (what was notified meanwhile is
 * unknown).
 *
 * Beats prove that no notice is late: every BEAT_MS, and soon after each write of this instance, a statement on
 * another connection (`send`, the pool) notifies the listening connection's own channel. PostgreSQL delivers notices
 * in the order their transactions committed, so once a beat sent at time t is back, every change committed before t
 * has been counted; and a beat travels the same way as a change's notice, so a listener that misses notices (a pooler
 * in transaction mode, a dead connection) gets no beats either. The mark is given only while
 * - the last beat back was sent less than FRESH_MS ago, by the monotonic clock and by the wall clock (a suspended
 *   host): a change committed elsewhere applies here as soon as its notice arrives, and never later than FRESH_MS;
 * - and it was sent after this instance's last write returned (`countWrites`): its own changes apply at once, before
 *   the request that made them answers.
 * Otherwise it is a mark never given before, so the caller reads the database.
 */
export class ChangeFeed {
  private changes = 0;
  private unconfirmed = 0;
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private confirmedWall = Number.NEGATIVE_INFINITY;
  private wroteAt = Number.NEGATIVE_INFINITY;
  private soon: NodeJS.Timeout | undefined;
  private client: pg.Client | undefined;
  private beatChannel = '';
  private seq = 0;
  /** Beats sent and not back: their monotonic and wall-clock times. */
  private readonly sent = new Map<number, { at: number; wall: number }>();
  private beating: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private connecting = false;
  private inFlight = false;
  private again = false;

  /**
   * @param connection the listening connection's address (the pool's, so the same database).
   * @param send runs `select pg_notify(channel, payload)` on another connection (the pool).
   */
  constructor(
    private readonly connection: pg.ClientConfig,
    private readonly send: (channel: string, payload: string) => Promise<unknown>,
    private readonly clock: () => number = () => performance.now(),
    private readonly wall: () => number = () => Date.now(),
  ) {}

  /** Connects; a failure is not fatal: the mark is never confirmed (every lookup reads) and the feed tries again. */
  async start(): Promise<void> {
    await this.connect();
  }

  /** The current mark, or one never given before while the feed cannot vouch that no notice is late. */
  mark(): string {
    if (!this.confirmed()) {
      this.unconfirmed += 1;
      return `unconfirmed:${this.unconfirmed}`;
    }
    return String(this.changes);
  }

  /**
   * This instance wrote something (a statement or a commit returned): the mark is not given until a beat sent after
   * now is back, behind the notice of anything this write committed. That beat is sent within SOON_MS.
   */
  wrote(): void {
    this.wroteAt = this.clock();
    if (this.soon || !this.client) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.beat();
    }, SOON_MS);
  }

  /** Whether the feed vouches for its mark now. */
  confirmed(): boolean {
    if (this.confirmedAt <= this.wroteAt || this.clock() - this.confirmedAt >= FRESH_MS) return false;
    const wall = this.wall() - this.confirmedWall;
    return wall < FRESH_MS && wall > -FRESH_MS;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.beating);
    clearTimeout(this.retry);
    clearTimeout(this.soon);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ ...this.connection, connectionTimeoutMillis: 2_000, query_timeout: 5_000, keepAlive: true });
    client.on('error', () => this.drop(client));
    client.on('end', () => this.drop(client));
    client.on('notification', (n) => this.notice(client, n));
    this.connecting = true;
    let failed = false;
    try {
      await client.connect();
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      // A backend's process id is unique on the server while its connection lives: the channel is this connection's.
      const channel = `palisade_beat_${Number(rows[0]?.pid)}`;
      await client.query(`LISTEN ${CREDENTIALS_CHANNEL}`);
      await client.query(`LISTEN ${channel}`);
      if (this.closed) throw new Error('closed');
      this.client = client;
      this.beatChannel = channel;
      // Whatever was notified before LISTEN took effect is unknown: marks given before now no longer hold.
      this.changes += 1;
      clearInterval(this.beating);
      this.beating = setInterval(() => this.beat(), BEAT_MS);
      this.beating.unref();
      this.beat();
    } catch {
      failed = true;
    } finally {
      this.connecting = false;
    }
    if (failed) this.drop(client);
  }

  /** Sends a beat; one at a time, a beat due meanwhile follows the one in flight. */
  private beat(): void {
    const client = this.client;
    if (!client) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    const at = this.clock();
    // Beats that were not back within FRESH_MS vouch for nothing any more.
    for (const [s, t] of this.sent) {
      if (at - t.at < FRESH_MS) break;
      this.sent.delete(s);
    }
    this.seq += 1;
    this.sent.set(this.seq, { at, wall: this.wall() });
    const done = () => {
      this.inFlight = false;
      if (this.again && client === this.client) {
        this.again = false;
        this.beat();
      }
    };
    // A beat that fails (the pool cannot reach the server) is simply not back: the mark lapses after FRESH_MS.
    this.send(this.beatChannel, String(this.seq)).then(done, done);
  }

  private notice(client: pg.Client, n: pg.Notification): void {
    if (client !== this.client) return;
    if (n.channel === CREDENTIALS_CHANNEL) {
      this.changes += 1;
      return;
    }
    if (n.channel !== this.beatChannel) return;
    const seq = Number(n.payload);
    const beat = this.sent.get(seq);
    if (beat === undefined) return;
    if (beat.at > this.confirmedAt) {
      this.confirmedAt = beat.at;
      this.confirmedWall = beat.wall;
    }
    for (const s of this.sent.keys()) {
      if (s > seq) break;
      this.sent.delete(s);
    }
  }

  /** The listening connection failed or ended: nothing is vouched for until a new one's first beat is back. */
  private drop(client: pg.Client): void {
    client.end().catch(() => undefined);
    // A connection already replaced: nothing of it counts any more.
    if (this.client !== undefined && client !== this.client) return;
    this.client = undefined;
    this.confirmedAt = Number.NEGATIVE_INFINITY;
    this.changes += 1;
    this.sent.clear();
    this.again = false;
    clearInterval(this.beating);
    this.beating = undefined;
    if (this.closed || this.connecting || this.retry !== undefined) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, RETRY_MS);
    this.retry.unref();
  }
}

interface Queryable {
  query: (...args: never[]) => unknown;
}

const READ = /^\s*select\b/i;

/**
 * Calls `wrote` when any statement of a pool client that is not a plain `select` returns, in success or failure (a
 * commit, an insert, a `with` that may write, a rollback): this instance's own changes move the mark before the
 * request that made them can answer (D453).
 */
export function countWrites(client: Queryable, wrote: () => void): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => {
    const first = args[0];
    const text = typeof first === 'string' ? first : (first as { text?: unknown } | null)?.text;
    if (typeof text === 'string' && READ.test(text)) return query(...args);
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (...r: unknown[]) => {
        wrote();
        return (callback as (...a: unknown[]) => unknown)(...r);
      };
      return query(...args);
    }
    const result = query(...args);
    if (result instanceof Promise) {
      return result.then(
        (v: unknown) => {
          wrote();
          return v;
        },
        (e: unknown) => {
          wrote();
          throw e;
        },
      );
    }
    wrote();
    return result;
  }) as Queryable['query'];
}
