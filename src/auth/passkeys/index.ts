import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import type { UsersTable } from '../../db/types.js';
import type { EventContext } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { factorState, hasFactor } from '../mfa/factors.js';
import type { RegistrationResponseJSON } from './ceremony.js';
import type { PasskeyDeps } from './deps.js';
import { PasskeyRegistration } from './registration.js';
import { passkeyView, type PasskeyView } from './view.js';

export { passkeyEnv, type PasskeyConfig } from './env.js';
export type { PasskeyDeps } from './deps.js';
export type { PasskeyView } from './view.js';
export type { AuthenticationResponseJSON, RegistrationResponseJSON } from './ceremony.js';

/**
 * Passkeys (AUTH-12): a signed-in user's own passkeys: registering one (`registration.ts`), listing,
 * renaming and removing them. Signing in with one is a credential (`../credentials/passkey.ts`); the
 * checks of an assertion are `assertion.ts`. Registering and removing need the current password first,
 * like every change to a user's factors.
 */
export class PasskeyService {
  private readonly registration: PasskeyRegistration;

  constructor(private readonly d: PasskeyDeps) {
    this.registration = new PasskeyRegistration(d);
  }

  async registrationOptions(user: UsersTable, password: string, ctx: EventContext): Promise<PublicKeyCredentialCreationOptionsJSON> {
    await this.d.provePassword(user, password, ctx);
    return this.registration.options(user);
  }

  register(
    user: UsersTable,
    response: RegistrationResponseJSON,
    name: string,
    ctx: EventContext,
  ): Promise<{ passkey: PasskeyView; recoveryCodes: string[] | null }> {
    return this.registration.verify(user, response, name, ctx);
  }

  async list(userId: string): Promise<PasskeyView[]> {
    const rows = await this.d.db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at', 'asc').orderBy('id').execute();
    return rows.map(passkeyView);
  }

  /** Renames one of the user's own passkeys; another user's answers NOT_FOUND like a missing one. */
  async rename(userId: string, id: string, name: string, ctx: EventContext): Promise<PasskeyView> {
    return this.d.db.transaction().execute(async (trx) => {
      const r = await trx.updateTable('passkeys').set({ name }).where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new AppError('NOT_FOUND');
      await this.d.log.record(ctx, { type: 'passkey.renamed', outcome: 'success', subjectId: userId, details: { passkeyId: id, name } }, trx);
      return passkeyView(await trx.selectFrom('passkeys').selectAll().where('id', '=', id).executeTakeFirstOrThrow());
    });
  }

  /**
   * Removes one of the user's own passkeys (the current password first), with its event. A passkey is a
   * second factor: a user the policy requires to have one cannot remove their last factor, and with the
   * last factor the recovery codes go too (as with TOTP and email, `../mfa/manage.ts`).
   */
  async remove(user: UsersTable, id: string, password: string, ctx: EventContext): Promise<void> {
    await this.d.provePassword(user, password, ctx);
    const own = await this.d.db.selectFrom('passkeys').select('id').where('id', '=', id).where('user_id', '=', user.id).executeTakeFirst();
    if (!own) throw new AppError('NOT_FOUND');
    const before = await factorState(this.d.db, user);
    const last = hasFactor(before) && !hasFactor({ ...before, passkeys: before.passkeys - 1 });
    if (last && (await this.d.policy.required(user))) throw new AppError('MFA_FACTOR_REQUIRED');
    await this.d.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', user.id).returning(['name']).executeTakeFirst();
      if (!gone) throw new AppError('NOT_FOUND');
      if (last) await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', user.id).execute();
      await this.d.log.record(
        ctx,
        { type: 'passkey.removed', outcome: 'success', subjectId: user.id, details: { passkeyId: id, name: gone.name, recoveryCodesRemoved: last } },
        trx,
      );
    });
    this.d.notices.authChanged(user, 'passkey_removed', ctx);
  }
}
