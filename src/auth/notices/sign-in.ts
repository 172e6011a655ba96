import type { Db } from '../../db/index.js';
import type { SessionsTable } from '../../db/types.js';
import { clientFamily, networkOf } from './client.js';
import type { SignInReason } from './texts.js';

/** Failed attempts since the previous sign-in from which a sign-in is told. */
export const FAILURES_BEFORE_NOTICE = 3;
/** Days without a sign-in after which the next one is told. */
export const INACTIVE_DAYS = 90;
/** The recent sessions a sign-in's client and network are compared with. */
const HISTORY = 50;
const DAY = 86_400_000;

export interface SignInFindings {
  reasons: SignInReason[];
  /** Failed attempts on the account since the previous sign-in (the first sign-in: since it was made). */
  failures: number;
  /** Whole days since the account was last active before this sign-in. */
  days: number;
}

type NewSession = Pick<SessionsTable, 'id' | 'user_id' | 'ip' | 'user_agent' | 'created_at'>;

/**
 * What makes a sign-in (its new session) suspicious (ASVS V6.3.5): compared with the user's earlier sessions (address,
 * user agent, when opened and last used), and `failures`, the failed attempts counted since the previous sign-in. A
 * first sign-in has no client, network or inactivity to compare with; only its failures count.
 */
export async function inspectSignIn(db: Db, session: NewSession, failures: number): Promise<SignInFindings> {
  const found: SignInFindings = { reasons: [], failures, days: 0 };
  const previous = await db
    .selectFrom('sessions')
    .select(['ip', 'user_agent', 'created_at', 'last_seen_at'])
    .where('user_id', '=', session.user_id)
    .where('id', '!=', session.id)
    .where('created_at', '<=', session.created_at)
    .orderBy('created_at', 'desc')
    .limit(HISTORY)
    .execute();
  if (failures >= FAILURES_BEFORE_NOTICE) found.reasons.push('after_failures');
  if (previous.length === 0) return found;
  const family = clientFamily(session.user_agent);
  const network = networkOf(session.ip);
  if (!previous.some((p) => clientFamily(p.user_agent) === family && networkOf(p.ip) === network)) found.reasons.unshift('new_client');
  const lastActive = Math.max(...previous.map((p) => Math.max(p.created_at, p.last_seen_at)));
  found.days = Math.floor((session.created_at - lastActive) / DAY);
  if (session.created_at - lastActive > INACTIVE_DAYS * DAY) found.reasons.push('after_inactivity');
  return found;
}
