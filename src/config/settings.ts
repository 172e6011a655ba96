import type { Db } from '../db/index.js';
import { checkTokenPolicy, type TokenPolicy } from './index.js';
import { AppError } from '../http/errors.js';

/**
 * Runtime settings edited by administrators (audited by the caller), over env defaults.
 * Read from the database on each use, so a change reaches every instance at the next request.
 */
export class SettingsStore {
  constructor(private readonly db: Db, private readonly defaults: { tokenPolicy: Readonly<TokenPolicy> }) {}

  async tokenPolicy(): Promise<TokenPolicy> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', 'tokenPolicy').executeTakeFirst();
    const stored = row ? (JSON.parse(row.value) as Partial<TokenPolicy>) : {};
    const merged = { ...this.defaults.tokenPolicy, ...stored };
    // Stored overrides over changed env defaults can stop being consistent; the env policy
    // was validated at boot, so it is the safe fallback.
    return checkTokenPolicy(merged).length === 0 ? merged : { ...this.defaults.tokenPolicy };
  }

  /** Validates the merged policy, stores the overrides, returns [before, after]. */
  async updateTokenPolicy(patch: Partial<TokenPolicy>, actorId: string | null, now: number): Promise<[TokenPolicy, TokenPolicy]> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('settings').select('value').where('key', '=', 'tokenPolicy').executeTakeFirst();
      const stored = row ? (JSON.parse(row.value) as Partial<TokenPolicy>) : {};
      const before = { ...this.defaults.tokenPolicy, ...stored };
      const after = { ...before, ...patch };
      const problems = checkTokenPolicy(after);
      if (problems.length > 0) throw new AppError('SETTINGS_INVALID', { problems });
      const value = JSON.stringify({ ...stored, ...patch });
      await trx.insertInto('settings').values({ key: 'tokenPolicy', value, updated_at: now, updated_by: actorId })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now, updated_by: actorId }))
        .execute();
      return [before, after];
    });
  }
}
