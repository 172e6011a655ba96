import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/index.js';
import type { SessionsTable, UsersTable } from '../db/types.js';
import type { SharedState } from '../shared-state/index.js';
import type { SettingsStore } from '../config/settings.js';
import type { TokenPolicy } from '../config/index.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { AppError } from '../errors.js';
import type { PasswordHasher } from './passwords.js';
import type { TokenClaims, TokenService } from './tokens.js';
import { deriveKey } from './keys.js';
import { LockoutService, type SpreadDetector } from './lockout.js';

export type SessionMode = 'cookie' | 'bearer';

export interface IssuedToken {
  token: string;
  /** Epoch ms when this token stops being accepted (it may then still be renewed). */
  expiresAt: number;
  /** Epoch ms of the session's absolute end. */
  sessionExpiresAt: number;
}

export interface AuthState {
  user: UsersTable;
  session: SessionsTable;
  via: SessionMode;
  /** Set when this request renewed the token (browser mode sends it back as a cookie). */
  renewed?: IssuedToken;
}

export interface LoginInput {
  identifier: string;
  password: string;
  rememberMe: boolean;
  mode: SessionMode;
}

const LAST_SEEN_EVERY_MS = 60_000;
const newId = (): string => randomBytes(16).toString('base64url');

/** Lower-cased NFKC form used to look up usernames and emails. */
export function normaliseIdentifier(s: string): string {
  return s.normalize('NFKC').trim().toLowerCase();
}

/** Sign-in, the token policy (AUTH-2), renewal with reuse detection, and session endings (AUTH-4). */
export class SessionService {
  private readonly xsrfKey: Uint8Array;
  /**
   * Checks that run after a good password and before any session exists; one may refuse the
   * sign-in by throwing (an expired password or a required change, AUTH-7).
   */
  readonly signInGates: Array<(user: UsersTable, ctx: EventContext) => Promise<void>> = [];

  constructor(
    private readonly db: Db,
    private readonly tokens: TokenService,
    private readonly shared: SharedState,
    private readonly settings: SettingsStore,
    private readonly log: SecurityLog,
    private readonly hasher: PasswordHasher,
    private readonly now: () => number,
    appKey: string,
    private readonly graceSeconds: number,
    private readonly defences: { lockout: LockoutService; spread: SpreadDetector },
  ) {
    this.xsrfKey = deriveKey(appKey, 'xsrf', 'palisade/xsrf/v1');
  }

  xsrfToken(sessionId: string): string {
    return createHmac('sha256', this.xsrfKey).update(sessionId).digest('base64url');
  }

  checkXsrf(sessionId: string, presented: string | undefined): boolean {
    if (typeof presented !== 'string' || presented.length > 128) return false;
    const want = Buffer.from(this.xsrfToken(sessionId));
    const got = Buffer.from(presented);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  async login(input: LoginInput, ctx: Omit<EventContext, 'actor'>): Promise<{ user: UsersTable; session: SessionsTable; issued: IssuedToken }> {
    const ident = normaliseIdentifier(input.identifier);
    const failCtx: EventContext = { ...ctx, actor: { id: null, name: ident.slice(0, 64) } };
    // Gates that cost no hashing come first: a flood cannot buy CPU (AUTH-10, AUTH-9).
    await this.defences.spread.assertOpen(failCtx);
    const user = await this.db.selectFrom('users').selectAll()
      .where((eb) => eb.or([eb('username', '=', ident), eb('email', '=', ident)]))
      .executeTakeFirst();
    const subject = LockoutService.subject(user?.id ?? null, ident);
    const ticket = await this.defences.lockout.reserve(subject, user?.id ?? null);
    if (!ticket) {
      // Locked: the same answer as bad credentials, in about the same time, without computing a hash.
      // Logged at most once a minute per account, so a flood cannot fill the log.
      if (await this.shared.setIfAbsent(`locklog:${subject}`, '1', 60_000)) {
        await this.log.record({ ...failCtx, actor: { id: user?.id ?? null, name: failCtx.actor.name } }, {
          type: 'auth.login', outcome: 'failure', subjectId: user?.id ?? null, details: { reason: 'locked', sampled: 'once a minute per account' },
        });
      }
      await this.hasher.imitateVerify();
      throw new AppError('INVALID_CREDENTIALS', undefined, 'locked');
    }
    // The same work on every other path: an unknown user verifies against a dummy hash.
    let ok: boolean;
    try {
      ok = await this.hasher.verify(user?.password_hash ?? null, input.password);
    } catch (e) {
      await this.defences.lockout.release(ticket); // no verdict (hash queue full): the attempt is not spent
      throw e;
    }
    const reason = !user ? 'unknown_user' : !user.password_hash ? 'no_password' : !ok ? 'bad_password' : user.status !== 'active' ? 'disabled' : null;
    if (reason !== null || !user) {
      const c = { ...failCtx, actor: { id: user?.id ?? null, name: failCtx.actor.name } };
      await this.log.record(c, { type: 'auth.login', outcome: 'failure', subjectId: user?.id ?? null, details: { reason } });
      await this.defences.lockout.failed(ticket, c);
      await this.defences.spread.failed(c);
      throw new AppError('INVALID_CREDENTIALS', undefined, reason ?? 'unknown');
    }
    await this.defences.lockout.succeeded(ticket);
    const actorCtx: EventContext = { ...ctx, actor: { id: user.id, name: user.username } };
    if (this.hasher.needsRehash(user.password_hash!)) {
      const fresh = await this.hasher.hash(input.password);
      await this.db.updateTable('users').set({ password_hash: fresh, updated_at: this.now() }).where('id', '=', user.id).execute();
      await this.log.record(actorCtx, { type: 'auth.password_rehashed', outcome: 'info', subjectId: user.id, details: { from: user.password_hash!.split('$')[1] } });
    }
    for (const gate of this.signInGates) await gate(user, actorCtx);
    const policy = await this.settings.tokenPolicy();
    const now = this.now();
    const session: SessionsTable = {
      id: newId(),
      user_id: user.id,
      mode: input.mode,
      remember: input.rememberMe ? 1 : 0,
      created_at: now,
      expires_at: now + (input.rememberMe ? policy.rememberMeValidity : policy.sessionValidity) * 1000,
      last_seen_at: now,
      ip: (ctx.ip ?? '').slice(0, 64),
      user_agent: (ctx.userAgent ?? '').slice(0, 512),
      revoked_at: null,
      revoked_reason: null,
      active_role: null,
    };
    // The session and its sign-in event commit together: a full disk leaves neither (issue 9).
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('sessions').values(session).execute();
      await this.log.record(actorCtx, {
        type: 'auth.login', outcome: 'success', subjectId: user.id,
        details: { sessionId: session.id, mode: input.mode, rememberMe: input.rememberMe, admin: user.is_admin === 1 },
      }, trx);
    });
    const issued = await this.issue(user.id, session, policy);
    return { user, session, issued };
  }

  private async issue(userId: string, session: SessionsTable, policy: TokenPolicy): Promise<IssuedToken> {
    const nowSec = Math.floor(this.now() / 1000);
    const exp = Math.min(nowSec + policy.tokenValidity, Math.floor(session.expires_at / 1000));
    const { token } = await this.tokens.sign({ sub: userId, sid: session.id, jti: newId(), iat: nowSec, exp });
    return { token, expiresAt: exp * 1000, sessionExpiresAt: session.expires_at };
  }

  /**
   * Authenticates a presented token. A valid token passes; an expired one is renewed when
   * `autoRenew` (browser mode) and the policy allows; anything else is refused.
   */
  async authenticate(
    token: string, via: SessionMode, ctx: Omit<EventContext, 'actor'>, autoRenew: boolean,
    /** Runs right after the signature check, before any lookup or renewal (the XSRF check). */
    gate?: (sessionId: string) => void,
  ): Promise<AuthState> {
    const policy = await this.settings.tokenPolicy();
    const { claims, kid } = await this.tokens.verifySignature(token, (policy.tokenValidity + policy.refreshLimit) * 1000);
    gate?.(claims.sid);
    const nowSec = Math.floor(this.now() / 1000);
    if (claims.exp > nowSec) {
      const { user, session } = await this.loadLive(claims);
      if (session.mode !== via) throw new AppError('TOKEN_INVALID', undefined, `a ${session.mode} token presented as ${via}`);
      if (this.now() - session.last_seen_at > LAST_SEEN_EVERY_MS) {
        await this.db.updateTable('sessions').set({ last_seen_at: this.now() })
          .where('id', '=', session.id).where('last_seen_at', '<', this.now() - LAST_SEEN_EVERY_MS).execute();
      }
      return { user, session, via };
    }
    if (!autoRenew) throw new AppError('TOKEN_EXPIRED');
    const r = await this.renew(claims, kid, policy, ctx, via);
    return { ...r, via, renewed: r.issued };
  }

  /** POST /api/auth/refresh: renews a token that is valid or expired within the refresh limit. */
  async refresh(token: string, via: SessionMode, ctx: Omit<EventContext, 'actor'>, gate?: (sessionId: string) => void): Promise<{ issued: IssuedToken; session: SessionsTable }> {
    const policy = await this.settings.tokenPolicy();
    const { claims, kid } = await this.tokens.verifySignature(token, (policy.tokenValidity + policy.refreshLimit) * 1000);
    gate?.(claims.sid);
    const { issued, session } = await this.renew(claims, kid, policy, ctx, via);
    return { issued, session };
  }

  private async renew(claims: TokenClaims, _kid: string, policy: TokenPolicy, ctx: Omit<EventContext, 'actor'>, via: SessionMode) {
    const now = this.now();
    const nowSec = Math.floor(now / 1000);
    if (nowSec > claims.exp + policy.refreshLimit) throw new AppError('TOKEN_EXPIRED', undefined, 'past refresh limit');
    const { user, session } = await this.loadLive(claims);
    if (session.mode !== via) throw new AppError('TOKEN_INVALID', undefined, `a ${session.mode} token presented as ${via}`);
    const actorCtx: EventContext = { ...ctx, actor: { id: user.id, name: user.username } };
    const newExp = Math.min(nowSec + policy.tokenValidity, Math.floor(session.expires_at / 1000));
    if (newExp <= nowSec) throw new AppError('SESSION_ENDED', undefined, 'absolute validity reached');
    const kid = await this.tokens.currentKid();
    const candidate = { newJti: newId(), newIat: nowSec, newExp, kid, createdAt: now };
    // The claim lives as long as the old token can be presented for renewal, plus the grace window.
    const ttlMs = Math.max(1000, (claims.exp + policy.refreshLimit) * 1000 - now + this.graceSeconds * 1000);
    // The claim is durable (the database, whatever Redis holds), and commits with its event and the
    // session's last_seen_at: a failed write leaves no claim behind, so a retry renews afresh.
    const { won, claim } = await this.db.transaction().execute(async (trx) => {
      const r = await this.shared.claimRenewal(claims.jti, session.id, candidate, ttlMs, trx);
      if (r.won) {
        await this.log.record(actorCtx, { type: 'token.renewed', outcome: 'success', subjectId: user.id, details: { sessionId: session.id } }, trx);
        await trx.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', session.id).execute();
      }
      return r;
    });
    if (!won && now - claim.createdAt > this.graceSeconds * 1000) {
      await this.endSession(session.id, 'token_reuse', actorCtx);
      await this.log.record(actorCtx, {
        type: 'token.reuse_detected', outcome: 'failure', subjectId: user.id,
        details: { sessionId: session.id, renewedAt: new Date(claim.createdAt).toISOString() },
      });
      throw new AppError('TOKEN_REUSED');
    }
    const { token } = await this.tokens.sign({ sub: user.id, sid: session.id, jti: claim.newJti, iat: claim.newIat, exp: claim.newExp }, claim.kid);
    return { user, session, issued: { token, expiresAt: claim.newExp * 1000, sessionExpiresAt: session.expires_at } };
  }

  private async loadLive(claims: TokenClaims): Promise<{ user: UsersTable; session: SessionsTable }> {
    const session = await this.db.selectFrom('sessions').selectAll().where('id', '=', claims.sid).executeTakeFirst();
    if (!session || session.user_id !== claims.sub) throw new AppError('SESSION_ENDED', undefined, 'no such session');
    if (session.revoked_at !== null) throw new AppError('SESSION_ENDED', undefined, `revoked: ${session.revoked_reason}`);
    if (session.expires_at <= this.now()) throw new AppError('SESSION_ENDED', undefined, 'absolute validity reached');
    const user = await this.db.selectFrom('users').selectAll().where('id', '=', session.user_id).executeTakeFirst();
    if (!user || user.status !== 'active') throw new AppError('SESSION_ENDED', undefined, 'user not active');
    // The lock check of the pipeline: every method that ends in a session or token passes here.
    if (await this.defences.lockout.activeLock(user.id)) throw new AppError('ACCOUNT_LOCKED');
    return { user, session };
  }

  /** Runs `fn` in `db` when it is already a transaction, else in a new one. */
  private inTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
    return db.isTransaction ? fn(db) : db.transaction().execute(fn);
  }

  /**
   * Ends one session; returns false when it was already ended. The revocation and its event commit
   * together or not at all: during an outage the caller gets a 503 and the session stays as it was,
   * never "acknowledged but alive".
   */
  async endSession(sessionId: string, reason: string, ctx: EventContext, db: Db = this.db): Promise<boolean> {
    return this.inTransaction(db, (trx) => this.endSessionIn(sessionId, reason, ctx, trx));
  }

  private async endSessionIn(sessionId: string, reason: string, ctx: EventContext, db: Db): Promise<boolean> {
    const res = await db.updateTable('sessions').set({ revoked_at: this.now(), revoked_reason: reason })
      .where('id', '=', sessionId).where('revoked_at', 'is', null).executeTakeFirst();
    const ended = Number(res.numUpdatedRows) > 0;
    if (ended) {
      const s = await db.selectFrom('sessions').select('user_id').where('id', '=', sessionId).executeTakeFirst();
      await this.log.record(ctx, { type: 'session.ended', outcome: 'info', subjectId: s?.user_id ?? null, details: { sessionId, reason } }, db);
    }
    return ended;
  }

  /** Ends every live session of a user, optionally sparing one; returns how many ended. */
  async endUserSessions(userId: string, reason: string, ctx: EventContext, exceptSessionId?: string, db: Db = this.db): Promise<number> {
    return this.inTransaction(db, (trx) => this.endUserSessionsIn(userId, reason, ctx, exceptSessionId, trx));
  }

  private async endUserSessionsIn(userId: string, reason: string, ctx: EventContext, exceptSessionId: string | undefined, db: Db): Promise<number> {
    let q = db.updateTable('sessions').set({ revoked_at: this.now(), revoked_reason: reason })
      .where('user_id', '=', userId).where('revoked_at', 'is', null);
    if (exceptSessionId) q = q.where('id', '!=', exceptSessionId);
    const n = Number((await q.executeTakeFirst()).numUpdatedRows);
    if (n > 0) await this.log.record(ctx, { type: 'session.ended', outcome: 'info', subjectId: userId, details: { count: n, reason } }, db);
    return n;
  }

  async listLive(userId: string): Promise<SessionsTable[]> {
    return this.db.selectFrom('sessions').selectAll()
      .where('user_id', '=', userId).where('revoked_at', 'is', null).where('expires_at', '>', this.now())
      .orderBy('created_at', 'desc').execute();
  }
}
