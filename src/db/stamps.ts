import { performance } from 'node:perf_hooks';
import { sql, type AliasedRawBuilder } from 'kysely';
import type { Db } from './index.js';

/**
 * The version stamps of what instances cache (D360): `access` moves with every change to the access model and the
 * collection definitions, `settings` with every change to the settings areas and the secrets they read. Triggers move
 * them in the transaction of the change (migration 0022), so a stamp read before some data is never newer than it.
 */
export interface Stamps {
  access: number;
  settings: number;
}

/** The stamps as two columns of a query that reads a credential, so that they cost no round trip of their own. */
export function stampColumns(): [AliasedRawBuilder<number | null, 'stamp_access'>, AliasedRawBuilder<number | null, 'stamp_settings'>] {
  return [
    sql<number | null>`(select access from state_stamps where id = 1)`.as('stamp_access'),
    sql<number | null>`(select settings from state_stamps where id = 1)`.as('stamp_settings'),
  ];
}

/** A read of the stamps begun at `at` (monotonic ms), in the invalidation epoch `epoch`. */
export interface StampRead {
  readonly at: number;
  readonly epoch: number;
}

/**
 * The freshest stamps this instance has seen. Every credential read brings them along (`observe`); a use with none
 * seen for `maxAgeMs` reads them (one statement, shared by the callers waiting at that moment). A change this
 * instance commits calls `invalidate`, so its own next use reads them again: a change is seen at once where it was
 * made and within `maxAgeMs` everywhere else, and at the next request wherever the request's own stamps are used.
 */
export class StateStamps {
  private seen: Stamps | null = null;
  private seenAt = Number.NEGATIVE_INFINITY;
  private seenEpoch = -1;
  private epoch = 0;
  private reading: { epoch: number; promise: Promise<Stamps> } | null = null;

  constructor(
    private readonly db: Db,
    private readonly maxAgeMs = 1000,
    private readonly clock: () => number = () => performance.now(),
    /**
     * SQLite: a value that moves whenever any row of the database changes, through this process or another
     * (`DbHandle.changeMark`, D450); what was read under one mark still holds while the mark is the same.
     */
    readonly changeMark?: () => string,
  ) {}

  /** Marks the start of a read that will bring stamps. */
  begin(): StampRead {
    return { at: this.clock(), epoch: this.epoch };
  }

  /** Stamps that a read begun at `read` returned: kept unless a newer read or a local change came since. */
  observe(stamps: Stamps, read: StampRead): void {
    if (read.epoch !== this.epoch || read.at < this.seenAt) return;
    // Stamps only grow: a kept credential row may bring stamps up to the change mark's bound old (D454), never older
    // than ones already seen; those keep their place.
    if (this.seen && this.seenEpoch === read.epoch && (stamps.settings < this.seen.settings || stamps.access < this.seen.access)) return;
    this.seen = { access: Number(stamps.access), settings: Number(stamps.settings) };
    this.seenAt = read.at;
    this.seenEpoch = read.epoch;
  }

  /**
   * What a credential's read brought: its stamps are kept; none (the stamps row removed by hand) means the request
   * caches nothing and the next use of the stamps reads, and puts back, the row.
   */
  settle(stamps: Stamps | undefined, read: StampRead): void {
    if (stamps) this.observe(stamps, read);
    else this.invalidate();
  }

  /** What `current` would give without a read, or null when it would read (issue 14: the hot path waits for nothing). */
  fresh(): Stamps | null {
    return this.seen && this.seenEpoch === this.epoch && this.clock() - this.seenAt < this.maxAgeMs ? this.seen : null;
  }

  /** Stamps no older than `maxAgeMs` and read after this instance's last change. */
  async current(): Promise<Stamps> {
    const fresh = this.fresh();
    if (fresh) return fresh;
    if (this.reading?.epoch === this.epoch) return this.reading.promise;
    const read = this.begin();
    const promise = this.read()
      .then((row) => {
        this.observe(row, read);
        return row;
      })
      .finally(() => {
        if (this.reading?.promise === promise) this.reading = null;
      });
    this.reading = { epoch: read.epoch, promise };
    return promise;
  }

  /**
   * The stamps row; one removed by hand is put back with stamps above any a counter reaches (the time in ms), so that
   * no cache kept under an earlier stamp can be taken for current.
   */
  private async read(): Promise<Stamps> {
    const get = () => this.db.selectFrom('state_stamps').select(['access', 'settings']).where('id', '=', 1).executeTakeFirst();
    let row = await get();
    if (!row) {
      const now = Date.now();
      await this.db
        .insertInto('state_stamps')
        .values({ id: 1, access: now, settings: now })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      row = await get();
      if (!row) throw new Error('the state_stamps row cannot be read');
    }
    return { access: Number(row.access), settings: Number(row.settings) };
  }

  /** This instance committed a change: stamps read before now no longer count. */
  invalidate(): void {
    this.epoch += 1;
  }
}
