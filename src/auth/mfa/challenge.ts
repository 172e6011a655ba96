import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../../db/index.js';
import type { MfaChallengesTable } from '../../db/types.js';
import type { SessionMode } from '../session/types.js';

export type ChallengeKind = MfaChallengesTable['kind'];

/**
 * A challenge token (the second step of a sign-in) or an enrolment-only token is `<selector>.<verifier>`:
 * 128 random bits that name the row, then 256 random bits of which only the SHA-256 is stored, compared
 * in constant time (the reset links' scheme). Neither is a session: the pipeline does not know them, and
 * only the second-factor routes that take one in their body accept it.
 */
const FORMAT = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
const digest = (verifier: string): Buffer => createHash('sha256').update(verifier, 'utf8').digest();
const DUMMY = digest('dummy');

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
): Promise<IssuedChallenge> {
  const id = randomBytes(16).toString('base64url');
  const verifier = randomBytes(32).toString('base64url');
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
      verifier_hash: digest(verifier).toString('hex'),
      mode: session.mode,
      remember: session.rememberMe ? 1 : 0,
      created_at: now,
      expires_at: expiresAt,
      used_at: null,
    })
    .execute();
  return { token: `${id}.${verifier}`, expiresAt };
}

/** Finds the token's row and checks it; `problem` says why it cannot be used. Never throws on input. */
export async function inspectChallenge(
  db: Db,
  token: string,
  kind: ChallengeKind,
  now: number,
): Promise<{ row: MfaChallengesTable; problem: null } | { row?: MfaChallengesTable; problem: ChallengeProblem }> {
  const m = FORMAT.exec(token);
  if (!m) return { problem: 'malformed' };
  const row = await db.selectFrom('mfa_challenges').selectAll().where('id', '=', m[1]!).executeTakeFirst();
  const got = digest(m[2]!);
  const want = row ? Buffer.from(row.verifier_hash, 'hex') : DUMMY;
  const match = want.length === got.length && timingSafeEqual(want, got);
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
