import type { Static, TObject } from 'typebox';
import type { Db } from '../db/index.js';
import { AppError } from '../errors.js';
import type { SettingsArea } from './settings-area.js';
import { SYSTEM_ACTOR, type EventContext, type SecurityLog } from '../audit/events.js';
import type { Sealer } from './seal.js';
import type { StateStamps } from '../db/stamps.js';
import { StampedCache } from '../util/stamped-cache.js';

export type { SettingsArea } from './settings-area.js';

/**
 * Runtime settings edited by administrators, over the env-seeded defaults; each change is stored with its
 * `settings.changed` event.
 * Read from the database on each use, or, given the stamps, kept per instance under the `settings` stamp (D360): a
 * change is in force at once on the instance that made it and within a second on every other.
 */
/** What a sealed write-only field reads as when it cannot be opened: set, but unusable (the feature fails closed). */
export const UNREADABLE_SECRET = '\u0000unreadable';

/**
 * Where a write-only field's value lives (DATA-1): the secret store, under the name `<area>.<field>`; the
 * settings row keeps only SECRET_REF in its place. Given by services.ts, so config imports no feature.
 */
export interface SecretBackend {
  /** The value, null when not set, UNREADABLE_SECRET when it cannot be opened. */
  read(name: string, db: Db): Promise<string | null>;
  /** A value sets, '' deletes; in the caller's transaction, with the secret's own event. */
  write(name: string, value: string, ctx: EventContext, db: Db): Promise<void>;
}

/** What a settings row holds in place of a write-only field whose value is in the secret store. */
export const SECRET_REF = 'secret-store:v1';
const LEGACY_SEALED = 'sealed:v1:';

/** The secret-store name of an area's write-only field. */
export const secretNameOf = (area: { key: string }, field: string): string => `${area.key}.${field}`;

/** A stored change, as the system log tells it: the area and the names of the keys written, never a value. */
export interface SettingsChange {
  area: string;
  keys: string[];
  actorId: string | null;
  /** Whether the change has its `settings.changed` security event (an administrator's), or was a seed. */
  audited: boolean;
}

export class SettingsStore {
  /**
   * @param seeds the env-seeded value of each area, by area key (validated at boot); an area
   *   without one starts from its schema's defaults.
   */
  constructor(
    private readonly db: Db,
    private readonly log: SecurityLog,
    private readonly now: () => number,
    private readonly seeds: Readonly<Record<string, object>> = {},
    /** Encrypts the areas' write-only fields at rest; an area with such fields cannot be stored without it. */
    private readonly sealer?: Sealer,
    /** Told of each committed change (the system log); it must not throw. */
    private readonly onChange?: (change: SettingsChange) => void,
    /** Where write-only fields are kept (the secret store); without it they are sealed in the row. */
    private readonly secrets?: SecretBackend,
    /** The version stamps: with them, areas are kept per instance until the `settings` stamp moves. */
    private readonly stamps?: StateStamps,
  ) {}

  private readonly cache = new StampedCache<unknown>(256);

  /**
   * The stored overrides, write-only fields opened: from the secret store (SECRET_REF), or a value sealed
   * before the store existed. One that cannot be opened (another key, altered, deleted from the store) becomes
   * UNREADABLE_SECRET, not absent: the rest of the stored value stays in force, and the feature that uses
   * the secret fails closed instead of the area falling back to defaults that may switch it off.
   */
  private async parse<S extends TObject>(area: SettingsArea<S>, raw: string | undefined, db: Db): Promise<Partial<Static<S>>> {
    const stored = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    for (const f of area.writeOnly) {
      const v = stored[f];
      if (v === undefined && this.secrets) {
        // Absent from the row (never written through the settings): the store's secret of that name, when
        // set (on the Secrets page or the CLI), is the value; an explicit '' stays empty (D192).
        const fromStore = await this.secrets.read(secretNameOf(area, f), db);
        if (fromStore !== null) stored[f] = fromStore;
        continue;
      }
      if (typeof v !== 'string' || v === '') continue;
      if (v === SECRET_REF) {
        stored[f] = (this.secrets ? await this.secrets.read(secretNameOf(area, f), db) : null) ?? UNREADABLE_SECRET;
        continue;
      }
      const plain = this.sealer?.open(v, `${area.key}.${f}`) ?? null;
      if (plain === null) stored[f] = UNREADABLE_SECRET;
      else stored[f] = plain;
    }
    return stored as Partial<Static<S>>;
  }

  /**
   * The row to store: write-only fields the patch writes go to the secret store (SECRET_REF in the row), or
   * sealed when there is no store; the others stay as they were stored.
   */
  private async serialise<S extends TObject>(
    area: SettingsArea<S>,
    raw: Record<string, unknown>,
    value: Partial<Static<S>>,
    patch: Partial<Static<S>>,
    ctx: EventContext,
    trx: Db,
  ): Promise<string> {
    const out: Record<string, unknown> = { ...value };
    for (const f of area.writeOnly) {
      if (!(f in patch)) {
        // As stored; a value read from the store for an absent field is never copied into the row.
        if (f in raw) out[f] = raw[f];
        else delete out[f];
        continue;
      }
      const v = out[f];
      if (typeof v !== 'string') continue;
      if (this.secrets) {
        await this.secrets.write(secretNameOf(area, f), v, ctx, trx);
        out[f] = v === '' ? '' : SECRET_REF;
        continue;
      }
      if (v === '') continue;
      if (!this.sealer) throw new TypeError(`settings area ${area.key} has write-only fields: the store needs a sealer`);
      out[f] = this.sealer.seal(v, `${area.key}.${f}`);
    }
    return JSON.stringify(out);
  }

  /**
   * Moves write-only values sealed in settings rows before the secret store existed into it (at start, each
   * area in one transaction, idempotent: a moved field holds SECRET_REF). A value the sealer cannot open
   * stays as it is (it reads as unreadable until written again). Returns the names moved.
   */
  async moveSealedSecrets(areas: readonly SettingsArea[]): Promise<string[]> {
    const backend = this.secrets;
    if (!backend || !this.sealer) return [];
    const moved: string[] = [];
    for (const area of areas.filter((a) => a.writeOnly.length > 0)) {
      await this.db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('settings').select('value').where('key', '=', area.key).executeTakeFirst();
        if (!row) return;
        const raw = JSON.parse(row.value) as Record<string, unknown>;
        let changed = false;
        for (const f of area.writeOnly) {
          const v = raw[f];
          if (typeof v !== 'string' || !v.startsWith(LEGACY_SEALED)) continue;
          const plain = this.sealer!.open(v, `${area.key}.${f}`);
          if (plain === null) continue;
          await backend.write(secretNameOf(area, f), plain, { actor: SYSTEM_ACTOR }, trx);
          raw[f] = SECRET_REF;
          changed = true;
          moved.push(secretNameOf(area, f));
        }
        if (changed)
          await trx
            .updateTable('settings')
            .set({ value: JSON.stringify(raw) })
            .where('key', '=', area.key)
            .execute();
      });
    }
    return moved;
  }

  private defaults<S extends TObject>(area: SettingsArea<S>): Static<S> {
    return (this.seeds[area.key] ?? area.defaults) as Static<S>;
  }

  /**
   * The env defaults with the stored overrides on top. Overrides that changed env defaults have
   * made inconsistent are ignored: the env values were validated at boot (decision D11).
   */
  async get<S extends TObject>(area: SettingsArea<S>): Promise<Static<S>> {
    if (!this.stamps) return this.read(area);
    return this.cache.get(area.key, (await this.stamps.current()).settings, () => this.read(area)) as Promise<Static<S>>;
  }

  /**
   * What `get` would give, when it can be given without waiting: the area read under the stamps now in force and kept
   * (issue 14: a request's stages take their settings without a promise); undefined otherwise, and always without
   * the stamps (the caller then takes `get`).
   */
  peek<S extends TObject>(area: SettingsArea<S>): Static<S> | undefined {
    const stamps = this.stamps?.fresh();
    return stamps ? (this.cache.peek(area.key, stamps.settings) as Static<S> | undefined) : undefined;
  }

  /** A change was committed outside this store (a configuration import's own store): read again at the next use. */
  forget(): void {
    this.stamps?.invalidate();
  }

  private async read<S extends TObject>(area: SettingsArea<S>): Promise<Static<S>> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', area.key).executeTakeFirst();
    const stored = await this.parse(area, row?.value, this.db);
    const defaults = this.defaults(area);
    const merged = { ...defaults, ...stored } as Static<S>;
    // An unreadable secret is no inconsistency of the value: its own field's problems do not count.
    const unreadable = area.writeOnly.filter((f) => (stored as Record<string, unknown>)[f] === UNREADABLE_SECRET);
    const problems = area.check(merged).filter((p) => !unreadable.some((f) => p.includes(f)));
    return problems.length === 0 ? merged : ({ ...defaults } as Static<S>);
  }

  /**
   * An administrator's change to an area, checked as a whole, stored with its `settings.changed` event
   * (the values before and after) in one transaction: never stored without its record, nor recorded
   * without being stored. Returns the new value.
   */
  async change<S extends TObject>(area: SettingsArea<S>, patch: Partial<Static<S>>, ctx: EventContext): Promise<Static<S>> {
    // Write-only fields appear only as `<field>Set`, and by name when the change wrote them.
    const written = area.writeOnly.filter((f) => f in patch);
    for (const [secret, destinations] of Object.entries(area.sentWith)) {
      const moved = destinations.filter((d) => d in patch);
      if (moved.length > 0 && !(secret in patch)) {
        const current = (await this.get(area)) as Record<string, unknown>;
        if (typeof current[secret] === 'string' && current[secret] !== '') {
          throw new AppError('VALIDATION_FAILED', [{ path: `/${secret}`, message: `write ${secret} again (or clear it) when changing ${moved.join(', ')}` }]);
        }
      }
    }
    const details = (before: Static<S>, changed: Static<S>) => ({
      area: area.key,
      before: area.view(before),
      after: area.view(changed),
      ...(written.length > 0 ? { written } : {}),
    });
    const [, after] = await this.write(area, patch, ctx, this.now(), (before, changed, trx) =>
      this.log.record(ctx, { type: 'settings.changed', outcome: 'success', details: details(before, changed) }, trx),
    );
    return after;
  }

  /** Seeds an area without an event (provisioning before anyone can sign in; tests). Returns [before, after]. */
  async update<S extends TObject>(area: SettingsArea<S>, patch: Partial<Static<S>>, actorId: string | null, now: number): Promise<[Static<S>, Static<S>]> {
    return this.write(area, patch, { actor: actorId === null ? SYSTEM_ACTOR : { id: actorId, name: actorId } }, now);
  }

  private async write<S extends TObject>(
    area: SettingsArea<S>,
    patch: Partial<Static<S>>,
    ctx: EventContext,
    now: number,
    audit?: (before: Static<S>, after: Static<S>, trx: Db) => Promise<void>,
  ): Promise<[Static<S>, Static<S>]> {
    const result = await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('settings').select('value').where('key', '=', area.key).executeTakeFirst();
      const stored = await this.parse(area, row?.value, trx);
      const actorId = ctx.actor.id;
      const before = { ...this.defaults(area), ...stored } as Static<S>;
      const after = { ...before, ...patch } as Static<S>;
      const problems = area.check(after);
      if (problems.length > 0) throw new AppError('SETTINGS_INVALID', { problems });
      const raw = row ? (JSON.parse(row.value) as Record<string, unknown>) : {};
      const value = await this.serialise(area, raw, { ...stored, ...patch }, patch, ctx, trx);
      await trx
        .insertInto('settings')
        .values({ key: area.key, value, updated_at: now, updated_by: actorId })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now, updated_by: actorId }))
        .execute();
      if (audit) await audit(before, after, trx);
      return [before, after] as [Static<S>, Static<S>];
    });
    this.stamps?.invalidate();
    this.onChange?.({ area: area.key, keys: Object.keys(patch).sort(), actorId: ctx.actor.id, audited: audit !== undefined });
    return result;
  }
}
