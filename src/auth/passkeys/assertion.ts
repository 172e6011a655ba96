import type { Db } from '../../db/index.js';
import type { PasskeysTable, UsersTable } from '../../db/types.js';
import type { EventContext, SecurityEvent, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import type { LockoutService } from '../lockout.js';
import { claimCeremony, type CeremonyPurpose } from './challenges.js';
import { challengeOf, verifyAssertion, type AuthenticationResponseJSON } from './ceremony.js';
import type { PasskeyConfig } from './env.js';

export interface AssertionDeps {
  db: Db;
  log: SecurityLog;
  lockout: LockoutService;
  now: () => number;
}

export interface AssertionCheck {
  purpose: Exclude<CeremonyPurpose, 'register'>;
  /** The user the ceremony is bound to (a second step); null for a passwordless sign-in. */
  userId: string | null;
  /** The lockout counter a failure spends, from the user's id. */
  subject: (userId: string) => string;
  /** The event a refusal is recorded as (auth.login for a sign-in, mfa.verified for a second step). */
  failureType: SecurityEvent['type'];
}

/** The user handle we gave the authenticator at registration: the user's id. */
export const userHandleOf = (userId: string): string => Buffer.from(userId, 'utf8').toString('base64url');

const actor = (request: Omit<EventContext, 'actor'>, user: UsersTable | undefined): EventContext => ({
  ...request,
  actor: user ? { id: user.id, name: user.username } : { id: null, name: 'anonymous' },
});

/**
 * Checks an assertion for a ceremony and returns whose passkey made it. The challenge is spent first,
 * whatever follows, so an assertion is good once. A response whose credential maps to a user spends a
 * lockout attempt on that account before the signature is checked (a locked account is refused
 * without checking it), and a refused one counts like a wrong password. Every refusal is recorded and
 * answers PASSKEY_INVALID, or PASSKEY_CHALLENGE_INVALID when the challenge cannot be used.
 */
export async function proveAssertion(
  d: AssertionDeps,
  cfg: PasskeyConfig,
  response: AuthenticationResponseJSON,
  check: AssertionCheck,
  request: Omit<EventContext, 'actor'>,
): Promise<{ user: UsersTable; passkey: PasskeysTable }> {
  const challenge = challengeOf(response.response.clientDataJSON);
  const claimed = challenge !== null && (await claimCeremony(d.db, challenge, check.purpose, check.userId, d.now()));
  const found = await d.db.selectFrom('passkeys').selectAll().where('credential_id', '=', response.id).executeTakeFirst();
  // A second step accepts only a passkey of the user who passed the first one.
  const passkey = found && (check.userId === null || found.user_id === check.userId) ? found : undefined;
  const owner = passkey?.user_id ?? check.userId;
  const user = owner ? await d.db.selectFrom('users').selectAll().where('id', '=', owner).executeTakeFirst() : undefined;
  const ctx = actor(request, user);
  const refuse = async (reason: string, code: 'PASSKEY_INVALID' | 'PASSKEY_CHALLENGE_INVALID' = 'PASSKEY_INVALID', extra: Record<string, unknown> = {}) => {
    await d.log.record(ctx, {
      type: check.failureType,
      outcome: 'failure',
      subjectId: user?.id ?? null,
      details: { method: 'passkey', reason, ...(passkey ? { passkeyId: passkey.id } : {}), ...extra },
    });
    return new AppError(code, undefined, reason);
  };
  if (!claimed)
    throw await refuse(challenge === null ? 'malformed' : 'challenge_invalid', challenge === null ? 'PASSKEY_INVALID' : 'PASSKEY_CHALLENGE_INVALID');
  if (!passkey || !user) throw await refuse('unknown_credential');

  const ticket = await d.lockout.reserve(check.subject(user.id), user.id);
  if (!ticket) throw await refuse('locked');
  let failure: string | null;
  let counter = 0;
  try {
    const handle = response.response.userHandle;
    const v = await verifyAssertion(cfg, response, passkey, challenge!);
    failure = handle !== undefined && handle !== userHandleOf(user.id) ? 'user_handle_mismatch' : v.ok ? null : v.reason;
    if (v.ok) counter = v.counter;
    if (!v.ok && v.reason === 'counter_not_increased') {
      // The signature is good but the counter went back: a copy of this authenticator's key is in use.
      await d.log.record(ctx, {
        type: 'passkey.clone_detected',
        outcome: 'failure',
        subjectId: user.id,
        details: { passkeyId: passkey.id, storedCounter: passkey.counter, reportedCounter: v.counter },
      });
    }
  } catch (e) {
    await d.lockout.release(ticket);
    throw e;
  }
  if (failure !== null) {
    const err = await refuse(failure);
    await d.lockout.failed(ticket, ctx);
    throw err;
  }
  await d.lockout.succeeded(ticket);
  await markUsed(d, passkey, counter, request.ip ?? null);
  return { user, passkey };
}

/** Last use, and the counter moved forward only (two uses at once never move it back). */
async function markUsed(d: AssertionDeps, passkey: PasskeysTable, counter: number, ip: string | null): Promise<void> {
  const now = d.now();
  await d.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('passkeys')
      .set({ last_used_at: now, last_used_ip: ip ? ip.slice(0, 64) : null })
      .where('id', '=', passkey.id)
      .execute();
    await trx.updateTable('passkeys').set({ counter }).where('id', '=', passkey.id).where('counter', '<', counter).execute();
  });
}
