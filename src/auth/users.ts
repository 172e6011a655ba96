import { randomUUID } from 'node:crypto';
import { sql, type SqlBool } from 'kysely';
import type { Db } from '../db/index.js';
import type { UsersTable } from '../db/types.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { AppError } from '../errors.js';
import { isImportableHash, type PasswordHasher } from './passwords.js';
import { ONE_TIME_PASSWORD_VALIDITY_MS, type PasswordPolicyService } from './password-policy/index.js';
import { writePassword } from './password-policy/history.js';
import { voidLinks } from './reset/tokens.js';
import { isPlainAddress } from '../mail/address.js';
import { normaliseIdentifier } from './identifier.js';
import type { SessionService } from './session/index.js';
import { LockoutService } from './lockout.js';
import type { AccountLocks } from './account-locks.js';
import { NO_NOTICES, type ChangeNotices } from './notices/index.js';
import { isoOf } from '../util/iso.js';

/** The public shape of a user: never the hash. */
export interface PublicUser {
  id: string;
  username: string;
  email: string | null;
  status: 'active' | 'disabled';
  isAdmin: boolean;
  createdAt: string;
  updatedAt: string;
  /** False for an invited user who has not chosen a password yet, and for SSO-only users. */
  hasPassword: boolean;
  passwordChangedAt: string | null;
  mustChangePassword: boolean;
  /** When a one-time password stops signing in (ASVS V6.4.1); null when the password does not expire so. */
  mustChangeBy: string | null;
  ssoOnly: boolean;
}

export function publicUser(u: UsersTable): PublicUser {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    status: u.status,
    isAdmin: u.is_admin === 1,
    createdAt: isoOf(u.created_at),
    updatedAt: isoOf(u.updated_at),
    hasPassword: u.password_hash !== null,
    passwordChangedAt: u.password_changed_at === null ? null : isoOf(u.password_changed_at),
    mustChangePassword: u.must_change_password === 1,
    mustChangeBy: u.must_change_by === null || u.must_change_password !== 1 ? null : isoOf(u.must_change_by),
    ssoOnly: u.sso_only === 1,
  };
}

export interface CreateUserInput {
  username: string;
  email?: string | null;
  password?: string;
  /** An imported bcrypt, scrypt or argon2id hash instead of a password. */
  passwordHash?: string;
  isAdmin?: boolean;
  /** Signs in only through single sign-on: no password, and the password policy does not apply. */
  ssoOnly?: boolean;
  mustChangePassword?: boolean;
}

export interface UpdateUserInput {
  email?: string | null;
  status?: 'active' | 'disabled';
  isAdmin?: boolean;
  /** Require a password change at the next sign-in (AUTH-7). */
  mustChangePassword?: boolean;
  /** true removes the local password and voids the user's password links. */
  ssoOnly?: boolean;
}

/**
 * The stored form of an email address, or VALIDATION_FAILED. Checked before and after normalising, so
 * that no input (the CLI's included) becomes a display name, a list or a quoted part on the way in.
 */
export function plainEmail(raw: string): string {
  const n = normaliseIdentifier(raw);
  if (!isPlainAddress(raw) || !isPlainAddress(n)) {
    throw new AppError('VALIDATION_FAILED', [{ path: '/email', message: 'must be one plain address such as alice@example.org' }]);
  }
  return n;
}

/** The event of an email change, by the user or an administrator: the addresses themselves are not recorded. */
function emailChangedEvent(userId: string, by: 'self' | 'administrator', removed: boolean, oldNotified: boolean, linksVoided?: number) {
  return {
    type: 'user.email_changed' as const,
    outcome: 'success' as const,
    subjectId: userId,
    details: { by, removed, oldAddressTold: oldNotified, ...(linksVoided ? { linksVoided } : {}) },
  };
}

/** Users (AUTH-4, AUTH-5, AUTH-6): every change that must end sessions does so in the same transaction. */
export class UserService {
  constructor(
    private readonly db: Db,
    private readonly hasher: PasswordHasher,
    private readonly sessions: SessionService,
    private readonly log: SecurityLog,
    private readonly now: () => number,
    private readonly lockout: LockoutService,
    private readonly locks: AccountLocks,
    private readonly policy: PasswordPolicyService,
    /** The password-reset setting that may deny administrators the power to set passwords. */
    private readonly adminMaySetPasswords: () => Promise<boolean>,
  ) {}

  /**
   * Work that must happen in a user deletion's transaction before the user row goes: the records
   * layer takes the user out of member lists with a change entry each (services.ts sets it; the
   * database's cascade would otherwise empty them unrecorded).
   */
  beforeRemove: (trx: Db, userId: string, ctx: EventContext) => Promise<void> = async () => undefined;

  /**
   * After a user's deletion committed: SQLite empties its write-ahead log there, so that the user's row (email address,
   * password hash) is gone from the files as from the table (services.ts sets it, D462).
   */
  removed: () => Promise<void> = async () => undefined;

  /**
   * Tells an account's old email address that the address changed, after the change committed (ASVS V7.5.1);
   * services.ts sends the mail in the background. `old` is the address before the change.
   */
  emailChanged: (old: string, user: UsersTable, by: 'self' | 'administrator', ctx: EventContext) => void = () => undefined;

  /** Tells the user of a password change after it committed (ASVS V6.3.7); services.ts sets it. */
  notices: ChangeNotices = NO_NOTICES;

  /**
   * An administrator's lock (AUTH-4): the account is locked until unlocked and every session of the
   * user ends, with their events, in one transaction. An automatic lock, which anyone can trigger by
   * failing sign-ins, only suspends the sessions (the account stage refuses them while it holds).
   */
  async lockByAdministrator(userId: string, reason: string, ctx: EventContext): Promise<void> {
    if (ctx.actor.id === userId) throw new AppError('CANNOT_MODIFY_SELF');
    await this.db.transaction().execute(async (trx) => {
      if (!(await trx.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst())) throw new AppError('NOT_FOUND');
      await this.locks.lock(userId, reason, null, ctx.actor.id, ctx, trx);
      await this.sessions.endUserSessions(userId, 'account_locked', ctx, undefined, trx);
    });
  }

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async get(id: string): Promise<UsersTable | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findByName(name: string): Promise<UsersTable | undefined> {
    const n = normaliseIdentifier(name);
    return this.db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb.or([eb('username', '=', n), eb('email', '=', n)]))
      .executeTakeFirst();
  }

  /** A page of users, oldest first; `q` keeps those whose username or email contains it (any case). */
  async list(limit: number, offset: number, q?: string): Promise<UsersTable[]> {
    let query = this.db.selectFrom('users').selectAll();
    if (q) {
      const pattern = `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      query = query.where((eb) =>
        eb.or([sql<SqlBool>`lower(username) like ${pattern} escape '\\'`, sql<SqlBool>`lower(coalesce(email, '')) like ${pattern} escape '\\'`]),
      );
    }
    return query.orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute();
  }

  /** Administrators (signed-in actors) may be denied setting passwords; the CLI and the system never are. */
  private async assertMaySetPassword(ctx: EventContext): Promise<void> {
    if (ctx.actor.id !== null && !(await this.adminMaySetPasswords())) throw new AppError('PASSWORD_SET_FORBIDDEN');
  }

  async create(input: CreateUserInput, ctx: EventContext): Promise<UsersTable> {
    const username = normaliseIdentifier(input.username);
    const email = input.email ? plainEmail(input.email) : null;
    let hash: string | null = null;
    if (input.password !== undefined && input.passwordHash !== undefined)
      throw new AppError('VALIDATION_FAILED', { message: 'give password or passwordHash, not both' });
    if (input.ssoOnly && (input.password !== undefined || input.passwordHash !== undefined || input.mustChangePassword)) {
      throw new AppError('VALIDATION_FAILED', { message: 'an SSO-only user has no password' });
    }
    if (input.password !== undefined || input.passwordHash !== undefined) await this.assertMaySetPassword(ctx);
    if (input.password !== undefined) {
      await this.policy.assertAcceptable(input.password, { username, email });
      hash = await this.hasher.hash(input.password);
    } else if (input.passwordHash !== undefined) {
      if (!isImportableHash(input.passwordHash))
        throw new AppError('VALIDATION_FAILED', { message: 'passwordHash must be an argon2id, bcrypt or $scrypt$ hash' });
      hash = input.passwordHash;
    }
    const now = this.now();
    const row: UsersTable = {
      id: randomUUID(),
      username,
      email,
      password_hash: hash,
      status: 'active',
      is_admin: input.isAdmin ? 1 : 0,
      created_at: now,
      updated_at: now,
      password_changed_at: hash ? now : null,
      must_change_password: input.mustChangePassword ? 1 : 0,
      sso_only: input.ssoOnly ? 1 : 0,
      password_reminded_at: null,
      // A password someone else chose or generated, to be changed: it signs in for a short time only (D366).
      must_change_by: input.mustChangePassword && input.password !== undefined ? now + ONE_TIME_PASSWORD_VALIDITY_MS : null,
    };
    await this.db.transaction().execute(async (trx) => {
      const clash = await trx
        .selectFrom('users')
        .select('id')
        .where((eb) =>
          eb.or([eb('username', '=', username), ...(email ? [eb('email', '=', email), eb('username', '=', email)] : []), eb('email', '=', username)]),
        )
        .executeTakeFirst();
      if (clash) throw new AppError('CONFLICT', { field: 'username or email' });
      await trx.insertInto('users').values(row).execute();
      if (hash) await trx.insertInto('password_history').values({ user_id: row.id, hash, created_at: now }).execute();
      await this.log.record(
        ctx,
        {
          type: 'user.created',
          outcome: 'success',
          subjectId: row.id,
          details: { username, isAdmin: row.is_admin === 1, importedHash: input.passwordHash !== undefined },
        },
        trx,
      );
    });
    return row;
  }

  async update(id: string, patch: UpdateUserInput, ctx: EventContext): Promise<UsersTable> {
    if (ctx.actor.id === id && (patch.status === 'disabled' || patch.isAdmin === false)) throw new AppError('CANNOT_MODIFY_SELF');
    let oldEmail: string | null = null;
    const after = await this.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      if (!before) throw new AppError('NOT_FOUND');
      const set: Partial<UsersTable> = { updated_at: this.now() };
      if (patch.email !== undefined) {
        set.email = patch.email === null ? null : plainEmail(patch.email);
        // Your own address is changed by another administrator, never through your own session (V7.5.1, D368).
        if (ctx.actor.id === id && set.email !== before.email) throw new AppError('CANNOT_MODIFY_SELF');
        if (set.email) {
          const clash = await trx
            .selectFrom('users')
            .select('id')
            .where('id', '!=', id)
            .where((eb) => eb.or([eb('email', '=', set.email!), eb('username', '=', set.email!)]))
            .executeTakeFirst();
          if (clash) throw new AppError('CONFLICT', { field: 'email' });
        }
      }
      if (patch.status !== undefined) set.status = patch.status;
      if (patch.isAdmin !== undefined) set.is_admin = patch.isAdmin ? 1 : 0;
      if (patch.ssoOnly !== undefined) set.sso_only = patch.ssoOnly ? 1 : 0;
      if (patch.ssoOnly === true) Object.assign(set, { password_hash: null, must_change_password: 0, must_change_by: null });
      if (patch.mustChangePassword !== undefined) {
        if (patch.mustChangePassword && (patch.ssoOnly ?? before.sso_only === 1)) throw new AppError('SSO_ONLY_USER');
        set.must_change_password = patch.mustChangePassword ? 1 : 0;
        // A change required of the user's own password keeps no deadline; lifting the requirement lifts any.
        if (!patch.mustChangePassword) set.must_change_by = null;
      }
      await trx.updateTable('users').set(set).where('id', '=', id).execute();
      // Links were mailed to the old address (or are useless to an SSO-only user): none may outlive the change.
      const emailChanged = set.email !== undefined && set.email !== before.email;
      const linksVoided = patch.ssoOnly === true || emailChanged ? await voidLinks(trx, id, this.now()) : 0;
      if (patch.status === 'disabled' && before.status !== 'disabled') {
        await this.sessions.endUserSessions(id, 'user_disabled', ctx, undefined, trx);
      }
      await this.log.record(
        ctx,
        { type: 'user.updated', outcome: 'success', subjectId: id, details: { changed: Object.keys(patch), ...(linksVoided > 0 ? { linksVoided } : {}) } },
        trx,
      );
      if (emailChanged) {
        oldEmail = before.email;
        await this.log.record(ctx, emailChangedEvent(id, 'administrator', set.email === null, isPlainAddress(before.email)), trx);
      }
      return { ...before, ...set } as UsersTable;
    });
    if (oldEmail !== null) this.emailChanged(oldEmail, after, 'administrator', ctx);
    return after;
  }

  /** The current password, proven like a sign-in: a lockout attempt on the password counter, then the hash. */
  private async proveCurrentPassword(user: UsersTable, current: string, ctx: EventContext): Promise<void> {
    // Checking the current password is a password check: it spends lockout attempts (AUTH-9).
    const result = await this.lockout.attempt(
      LockoutService.subject(user.id, user.username),
      user.id,
      ctx,
      () => this.hasher.verify(user.password_hash, current),
      () => this.log.record(ctx, { type: 'auth.password_changed', outcome: 'failure', subjectId: user.id, details: { reason: 'bad_current_password' } }),
    );
    if (result === 'locked') {
      await this.hasher.imitateVerify();
      throw new AppError('INVALID_CREDENTIALS', undefined, 'locked');
    }
    if (result === 'wrong') throw new AppError('INVALID_CREDENTIALS');
  }

  async remove(id: string, ctx: EventContext): Promise<void> {
    if (ctx.actor.id === id) throw new AppError('CANNOT_MODIFY_SELF');
    await this.db.transaction().execute(async (trx) => {
      const u = await trx.selectFrom('users').select(['id', 'username']).where('id', '=', id).executeTakeFirst();
      if (!u) throw new AppError('NOT_FOUND');
      await this.sessions.endUserSessions(id, 'user_deleted', ctx, undefined, trx);
      await trx.deleteFrom('sessions').where('user_id', '=', id).execute();
      await this.beforeRemove(trx, id, ctx);
      await trx.deleteFrom('users').where('id', '=', id).execute();
      await this.log.record(ctx, { type: 'user.deleted', outcome: 'success', subjectId: id, details: { username: u.username } }, trx);
    });
    await this.removed();
  }

  /**
   * An administrator (or the CLI) sets a password: applies the policy (history included), voids the
   * user's password links and ends all of their sessions. `mustChange` makes it a one-time password.
   */
  async setPassword(id: string, password: string, ctx: EventContext, mustChange = false): Promise<void> {
    // Your own password changes with the current one (changeOwnPassword), never through the administrator's path.
    if (ctx.actor.id === id) throw new AppError('CANNOT_MODIFY_SELF');
    const u = await this.get(id);
    if (!u) throw new AppError('NOT_FOUND');
    await this.assertMaySetPassword(ctx);
    if (u.sso_only === 1) throw new AppError('SSO_ONLY_USER');
    await this.policy.assertAcceptable(password, { username: u.username, email: u.email, user: u });
    const hash = await this.hasher.hash(password);
    await this.db.transaction().execute(async (trx) => {
      await writePassword(trx, id, hash, this.now());
      if (mustChange) {
        const by = this.now() + ONE_TIME_PASSWORD_VALIDITY_MS;
        await trx.updateTable('users').set({ must_change_password: 1, must_change_by: by }).where('id', '=', id).execute();
      }
      await this.sessions.endUserCredentials(id, 'password_set', ctx, trx);
      await this.log.record(ctx, { type: 'user.password_set', outcome: 'success', subjectId: id, details: { mustChange } }, trx);
    });
    this.notices.authChanged(u, 'password_set', ctx);
  }

  /** A user changes their own password: needs the current one; ends their other sessions. */
  async changeOwnPassword(user: UsersTable, currentSessionId: string, current: string, next: string, ctx: EventContext): Promise<number> {
    await this.proveCurrentPassword(user, current, ctx);
    await this.policy.assertAcceptable(next, { username: user.username, email: user.email, user }, 1);
    const hash = await this.hasher.hash(next);
    const ended = await this.db.transaction().execute(async (trx) => {
      await writePassword(trx, user.id, hash, this.now());
      const n = await this.sessions.endUserSessions(user.id, 'password_changed', ctx, currentSessionId, trx);
      await this.log.record(ctx, { type: 'auth.password_changed', outcome: 'success', subjectId: user.id, details: { otherSessionsEnded: n } }, trx);
      return n;
    });
    this.notices.authChanged(user, 'password_changed', ctx);
    return ended;
  }
}
