import type { SmsConfig } from './env.js';
import { KannelChannel, type StoredSecret } from './kannel.js';

export type { KannelConfig, SmsConfig } from './env.js';
export { isE164, maskPhone, normalisePhone } from './phone.js';
export { MAX_SMS_TEXT } from './kannel.js';
export type { StoredSecret } from './kannel.js';

/**
 * A way of delivering a text message to a phone (AUTH-12, SMS codes). `send` resolves once the
 * channel has taken the message and throws AppError SMS_UNAVAILABLE, fast, when it cannot; it refuses
 * a number that is not E.164 (PHONE_NUMBER_INVALID). A channel never logs the text: it carries codes.
 */
export interface SmsChannel {
  send(to: string, text: string): Promise<void>;
}

/** The secret store's name of the gateway password (DATA-1). */
export const SMS_PASSWORD_SECRET = 'sms.kannelPassword';

/**
 * The configured channel: today a Kannel sendsms gateway; null when none is configured (SMS codes off).
 * `stored` looks up the gateway password in the secret store at each send; a stored one wins over
 * SMS_KANNEL_PASSWORD (D195), which is used while none is stored.
 */
export function createSmsChannel(config: SmsConfig | null, stored?: () => Promise<StoredSecret>): SmsChannel | null {
  if (config === null) return null;
  return new KannelChannel(config.kannel, config.from, config.timeoutMs, stored);
}
