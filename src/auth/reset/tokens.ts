import { newSplitToken, parseSplitToken, verifierMatches } from '../split-token.js';
import { inTransaction, type Db } from '../../db/index.js';
import type { PasswordTokensTable } from '../../db/types.js';

export type LinkTokenKind = PasswordTokensTable['kind'];

/** Lifetime of the one-time change step after a sign-in with an expired password, seconds. */
export const CHANGE_STEP_VALIDITY = 10 * 60;

/* A link token is a split token (src/auth/split-token.ts): a selector naming the row and a verifier stored as a hash. */

/** The user's address changed between reading the user and issuing the link: nothing was issued. */
export class LinkAddressChanged extends Error {
  constructor() {
    super('the email address changed while the link was being issued');
  }
}

/** The user already had the capped number of links (the per-account throttle): nothing was issued. */
export class LinkThrottled extends Error {
  constructor() {
    super('the per-account limit of links was reached');
  }
}

/** At most `max` links of `kinds` issued since `since` (epoch ms), this one included. */
export interface LinkCap {
  kinds: LinkTokenKind[];
  since: number;
  max: number;
}

export type TokenProblem = 'malformed' | 'unknown' | 'altered' | 'used' | 'superseded' | 'expired';

/** Finds the token's row and checks it; `problem` says why it cannot be used. Never throws on input. */
export async function inspectToken(db: Db, token: string, now: number): Promise<{ row?: PasswordTokensTable; problem: TokenProblem | null }> {
  const parts = parseSplitToken(token);
  if (!parts) return { problem: 'malformed' };
  const row = await db.selectFrom('password_tokens').selectAll().where('id', '=', parts.id).executeTakeFirst();
  const match = verifierMatches(row?.verifier_hash, parts.verifier);
  if (!row) return { problem: 'unknown' };
  if (!match) return { row, problem: 'altered' };
  if (row.used_at !== null) return { row, problem: 'used' };
  if (row.revoked_at !== null) return { row, problem: 'superseded' };
  if (row.expires_at <= now) return { row, problem: 'expired' };
  return { row, problem: null };
}

/**
 * Voids every outstanding (unused, unrevoked) reset, invitation and change link of a user. Called inside
 * the transaction of every change that must end them: a new password, a new email address, SSO-only.
 */
export async function voidLinks(trx: Db, userId: string, now: number): Promise<number> {
  const r = await trx
    .updateTable('password_tokens')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/**
 * Issues a link for a user. Every earlier unused link of the same user stops working in the same
 * write, and rows long past their expiry are cleared. `sentTo` is the address the link will be mailed
 * to: the link is only issued while it is still the user's address. The check is a no-op UPDATE of the
 * user row, which also locks it (PostgreSQL re-checks the condition after a concurrent change), so an
 * email change either happens before (no link) or after (the link is voided with the others).
 * With `cap` (the per-account throttle) the row is locked too, and the links issued so far are counted after the
 * lock: concurrent requests for one user, on any number of instances, count one after the other, and at most
 * `cap.max` links are issued (LinkThrottled otherwise, and nothing written).
 */
export async function issueToken(
  db: Db,
  userId: string,
  kind: LinkTokenKind,
  validitySeconds: number,
  createdBy: string | null,
  now: number,
  sentTo?: string,
  cap?: LinkCap,
): Promise<{ token: string; expiresAt: number }> {
  const t = newSplitToken();
  const expiresAt = now + validitySeconds * 1000;
  await inTransaction(db, async (trx) => {
    if (sentTo !== undefined || cap) {
      const still = await trx
        .updateTable('users')
        .set((eb) => ({ email: eb.ref('email') }))
        .where('id', '=', userId)
        .$if(sentTo !== undefined, (q) => q.where('email', '=', sentTo as string))
        .executeTakeFirst();
      if (Number(still.numUpdatedRows) !== 1) throw new LinkAddressChanged();
    }
    // Counted after the row lock: a new snapshot per statement on PostgreSQL, one writer at a time on SQLite.
    if (cap && (await issuedSince(trx, userId, cap.kinds, cap.since)) >= cap.max) throw new LinkThrottled();
    await voidLinks(trx, userId, now);
    await trx
      .deleteFrom('password_tokens')
      .where('user_id', '=', userId)
      .where('expires_at', '<', now - 86400_000)
      .execute();
    await trx
      .insertInto('password_tokens')
      .values({
        id: t.id,
        user_id: userId,
        kind,
        verifier_hash: t.verifierHash,
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
        revoked_at: null,
        created_by: createdBy,
      })
      .execute();
  });
  return { token: t.token, expiresAt };
}

/** Marks a token used; false when another request used it first (or it stopped being valid). */
export async function claimToken(trx: Db, id: string, now: number): Promise<boolean> {
  const r = await trx
    .updateTable('password_tokens')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** How many links of these kinds were issued to the user since `since` (the per-account throttle). */
export async function issuedSince(db: Db, userId: string, kinds: LinkTokenKind[], since: number): Promise<number> {
  const r = await db
    .selectFrom('password_tokens')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('kind', 'in', kinds)
    .where('created_at', '>=', since)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
