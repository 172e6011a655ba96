import { randomUUID } from 'node:crypto';
import type { Db } from '../db/index.js';
import type { UsersTable } from '../db/types.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { AppError } from '../http/errors.js';
import { checkPasswordBaseline, isImportableHash, type PasswordHasher } from './passwords.js';
import { normaliseIdentifier, type SessionService } from './sessions.js';

/** The public shape of a user: never the hash. */
export interface PublicUser {
  id: string;
  username: string;
  email: string | null;
  status: 'active' | 'disabled';
  isAdmin: boolean;
  createdAt: string;
  updatedAt: string;
}

export function publicUser(u: UsersTable): PublicUser {
  return {
    id: u.id, username: u.username, email: u.email, status: u.status, isAdmin: u.is_admin === 1,
    createdAt: new Date(u.created_at).toISOString(), updatedAt: new Date(u.updated_at).toISOString(),
  };
}

export interface CreateUserInput {
  username: string;
  email?: string | null;
  password?: string;
  /** An imported bcrypt, scrypt or argon2id hash instead of a password. */
  passwordHash?: string;
  isAdmin?: boolean;
}

export interface UpdateUserInput {
  email?: string | null;
  status?: 'active' | 'disabled';
  isAdmin?: boolean;
}

/** Users (AUTH-4, AUTH-5, AUTH-6): every change that must end sessions does so in the same transaction. */
export class UserService {
  constructor(
    private readonly db: Db,
    private readonly hasher: PasswordHasher,
    private readonly sessions: SessionService,
    private readonly log: SecurityLog,
    private readonly now: () => number,
  ) {}

  async count(): Promise<number> {
    const r = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async get(id: string): Promise<UsersTable | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findByName(name: string): Promise<UsersTable | undefined> {
    const n = normaliseIdentifier(name);
    return this.db.selectFrom('users').selectAll().where((eb) => eb.or([eb('username', '=', n), eb('email', '=', n)])).executeTakeFirst();
  }

  async list(limit: number, offset: number): Promise<UsersTable[]> {
    return this.db.selectFrom('users').selectAll().orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute();
  }

  private checkPassword(password: string, username: string): void {
    const failed = checkPasswordBaseline(password, username);
    if (failed.length > 0) throw new AppError('PASSWORD_REJECTED', { rules: failed });
  }

  async create(input: CreateUserInput, ctx: EventContext): Promise<UsersTable> {
    const username = normaliseIdentifier(input.username);
    const email = input.email ? normaliseIdentifier(input.email) : null;
    let hash: string | null = null;
    if (input.password !== undefined && input.passwordHash !== undefined) throw new AppError('VALIDATION_FAILED', { message: 'give password or passwordHash, not both' });
    if (input.password !== undefined) {
      this.checkPassword(input.password, username);
      hash = await this.hasher.hash(input.password);
    } else if (input.passwordHash !== undefined) {
      if (!isImportableHash(input.passwordHash)) throw new AppError('VALIDATION_FAILED', { message: 'passwordHash must be an argon2id, bcrypt or $scrypt$ hash' });
      hash = input.passwordHash;
    }
    const now = this.now();
    const row: UsersTable = {
      id: randomUUID(), username, email, password_hash: hash, status: 'active', is_admin: input.isAdmin ? 1 : 0,
      created_at: now, updated_at: now, password_changed_at: hash ? now : null,
    };
    await this.db.transaction().execute(async (trx) => {
      const clash = await trx.selectFrom('users').select('id')
        .where((eb) => eb.or([eb('username', '=', username), ...(email ? [eb('email', '=', email), eb('username', '=', email)] : []), eb('email', '=', username)]))
        .executeTakeFirst();
      if (clash) throw new AppError('CONFLICT', { field: 'username or email' });
      await trx.insertInto('users').values(row).execute();
      await this.log.record(ctx, {
        type: 'user.created', outcome: 'success', subjectId: row.id,
        details: { username, isAdmin: row.is_admin === 1, importedHash: input.passwordHash !== undefined },
      }, trx);
    });
    return row;
  }

  async update(id: string, patch: UpdateUserInput, ctx: EventContext): Promise<UsersTable> {
    if (ctx.actor.id === id && (patch.status === 'disabled' || patch.isAdmin === false)) throw new AppError('CANNOT_MODIFY_SELF');
    return this.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      if (!before) throw new AppError('NOT_FOUND');
      const set: Partial<UsersTable> = { updated_at: this.now() };
      if (patch.email !== undefined) {
        set.email = patch.email === null ? null : normaliseIdentifier(patch.email);
        if (set.email) {
          const clash = await trx.selectFrom('users').select('id').where('id', '!=', id)
            .where((eb) => eb.or([eb('email', '=', set.email!), eb('username', '=', set.email!)])).executeTakeFirst();
          if (clash) throw new AppError('CONFLICT', { field: 'email' });
        }
      }
      if (patch.status !== undefined) set.status = patch.status;
      if (patch.isAdmin !== undefined) set.is_admin = patch.isAdmin ? 1 : 0;
      await trx.updateTable('users').set(set).where('id', '=', id).execute();
      if (patch.status === 'disabled' && before.status !== 'disabled') {
        await this.sessions.endUserSessions(id, 'user_disabled', ctx, undefined, trx);
      }
      await this.log.record(ctx, { type: 'user.updated', outcome: 'success', subjectId: id, details: { changed: Object.keys(patch) } }, trx);
      return { ...before, ...set } as UsersTable;
    });
  }

  async remove(id: string, ctx: EventContext): Promise<void> {
    if (ctx.actor.id === id) throw new AppError('CANNOT_MODIFY_SELF');
    await this.db.transaction().execute(async (trx) => {
      const u = await trx.selectFrom('users').select(['id', 'username']).where('id', '=', id).executeTakeFirst();
      if (!u) throw new AppError('NOT_FOUND');
      await this.sessions.endUserSessions(id, 'user_deleted', ctx, undefined, trx);
      await trx.deleteFrom('sessions').where('user_id', '=', id).execute();
      await trx.deleteFrom('users').where('id', '=', id).execute();
      await this.log.record(ctx, { type: 'user.deleted', outcome: 'success', subjectId: id, details: { username: u.username } }, trx);
    });
  }

  /** An administrator (or the CLI) sets a password: applies the policy and ends all of the user's sessions. */
  async setPassword(id: string, password: string, ctx: EventContext): Promise<void> {
    const u = await this.get(id);
    if (!u) throw new AppError('NOT_FOUND');
    this.checkPassword(password, u.username);
    const hash = await this.hasher.hash(password);
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ password_hash: hash, password_changed_at: this.now(), updated_at: this.now() }).where('id', '=', id).execute();
      await this.sessions.endUserSessions(id, 'password_set', ctx, undefined, trx);
      await this.log.record(ctx, { type: 'user.password_set', outcome: 'success', subjectId: id }, trx);
    });
  }

  /** A user changes their own password: needs the current one; ends their other sessions. */
  async changeOwnPassword(user: UsersTable, currentSessionId: string, current: string, next: string, ctx: EventContext): Promise<number> {
    const ok = await this.hasher.verify(user.password_hash, current);
    if (!ok) {
      await this.log.record(ctx, { type: 'auth.password_changed', outcome: 'failure', subjectId: user.id, details: { reason: 'bad_current_password' } });
      throw new AppError('INVALID_CREDENTIALS');
    }
    this.checkPassword(next, user.username);
    const hash = await this.hasher.hash(next);
    return this.db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ password_hash: hash, password_changed_at: this.now(), updated_at: this.now() }).where('id', '=', user.id).execute();
      const ended = await this.sessions.endUserSessions(user.id, 'password_changed', ctx, currentSessionId, trx);
      await this.log.record(ctx, { type: 'auth.password_changed', outcome: 'success', subjectId: user.id, details: { otherSessionsEnded: ended } }, trx);
      return ended;
    });
  }
}
