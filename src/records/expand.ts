/** Relation expansion, through the same list as a client, so the target's scope and masks apply. */
import { AppError } from '../errors.js';
import type { Plan } from '../access/plan.js';
import type { Caller, RecordOut, RecordsContext } from './context.js';
import { recordAccessOf } from './audit.js';

/** Most related records one reverse expansion returns per request. */
const EXPAND_MAX = 1000;

/**
 * Relation expansion, through this same service: `customer` puts the related record (as the caller
 * may see it in the target collection, or null) under `expand.customer`; `orders:customer` puts the
 * records of `orders` whose `customer` is this row under `expand["orders:customer"]`. A relation field
 * the caller cannot read on a row is not expanded on that row. Returns the reverse expansions that
 * hit the cap.
 */
export async function expand(rc: RecordsContext, caller: Caller, p: Plan, items: RecordOut[], spec: string): Promise<string[]> {
  const names = [...new Set(spec.split(',').filter(Boolean))];
  if (names.length > 5) throw new AppError('EXPAND_INVALID', { message: 'at most 5 expansions' });
  const truncated: string[] = [];
  const put = (item: RecordOut, name: string, value: unknown) => {
    item.expand = { ...(item.expand as Record<string, unknown> | undefined), [name]: value };
  };
  for (const name of names) {
    const [source, via, ...rest] = name.split(':');
    if (via !== undefined) {
      const def = rest.length === 0 ? await rc.registry.get(source!) : null;
      const f = def?.fields.find((x) => x.name === via);
      if (!def || f?.type !== 'relation' || f.target !== p.def.name)
        throw new AppError('EXPAND_INVALID', { message: `${name.slice(0, 60)} is not collection:relation pointing here` });
      const ids = items.map((i) => String(i.id));
      let related: { items: RecordOut[] };
      try {
        related = ids.length === 0 ? { items: [] } : await rc.list(caller, def.name, { filter: { [via]: { $in: ids } }, page: 1, perPage: EXPAND_MAX + 1 });
      } catch (e) {
        // A collection the caller has no grant on, or a field they know nothing of, answers like one that does not exist.
        if (e instanceof AppError && (e.code === 'NOT_FOUND' || e.code === 'FIELD_UNKNOWN'))
          throw new AppError('EXPAND_INVALID', { message: `${name.slice(0, 60)} is not collection:relation pointing here` });
        throw e;
      }
      if (related.items.length > EXPAND_MAX) truncated.push(name);
      await recordAccessOf(
        rc,
        caller,
        def.name,
        related.items.slice(0, EXPAND_MAX).map((r) => String(r.id)),
      );
      for (const item of items)
        put(
          item,
          name,
          related.items.slice(0, EXPAND_MAX).filter((r) => r[via] === item.id),
        );
      continue;
    }
    const f = p.def.fields.find((x) => x.name === source);
    if (f?.type !== 'relation' || !p.known.has(f.name)) throw new AppError('EXPAND_INVALID', { message: `${name.slice(0, 60)} is not a relation field` });
    const ids = [...new Set(items.map((i) => i[f.name]).filter((v): v is string => typeof v === 'string'))];
    let found: RecordOut[];
    try {
      found = ids.length === 0 ? [] : (await rc.list(caller, f.target!, { filter: { id: { $in: ids } }, page: 1, perPage: ids.length })).items;
    } catch (e) {
      // The relation field is known to the caller, so its target is too: no grant there is a plain 403.
      if (e instanceof AppError && e.code === 'NOT_FOUND') throw new AppError('FORBIDDEN', undefined, `no grant on ${f.target}`);
      throw e;
    }
    await recordAccessOf(
      rc,
      caller,
      f.target!,
      found.map((r) => String(r.id)),
    );
    const byId = new Map(found.map((r) => [r.id, r]));
    for (const item of items) if (f.name in item) put(item, f.name, item[f.name] === null ? null : (byId.get(item[f.name]) ?? null));
  }
  return truncated;
}
