import { AppError } from '../errors.js';
import type { EventContext } from '../audit/events.js';
import type { UsersTable } from '../db/types.js';
import type { CreateUserInput, UpdateUserInput, UserService } from './users.js';
import type { PasswordResetService } from './reset/index.js';

/** Who is administering: only an administrator may make or unmake administrators. */
export interface Administrator {
  ctx: EventContext;
  isAdmin: boolean;
}

/**
 * User administration through the API (AUTH-4): the rules that depend on who administers, over
 * UserService (which the CLI and first boot use directly, as trusted operators).
 */
export class UserAdministration {
  constructor(
    private readonly users: UserService,
    private readonly reset: Pick<PasswordResetService, 'sendLink'>,
  ) {}

  /**
   * Creates a user; with `invite`, mails an invitation link (the user then sets their own password). A password the
   * administrator chose is one-time unless they say it is final (`mustChangePassword: false`): someone else knows it
   * (D430). An imported hash is the user's own password and stays.
   */
  async create(input: CreateUserInput & { invite?: boolean }, by: Administrator): Promise<UsersTable> {
    const { invite, ...user } = input;
    onlyAdminsMakeAdmins(user.isAdmin, by);
    if (invite && (user.password !== undefined || user.passwordHash !== undefined || user.ssoOnly || !user.email)) {
      throw new AppError('VALIDATION_FAILED', { message: 'an invitation needs an email and no password' });
    }
    const mustChangePassword = user.mustChangePassword ?? user.password !== undefined;
    const created = await this.users.create({ ...user, mustChangePassword }, by.ctx);
    if (invite) await this.reset.sendLink(created.id, 'invitation', by.ctx);
    return created;
  }

  /** Sets another user's password; one-time unless the administrator says it is final, as at creation (D430). */
  async setPassword(id: string, password: string, mustChangePassword: boolean | undefined, by: Administrator): Promise<void> {
    await this.users.setPassword(id, password, by.ctx, mustChangePassword ?? true);
  }

  async update(id: string, patch: UpdateUserInput, by: Administrator): Promise<UsersTable> {
    onlyAdminsMakeAdmins(patch.isAdmin, by);
    return this.users.update(id, patch, by.ctx);
  }
}

function onlyAdminsMakeAdmins(isAdmin: boolean | undefined, by: Administrator): void {
  if (isAdmin !== undefined && !by.isAdmin) throw new AppError('PRIVILEGE_ESCALATION', { subject: 'user', exceeds: 'administrator' });
}
