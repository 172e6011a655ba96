import type { Db } from '../../db/index.js';
import type { UsersTable } from '../../db/types.js';
import type { SettingsStore } from '../../config/settings.js';
import { isPlainAddress } from '../../mail/address.js';
import type { SecondFactor } from '../session/types.js';
import { mfaArea } from './settings.js';
import { remainingRecoveryCodes } from './recovery.js';

/** What second factors a user has set up. */
export interface FactorState {
  totp: 'none' | 'pending' | 'confirmed';
  /** The email factor is switched on. */
  email: boolean;
  /** ...and the user has an address it can reach. */
  emailUsable: boolean;
  recoveryCodes: number;
  /** Registered passkeys (`src/auth/passkeys/`): each is a factor of the second step too. */
  passkeys: number;
  /** SMS codes: a phone number awaiting its first code, or confirmed (a factor even while no gateway is configured: fail closed). */
  sms: 'none' | 'pending' | 'confirmed';
  /** The masked number, when there is one. */
  smsPhone: string | null;
}

export async function factorState(db: Db, user: UsersTable): Promise<FactorState> {
  const [totp, email, recoveryCodes, passkeys, sms] = await Promise.all([
    db.selectFrom('mfa_totp').select('confirmed_at').where('user_id', '=', user.id).executeTakeFirst(),
    db.selectFrom('mfa_email').select('user_id').where('user_id', '=', user.id).executeTakeFirst(),
    remainingRecoveryCodes(db, user.id),
    db
      .selectFrom('passkeys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow(),
    db.selectFrom('mfa_sms').select(['confirmed_at', 'phone_hint']).where('user_id', '=', user.id).executeTakeFirst(),
  ]);
  return {
    totp: !totp ? 'none' : totp.confirmed_at === null ? 'pending' : 'confirmed',
    email: email !== undefined,
    emailUsable: email !== undefined && isPlainAddress(user.email),
    recoveryCodes,
    passkeys: Number(passkeys.n),
    sms: !sms ? 'none' : sms.confirmed_at === null ? 'pending' : 'confirmed',
    smsPhone: sms?.phone_hint ?? null,
  };
}

/**
 * A factor the user has set up (recovery codes alone are not one: they back the others up). The email factor counts
 * even while the `emailCodes` setting withdraws it (fail closed, like a number while no SMS gateway is configured):
 * its user still needs a second step, with another factor or a recovery code, never the password alone (D438).
 */
export const hasFactor = (f: FactorState): boolean => f.totp === 'confirmed' || f.emailUsable || f.sms === 'confirmed' || f.passkeys > 0;

/** A factor that can pass a second step now: codes by email count only while the server offers them (D438). */
export const hasUsableFactor = (f: FactorState, emailCodes: boolean): boolean =>
  f.totp === 'confirmed' || (f.emailUsable && emailCodes) || f.sms === 'confirmed' || f.passkeys > 0;

/**
 * The methods a second step may use, in the order a client should offer them. `emailCodes` is the `mfa` setting:
 * off, the email factor is neither offered nor accepted (ASVS V6.3.6).
 */
export function methodsOf(f: FactorState, emailCodes: boolean): SecondFactor[] {
  const out: SecondFactor[] = [];
  // A passkey first: it cannot be phished.
  if (f.passkeys > 0) out.push('passkey');
  if (f.totp === 'confirmed') out.push('totp');
  if (f.emailUsable && emailCodes) out.push('email');
  if (f.sms === 'confirmed') out.push('sms');
  if (hasFactor(f) && f.recoveryCodes > 0) out.push('recovery');
  return out;
}

/** What a second step of `user` may use now: the factors set up, under the `mfa` area's `emailCodes`. */
export async function offeredMethods(db: Db, settings: SettingsStore, user: UsersTable): Promise<SecondFactor[]> {
  const [f, s] = await Promise.all([factorState(db, user), settings.get(mfaArea)]);
  return methodsOf(f, s.emailCodes);
}

/**
 * Who must use a second factor (the `mfa` settings area): everyone, administrators, or holders of a
 * listed role (their own or through a department). The roles are read through the function the
 * constructor gets (the access store's), so auth does not import access.
 */
export class MfaPolicy {
  constructor(
    private readonly settings: SettingsStore,
    private readonly rolesOf: (userId: string) => Promise<readonly string[]>,
  ) {}

  async required(user: UsersTable): Promise<boolean> {
    const s = await this.settings.get(mfaArea);
    if (s.required === 'everyone') return true;
    if (s.required === 'admins' && user.is_admin === 1) return true;
    if (s.requiredRoles.length === 0) return false;
    const held = await this.rolesOf(user.id);
    return s.requiredRoles.some((r) => held.includes(r));
  }
}
