import Type, { type Static } from 'typebox';
import { boolEnv, customEnv, defineSettingsArea, durationEnv, intEnv, textEnv } from '../../config/settings-area.js';

export const RECAPTCHA_VERIFY_URL = 'https://www.google.com/recaptcha/api/siteverify';

const Int = (min: number, max: number, def: number, description: string) => Type.Integer({ minimum: min, maximum: max, default: def, description });

/** Bot checks on sign-in and forgot-password (AUTH-15); durations in seconds unless named otherwise. */
export const BotCheckSchema = Type.Object({
  mode: Type.Union([Type.Literal('off'), Type.Literal('pow'), Type.Literal('recaptcha')], {
    default: 'off',
    description: "off; pow: a self-hosted proof-of-work challenge (ALTCHA); recaptcha: Google reCAPTCHA v3 (the seed's 'Enable reCAPTCHA').",
  }),
  when: Type.Union([Type.Literal('always'), Type.Literal('after-failures')], {
    default: 'after-failures',
    description:
      'always: every sign-in and forgot-password request needs the check; after-failures: only from an address with `failures` failed sign-ins within `failureWindow`.',
  }),
  failures: Int(1, 1000, 3, 'Failed sign-ins from one address (IPv6: its /64) after which its requests need the check (when = after-failures).'),
  failureWindow: Int(60, 7 * 86400, 3600, 'Seconds failed sign-ins are counted in.'),
  powMaxNumber: Int(10, 10_000_000, 4_000, 'Proof of work: the secret counter is drawn from maxNumber/2 to maxNumber; a client tries about that many keys.'),
  powCost: Int(1, 100_000, 1_000, 'Proof of work: PBKDF2-SHA-256 iterations per key tried (the complexity of one attempt).'),
  powExpiry: Int(10, 3600, 300, 'Seconds a challenge may be solved and used in; each solution is accepted once.'),
  recaptchaSiteKey: Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]*$', default: '', description: 'reCAPTCHA site key (public; given to the UI).' }),
  recaptchaSecretKey: Type.String({
    maxLength: 200,
    pattern: '^[A-Za-z0-9_-]*$',
    default: '',
    description: 'reCAPTCHA secret key. Write-only: never returned (GET shows recaptchaSecretKeySet), encrypted at rest.',
  }),
  recaptchaThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Scores from this value up pass; lower scores are refused.' }),
  recaptchaLogResults: Type.Boolean({
    default: false,
    description: 'Record every reCAPTCHA result (score, action, hostname) in the security log. Meant for troubleshooting: it writes one event per check.',
  }),
  recaptchaVerifyUrl: Type.String({
    minLength: 8,
    maxLength: 500,
    default: RECAPTCHA_VERIFY_URL,
    description: 'The siteverify endpoint: https, or http to a loopback address only.',
  }),
  recaptchaTimeout: Type.Integer({
    minimum: 200,
    maximum: 10_000,
    default: 3000,
    unit: 'milliseconds',
    description: 'Milliseconds to wait for the verifier; past it the request is refused with BOT_CHECK_UNAVAILABLE.',
  }),
});
export type BotCheckSettings = Static<typeof BotCheckSchema>;

/** https anywhere, plain http only to this machine (a local verifier, tests). */
export function verifyUrlProblem(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'recaptchaVerifyUrl must be an absolute URL';
  }
  if (u.username || u.password) return 'recaptchaVerifyUrl must not hold credentials';
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  if (u.protocol === 'https:' || (u.protocol === 'http:' && loopback)) return null;
  return 'recaptchaVerifyUrl must be https (http only to localhost, 127.0.0.1 or [::1])';
}

function rules(v: BotCheckSettings): string[] {
  const out: string[] = [];
  const url = verifyUrlProblem(v.recaptchaVerifyUrl);
  if (url) out.push(url);
  if (v.mode === 'recaptcha' && (v.recaptchaSiteKey === '' || v.recaptchaSecretKey === '')) {
    out.push('mode recaptcha needs recaptchaSiteKey and recaptchaSecretKey');
  }
  return out;
}

const thresholdEnv = customEnv<BotCheckSettings>('RECAPTCHA_THRESHOLD', (raw, problems) => {
  const n = Number(raw);
  if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(raw) || Number.isNaN(n)) {
    problems.push('RECAPTCHA_THRESHOLD must be a number from 0 to 1');
    return {};
  }
  return { recaptchaThreshold: n };
});

export const botCheckArea = defineSettingsArea({
  key: 'botCheck',
  label: 'bot check',
  schema: BotCheckSchema,
  writeOnly: ['recaptchaSecretKey'],
  sentWith: { recaptchaSecretKey: ['recaptchaVerifyUrl'] },
  rules,
  env: [
    textEnv('BOT_CHECK_MODE', 'mode'),
    textEnv('BOT_CHECK_WHEN', 'when'),
    intEnv('BOT_CHECK_FAILURES', 'failures'),
    durationEnv('BOT_CHECK_FAILURE_WINDOW', 'failureWindow'),
    intEnv('BOT_CHECK_POW_MAX_NUMBER', 'powMaxNumber'),
    intEnv('BOT_CHECK_POW_COST', 'powCost'),
    durationEnv('BOT_CHECK_POW_EXPIRY', 'powExpiry'),
    textEnv('RECAPTCHA_SITE_KEY', 'recaptchaSiteKey'),
    textEnv('RECAPTCHA_SECRET_KEY', 'recaptchaSecretKey'),
    thresholdEnv,
    boolEnv('RECAPTCHA_LOG_RESULTS', 'recaptchaLogResults'),
    textEnv('RECAPTCHA_VERIFY_URL', 'recaptchaVerifyUrl'),
    intEnv('RECAPTCHA_TIMEOUT_MS', 'recaptchaTimeout'),
  ],
});
