import type { Db } from '../../db/index.js';
import type { SettingsStore } from '../../config/settings.js';
import type { SecurityLog } from '../../audit/events.js';
import type { SharedState } from '../../shared-state/index.js';
import type { Mailer } from '../../mail/index.js';
import type { SmsChannel } from '../../sms/index.js';
import type { BackgroundTasks } from '../../background.js';
import type { PasswordHasher } from '../passwords.js';
import type { LockoutService } from '../lockout.js';
import type { SessionService } from '../session/index.js';
import type { MfaKeys } from './secret-box.js';
import type { MfaPolicy } from './factors.js';
import type { PasskeyConfig } from '../passkeys/env.js';
import type { AttemptNotices, ChangeNotices } from '../notices/index.js';

/** What the second-factor service is built from (src/services.ts). */
export interface MfaDeps {
  db: Db;
  settings: SettingsStore;
  log: SecurityLog;
  keys: MfaKeys;
  policy: MfaPolicy;
  /** Wrong codes and wrong passwords spend lockout attempts (AUTH-9). */
  lockout: LockoutService;
  hasher: PasswordHasher;
  /** The per-user throttle of mailed codes (may be Redis: losing it only restarts the window). */
  shared: SharedState;
  mailer: Mailer;
  /** Where SMS codes go (`src/sms/`); null when no gateway is configured (SMS codes off). */
  sms: SmsChannel | null;
  tasks: BackgroundTasks;
  now: () => number;
  /** An administrator's reset ends the user's sessions in its transaction. */
  sessions: Pick<SessionService, 'endUserCredentials'>;
  /** Where passkeys are valid, for a passkey second step (absent or null: passkeys are off). */
  passkeys?: PasskeyConfig | null;
  /**
   * Mails to the user (src/auth/notices/): a factor added or removed, new recovery codes, a reset (ASVS V6.3.7), each
   * after it committed; a right first step whose second factor then failed (ASVS V6.3.5).
   */
  notices: ChangeNotices & AttemptNotices;
}
