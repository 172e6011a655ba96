import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/index.js';
import type { MfaTrustedAddressesTable, UsersTable } from '../../db/types.js';
import type { SettingsStore } from '../../config/settings.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { inAny, parseCidr, parseIp, type Cidr } from '../../edge/ip.js';
import type { GeoIp } from '../../edge/geoip.js';
import type { MfaPolicy } from './factors.js';
import { mfaIpArea, type MfaIpSettings } from './trusted-ip-settings.js';

export type TrustReason = 'static' | 'adaptive' | 'country';

/** What a user (or an administrator) sees of an address adaptive trust counts for them. */
export interface TrustedAddressView {
  id: string;
  /** The address, or for IPv6 its /64. */
  address: string;
  successes: number;
  firstAt: number;
  lastAt: number;
  /** Trusted now (enough successes within the period, adaptive trust on). */
  trusted: boolean;
  /** When the current window ends (first success + period). */
  windowEndsAt: number;
}

/** The key adaptive trust counts under: an IPv4 address as it is, an IPv6 address by its /64 (one subscriber's network). */
export function addressKey(ip: string | null | undefined): string | null {
  const a = ip ? parseIp(ip) : null;
  if (!a) return null;
  if (a.kind() === 'ipv4') return a.toString();
  return parseCidr(`${a.toString()}/64`)?.text ?? null;
}

const windowEnd = (row: Pick<MfaTrustedAddressesTable, 'first_at'>, s: MfaIpSettings) => row.first_at + s.adaptivePeriod * 1000;
const adaptivelyTrusted = (row: MfaTrustedAddressesTable, s: MfaIpSettings, now: number) =>
  s.adaptive && row.successes >= s.adaptiveSuccesses && now <= windowEnd(row, s);

/**
 * Prepared before a second step's transaction (settings are read outside it), run inside it: counts
 * the success of a full sign-in (a second factor proven) from the request's address, when adaptive
 * trust is on. A window starts at the first success and lasts `adaptivePeriod`; a success after it
 * starts a new one, so only successes within one period count. The success that reaches the threshold
 * records `mfa.address_trusted` in the same transaction.
 */
export async function successRecorder(
  d: { settings: SettingsStore; log: SecurityLog },
  ctx: EventContext,
  userId: string,
): Promise<(trx: Db, now: number) => Promise<void>> {
  const s = await d.settings.get(mfaIpArea);
  const key = addressKey(ctx.ip);
  if (!s.adaptive || key === null) return async () => {};
  return async (trx, now) => {
    const row = await trx.selectFrom('mfa_trusted_addresses').selectAll().where('user_id', '=', userId).where('ip', '=', key).executeTakeFirst();
    let successes = 1;
    if (!row) {
      const fresh = { id: randomUUID(), user_id: userId, ip: key, successes: 1, first_at: now, last_at: now };
      await trx
        .insertInto('mfa_trusted_addresses')
        .values(fresh)
        .onConflict((oc) => oc.columns(['user_id', 'ip']).doNothing())
        .execute();
    } else {
      const restart = now > windowEnd(row, s);
      successes = restart ? 1 : row.successes + 1;
      await trx
        .updateTable('mfa_trusted_addresses')
        .set(restart ? { successes, first_at: now, last_at: now } : { successes, last_at: now })
        .where('id', '=', row.id)
        .execute();
    }
    if (successes === s.adaptiveSuccesses) {
      await d.log.record(ctx, { type: 'mfa.address_trusted', outcome: 'info', subjectId: userId, details: { address: key, successes } }, trx);
    }
  };
}

/**
 * IP as a factor (AUTH-12): whether a sign-in's address is trusted for a user (a static range, an
 * allowed country, or adaptive trust), and the user's and administrators' view of the addresses
 * adaptive trust counts. The second-factor gate asks `skips` for a password sign-in of a user with a
 * factor; basic authentication never gets here.
 */
export class TrustedAddresses {
  readonly area = mfaIpArea;

  constructor(
    private readonly d: {
      db: Db;
      settings: SettingsStore;
      log: SecurityLog;
      policy: MfaPolicy;
      geoip: GeoIp;
      now: () => number;
    },
  ) {}

  /** True when the setting lets this sign-in skip the second factor; records `mfa.skipped_trusted_address` with the reason. */
  async skips(user: UsersTable, ctx: EventContext): Promise<boolean> {
    const s = await this.d.settings.get(mfaIpArea);
    if (!s.skipSecondFactor) return false;
    const required = await this.d.policy.required(user);
    if (required && !s.requiredUsersToo) return false;
    const reason = await this.trustOf(user.id, ctx.ip, s, required);
    if (reason === null) return false;
    await this.d.log.record(ctx, {
      type: 'mfa.skipped_trusted_address',
      outcome: 'success',
      subjectId: user.id,
      details: { reason, address: addressKey(ctx.ip) },
    });
    return true;
  }

  private async trustOf(userId: string, ip: string | null | undefined, s: MfaIpSettings, required: boolean): Promise<TrustReason | null> {
    const addr = ip ? parseIp(ip) : null;
    if (!addr) return null;
    const ranges = s.trustedRanges.map(parseCidr).filter((c): c is Cidr => c !== null);
    if (inAny(addr, ranges)) return 'static';
    if (s.adaptive) {
      const key = addressKey(ip);
      const row = key
        ? await this.d.db.selectFrom('mfa_trusted_addresses').selectAll().where('user_id', '=', userId).where('ip', '=', key).executeTakeFirst()
        : undefined;
      if (row && adaptivelyTrusted(row, s, this.d.now())) return 'adaptive';
    }
    // A country is a weak signal (a whole nation, VPN exits): never enough for a required user.
    if (s.trustedCountries.length > 0 && !required) {
      const country = await this.d.geoip.country(addr);
      if (country !== null && s.trustedCountries.includes(country)) return 'country';
    }
    return null;
  }

  async list(userId: string): Promise<TrustedAddressView[]> {
    const s = await this.d.settings.get(mfaIpArea);
    const now = this.d.now();
    const rows = await this.d.db
      .selectFrom('mfa_trusted_addresses')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('last_at', 'desc')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      address: r.ip,
      successes: r.successes,
      firstAt: r.first_at,
      lastAt: r.last_at,
      trusted: adaptivelyTrusted(r, s, now),
      windowEndsAt: windowEnd(r, s),
    }));
  }

  /** An administrator's view of a user's addresses; NOT_FOUND for an unknown user. */
  async listFor(userId: string): Promise<TrustedAddressView[]> {
    await this.userExists(userId);
    return this.list(userId);
  }

  /** Forgets one address of the user (the next sign-in from it needs the second factor again); audited in the same transaction. */
  async forget(userId: string, id: string, ctx: EventContext): Promise<void> {
    await this.userExists(userId);
    await this.d.db.transaction().execute(async (trx) => {
      const row = await trx.deleteFrom('mfa_trusted_addresses').where('id', '=', id).where('user_id', '=', userId).returning(['ip']).executeTakeFirst();
      if (!row) throw new AppError('NOT_FOUND');
      await this.d.log.record(
        ctx,
        { type: 'mfa.trusted_address_forgotten', outcome: 'success', subjectId: userId, details: { id, address: row.ip, byAdmin: ctx.actor.id !== userId } },
        trx,
      );
    });
  }

  private async userExists(userId: string): Promise<void> {
    const u = await this.d.db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
    if (!u) throw new AppError('NOT_FOUND');
  }
}
