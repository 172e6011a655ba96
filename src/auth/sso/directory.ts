import type { Db } from '../../db/index.js';
import type { SharedState } from '../../shared-state/index.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { normaliseIdentifier } from '../identifier.js';
import { LockoutService, type SpreadDetector } from '../lockout.js';
import { DirectoryRefusal } from './ldap/index.js';
import type { DirectoryProtocol, LdapProvider, ProvenIdentity } from './types.js';

/** The password sign-in's defences, shared with a directory sign-in (AUTH-9, AUTH-10, AUTH-15). */
export interface DirectoryDefences {
  lockout: LockoutService;
  spread: SpreadDetector;
  shared: SharedState;
  /** Told of every refused sign-in, by address (the bot check's after-failures mode). */
  addressFailures?: { recordFailure(ip: string | null | undefined): Promise<void> };
}

/**
 * A username and password checked at a directory (LDAP) under the same defences as a local password:
 * the spread pause first, then an attempt reserved in the lockout before the directory is asked; a
 * refusal counts in the lockout (the linked account's own counter, else one for the name at this
 * provider), in the spread detection and against the address, and is an `sso.login` failure. An
 * unreachable directory gives its attempt back (no verdict) and answers SSO_PROVIDER_UNAVAILABLE.
 */
export class DirectoryCheck {
  constructor(
    private readonly d: { db: Db; log: SecurityLog; defences: DirectoryDefences },
    private readonly protocol: DirectoryProtocol,
  ) {}

  async prove(p: LdapProvider, username: string, password: string, ctx: Omit<EventContext, 'actor'>): Promise<ProvenIdentity> {
    const ident = normaliseIdentifier(username);
    const failCtx: EventContext = { ...ctx, actor: { id: null, name: `sso:${p.slug}` } };
    const { lockout, spread, shared, addressFailures } = this.d.defences;
    await spread.assertOpen(failCtx);
    // The Palisade account this name signs in to at this provider, when it has signed in before: its own counter.
    const known = await this.d.db
      .selectFrom('users')
      .innerJoin('sso_links', 'sso_links.user_id', 'users.id')
      .select('users.id')
      .where('users.username', '=', ident)
      .where('sso_links.provider', '=', p.slug)
      .executeTakeFirst();
    const userId = known?.id ?? null;
    const subject = LockoutService.subject(userId, `sso:${p.slug}:${ident}`);
    const fail = (reason: string, c: EventContext = failCtx) =>
      this.d.log.record(
        { ...c, actor: { id: userId, name: c.actor.name } },
        { type: 'sso.login', outcome: 'failure', subjectId: userId, details: { provider: p.slug, reason, username: ident.slice(0, 64) } },
      );
    const ticket = await lockout.reserve(subject, userId);
    if (!ticket) {
      // Locked: the directory is not asked; logged at most once a minute per account, as for passwords.
      if (await shared.setIfAbsent(`locklog:${subject}`, '1', 60_000)) await fail('locked');
      await addressFailures?.recordFailure(ctx.ip);
      throw new AppError('INVALID_CREDENTIALS', undefined, 'locked');
    }
    try {
      const id = await this.protocol.verify(p, username, password);
      await lockout.succeeded(ticket);
      return id;
    } catch (e) {
      if (e instanceof DirectoryRefusal) {
        await fail(e.reason);
        await lockout.failed(ticket, { ...failCtx, actor: { id: userId, name: failCtx.actor.name } });
        await spread.failed(failCtx);
        await addressFailures?.recordFailure(ctx.ip);
        throw e;
      }
      // No verdict (the directory is down or misconfigured): the attempt is not spent.
      await lockout.release(ticket);
      await fail(e instanceof AppError ? `${e.code}: ${e.internal ?? ''}`.slice(0, 300) : 'unexpected');
      throw e;
    }
  }
}
