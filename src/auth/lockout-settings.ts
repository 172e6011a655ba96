import Type, { type Static } from 'typebox';
import { boolEnv, defineSettingsArea, durationEnv, intEnv } from '../config/settings-area.js';

const Int = (min: number, max: number, def: number, description: string) => Type.Integer({ minimum: min, maximum: max, default: def, description });

/** Account lockout (AUTH-9); seconds. */
export const LockoutSchema = Type.Object({
  maxAttempts: Int(1, 100, 10, 'Invalid attempts within `interval` that lock the account.'),
  interval: Int(1, 86400, 15 * 60, 'Seconds the attempts are counted in.'),
  lockDuration: Int(0, 30 * 86400, 15 * 60, 'Seconds the account stays locked; 0 = until an administrator unlocks it.'),
  mailResetOnLock: Type.Boolean({ default: false, description: 'Mail the user a password-reset link when the account locks.' }),
  signInNotices: Type.Boolean({
    default: true,
    description:
      'Mail the user after a suspicious sign-in: from a client and network not seen in their recent sessions, after 3 or more failed attempts, after 90 days without one, or a right password followed by a wrong second factor. At most one of each kind per user in 10 minutes.',
  }),
});
export type LockoutSettings = Static<typeof LockoutSchema>;

export const lockoutArea = defineSettingsArea({
  key: 'lockout',
  label: 'lockout',
  schema: LockoutSchema,
  env: [
    intEnv('LOCKOUT_MAX_ATTEMPTS', 'maxAttempts'),
    durationEnv('LOCKOUT_INTERVAL', 'interval'),
    durationEnv('LOCKOUT_DURATION', 'lockDuration'),
    boolEnv('LOCKOUT_MAIL_RESET', 'mailResetOnLock'),
  ],
});

/** Spread-attack detection (AUTH-10); seconds. */
export const SpreadSchema = Type.Object({
  threshold: Int(10, 10_000_000, 200, 'Failed sign-ins across all accounts within `window` that pause password sign-in.'),
  window: Int(10, 86400, 5 * 60, 'Seconds of the sliding window.'),
  pause: Int(1, 86400, 5 * 60, 'Seconds password sign-in stays paused.'),
});
export type SpreadSettings = Static<typeof SpreadSchema>;

export const spreadArea = defineSettingsArea({
  key: 'spread',
  label: 'spread-attack detection',
  schema: SpreadSchema,
  env: [intEnv('SPREAD_THRESHOLD', 'threshold'), durationEnv('SPREAD_WINDOW', 'window'), durationEnv('SPREAD_PAUSE', 'pause')],
});
