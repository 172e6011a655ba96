import { randomUUID } from 'node:crypto';
import type { Db } from '../db/index.js';
import type { IpRulesTable } from '../db/types.js';
import Type, { type Static } from 'typebox';
import type { SettingsStore } from '../config/settings.js';
import { defineSettingsArea } from '../config/settings-area.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { AppError } from '../errors.js';
import { embeddedIpv4, inCidr, parseCidr, parseIp, type Cidr } from './ip.js';
import type { GeoIp } from './geoip.js';

/** Country rules (EDGE-3). */
export const GeoSchema = Type.Object({
  allowedCountries: Type.Array(Type.String({ pattern: '^[A-Z]{2}$' }), {
    maxItems: 250,
    uniqueItems: true,
    default: [],
    description: 'ISO 3166 alpha-2 codes such as DE or US; empty = geo-blocking off.',
  }),
  unknownCountry: Type.Union([Type.Literal('allow'), Type.Literal('block')], {
    default: 'allow',
    description: 'What happens to addresses with no country (private, reserved, not in the database).',
  }),
});
export type GeoSettings = Static<typeof GeoSchema>;

export const geoArea = defineSettingsArea({ key: 'geo', label: 'geo', schema: GeoSchema });

interface LoadedRule extends IpRulesTable {
  range: Cidr;
}

interface RuleSet {
  rules: LoadedRule[];
  geo: GeoSettings;
}

export type Refusal = 'blocked' | 'not_allowed' | 'country';

/**
 * What the block and allow rules decide for an address; 'geo' when its country decides (the address is valid then).
 */
function byRules(set: RuleSet, ip: string, adminRoute: boolean): Refusal | null | 'geo' {
  if (set.rules.length === 0 && set.geo.allowedCountries.length === 0) return null;
  const addr = parseIp(ip);
  if (!addr) return 'not_allowed';
  const applies = (r: LoadedRule) => r.scope === 'all' || (r.scope === 'admin' && adminRoute);
  const active = set.rules.filter(applies);
  // A block on an IPv4 range also holds for that range reached through 6to4, NAT64 or Teredo.
  const inner = embeddedIpv4(addr);
  if (active.some((r) => r.action === 'block' && (inCidr(addr, r.range) || (inner !== null && inCidr(inner, r.range))))) return 'blocked';
  let allowListed = false;
  for (const scope of ['all', 'admin'] as const) {
    const allows = active.filter((r) => r.action === 'allow' && r.scope === scope);
    if (allows.length === 0) continue;
    if (!allows.some((r) => inCidr(addr, r.range))) return 'not_allowed';
    allowListed = true;
  }
  return allowListed || set.geo.allowedCountries.length === 0 ? null : 'geo';
}

/**
 * IP allow and block lists (EDGE-2) and country rules (EDGE-3). Rules live in the database; each
 * instance re-reads them at most a second after a change. Evaluation order: a matching block
 * rule refuses; where allow rules exist for the scope, only matching addresses pass; an address on
 * an allow list skips the country check; otherwise the country must be allowed.
 */
export class IpRuleService {
  private cache: { at: number; set: RuleSet } | null = null;

  constructor(
    private readonly db: Db,
    private readonly settings: SettingsStore,
    private readonly geoip: GeoIp,
    private readonly log: SecurityLog,
    private readonly now: () => number,
    private readonly cacheMs = 1000,
  ) {}

  invalidate(): void {
    this.cache = null;
  }

  private async load(): Promise<RuleSet> {
    if (this.cache && Date.now() - this.cache.at < this.cacheMs) return this.cache.set;
    const rows = await this.db.selectFrom('ip_rules').selectAll().orderBy('created_at').execute();
    const rules = rows.flatMap((r) => {
      const range = parseCidr(r.cidr);
      return range ? [{ ...r, range }] : [];
    });
    const set = { rules, geo: await this.settings.get(geoArea) };
    this.cache = { at: Date.now(), set };
    return set;
  }

  async check(ip: string, adminRoute: boolean): Promise<Refusal | null> {
    return this.evaluate(await this.load(), ip, adminRoute);
  }

  /**
   * `check` when the rules kept are current and decide without the country database, without a promise (issue 14:
   * the hot path of a request); undefined otherwise: the caller then takes `check`.
   */
  checkNow(ip: string, adminRoute: boolean): Refusal | null | undefined {
    const c = this.cache;
    if (!c || Date.now() - c.at >= this.cacheMs) return undefined;
    const d = byRules(c.set, ip, adminRoute);
    return d === 'geo' ? undefined : d;
  }

  private async evaluate(set: RuleSet, ip: string, adminRoute: boolean): Promise<Refusal | null> {
    const d = byRules(set, ip, adminRoute);
    if (d !== 'geo') return d;
    const addr = parseIp(ip)!;
    const inner = embeddedIpv4(addr);
    const country = (await this.geoip.country(addr)) ?? (inner ? await this.geoip.country(inner) : null);
    if (country === null) return set.geo.unknownCountry === 'allow' ? null : 'country';
    return set.geo.allowedCountries.includes(country) ? null : 'country';
  }

  async list(): Promise<IpRulesTable[]> {
    return this.db.selectFrom('ip_rules').selectAll().orderBy('created_at').orderBy('id').execute();
  }

  /** Refuses any change after which the requesting administrator could not reach the admin API. */
  private async guardSelf(next: RuleSet, requesterIp: string): Promise<void> {
    const r = await this.evaluate(next, requesterIp, true);
    if (r !== null) throw new AppError('SELF_LOCKOUT', { clientIp: requesterIp, refusal: r });
  }

  async add(
    input: { action: 'allow' | 'block'; cidr: string; scope: 'all' | 'admin'; note?: string },
    requesterIp: string,
    ctx: EventContext,
  ): Promise<IpRulesTable> {
    const range = parseCidr(input.cidr);
    if (!range) throw new AppError('VALIDATION_FAILED', [{ path: '/cidr', message: 'must be an IPv4 or IPv6 address or CIDR range, without zone id' }]);
    const current = await this.fresh();
    if (current.rules.some((r) => r.action === input.action && r.scope === input.scope && r.range.text === range.text))
      throw new AppError('CONFLICT', { field: 'cidr' });
    const row: IpRulesTable = {
      id: randomUUID(),
      action: input.action,
      cidr: range.text,
      scope: input.scope,
      note: input.note ?? null,
      created_at: this.now(),
      created_by: ctx.actor.id,
    };
    await this.guardSelf({ ...current, rules: [...current.rules, { ...row, range }] }, requesterIp);
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('ip_rules').values(row).execute();
      await this.log.record(
        ctx,
        { type: 'ip_rule.created', outcome: 'success', details: { id: row.id, action: row.action, cidr: row.cidr, scope: row.scope } },
        trx,
      );
    });
    this.invalidate();
    return row;
  }

  async remove(id: string, requesterIp: string, ctx: EventContext): Promise<void> {
    const current = await this.fresh();
    const rule = current.rules.find((r) => r.id === id);
    if (!rule) throw new AppError('NOT_FOUND');
    await this.guardSelf({ ...current, rules: current.rules.filter((r) => r.id !== id) }, requesterIp);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('ip_rules').where('id', '=', id).execute();
      await this.log.record(
        ctx,
        { type: 'ip_rule.deleted', outcome: 'success', details: { id, action: rule.action, cidr: rule.cidr, scope: rule.scope } },
        trx,
      );
    });
    this.invalidate();
  }

  /** Checks a geo settings change the same way. */
  async guardGeo(next: GeoSettings, requesterIp: string): Promise<void> {
    const current = await this.fresh();
    await this.guardSelf({ ...current, geo: next }, requesterIp);
    this.invalidate();
  }

  private async fresh(): Promise<RuleSet> {
    this.invalidate();
    return this.load();
  }
}
