import { performance } from 'node:perf_hooks';
import pg from 'pg';

/**
 * The channel the triggers notify on, with the schema of the changed table as the payload: channels are the
 * database's, so an instance counts only the notices of its own schema. Notified by migration 0026's triggers.
 */
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
 * instance, the CLI, an operator's SQL), naming the table's schema. The mark counts the notices of its own schema, and the losses of the listening connection
 * (what was notified meanwhile is unknown).
 *
 * The connection also notifies itself: every BEAT_MS, and soon after each write of this instance. PostgreSQL delivers
 * notices in the order their transactions committed, so once a beat sent at time t is back, every change committed
 * before t has been counted. The mark is given only while
 * - the last beat back was sent less than FRESH_MS ago: a change committed elsewhere applies here as soon as its
 *   notice arrives, and never later than FRESH_MS (a slow or dead server, a pooler that does not carry LISTEN, a
 *   stalled process);
 * - and after this instance's last write returned (`countWrites`): its own changes apply at once, before the request
 *   that made them answers, without waiting for their notices.
 * Otherwise it is a mark never given before, so the caller reads the database.
 */
export class ChangeFeed {
  private changes = 0;
  private unconfirmed = 0;
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private wroteAt = Number.NEGATIVE_INFINITY;
  private soon: NodeJS.Timeout | undefined;
  private client: pg.Client | undefined;
  private beatChannel = '';
  private schema: string | null = null;
  private seq = 0;
  private readonly sent = new Map<number, number>();
  private beating: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private connecting = false;
  private inFlight = false;
  private again = false;

  constructor(
    private readonly connection: pg.ClientConfig,
    private readonly clock: () => number = () => performance.now(),
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
    return this.confirmedAt > this.wroteAt && this.clock() - this.confirmedAt < FRESH_MS;
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
      const { rows } = await client.query<{ pid: number; schema: string | null }>('select pg_backend_pid() as pid, current_schema() as schema');
      // A backend's process id is unique on the server while its connection lives: the channel is this connection's.
      const channel = `palisade_beat_${Number(rows[0]?.pid)}`;
      // The schema the pool's tables are in (same address and search_path); none known, every notice counts.
      this.schema = rows[0]?.schema ?? null;
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

  /** Sends a beat; one at a time on the connection, a beat due meanwhile follows the one in flight. */
  private beat(): void {
    const client = this.client;
    if (!client) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    this.seq += 1;
    this.sent.set(this.seq, this.clock());
    client.query('select pg_notify($1, $2)', [this.beatChannel, String(this.seq)]).then(
      () => {
        this.inFlight = false;
        if (this.again && client === this.client) {
          this.again = false;
          this.beat();
        }
      },
      () => {
        this.inFlight = false;
        this.drop(client);
      },
    );
  }

  private notice(client: pg.Client, n: pg.Notification): void {
    if (client !== this.client) return;
    if (n.channel === CREDENTIALS_CHANNEL) {
      // Another schema's notice (another installation, a test beside this one) is not a change of ours.
      if (this.schema === null || n.payload === this.schema) this.changes += 1;
      return;
    }
    if (n.channel !== this.beatChannel) return;
    const seq = Number(n.payload);
    const at = this.sent.get(seq);
    if (at === undefined) return;
    if (at > this.confirmedAt) this.confirmedAt = at;
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
    this.inFlight = false;
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
