import type { Db } from '../db/index.js';
import { checkTokenPolicy, type TokenPolicy } from './index.js';
import { AppError } from '../errors.js';

/**
 * One area of runtime settings: its storage key, env defaults and consistency check.
 * Each feature declares its area; the store and the admin routes are shared.
 */
export interface SettingsArea<T extends object> {
  readonly key: string;
  readonly defaults: Readonly<T>;
  /** Problems with a complete value; empty when consistent. */
  check(value: T): string[];
}

export function tokenPolicyArea(defaults: Readonly<TokenPolicy>): SettingsArea<TokenPolicy> {
  return { key: 'tokenPolicy', defaults, check: checkTokenPolicy };
}

/**
 * Runtime settings edited by administrators (audited by the caller), over env defaults.
 * Read from the database on each use, so a change reaches every instance at the next request.
 */
export class SettingsStore {
  readonly tokenPolicyArea: SettingsArea<TokenPolicy>;

  constructor(private readonly db: Db, defaults: { tokenPolicy: Readonly<TokenPolicy> }) {
    this.tokenPolicyArea = tokenPolicyArea(defaults.tokenPolicy);
  }

  tokenPolicy(): Promise<TokenPolicy> {
    return this.get(this.tokenPolicyArea);
  }

  /**
   * The env defaults with the stored overrides on top. Overrides that changed env defaults have
   * made inconsistent are ignored: the env values were validated at boot (decision D11).
   */
  async get<T extends object>(area: SettingsArea<T>): Promise<T> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', area.key).executeTakeFirst();
    const stored = row ? (JSON.parse(row.value) as Partial<T>) : {};
    const merged = { ...area.defaults, ...stored } as T;
    return area.check(merged).length === 0 ? merged : ({ ...area.defaults } as T);
  }

  /** Validates the merged value, stores the overrides, returns [before, after]. */
  async update<T extends object>(area: SettingsArea<T>, patch: Partial<T>, actorId: string | null, now: number): Promise<[T, T]> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('settings').select('value').where('key', '=', area.key).executeTakeFirst();
      const stored = row ? (JSON.parse(row.value) as Partial<T>) : {};
      const before = { ...area.defaults, ...stored } as T;
      const after = { ...before, ...patch } as T;
      const problems = area.check(after);
      if (problems.length > 0) throw new AppError('SETTINGS_INVALID', { problems });
      const value = JSON.stringify({ ...stored, ...patch });
      await trx.insertInto('settings').values({ key: area.key, value, updated_at: now, updated_by: actorId })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now, updated_by: actorId }))
        .execute();
      return [before, after];
    });
  }
}
