import type { Db } from '../../db/index.js';
import type { UsersTable } from '../../db/types.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import type { MfaPolicy } from '../mfa/factors.js';
import type { PasskeyConfig } from './env.js';
import type { ChangeNotices } from '../notices/index.js';

/** How many passkeys one account may hold. */
export const MAX_PASSKEYS = 20;

/** What the passkey service is built from (src/services.ts). */
export interface PasskeyDeps {
  db: Db;
  log: SecurityLog;
  now: () => number;
  /** null: no RP ID configured; ceremonies answer PASSKEYS_NOT_CONFIGURED, listing and removal still work. */
  config: PasskeyConfig | null;
  /** A fresh proof of the current password (a lockout attempt; INVALID_CREDENTIALS when wrong). */
  provePassword: (user: UsersTable, password: string, ctx: EventContext) => Promise<void>;
  /** Who must keep a second factor: a passkey is one, so such a user cannot remove their last. */
  policy: Pick<MfaPolicy, 'required'>;
  /** Tells the user of a passkey added or removed, after it committed (ASVS V6.3.7). */
  notices: ChangeNotices;
}
