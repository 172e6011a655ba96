import type { Db } from '../../db/index.js';
import type { SessionsTable, UsersTable } from '../../db/types.js';
import type { SettingsStore } from '../../config/settings.js';
import { tokenPolicyArea, type TokenPolicy } from '../token-policy.js';
import type { EventContext } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import type { TokenClaims, TokenService } from '../tokens.js';
import type { AccountCleared } from '../standing.js';
import type { Renewer } from './renew.js';
import type { IssuedToken, SessionMode } from './types.js';
import type { StateStamps, Stamps } from '../../db/stamps.js';
import { credentialLookup, splitAccount, type AccountRow } from '../account-row.js';
import type { AccountLocks } from '../account-locks.js';

const LAST_SEEN_EVERY_MS = 60_000;

/**
 * A session token that names a live session: who it is, before anything is written. The caller runs
 * the account stage on `user`, then `complete` does the side effects (renewal, last seen).
 */
interface Pending<T> {
  user: UsersTable;
  session: SessionsTable;
  /** The user's lock, read with the session: the account stage asks it instead of the database. */
  lockout: Pick<AccountLocks, 'activeLock'>;
  /** The version stamps read with the session (D360); absent when the stamps row is missing (no cache is used). */
  stamps?: Stamps;
  complete(cleared: AccountCleared): Promise<T>;
}
export type PendingSession = Pending<{ session: SessionsTable; renewed?: IssuedToken }>;
export type PendingRenewal = Pending<{ session: SessionsTable; renewed: IssuedToken }>;

/** Runs right after the signature check, before any lookup or renewal (the XSRF check). */
export type TokenGate = (sessionId: string) => void;

/** The session-token check (AUTH-2): signature, then the session row, then the mode and renewal. */
export class SessionVerifier {
  constructor(
    private readonly db: Db,
    private readonly tokens: TokenService,
    private readonly settings: SettingsStore,
    private readonly renewer: Renewer,
    private readonly now: () => number,
    private readonly stamps?: StateStamps,
  ) {
    this.sessionRow = credentialLookup(db, 'sessions', 'id', stamps?.changeMark);
  }

  /** The session, its user, the user's lock and the version stamps, by session id: one statement, compiled once. */
  private readonly sessionRow;

  /**
   * A token presented on a request. A valid token passes; an expired one is renewed when
   * `autoRenew` (browser mode) and the policy allows; anything else is refused.
   */
  async identify(token: string, via: SessionMode, ctx: Omit<EventContext, 'actor'>, autoRenew: boolean, gate?: TokenGate): Promise<PendingSession> {
    const { claims, policy } = await this.verify(token, gate);
    if (claims.exp > Math.floor(this.now() / 1000)) {
      const loaded = await this.load(claims);
      const { session } = loaded;
      return {
        ...loaded,
        complete: async () => {
          checkMode(session, via);
          if (this.now() - session.last_seen_at > LAST_SEEN_EVERY_MS) {
            await this.db
              .updateTable('sessions')
              .set({ last_seen_at: this.now() })
              .where('id', '=', session.id)
              .where('last_seen_at', '<', this.now() - LAST_SEEN_EVERY_MS)
              .execute();
          }
          return { session };
        },
      };
    }
    if (!autoRenew) throw new AppError('TOKEN_EXPIRED');
    return this.renewal(claims, policy, ctx, via);
  }

  /** POST /api/auth/refresh: renews a token that is valid or expired within the refresh limit. */
  async identifyForRefresh(token: string, via: SessionMode, ctx: Omit<EventContext, 'actor'>, gate?: TokenGate): Promise<PendingRenewal> {
    const { claims, policy } = await this.verify(token, gate);
    return this.renewal(claims, policy, ctx, via);
  }

  private async verify(token: string, gate: TokenGate | undefined): Promise<{ claims: TokenClaims; policy: TokenPolicy }> {
    const policy = this.settings.peek(tokenPolicyArea) ?? (await this.settings.get(tokenPolicyArea));
    const { claims } = await this.tokens.verifySignature(token, (policy.tokenValidity + policy.refreshLimit) * 1000);
    gate?.(claims.sid);
    return { claims, policy };
  }

  private async renewal(claims: TokenClaims, policy: TokenPolicy, ctx: Omit<EventContext, 'actor'>, via: SessionMode): Promise<PendingRenewal> {
    const now = this.now();
    if (Math.floor(now / 1000) > claims.exp + policy.refreshLimit) throw new AppError('TOKEN_EXPIRED', undefined, 'past refresh limit');
    const loaded = await this.load(claims);
    const { user, session } = loaded;
    return {
      ...loaded,
      complete: async () => {
        checkMode(session, via);
        return { session, renewed: await this.renewer.renew(claims, user, session, policy, now, ctx) };
      },
    };
  }

  /**
   * The live session a token names, its user, the user's lock and the version stamps, in one statement (issue 14);
   * whether the account may act is the account stage's question.
   */
  private async load(claims: TokenClaims): Promise<{ user: UsersTable; session: SessionsTable } & Omit<AccountRow, 'user'>> {
    const read = this.stamps?.begin();
    const row = await this.sessionRow(claims.sid);
    if (!row || row.user_id !== claims.sub) throw new AppError('SESSION_ENDED', undefined, 'no such session');
    if (row.revoked_at !== null) throw new AppError('SESSION_ENDED', undefined, `revoked: ${row.revoked_reason}`);
    if (row.expires_at <= this.now()) throw new AppError('SESSION_ENDED', undefined, 'absolute validity reached');
    const { own: session, account } = splitAccount(row, 'sessions', this.now);
    if (!account) throw new AppError('SESSION_ENDED', undefined, 'user not active');
    if (read) this.stamps!.settle(account.stamps, read);
    return { ...account, session };
  }
}

function checkMode(session: SessionsTable, via: SessionMode): void {
  if (session.mode !== via) throw new AppError('TOKEN_INVALID', undefined, `a ${session.mode} token presented as ${via}`);
}
