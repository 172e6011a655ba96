import type { Static, TObject } from 'typebox';
import type { Db } from '../db/index.js';
import { AppError } from '../errors.js';
import type { SettingsArea } from './settings-area.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import type { Sealer } from './seal.js';

export type { SettingsArea } from './settings-area.js';

/**
 * Runtime settings edited by administrators, over the env-seeded defaults; each change is stored with its
 * `settings.changed` event.
 * Read from the database on each use, so a change reaches every instance at the next request.
 */
/** What a sealed write-only field reads as when it cannot be opened: set, but unusable (the feature fails closed). */
export const UNREADABLE_SECRET = '\u0000unreadable';

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
  ) {}

  /**
   * The stored overrides, write-only fields opened. One that cannot be opened (APP_KEY changed) becomes
   * UNREADABLE_SECRET, not absent: the rest of the stored value stays in force, and the feature that
   * uses the secret fails closed instead of the area falling back to defaults that may switch it off.
   */
  private parse<S extends TObject>(area: SettingsArea<S>, raw: string | undefined): Partial<Static<S>> {
    const stored = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    for (const f of area.writeOnly) {
      const v = stored[f];
      if (typeof v !== 'string' || v === '') continue;
      const plain = this.sealer?.open(v, `${area.key}.${f}`) ?? null;
      if (plain === null) stored[f] = UNREADABLE_SECRET;
      else stored[f] = plain;
    }
    return stored as Partial<Static<S>>;
  }

  private serialise<S extends TObject>(area: SettingsArea<S>, value: Partial<Static<S>>): string {
    const out: Record<string, unknown> = { ...value };
    for (const f of area.writeOnly) {
      const v = out[f];
      if (typeof v !== 'string' || v === '') continue;
      if (!this.sealer) throw new TypeError(`settings area ${area.key} has write-only fields: the store needs a sealer`);
      out[f] = this.sealer.seal(v, `${area.key}.${f}`);
    }
    return JSON.stringify(out);
  }

  private defaults<S extends TObject>(area: SettingsArea<S>): Static<S> {
    return (this.seeds[area.key] ?? area.defaults) as Static<S>;
  }

  /**
   * The env defaults with the stored overrides on top. Overrides that changed env defaults have
   * made inconsistent are ignored: the env values were validated at boot (decision D11).
   */
  async get<S extends TObject>(area: SettingsArea<S>): Promise<Static<S>> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', area.key).executeTakeFirst();
    const stored = this.parse(area, row?.value);
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
    const [, after] = await this.write(area, patch, ctx.actor.id, this.now(), (before, changed, trx) =>
      this.log.record(ctx, { type: 'settings.changed', outcome: 'success', details: details(before, changed) }, trx),
    );
    return after;
  }

  /** Seeds an area without an event (provisioning before anyone can sign in; tests). Returns [before, after]. */
  async update<S extends TObject>(area: SettingsArea<S>, patch: Partial<Static<S>>, actorId: string | null, now: number): Promise<[Static<S>, Static<S>]> {
    return this.write(area, patch, actorId, now);
  }

  private async write<S extends TObject>(
    area: SettingsArea<S>,
    patch: Partial<Static<S>>,
    actorId: string | null,
    now: number,
    audit?: (before: Static<S>, after: Static<S>, trx: Db) => Promise<void>,
  ): Promise<[Static<S>, Static<S>]> {
    const result = await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('settings').select('value').where('key', '=', area.key).executeTakeFirst();
      const stored = this.parse(area, row?.value);
      const before = { ...this.defaults(area), ...stored } as Static<S>;
      const after = { ...before, ...patch } as Static<S>;
      const problems = area.check(after);
      if (problems.length > 0) throw new AppError('SETTINGS_INVALID', { problems });
      const value = this.serialise(area, { ...stored, ...patch });
      await trx
        .insertInto('settings')
        .values({ key: area.key, value, updated_at: now, updated_by: actorId })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now, updated_by: actorId }))
        .execute();
      if (audit) await audit(before, after, trx);
      return [before, after] as [Static<S>, Static<S>];
    });
    this.onChange?.({ area: area.key, keys: Object.keys(patch).sort(), actorId, audited: audit !== undefined });
    return result;
  }
}
