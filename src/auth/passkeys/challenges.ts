import { randomBytes } from 'node:crypto';
import type { Db } from '../../db/index.js';
import type { PasskeyChallengesTable } from '../../db/types.js';

export type CeremonyPurpose = PasskeyChallengesTable['purpose'];

/** How long a ceremony's challenge may be answered: the browser's timeout plus a margin for the round trip. */
export const CEREMONY_TIMEOUT_MS = 120_000;
const CHALLENGE_VALIDITY_MS = CEREMONY_TIMEOUT_MS + 30_000;

/**
 * Issues a challenge for a ceremony: 32 random bytes, stored with its purpose and, where the ceremony
 * has one, the user it is bound to. Challenges past their expiry are cleared on the way (the public
 * sign-in options are rate-limited per address, so the table stays small).
 */
export async function issueCeremony(db: Db, purpose: CeremonyPurpose, userId: string | null, now: number): Promise<string> {
  const challenge = randomBytes(32).toString('base64url');
  await db.deleteFrom('passkey_challenges').where('expires_at', '<', now).execute();
  await db
    .insertInto('passkey_challenges')
    .values({ challenge, purpose, user_id: userId, created_at: now, expires_at: now + CHALLENGE_VALIDITY_MS, used_at: null })
    .execute();
  return challenge;
}

/**
 * Spends a challenge: true for the one request that finds it unused, unexpired, of this purpose and
 * bound to this user (null: bound to none). A response is checked only after its challenge is spent,
 * so a replay, or a second try with the same options, is refused whatever it carries.
 */
export async function claimCeremony(db: Db, challenge: string, purpose: CeremonyPurpose, userId: string | null, now: number): Promise<boolean> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) return false;
  const r = await db
    .updateTable('passkey_challenges')
    .set({ used_at: now })
    .where('challenge', '=', challenge)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .where((eb) => (userId === null ? eb('user_id', 'is', null) : eb('user_id', '=', userId)))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
