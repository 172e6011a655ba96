/**
 * Applies a checked document inside one transaction: collections and the access model (as `schema apply`
 * does), field option and ownership changes, settings areas, IP rules; then the self-lockout check on the
 * result. Every step runs on services built over the joined transaction, each writing its own events.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext, SecurityLog } from '../audit/events.js';
import { FIELD_CHANGE_KEYS, type CollectionRegistry, type FieldChange as RegistryFieldChange } from '../collections/registry.js';
import type { CollectionDef, FieldDef } from '../collections/schema.js';
import type { AccessStore } from '../access/grants.js';
import { applySchema } from '../records/schema-file.js';
import type { SettingsArea, SettingsStore } from '../config/settings.js';
import { IpRuleService } from '../edge/ip-rules.js';
import { GeoIp } from '../edge/geoip.js';
import { canonical } from './current.js';
import { normalField, sameCollection } from './diff.js';
import type { ConfigDocument, IpRuleEntry } from './document.js';
import { ProviderStore } from '../auth/sso/providers.js';
import { inputOf } from '../auth/sso/entry.js';
import type { SecretBackend } from '../config/settings.js';
import { currentProviders } from './current.js';
import { providerView } from './diff.js';
import type { OutboundAllowlist } from '../config/outbound.js';

/** The services of one import, all over the same joined transaction. */
export interface InTransaction {
  db: Db;
  log: SecurityLog;
  now: () => number;
  collections: CollectionRegistry;
  access: AccessStore;
  settings: SettingsStore;
  areas: readonly SettingsArea[];
  /** The secret store's writes (a pruned provider's own client secret goes with it); never a value from the file. */
  secrets?: Pick<SecretBackend, 'write'>;
  /** OUTBOUND_ALLOW (D435); absent or null: no list. */
  outbound?: OutboundAllowlist | null;
}

let geo: GeoIp | undefined;
/** One country table per process, loaded only when an import's self-lockout check needs a country. */
const geoip = () => {
  geo ??= new GeoIp();
  return geo;
};

/** A refusal of a step, as a problem of the document: CONFIG_INVALID names where it is. */
function asProblems(e: unknown, where: string): string[] | null {
  if (!(e instanceof AppError)) return null;
  const d = e.details as { problems?: unknown } | Array<{ path?: string; message?: string }> | undefined;
  if (e.code === 'SCHEMA_INVALID' || e.code === 'SETTINGS_INVALID') {
    const list = Array.isArray((d as { problems?: unknown })?.problems) ? ((d as { problems: unknown[] }).problems as unknown[]) : [e.message];
    return list.map((p) => `${where}: ${String(p)}`);
  }
  if (e.code === 'VALIDATION_FAILED' && Array.isArray(d)) return d.map((p) => `${where}: ${p.message ?? 'not valid'}`);
  if (e.code === 'CONFLICT' || e.code === 'NOT_FOUND') return [`${where}: ${e.message}${d ? ` ${JSON.stringify(d)}` : ''}`];
  return null;
}

async function step<T>(where: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const problems = asProblems(e, where);
    if (problems) throw new AppError('CONFIG_INVALID', { problems: problems.slice(0, 50) });
    throw e;
  }
}

/** The option changes (registry.updateField) that turn `was` into `next`, or null when more than options differ. */
function optionChange(was: FieldDef, next: FieldDef): RegistryFieldChange | null {
  const a = normalField(was);
  const b = normalField(next);
  const rest = (x: Record<string, unknown>) =>
    canonical(Object.fromEntries(Object.entries(x).filter(([k]) => !(FIELD_CHANGE_KEYS as readonly string[]).includes(k))));
  if (rest(a) !== rest(b)) return null;
  const change: Record<string, unknown> = {};
  for (const k of FIELD_CHANGE_KEYS) if (canonical(a[k]) !== canonical(b[k])) change[k] = b[k] ?? null;
  return change as RegistryFieldChange;
}

async function applyCollections(t: InTransaction, doc: ConfigDocument, prune: boolean, ctx: EventContext): Promise<void> {
  const hasModel = doc.roles !== undefined;
  if (!doc.collections && !hasModel) return;
  const files = doc.collections ?? [];
  const existing = new Map((await t.collections.list(t.db)).map((c) => [c.name, c]));
  // Field options first (required, default, values, hidden, block, sensitive): schema apply refuses a changed field.
  for (const c of files) {
    const was = existing.get(c.name);
    for (const f of was ? c.fields : []) {
      const old = was!.fields.find((x) => x.name === f.name);
      if (!old || canonical(normalField(old)) === canonical(normalField(f))) continue;
      const change = optionChange(old, f);
      if (change) await step(`collection ${c.name}, field ${f.name}`, () => t.collections.updateField(c.name, f.name, change, ctx));
    }
  }
  await step('collections', () =>
    applySchema(
      t.collections,
      t.access,
      { collections: files, ...(hasModel ? { roles: doc.roles, departments: doc.departments ?? [], grants: doc.grants ?? [] } : {}) },
      { prune },
      ctx,
    ),
  );
  for (const c of files) {
    const was = existing.get(c.name);
    const own = (d: CollectionDef) => canonical({ o: d.ownership ?? null, b: [...(d.ownershipBypass ?? [])].sort() });
    if (was && own(was) !== own(c))
      await step(`collection ${c.name}`, () =>
        t.collections.setOptions(c.name, { ownership: c.ownership ?? null, ownershipBypass: c.ownershipBypass ?? [] }, ctx),
      );
  }
  // The stored definitions as the file writes them (field order, options left at their defaults), where they mean the same.
  for (const stored of await t.collections.list(t.db)) {
    const c = files.find((x) => x.name === stored.name);
    if (c && canonical(stored) !== canonical(c) && sameCollection(stored, c))
      await t.db
        .updateTable('collections')
        .set({ definition: JSON.stringify(c), updated_at: t.now() })
        .where('name', '=', c.name)
        .execute();
  }
}

async function applySettings(t: InTransaction, doc: ConfigDocument, ctx: EventContext): Promise<void> {
  for (const [key, fields] of Object.entries(doc.settings ?? {})) {
    const area = t.areas.find((a) => a.key === key)!;
    const current = (await t.settings.get(area)) as Record<string, unknown>;
    const patch = Object.fromEntries(Object.entries(fields).filter(([f, v]) => canonical(current[f]) !== canonical(v)));
    if (Object.keys(patch).length > 0) await step(`settings.${key}`, () => t.settings.change(area, patch, ctx));
  }
}

async function applyIpRules(t: InTransaction, doc: ConfigDocument, prune: boolean, ctx: EventContext): Promise<void> {
  if (!doc.ipRules) return;
  const rows = await t.db.selectFrom('ip_rules').selectAll().execute();
  const key = (r: { action: string; cidr: string; scope: string }) => `${r.action} ${r.cidr} ${r.scope}`;
  const wanted = new Map(doc.ipRules.map((r) => [key(r), r]));
  const remove = async (r: (typeof rows)[number]) => {
    await t.db.deleteFrom('ip_rules').where('id', '=', r.id).execute();
    await t.log.record(ctx, { type: 'ip_rule.deleted', outcome: 'success', details: { id: r.id, action: r.action, cidr: r.cidr, scope: r.scope } }, t.db);
  };
  const add = async (r: IpRuleEntry) => {
    const id = randomUUID();
    await t.db
      .insertInto('ip_rules')
      .values({ id, action: r.action, cidr: r.cidr, scope: r.scope, note: r.note ?? null, created_at: t.now(), created_by: ctx.actor.id })
      .execute();
    await t.log.record(ctx, { type: 'ip_rule.created', outcome: 'success', details: { id, action: r.action, cidr: r.cidr, scope: r.scope } }, t.db);
  };
  const have = new Set<string>();
  for (const r of rows) {
    const w = wanted.get(key(r));
    if (!w) {
      if (prune) await remove(r);
      continue;
    }
    have.add(key(r));
    // A changed note: the rule is replaced (its events say so), as the admin routes have no edit.
    if ((w.note ?? null) !== (r.note ?? null)) {
      await remove(r);
      await add(w);
    }
  }
  for (const r of doc.ipRules) if (!have.has(key(r))) await add(r);
}

/** Identity providers (AUTH-13): created or replaced as the file writes them, removed with `prune`; each with its event. */
async function applyProviders(t: InTransaction, doc: ConfigDocument, prune: boolean, ctx: EventContext): Promise<void> {
  if (!doc.identityProviders) return;
  const store = new ProviderStore({
    db: t.db,
    log: t.log,
    now: t.now,
    outbound: t.outbound ?? null,
    secrets: {
      write: async (name, value, c, db) => {
        if (!t.secrets) throw new TypeError('an import that removes a provider needs the secret store');
        await t.secrets.write(name, value, c, db);
      },
      value: async () => null,
      isSet: async () => false,
    },
  });
  const here = new Map((await currentProviders(t.db)).map((p) => [p.slug, p]));
  for (const p of doc.identityProviders) {
    const was = here.get(p.slug);
    if (!was) await step(`identityProviders ${p.slug}`, () => store.create(p.slug, inputOf(p), ctx));
    else if (canonical(providerView(was)) !== canonical(providerView(p)))
      await step(`identityProviders ${p.slug}`, () => store.update(p.slug, inputOf(p), ctx));
  }
  if (prune) for (const slug of here.keys()) if (!doc.identityProviders.some((p) => p.slug === slug)) await store.delete(slug, ctx);
}

/**
 * Refuses a result that would shut the requesting administrator out of the admin API (IP rules and allowed
 * countries together), read inside the transaction before it commits.
 */
async function guardSelf(t: InTransaction, requesterIp: string): Promise<void> {
  const rules = new IpRuleService(t.db, t.settings, geoip(), t.log, t.now, 0);
  const refusal = await rules.check(requesterIp, true);
  if (refusal !== null) throw new AppError('SELF_LOCKOUT', { clientIp: requesterIp, refusal });
}

/** Every change of the document, in `t`'s transaction. `requesterIp`: the administrator's address (HTTP), none from the CLI. */
export async function applyDocument(t: InTransaction, doc: ConfigDocument, opts: { prune: boolean; requesterIp?: string }, ctx: EventContext): Promise<void> {
  await applyCollections(t, doc, opts.prune, ctx);
  await applySettings(t, doc, ctx);
  await applyIpRules(t, doc, opts.prune, ctx);
  await applyProviders(t, doc, opts.prune, ctx);
  if (opts.requesterIp !== undefined && (doc.ipRules || doc.settings?.geo)) await guardSelf(t, opts.requesterIp);
}
