import type { Db } from '../../db/index.js';
import type { MfaSmsTable, UsersTable } from '../../db/types.js';
import type { EventContext } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { maskPhone, normalisePhone, type SmsChannel } from '../../sms/index.js';
import { issueEmailCode, spendEmailCode } from './email-code.js';
import { mfaArea } from './settings.js';
import type { MfaKeys } from './secret-box.js';
import type { MfaDeps } from './deps.js';

type Purpose = 'sms_signin' | 'sms_enable';
type Sent = { sentTo: string; expiresAt: number };

/**
 * SMS one-time codes (AUTH-12): the emailed code with another channel. The number is sealed like a TOTP
 * secret (its own associated data) with a masked hint beside it; it becomes a factor once a first code
 * sent to it comes back. Codes are 6 digits kept as keyed hashes with the emailed ones, a sign-in code
 * bound to its challenge, an enrolment code to the number it went to. A code is texted before the
 * answer, so a gateway that fails is the caller's 503 SMS_UNAVAILABLE, recorded, never a silent loss.
 */

/** The configured channel; SMS_NOT_CONFIGURED without one (SMS_KANNEL_URL unset). */
function channelOf(d: MfaDeps): SmsChannel {
  if (d.sms === null) throw new AppError('SMS_NOT_CONFIGURED');
  return d.sms;
}

/** The number in the clear, or null when this APP_KEY did not seal it for this user (another key, a moved row). */
function openPhone(keys: MfaKeys, row: MfaSmsTable): string | null {
  const bytes = keys.open({ nonce: row.phone_nonce, ciphertext: row.phone_ciphertext }, row.user_id, 'sms');
  return bytes === null ? null : Buffer.from(bytes).toString('utf8');
}

/** The text of a code message: the issuer's name, what the code is for, the code, its lifetime. At most 160 characters. */
export function smsText(purpose: Purpose, issuer: string, code: string, validitySeconds: number): string {
  const what = purpose === 'sms_signin' ? 'sign-in code' : 'code to confirm this phone';
  return `${issuer} ${what}: ${code}. It expires in ${Math.max(1, Math.round(validitySeconds / 60))} min. Never share it.`;
}

/** Issues a code bound to `bindTo` and texts it; the event says to which masked number, and whether the gateway took it. */
async function textCode(d: MfaDeps, user: UsersTable, to: string, purpose: Purpose, bindTo: string, ctx: EventContext): Promise<Sent> {
  const channel = channelOf(d);
  const { smsCodeValidity, issuer } = await d.settings.get(mfaArea);
  const { code, expiresAt } = await issueEmailCode(d, user.id, purpose, bindTo, smsCodeValidity);
  const details = { purpose: purpose === 'sms_signin' ? 'signin' : 'enable', channel: 'sms', to: maskPhone(to) };
  try {
    await channel.send(to, smsText(purpose, issuer, code, smsCodeValidity));
  } catch (e) {
    const reason = e instanceof AppError ? e.code : 'error';
    await d.log.record(ctx, { type: 'mfa.code_sent', outcome: 'failure', subjectId: user.id, details: { ...details, reason } });
    throw e;
  }
  await d.log.record(ctx, { type: 'mfa.code_sent', outcome: 'info', subjectId: user.id, details });
  return { sentTo: details.to, expiresAt };
}

/** Texts a sign-in code for the challenge to the user's confirmed number; a newer code replaces it. */
export async function sendSignInSms(d: MfaDeps, user: UsersTable, challengeId: string, ctx: EventContext): Promise<Sent> {
  const row = await d.db.selectFrom('mfa_sms').selectAll().where('user_id', '=', user.id).executeTakeFirst();
  if (!row || row.confirmed_at === null) throw new AppError('MFA_METHOD_UNAVAILABLE');
  channelOf(d);
  const to = openPhone(d.keys, row);
  if (to === null) throw new AppError('MFA_METHOD_UNAVAILABLE', undefined, 'the phone number does not open with this APP_KEY');
  return textCode(d, user, to, 'sms_signin', challengeId, ctx);
}

/**
 * Starts an SMS enrolment: the number (as typed; normalised to E.164) is stored pending, replacing an
 * earlier pending one, and a code is texted to it. A confirmed number must be removed first.
 */
export async function startSmsEnrolment(d: MfaDeps, user: UsersTable, typed: string, ctx: EventContext): Promise<Sent> {
  channelOf(d);
  const phone = normalisePhone(typed);
  if (phone === null) throw new AppError('PHONE_NUMBER_INVALID');
  const sealed = d.keys.seal(Buffer.from(phone, 'utf8'), user.id, 'sms');
  const row: MfaSmsTable = {
    user_id: user.id,
    phone_nonce: sealed.nonce,
    phone_ciphertext: sealed.ciphertext,
    phone_hint: maskPhone(phone),
    created_at: d.now(),
    confirmed_at: null,
  };
  await d.db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('mfa_sms').select('confirmed_at').where('user_id', '=', user.id).executeTakeFirst();
    if (existing && existing.confirmed_at !== null) throw new AppError('MFA_FACTOR_EXISTS');
    await trx.deleteFrom('mfa_sms').where('user_id', '=', user.id).execute();
    await trx.insertInto('mfa_sms').values(row).execute();
    await d.log.record(ctx, { type: 'mfa.enrolment_started', outcome: 'info', subjectId: user.id, details: { factor: 'sms', phone: row.phone_hint } }, trx);
  });
  // The code is bound to this enrolment (its nonce): a code texted to an earlier number cannot confirm a later one.
  return textCode(d, user, phone, 'sms_enable', row.phone_nonce, ctx);
}

/** In the confirmation's transaction: spends the enrolment code of the pending number and makes it a factor. */
export async function confirmSmsPhone(trx: Db, keys: MfaKeys, userId: string, code: string, now: number): Promise<boolean> {
  const row = await trx.selectFrom('mfa_sms').select(['phone_nonce', 'confirmed_at']).where('user_id', '=', userId).executeTakeFirst();
  if (!row) return false;
  if (row.confirmed_at !== null) throw new AppError('MFA_FACTOR_EXISTS');
  if (!(await spendEmailCode(trx, keys, userId, 'sms_enable', row.phone_nonce, code, now))) return false;
  const r = await trx
    .updateTable('mfa_sms')
    .set({ confirmed_at: now })
    .where('user_id', '=', userId)
    .where('phone_nonce', '=', row.phone_nonce)
    .where('confirmed_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
