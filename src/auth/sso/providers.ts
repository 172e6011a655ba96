import type { Db } from '../../db/index.js';
import type { IdentityProvidersTable } from '../../db/types.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { assertOutbound, hostOf, type OutboundAllowlist } from '../../config/outbound.js';
import { SLUG_PATTERN } from './schema.js';
import type { ClaimMapping, Provider, ProviderCommon } from './types.js';
import { IMPLEMENTED_TYPES, isImplemented, kindOf, secretNameOf, type ImplementedType, type KindInputs } from './kinds.js';

/** What the feature needs of the secret store (handed in by services.ts: auth does not import secrets). */
export interface SsoSecrets {
  /** Sets (a value) or deletes ('') a secret inside the caller's transaction, with its event. */
  write(name: string, value: string, ctx: EventContext, db: Db): Promise<void>;
  /** The value, or null when not set or unreadable. Never reaches a route. */
  value(name: string): Promise<string | null>;
  /** Whether a secret of this name is set. */
  isSet(name: string): Promise<boolean>;
}

const SLUG = new RegExp(SLUG_PATTERN);
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

export { checkSecretName, clientSecretNameOf, secretNameOf, type OidcInput } from './kinds.js';

export interface ProviderInput extends Partial<KindInputs> {
  type?: ImplementedType;
  displayName?: string;
  enabled?: boolean;
  provisioning?: 'jit' | 'existing';
  defaultRoles?: string[];
  defaultDepartments?: string[];
  mappings?: ClaimMapping[];
  emailDomains?: string[];
  trustEmail?: boolean;
  trustMfa?: boolean;
}

/** A provider as an administrator sees it: the secret (OIDC client secret, LDAP service password) only as its name and whether it is set. */
export type ProviderView = Provider & { clientSecretSet: boolean };

const json = (s: string): unknown => JSON.parse(s);

export function providerOf(r: IdentityProvidersTable): Provider {
  const settings = json(r.settings);
  const common: ProviderCommon = {
    slug: r.slug,
    displayName: r.display_name,
    enabled: Number(r.enabled) === 1,
    provisioning: r.provisioning === 'existing' ? 'existing' : 'jit',
    defaultRoles: json(r.default_roles) as string[],
    defaultDepartments: json(r.default_departments) as string[],
    mappings: json(r.mappings) as ClaimMapping[],
    emailDomains: json(r.email_domains) as string[],
    trustEmail: Number(r.trust_email) === 1,
    trustMfa: Number(r.trust_mfa) === 1,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
  const type = isImplemented(r.type) ? r.type : 'oidc';
  return { ...common, type, settings } as Provider;
}

/**
 * Identity providers as runtime configuration (AUTH-13): create, change, delete, each change with its
 * security event in one transaction; the client secret written to the secret store in the same
 * transaction and never read back.
 */
export class ProviderStore {
  constructor(
    private readonly d: {
      db: Db;
      log: SecurityLog;
      secrets: SsoSecrets;
      now: () => number;
      /** OUTBOUND_ALLOW: a provider the server would connect to must be on it (D435); null or absent: no list. */
      outbound?: OutboundAllowlist | null;
    },
  ) {}

  /**
   * Before each connection to a provider (D435): one saved before OUTBOUND_ALLOW listed it, or pointed elsewhere since,
   * is unavailable (503 SSO_PROVIDER_UNAVAILABLE), never reached.
   */
  assertReachable(p: Provider): void {
    const list = this.d.outbound ?? null;
    const to = list === null ? null : kindOf(p.type as ImplementedType).connectsTo(p.settings as never);
    const host = to === null ? null : hostOf(to);
    if (list !== null && to !== null && (host === null || !list.allows(host)))
      throw new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, `${host} is not in OUTBOUND_ALLOW`);
  }

  /** The address the server connects to for these settings must be on OUTBOUND_ALLOW (OUTBOUND_NOT_ALLOWED). */
  private reachable(type: ImplementedType, settings: unknown): void {
    const to = kindOf(type).connectsTo(settings as never);
    if (to !== null) assertOutbound(this.d.outbound ?? null, to, `/${type}`);
  }

  async list(): Promise<Provider[]> {
    return (await this.d.db.selectFrom('identity_providers').selectAll().orderBy('slug').execute()).map(providerOf);
  }

  async get(slug: string): Promise<Provider | null> {
    if (!SLUG.test(slug)) return null;
    const r = await this.d.db.selectFrom('identity_providers').selectAll().where('slug', '=', slug).executeTakeFirst();
    return r ? providerOf(r) : null;
  }

  /** An enabled provider, or NOT_FOUND: a disabled one is as good as none to a sign-in. */
  async enabled(slug: string): Promise<Provider> {
    const p = await this.get(slug);
    if (!p?.enabled) throw new AppError('NOT_FOUND');
    return p;
  }

  async view(p: Provider): Promise<ProviderView> {
    const name = secretNameOf(p);
    return { ...p, clientSecretSet: name !== null && (await this.d.secrets.isSet(name)) };
  }

  async create(slug: string, input: ProviderInput, ctx: EventContext): Promise<Provider> {
    if (!SLUG.test(slug)) throw invalid('/slug', 'a slug is a lower-case letter, then up to 39 lower-case letters, digits or "-"');
    if (!isImplemented(input.type)) throw invalid('/type', IMPLEMENTED_TYPES.join(', '));
    if (!input.displayName) throw invalid('/displayName', 'required');
    const type = input.type;
    const kind = kindOf(type);
    const own = input[type];
    if (!own) throw invalid(`/${type}`, `the ${type} settings are required`);
    foreignSettings(type, input);
    const now = this.d.now();
    const settings = kind.settings(slug, null, own);
    this.reachable(type, settings);
    const secret = kind.secretField === null ? undefined : ((own as Record<string, unknown>)[kind.secretField] as string | undefined);
    const row: IdentityProvidersTable = {
      slug,
      type,
      display_name: input.displayName,
      enabled: input.enabled === false ? 0 : 1,
      settings: JSON.stringify(settings),
      provisioning: input.provisioning ?? 'jit',
      default_roles: '[]',
      default_departments: '[]',
      mappings: '[]',
      email_domains: '[]',
      trust_email: input.trustEmail ? 1 : 0,
      trust_mfa: input.trustMfa ? 1 : 0,
      created_at: now,
      updated_at: now,
    };
    return this.d.db.transaction().execute(async (trx) => {
      if (await trx.selectFrom('identity_providers').select('slug').where('slug', '=', slug).executeTakeFirst()) {
        throw new AppError('CONFLICT', { field: 'slug' });
      }
      Object.assign(row, await this.common(trx, input));
      await trx.insertInto('identity_providers').values(row).execute();
      if (secret !== undefined && kind.ownSecretName) await this.d.secrets.write(kind.ownSecretName(slug), secret, ctx, trx);
      const p = providerOf(row);
      await this.d.log.record(ctx, { type: 'sso.provider_created', outcome: 'success', details: { provider: slug, ...summary(p) } }, trx);
      return p;
    });
  }

  async update(slug: string, input: ProviderInput, ctx: EventContext): Promise<Provider> {
    return this.d.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('identity_providers').selectAll().where('slug', '=', slug).executeTakeFirst();
      if (!before) throw new AppError('NOT_FOUND');
      if (input.type !== undefined && input.type !== before.type) throw invalid('/type', 'the type of a provider cannot change');
      const old = providerOf(before);
      const set: Partial<IdentityProvidersTable> = { ...(await this.common(trx, input)), updated_at: Math.max(this.d.now(), old.updatedAt + 1) };
      if (input.displayName !== undefined) set.display_name = input.displayName;
      if (input.enabled !== undefined) set.enabled = input.enabled ? 1 : 0;
      if (input.provisioning !== undefined) set.provisioning = input.provisioning;
      if (input.trustEmail !== undefined) set.trust_email = input.trustEmail ? 1 : 0;
      if (input.trustMfa !== undefined) set.trust_mfa = input.trustMfa ? 1 : 0;
      foreignSettings(old.type, input);
      const kind = kindOf(old.type);
      const own = input[old.type];
      if (own !== undefined) {
        const next = kind.settings(slug, old.settings as never, own);
        this.reachable(old.type, next);
        set.settings = JSON.stringify(next);
      }
      await trx.updateTable('identity_providers').set(set).where('slug', '=', slug).execute();
      // A provider pointed at another issuer is another provider: it may not end the sessions the old one opened.
      if (set.settings !== undefined && kind.issuerOf(JSON.parse(set.settings)) !== kind.issuerOf(old.settings as never)) await detachSessions(trx, slug);
      const secret = kind.secretField === null ? undefined : ((own as Record<string, unknown> | undefined)?.[kind.secretField] as string | undefined);
      if (secret !== undefined && kind.ownSecretName) await this.d.secrets.write(kind.ownSecretName(slug), secret, ctx, trx);
      const after = providerOf({ ...before, ...set });
      const changed = Object.keys(input).filter((k) => !isImplemented(k));
      if (own) changed.push(...Object.keys(own).map((k) => `${old.type}.${k}`));
      await this.d.log.record(ctx, { type: 'sso.provider_updated', outcome: 'success', details: { provider: slug, changed, ...summary(after) } }, trx);
      return after;
    });
  }

  /** Deletes a provider and its links (its users stay; SSO-only users then cannot sign in until linked again). */
  async delete(slug: string, ctx: EventContext): Promise<boolean> {
    return this.d.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('identity_providers').selectAll().where('slug', '=', slug).executeTakeFirst();
      if (!before) return false;
      const links = await trx.deleteFrom('sso_links').where('provider', '=', slug).executeTakeFirst();
      await trx.deleteFrom('sso_flows').where('provider', '=', slug).execute();
      await trx.deleteFrom('identity_providers').where('slug', '=', slug).execute();
      // A later provider of the same slug may not end the sessions this one opened (D339).
      await detachSessions(trx, slug);
      const gone = providerOf(before);
      const own = kindOf(gone.type).ownSecretName?.(gone.slug) ?? null;
      if (own !== null && secretNameOf(gone) === own) await this.d.secrets.write(own, '', ctx, trx);
      await this.d.log.record(
        ctx,
        { type: 'sso.provider_deleted', outcome: 'success', details: { provider: slug, linksRemoved: Number(links.numDeletedRows) } },
        trx,
      );
      return true;
    });
  }

  /** The fields every protocol shares, checked: roles and departments must exist, domains are plain host names. */
  private async common(trx: Db, i: ProviderInput): Promise<Partial<IdentityProvidersTable>> {
    const out: Partial<IdentityProvidersTable> = {};
    const roles = new Set<string>([...(i.defaultRoles ?? []), ...(i.mappings ?? []).flatMap((m) => m.roles)]);
    const departments = new Set<string>([...(i.defaultDepartments ?? []), ...(i.mappings ?? []).flatMap((m) => m.departments)]);
    if (roles.size > 0) {
      const known = new Set(
        (
          await trx
            .selectFrom('roles')
            .select('name')
            .where('name', 'in', [...roles])
            .execute()
        ).map((r) => r.name),
      );
      const unknown = [...roles].filter((r) => !known.has(r));
      if (unknown.length) throw invalid('/roles', `unknown roles: ${unknown.join(', ')}`);
    }
    if (departments.size > 0) {
      const known = new Set(
        (
          await trx
            .selectFrom('departments')
            .select('name')
            .where('name', 'in', [...departments])
            .execute()
        ).map((r) => r.name),
      );
      const unknown = [...departments].filter((r) => !known.has(r));
      if (unknown.length) throw invalid('/departments', `unknown departments: ${unknown.join(', ')}`);
    }
    if (i.defaultRoles !== undefined) out.default_roles = JSON.stringify([...new Set(i.defaultRoles)]);
    if (i.defaultDepartments !== undefined) out.default_departments = JSON.stringify([...new Set(i.defaultDepartments)]);
    if (i.mappings !== undefined)
      out.mappings = JSON.stringify(i.mappings.map((m) => ({ claim: m.claim, value: m.value, roles: m.roles, departments: m.departments })));
    if (i.emailDomains !== undefined) {
      const domains = [...new Set(i.emailDomains.map((d) => d.trim().toLowerCase()))];
      const bad = domains.filter((d) => !DOMAIN.test(d));
      if (bad.length) throw invalid('/emailDomains', `not a domain name: ${bad.join(', ')}`);
      out.email_domains = JSON.stringify(domains);
    }
    return out;
  }
}

const invalid = (path: string, message: string) => new AppError('VALIDATION_FAILED', [{ path, message }]);

/** Settings of another type than the provider's are refused. */
function foreignSettings(type: ImplementedType, input: ProviderInput): void {
  for (const other of IMPLEMENTED_TYPES) {
    if (other !== type && input[other] !== undefined) throw invalid(`/${other}`, `not settings of a ${type} provider`);
  }
}

/** What an event says of a provider: its security-relevant settings, never a secret. */
function summary(p: Provider) {
  return {
    enabled: p.enabled,
    provisioning: p.provisioning,
    ...kindOf(p.type).summary(p.settings as never),
    emailDomains: p.emailDomains,
    trustEmail: p.trustEmail,
    trustMfa: p.trustMfa,
    mappings: p.mappings.length,
  };
}

/** Forgets which provider opened the live sessions of `slug`: no single logout reaches them any more (D339). */
async function detachSessions(trx: Db, slug: string): Promise<void> {
  await trx.updateTable('sessions').set({ sso_provider: null }).where('sso_provider', '=', slug).execute();
}
