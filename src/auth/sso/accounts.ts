import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../../db/index.js';
import type { SsoLinksTable, UsersTable } from '../../db/types.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { isUniqueViolation } from '../../db/errors.js';
import { normaliseIdentifier } from '../identifier.js';
import { plainEmail } from '../users.js';
import type { Provider, ProvenIdentity } from './types.js';

const list = (s: string): string[] => JSON.parse(s) as string[];
const domainOf = (email: string): string => email.slice(email.lastIndexOf('@') + 1);

/**
 * A provider's email in the form local accounts keep (NFKC, lower case, one plain address), or null; `canonical`:
 * it was already in that form. One that was not (fullwidth letters, a Kelvin sign) never counts as verified, so it
 * cannot link to or shadow another account.
 */
export function providerEmail(raw: unknown): { email: string | null; canonical: boolean } {
  if (typeof raw !== 'string' || raw.length > 254) return { email: null, canonical: false };
  const trimmed = raw.trim();
  try {
    const email = plainEmail(trimmed);
    return { email, canonical: email === trimmed.toLowerCase() };
  } catch {
    return { email: null, canonical: false };
  }
}

/** Whether the provider may speak for this email: its domain is one the provider claims. */
export const claims = (p: Provider, email: string | null): email is string => email !== null && p.emailDomains.includes(domainOf(email));

/** The roles and departments the mapping gives for these claims (a claim equal to the value, or an array holding it). */
export function mapped(p: Provider, c: Record<string, unknown>): { roles: string[]; departments: string[] } {
  const roles = new Set<string>();
  const departments = new Set<string>();
  for (const m of p.mappings) {
    const v = Object.hasOwn(c, m.claim) ? c[m.claim] : undefined;
    const hit = typeof v === 'string' ? v === m.value : Array.isArray(v) && v.some((x) => x === m.value);
    if (!hit) continue;
    for (const r of m.roles) roles.add(r);
    for (const d of m.departments) departments.add(d);
  }
  return { roles: [...roles].sort(), departments: [...departments].sort() };
}

/** Why a sign-in found no account to use. */
export type AccountRefusal = 'unknown_account' | 'email_not_trusted' | 'disabled_provider';

/**
 * Which account a proven identity signs in to (AUTH-13): its link, else an existing account claimed by
 * a verified email on a trusted domain, else a new SSO-only account (just in time), else none. An
 * email alone never links: the provider must be trusted for the domain and say email_verified=true.
 */
export class SsoAccounts {
  constructor(private readonly d: { db: Db; log: SecurityLog; now: () => number }) {}

  async linkOf(provider: string, subject: string, db: Db = this.d.db): Promise<SsoLinksTable | undefined> {
    return db.selectFrom('sso_links').selectAll().where('provider', '=', provider).where('subject', '=', subject).executeTakeFirst();
  }

  /**
   * The account for a sign-in, its link written or refreshed and its roles and departments synchronised
   * with the mapping, with the events, in one transaction.
   */
  async signIn(p: Provider, id: ProvenIdentity, ctx: Omit<EventContext, 'actor'>): Promise<UsersTable> {
    try {
      return await this.signInOnce(p, id, ctx);
    } catch (e) {
      // Two first sign-ins of one new identity at once both create it (PostgreSQL runs them side by side): the
      // loser's insert fails unique, and once more it finds the winner's link.
      if (isUniqueViolation(e)) return this.signInOnce(p, id, ctx);
      throw e;
    }
  }

  private async signInOnce(p: Provider, id: ProvenIdentity, ctx: Omit<EventContext, 'actor'>): Promise<UsersTable> {
    return this.d.db.transaction().execute(async (trx) => {
      const now = this.d.now();
      let link = await this.linkOf(p.slug, id.subject, trx);
      let user: UsersTable | undefined;
      let created = false;
      // A link names the issuer it was made with: the same subject at another issuer (the provider moved to another
      // server, realm or tenant) is another person, never this account (D291).
      if (link && link.issuer !== id.issuer) throw refusal('SSO_ACCOUNT_UNKNOWN', 'issuer_changed', link.user_id);
      if (link) {
        user = await trx.selectFrom('users').selectAll().where('id', '=', link.user_id).executeTakeFirst();
      } else {
        const existing = id.email ? await trx.selectFrom('users').selectAll().where('email', '=', id.email).executeTakeFirst() : undefined;
        if (existing) {
          // The account-takeover line: only a provider trusted for this domain, saying the email is verified.
          if (!(p.trustEmail && id.emailVerified && claims(p, id.email))) {
            throw refusal('SSO_ACCOUNT_NOT_LINKED', id.emailVerified ? 'email_domain_not_trusted' : 'email_not_verified', existing.id);
          }
          user = existing;
          link = await this.insertLink(trx, p, id, user, 'verified_email', { ...ctx, actor: actorOf(user) }, now);
        } else if (p.provisioning === 'existing') {
          throw refusal('SSO_ACCOUNT_UNKNOWN', 'unknown_account', null);
        } else {
          user = await this.createUser(trx, p, id, ctx, now);
          created = true;
          link = await this.insertLink(trx, p, id, user, 'jit', { ...ctx, actor: actorOf(user) }, now);
        }
      }
      if (!user) throw refusal('SSO_ACCOUNT_UNKNOWN', 'unknown_account', null);
      const actx: EventContext = { ...ctx, actor: actorOf(user) };
      await this.sync(trx, p, id, user, link, created, actx);
      await trx.updateTable('sso_links').set({ last_used_at: now, email: id.email }).where('provider', '=', p.slug).where('subject', '=', id.subject).execute();
      await this.d.log.record(
        actx,
        {
          type: 'sso.login',
          outcome: 'success',
          subjectId: user.id,
          details: { provider: p.slug, subject: id.subject.slice(0, 255), created, providerMfa: id.mfa },
        },
        trx,
      );
      return user;
    });
  }

  /** Links an identity to a user: by the signed-in user (a link flow) or an administrator. */
  async link(p: Provider, id: Pick<ProvenIdentity, 'issuer' | 'subject' | 'email'>, userId: string, by: 'user' | 'admin', ctx: EventContext): Promise<void> {
    const taken = await this.d.db.transaction().execute(async (trx) => {
      const user = await trx.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
      if (!user) throw new AppError('NOT_FOUND');
      const existing = await this.linkOf(p.slug, id.subject, trx);
      if (existing) return existing.user_id !== userId;
      await this.insertLink(
        trx,
        p,
        { ...id, emailVerified: false, username: null, claims: {}, mfa: false, providerSession: null },
        user,
        by,
        ctx,
        this.d.now(),
      );
      return false;
    });
    // Refused: recorded on its own (an event written in the transaction the refusal rolls back would go with it).
    if (taken) {
      await this.d.log.record(ctx, {
        type: 'sso.linked',
        outcome: 'failure',
        subjectId: userId,
        details: { provider: p.slug, reason: 'linked_to_another_account' },
      });
      throw new AppError('SSO_ALREADY_LINKED');
    }
  }

  /** Removes a link; false when there is none of this user. */
  async unlink(userId: string, provider: string, subject: string, by: 'user' | 'admin', ctx: EventContext): Promise<boolean> {
    return this.d.db.transaction().execute(async (trx) => {
      const link = await this.linkOf(provider, subject, trx);
      if (!link || link.user_id !== userId) return false;
      if (by === 'user') {
        // An SSO-only user keeps at least one way in; an administrator may remove the last one knowingly.
        const user = await trx.selectFrom('users').select('sso_only').where('id', '=', userId).executeTakeFirst();
        const count = await trx
          .selectFrom('sso_links')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', userId)
          .executeTakeFirst();
        if (Number(user?.sso_only) === 1 && Number(count?.n ?? 0) <= 1) throw new AppError('SSO_LAST_LINK');
      }
      await trx.deleteFrom('sso_links').where('provider', '=', provider).where('subject', '=', subject).execute();
      await this.d.log.record(ctx, { type: 'sso.unlinked', outcome: 'success', subjectId: userId, details: { provider, by } }, trx);
      return true;
    });
  }

  async linksOf(userId: string): Promise<SsoLinksTable[]> {
    return this.d.db.selectFrom('sso_links').selectAll().where('user_id', '=', userId).orderBy('provider').orderBy('created_at').execute();
  }

  private async insertLink(
    trx: Db,
    p: Provider,
    id: ProvenIdentity,
    user: UsersTable,
    by: SsoLinksTable['linked_by'],
    ctx: EventContext,
    now: number,
  ): Promise<SsoLinksTable> {
    const row: SsoLinksTable = {
      provider: p.slug,
      subject: id.subject,
      user_id: user.id,
      issuer: id.issuer,
      email: id.email,
      mapped_roles: '[]',
      mapped_departments: '[]',
      linked_by: by,
      created_at: now,
      last_used_at: null,
    };
    await trx.insertInto('sso_links').values(row).execute();
    await this.d.log.record(ctx, { type: 'sso.linked', outcome: 'success', subjectId: user.id, details: { provider: p.slug, by } }, trx);
    return row;
  }

  /** A new SSO-only user: no password; the email kept only when verified on a domain the provider claims. */
  private async createUser(trx: Db, p: Provider, id: ProvenIdentity, ctx: Omit<EventContext, 'actor'>, now: number): Promise<UsersTable> {
    const email = id.emailVerified && claims(p, id.email) ? id.email : null;
    const base = usernameBase(id, p);
    let username = base;
    for (let i = 2; ; i++) {
      const clash = await trx
        .selectFrom('users')
        .select('id')
        .where((eb) => eb.or([eb('username', '=', username), eb('email', '=', username)]))
        .executeTakeFirst();
      if (!clash) break;
      username = i <= 20 ? `${base.slice(0, 60)}-${i}` : `${base.slice(0, 50)}-${randomBytes(4).toString('hex')}`;
    }
    const row: UsersTable = {
      id: randomUUID(),
      username,
      email,
      password_hash: null,
      status: 'active',
      is_admin: 0,
      created_at: now,
      updated_at: now,
      password_changed_at: null,
      must_change_password: 0,
      sso_only: 1,
      password_reminded_at: null,
      must_change_by: null,
    };
    await trx.insertInto('users').values(row).execute();
    await this.d.log.record(
      { ...ctx, actor: { id: null, name: `sso:${p.slug}` } },
      { type: 'user.created', outcome: 'success', subjectId: row.id, details: { username, isAdmin: false, sso: p.slug } },
      trx,
    );
    return row;
  }

  /**
   * The mapping's roles and departments at this sign-in: those it gives now are added; those it gave
   * last time and no longer gives are removed. What an administrator granted by hand is not the
   * mapping's and stays. Each change is an `sso.access_synced` event. A new user also gets the defaults.
   */
  private async sync(trx: Db, p: Provider, id: ProvenIdentity, user: UsersTable, link: SsoLinksTable, created: boolean, ctx: EventContext): Promise<void> {
    const want = mapped(p, id.claims);
    const knownRoles = new Set((await trx.selectFrom('roles').select('name').execute()).map((r) => r.name));
    const knownDeps = new Set((await trx.selectFrom('departments').select('name').execute()).map((r) => r.name));
    const roles = want.roles.filter((r) => knownRoles.has(r));
    const deps = want.departments.filter((d) => knownDeps.has(d));
    const haveRoles = new Set((await trx.selectFrom('user_roles').select('role').where('user_id', '=', user.id).execute()).map((r) => r.role));
    const haveDeps = new Set((await trx.selectFrom('user_departments').select('department').where('user_id', '=', user.id).execute()).map((r) => r.department));
    const addRoles = new Set(roles.filter((r) => !haveRoles.has(r)));
    const addDeps = new Set(deps.filter((d) => !haveDeps.has(d)));
    if (created) {
      for (const r of p.defaultRoles) if (knownRoles.has(r) && !haveRoles.has(r)) addRoles.add(r);
      for (const d of p.defaultDepartments) if (knownDeps.has(d) && !haveDeps.has(d)) addDeps.add(d);
    }
    const removeRoles = list(link.mapped_roles).filter((r) => !roles.includes(r) && haveRoles.has(r));
    const removeDeps = list(link.mapped_departments).filter((d) => !deps.includes(d) && haveDeps.has(d));
    const event = (change: string, name: string) =>
      this.d.log.record(ctx, { type: 'sso.access_synced', outcome: 'success', subjectId: user.id, details: { provider: p.slug, change, name } }, trx);
    for (const r of addRoles) {
      await trx.insertInto('user_roles').values({ user_id: user.id, role: r }).execute();
      await event('role.added', r);
    }
    for (const r of removeRoles) {
      await trx.deleteFrom('user_roles').where('user_id', '=', user.id).where('role', '=', r).execute();
      await event('role.removed', r);
    }
    for (const d of addDeps) {
      await trx.insertInto('user_departments').values({ user_id: user.id, department: d }).execute();
      await event('department.added', d);
    }
    for (const d of removeDeps) {
      await trx.deleteFrom('user_departments').where('user_id', '=', user.id).where('department', '=', d).execute();
      await event('department.removed', d);
    }
    await trx
      .updateTable('sso_links')
      .set({ mapped_roles: JSON.stringify(roles), mapped_departments: JSON.stringify(deps) })
      .where('provider', '=', link.provider)
      .where('subject', '=', link.subject)
      .execute();
  }
}

const actorOf = (u: UsersTable) => ({ id: u.id, name: u.username });

/** A refused sign-in: the error carries the reason and the account it concerned, for the failure event. */
export class SsoRefusal extends AppError {
  constructor(
    code: 'SSO_ACCOUNT_NOT_LINKED' | 'SSO_ACCOUNT_UNKNOWN',
    readonly reason: string,
    readonly userId: string | null,
  ) {
    super(code, undefined, reason);
  }
}
const refusal = (code: 'SSO_ACCOUNT_NOT_LINKED' | 'SSO_ACCOUNT_UNKNOWN', reason: string, userId: string | null) => new SsoRefusal(code, reason, userId);

/** A username from the configured claim or the email's local part, cut to the username rule; else one from the provider. */
function usernameBase(id: ProvenIdentity, p: Provider): string {
  const raw = id.username ?? (id.email ? id.email.slice(0, id.email.lastIndexOf('@')) : '');
  const clean = normaliseIdentifier(raw)
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 48);
  return clean.length > 0 ? clean : `${p.slug}-${randomBytes(4).toString('hex')}`;
}
