import type { Db } from '../../db/index.js';
import type { UsersTable } from '../../db/types.js';
import type { SharedState } from '../../shared-state/index.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import type { PasswordHasher } from '../passwords.js';
import { LockoutService, type SpreadDetector } from '../lockout.js';
import { normaliseIdentifier } from '../identifier.js';

export interface PasswordProof {
  /** A username or an email address, as typed. */
  identifier: string;
  password: string;
}

/**
 * Proves identity with a username or email and a password. It opens no session: the caller hands
 * the user to `SessionService.create`, which runs the sign-in gates. Every refusal is
 * INVALID_CREDENTIALS, whatever the reason (logged), so the answer tells nothing about the account.
 */
export class PasswordCredential {
  constructor(
    private readonly db: Db,
    private readonly hasher: PasswordHasher,
    private readonly shared: SharedState,
    private readonly log: SecurityLog,
    private readonly now: () => number,
    private readonly defences: {
      lockout: LockoutService;
      spread: SpreadDetector;
      /** Told of every refused sign-in, by address (the bot check's after-failures mode, AUTH-15). */
      addressFailures?: { recordFailure(ip: string | null | undefined): Promise<void> };
    },
  ) {}

  async prove(input: PasswordProof, ctx: Omit<EventContext, 'actor'>): Promise<UsersTable> {
    const ident = normaliseIdentifier(input.identifier);
    const failCtx: EventContext = { ...ctx, actor: { id: null, name: ident.slice(0, 64) } };
    // Gates that cost no hashing come first: a flood cannot buy CPU (AUTH-10, AUTH-9).
    await this.defences.spread.assertOpen(failCtx);
    const user = await this.db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb.or([eb('username', '=', ident), eb('email', '=', ident)]))
      .executeTakeFirst();
    const subject = LockoutService.subject(user?.id ?? null, ident);
    const ticket = await this.defences.lockout.reserve(subject, user?.id ?? null);
    if (!ticket) {
      // Locked: the same answer as bad credentials, in about the same time, without computing a hash.
      // Logged at most once a minute per account, so a flood cannot fill the log.
      if (await this.shared.setIfAbsent(`locklog:${subject}`, '1', 60_000)) {
        await this.log.record(
          { ...failCtx, actor: { id: user?.id ?? null, name: failCtx.actor.name } },
          {
            type: 'auth.login',
            outcome: 'failure',
            subjectId: user?.id ?? null,
            details: { reason: 'locked', sampled: 'once a minute per account' },
          },
        );
      }
      await this.hasher.imitateVerify();
      await this.defences.addressFailures?.recordFailure(ctx.ip);
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
    // A disabled account's right password is a failed attempt like any other: it counts towards the
    // lockout and the spread detection. (SessionService.create refuses disabled accounts for every method.)
    const reason = !user ? 'unknown_user' : !user.password_hash ? 'no_password' : !ok ? 'bad_password' : user.status !== 'active' ? 'disabled' : null;
    if (reason !== null || !user) {
      const c = { ...failCtx, actor: { id: user?.id ?? null, name: failCtx.actor.name } };
      await this.log.record(c, { type: 'auth.login', outcome: 'failure', subjectId: user?.id ?? null, details: { reason } });
      await this.defences.lockout.failed(ticket, c);
      await this.defences.spread.failed(c);
      await this.defences.addressFailures?.recordFailure(ctx.ip);
      throw new AppError('INVALID_CREDENTIALS', undefined, reason ?? 'unknown');
    }
    await this.defences.lockout.succeeded(ticket);
    if (this.hasher.needsRehash(user.password_hash!)) {
      const fresh = await this.hasher.hash(input.password);
      await this.db.transaction().execute(async (trx) => {
        await trx.updateTable('users').set({ password_hash: fresh, updated_at: this.now() }).where('id', '=', user.id).execute();
        await this.log.record(
          { ...ctx, actor: { id: user.id, name: user.username } },
          {
            type: 'auth.password_rehashed',
            outcome: 'info',
            subjectId: user.id,
            details: { from: user.password_hash!.split('$')[1] },
          },
          trx,
        );
      });
    }
    return user;
  }
}
