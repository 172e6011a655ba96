import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { Db } from '../../db/index.js';
import { AppError } from '../../errors.js';
import type { MfaKeys } from './secret-box.js';

/**
 * TOTP (RFC 6238) with the otpauth library: SHA-1, 6 digits, 30 s, the parameters every authenticator
 * app reads. A code is accepted one step either side of now (clock drift), and only once: the step it
 * matched is stored, and a code of that step or an earlier one is refused afterwards (a replay within
 * the window, or an older code seen over a shoulder).
 */
const PERIOD = 30;
const DIGITS = 6;
const ALGORITHM = 'SHA1';
const DRIFT = 1;
const SECRET_BYTES = 20;
const CODE = /^[0-9]{6}$/;

export interface TotpEnrolment {
  /** The `otpauth://totp/...` URI an authenticator app imports. */
  otpauthUri: string;
  /** The same URI as a QR code: a `data:image/png;base64,...` URL. */
  qrCode: string;
  /** The secret in base32, for typing it in by hand. Shown at enrolment only. */
  secret: string;
}

/**
 * Starts (or restarts) an enrolment: a new secret, stored sealed and unconfirmed. A confirmed factor is
 * never replaced here: it must be removed first (MFA_FACTOR_EXISTS). `record` writes its event in the same transaction.
 */
export async function startTotp(
  db: Db,
  keys: MfaKeys,
  userId: string,
  label: string,
  issuer: string,
  now: number,
  record?: (trx: Db) => Promise<void>,
): Promise<TotpEnrolment> {
  const secret = new Secret({ buffer: new Uint8Array(randomBytes(SECRET_BYTES)).buffer });
  const sealed = keys.seal(secret.bytes, userId);
  await db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('mfa_totp').select('confirmed_at').where('user_id', '=', userId).executeTakeFirst();
    if (row && row.confirmed_at !== null) throw new AppError('MFA_FACTOR_EXISTS', undefined, 'totp confirmed');
    await trx.deleteFrom('mfa_totp').where('user_id', '=', userId).where('confirmed_at', 'is', null).execute();
    await trx
      .insertInto('mfa_totp')
      .values({ user_id: userId, secret_nonce: sealed.nonce, secret_ciphertext: sealed.ciphertext, created_at: now, confirmed_at: null, last_step: null })
      .execute();
    await record?.(trx);
  });
  const otpauthUri = new TOTP({ issuer, label, secret, algorithm: ALGORITHM, digits: DIGITS, period: PERIOD }).toString();
  // Loaded on first use: most starts of the server never draw a QR code.
  const { default: QRCode } = await import('qrcode');
  const qrCode = await QRCode.toDataURL(otpauthUri, { errorCorrectionLevel: 'M', margin: 2 });
  return { otpauthUri, qrCode, secret: secret.base32 };
}

/** The time step a code matches within the drift window, or null. */
function matchedStep(secret: Uint8Array, code: string, now: number): number | null {
  if (!CODE.test(code)) return null;
  const s = new Secret({ buffer: new Uint8Array(secret).buffer });
  const delta = TOTP.validate({ token: code, secret: s, algorithm: ALGORITHM, digits: DIGITS, period: PERIOD, timestamp: now, window: DRIFT });
  return delta === null ? null : TOTP.counter({ period: PERIOD, timestamp: now }) + delta;
}

/**
 * Checks a code against the user's TOTP secret (`confirmed`: the factor, else the pending enrolment)
 * and spends its time step, in `trx`: true only for a right code of a step later than every step used
 * before. The step is taken with one conditional UPDATE, so two requests racing with the same code
 * cannot both pass. Confirming an enrolment marks it confirmed in the same write.
 */
export async function spendTotp(trx: Db, keys: MfaKeys, userId: string, code: string, now: number, confirmed: boolean): Promise<boolean> {
  const row = await trx.selectFrom('mfa_totp').selectAll().where('user_id', '=', userId).executeTakeFirst();
  if (!row || (row.confirmed_at !== null) !== confirmed) return false;
  const secret = keys.open({ nonce: row.secret_nonce, ciphertext: row.secret_ciphertext }, userId);
  if (!secret) return false;
  const step = matchedStep(secret, code, now);
  if (step === null) return false;
  const r = await trx
    .updateTable('mfa_totp')
    .set(confirmed ? { last_step: step } : { last_step: step, confirmed_at: now })
    .where('user_id', '=', userId)
    .where('confirmed_at', confirmed ? 'is not' : 'is', null)
    .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
