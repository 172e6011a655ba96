import type { UsersTable } from '../db/types.js';
import { AppError } from '../errors.js';
import type { AccountLocks } from './account-locks.js';

/** Whether an account may act at all, whatever proved its identity. */
export type Standing = 'active' | 'disabled' | 'locked';

/** One rule for every way in: a disabled account, then a locked one (AUTH-9), may not act. */
export async function standingOf(user: UsersTable, lockout: Pick<AccountLocks, 'activeLock'>): Promise<Standing> {
  if (user.status !== 'active') return 'disabled';
  if (await lockout.activeLock(user.id)) return 'locked';
  return 'active';
}

declare const cleared: unique symbol;
/** Proof that a request's user passed the account stage; the side effects of authenticating take it. */
export type AccountCleared = { readonly [cleared]: string };

/**
 * The account stage of a request, which every authenticator's result passes before any side effect
 * of authenticating (renewal, last seen): disabled is SESSION_ENDED, locked ACCOUNT_LOCKED.
 */
export async function clearAccount(user: UsersTable, lockout: Pick<AccountLocks, 'activeLock'>): Promise<AccountCleared> {
  const standing = await standingOf(user, lockout);
  if (standing === 'disabled') throw new AppError('SESSION_ENDED', undefined, 'user not active');
  if (standing === 'locked') throw new AppError('ACCOUNT_LOCKED');
  return { userId: user.id } as unknown as AccountCleared;
}
