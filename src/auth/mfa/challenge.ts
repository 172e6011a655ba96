import { newSplitToken, parseSplitToken, verifierMatches } from '../split-token.js';
import type { Db } from '../../db/index.js';
import type { MfaChallengesTable } from '../../db/types.js';
import type { SessionMode, SignInMethod } from '../session/types.js';

export type ChallengeKind = MfaChallengesTable['kind'];

/**
 * A challenge token (the second step of a sign-in) or an enrolment-only token is a split token
 * (src/auth/split-token.ts, the reset links' scheme). Neither is a session: the pipeline does not know them, and
 * only the second-factor routes that take one in their body accept it.
 */

export type ChallengeProblem = 'malformed' | 'unknown' | 'altered' | 'wrong_kind' | 'used' | 'expired';

export interface IssuedChallenge {
  token: string;
  expiresAt: number;
}

/** Issues a token for a user who proved their password; rows of this user long past their expiry are cleared. */
export async function issueChallenge(
  db: Db,
  userId: string,
  kind: ChallengeKind,
  session: { mode: SessionMode; rememberMe: boolean },
  validitySeconds: number,
  now: number,
  /** The first step's method: a single sign-on is kept, so that the session the second step opens names it. */
  first: SignInMethod = 'password',
): Promise<IssuedChallenge> {
  const { id, token, verifierHash } = newSplitToken();
  const expiresAt = now + validitySeconds * 1000;
  await db
    .deleteFrom('mfa_challenges')
    .where('user_id', '=', userId)
    .where('expires_at', '<', now - 86400_000)
    .execute();
  await db
    .insertInto('mfa_challenges')
    .values({
      id,
      user_id: userId,
      kind,
      verifier_hash: verifierHash,
      mode: session.mode,
      remember: session.rememberMe ? 1 : 0,
      created_at: now,
      expires_at: expiresAt,
      used_at: null,
      first_method: typeof first === 'object' && first.method === 'sso' ? JSON.stringify(first) : null,
    })
    .execute();
  return { token, expiresAt };
}

/** Finds the token's row and checks it; `problem` says why it cannot be used. Never throws on input. */
export async function inspectChallenge(
  db: Db,
  token: string,
  kind: ChallengeKind,
  now: number,
): Promise<{ row: MfaChallengesTable; problem: null } | { row?: MfaChallengesTable; problem: ChallengeProblem }> {
  const parts = parseSplitToken(token);
  if (!parts) return { problem: 'malformed' };
  const row = await db.selectFrom('mfa_challenges').selectAll().where('id', '=', parts.id).executeTakeFirst();
  const match = verifierMatches(row?.verifier_hash, parts.verifier);
  if (!row) return { problem: 'unknown' };
  if (!match) return { row, problem: 'altered' };
  if (row.kind !== kind) return { row, problem: 'wrong_kind' };
  if (row.used_at !== null) return { row, problem: 'used' };
  if (row.expires_at <= now) return { row, problem: 'expired' };
  return { row, problem: null };
}

/** Spends a token; false when another request spent it first or it expired meanwhile. */
export async function claimChallenge(trx: Db, id: string, now: number): Promise<boolean> {
  const r = await trx
    .updateTable('mfa_challenges')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
