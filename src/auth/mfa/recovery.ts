import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { Db } from '../../db/index.js';

/**
 * Recovery codes: ten per user, each 24 characters from a 31-letter alphabet without look-alikes (about
 * 119 random bits, from randomInt), shown once when made. Only their SHA-256 is stored: at 112 bits and more
 * a fast hash cannot be reversed (ASVS V6.5.2, D400), and the lookup by hash leaks nothing usable. Sets made
 * before D400 have 16 characters (about 79 bits) and keep working until the user makes new ones. Each one
 * is spent by a single conditional UPDATE, so it works once even under concurrent use. Making a new set
 * deletes the old one.
 */
export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const LENGTH = 24;
/** The length of the sets made before D400. */
const LEGACY_LENGTH = 16;
const SHAPE = new RegExp(`^(?:[${ALPHABET}]{${LENGTH}}|[${ALPHABET}]{${LEGACY_LENGTH}})$`);

/** The typed code as stored: case, spaces and dashes do not matter. */
const normalise = (code: string): string => code.toLowerCase().replace(/[\s-]/g, '');
const hashOf = (normalised: string): string => createHash('sha256').update(normalised, 'utf8').digest('hex');

function newCode(): string {
  let s = '';
  for (let i = 0; i < LENGTH; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s.match(/.{4}/g)!.join('-');
}

/** A fresh set replaces every earlier code of the user (used or not); returns the codes, for showing once. */
export async function replaceRecoveryCodes(trx: Db, userId: string, now: number): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newCode);
  await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
  await trx
    .insertInto('mfa_recovery_codes')
    .values(codes.map((c) => ({ id: randomBytes(16).toString('base64url'), user_id: userId, code_hash: hashOf(normalise(c)), created_at: now, used_at: null })))
    .execute();
  return codes;
}

/** Spends a code of the user: true once for each unused code, false for anything else. */
export async function spendRecoveryCode(trx: Db, userId: string, code: string, now: number): Promise<boolean> {
  const n = normalise(code);
  if (!SHAPE.test(n)) return false;
  const r = await trx
    .updateTable('mfa_recovery_codes')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('code_hash', '=', hashOf(n))
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function remainingRecoveryCodes(db: Db, userId: string): Promise<number> {
  const r = await db
    .selectFrom('mfa_recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
