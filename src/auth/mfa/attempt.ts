import type { UsersTable } from '../../db/types.js';
import type { EventContext, SecurityEvent } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { attemptSubject, secondFactorSubject } from '../account-locks.js';
import type { MfaDeps } from './deps.js';

export type AttemptResult = 'ok' | 'wrong' | 'locked';

/**
 * One check of a code under the lockout (AUTH-9): an attempt is reserved on the account's
 * second-factor counter first (a locked account is refused without looking at the code), a wrong code
 * is recorded as `failure` and spent (the attempt that reaches the limit locks the account), a right
 * one forgets the failures. `check` answers whether the code was right; if it throws, the attempt is
 * given back.
 */
export async function codeAttempt(
  d: Pick<MfaDeps, 'lockout' | 'log'>,
  user: UsersTable,
  ctx: EventContext,
  failure: SecurityEvent,
  check: () => Promise<boolean>,
): Promise<AttemptResult> {
  const result = await d.lockout.attempt(secondFactorSubject(user.id), user.id, ctx, check, () => d.log.record(ctx, failure));
  if (result === 'locked') await d.log.record(ctx, { ...failure, details: { ...failure.details, reason: 'locked' } });
  return result;
}

/**
 * A fresh proof before a change to the user's factors: the current password, checked like a sign-in
 * (a lockout attempt on the password counter first, then the hash). A wrong one is INVALID_CREDENTIALS
 * and recorded as a failure of `type`.
 */
export async function provePassword(
  d: Pick<MfaDeps, 'lockout' | 'log' | 'hasher'>,
  user: UsersTable,
  password: string,
  ctx: EventContext,
  type: SecurityEvent['type'],
): Promise<void> {
  const result = await d.lockout.attempt(
    attemptSubject(user.id, ''),
    user.id,
    ctx,
    () => d.hasher.verify(user.password_hash, password),
    () => d.log.record(ctx, { type, outcome: 'failure', subjectId: user.id, details: { reason: 'bad_password' } }),
  );
  if (result === 'locked') {
    await d.hasher.imitateVerify();
    throw new AppError('INVALID_CREDENTIALS', undefined, 'locked');
  }
  if (result === 'wrong') throw new AppError('INVALID_CREDENTIALS', undefined, 'bad_password');
}
