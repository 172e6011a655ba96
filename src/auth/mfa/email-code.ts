import { randomBytes, randomInt } from 'node:crypto';
import type { Db } from '../../db/index.js';
import type { MfaEmailCodesTable } from '../../db/types.js';
import type { SharedState } from '../../shared-state/index.js';
import { AppError } from '../../errors.js';
import { hitWindow } from '../../edge/windows.js';
import type { MfaKeys } from './secret-box.js';

export type CodePurpose = MfaEmailCodesTable['purpose'];

/** Codes mailed (or texted) to one user within the window, at most: a stolen password cannot flood the mailbox or run up an SMS bill. */
const SEND_LIMIT = 5;
const SEND_WINDOW = 15 * 60;
const CODE = /^[0-9]{6}$/;

/**
 * Issues a 6-digit code for a user and a purpose (a sign-in challenge, or turning the email factor on).
 * The code replaces the user's earlier codes of that purpose, and is stored only as a keyed hash.
 * Returns the code for the mail; it is never stored or logged in the clear. `record` writes the event that says a code
 * was issued, in the code's transaction (the emailed codes; an SMS code's event says whether the gateway took it, so it
 * is written after the send).
 */
export async function issueEmailCode(
  d: { db: Db; keys: MfaKeys; shared: SharedState; now: () => number },
  userId: string,
  purpose: CodePurpose,
  challengeId: string | null,
  validitySeconds: number,
  record?: (trx: Db) => Promise<void>,
): Promise<{ code: string; expiresAt: number }> {
  const now = d.now();
  // SMS codes have their own budget: a mailbox full of codes must not stop the texts, nor the reverse.
  const channel = purpose.startsWith('sms_') ? 'sms' : 'mail';
  const { count, resetMs } = await hitWindow(d.shared, `mfa-${channel}:${userId}`, SEND_WINDOW, now);
  if (count > SEND_LIMIT) throw new AppError('RATE_LIMITED', undefined, `${channel} codes per user`, { 'retry-after': String(Math.ceil(resetMs / 1000)) });
  const id = randomBytes(16).toString('base64url');
  const code = String(randomInt(1_000_000)).padStart(6, '0');
  const expiresAt = now + validitySeconds * 1000;
  await d.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('mfa_email_codes').where('user_id', '=', userId).where('purpose', '=', purpose).execute();
    await trx
      .insertInto('mfa_email_codes')
      .values({
        id,
        user_id: userId,
        purpose,
        challenge_id: challengeId,
        code_hash: d.keys.codeHash(id, code),
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
      })
      .execute();
    await record?.(trx);
  });
  return { code, expiresAt };
}

/**
 * Spends the user's live code of this purpose (for a sign-in: the one mailed for this challenge), in
 * `trx`: true once for the right code before it expires; false for anything else.
 */
export async function spendEmailCode(
  trx: Db,
  keys: MfaKeys,
  userId: string,
  purpose: CodePurpose,
  challengeId: string | null,
  code: string,
  now: number,
): Promise<boolean> {
  if (!CODE.test(code)) return false;
  const row = await trx
    .selectFrom('mfa_email_codes')
    .selectAll()
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (!row || row.expires_at <= now || row.challenge_id !== challengeId) return false;
  if (!keys.codeMatches(row.id, code, row.code_hash)) return false;
  const r = await trx.updateTable('mfa_email_codes').set({ used_at: now }).where('id', '=', row.id).where('used_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** `a***@example.org`: enough for the user to recognise the address, not enough to learn it. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at <= 0 ? '***' : `${address[0]}***${address.slice(at)}`;
}
