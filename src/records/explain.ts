/** Why a user may or may not act on a record: the grants that hold for it, per action (read-only). */
import { sql } from 'kysely';
import type { UsersTable } from '../db/types.js';
import { AppError } from '../errors.js';
import { tableOf } from '../collections/schema.js';
import { ACTIONS, type Action } from '../access/types.js';
import { readableUnder } from '../access/rules.js';
import { planOf } from '../access/plan.js';
import { holding } from './write.js';
import type { RecordsContext } from './context.js';

/**
 * GET /api/access/explain: for a user and a record, which of their grants hold for each action and
 * which fields each one gives. Without a record id, the grants and their fields, and `holds: null`
 * (whether a scoped grant holds depends on the record). Read-only; for administrators.
 */
export async function explain(
  rc: RecordsContext,
  user: UsersTable,
  roles: string[],
  departments: string[],
  collection: string,
  id: string | undefined,
): Promise<{
  bypass: boolean;
  roles: string[];
  exists: boolean;
  actions: Array<{
    action: Action;
    grants: Array<{ id: string; role: string; holds: boolean | null; fields: string[]; statuses: string[] | null; scope: unknown }>;
  }>;
}> {
  const def = await rc.registry.get(collection);
  if (!def) throw new AppError('NOT_FOUND');
  const t = tableOf(def.name);
  const exists = id !== undefined && (await sql`select 1 from ${sql.table(t)} where ${sql.ref(`${t}.id`)} = ${id}`.execute(rc.db)).rows.length > 0;
  const all = await rc.access.grantsFor(roles, collection);
  const actions = await Promise.all(
    ACTIONS.map(async (action: Action) => {
      const grants = all.filter((g) => g.actions.includes(action));
      const p = planOf(def, { userId: user.id, roles, departments }, all, action, grants, rc.now());
      const holds = exists && id !== undefined ? new Set((await holding(rc.db, p, grants, id)).map((g) => g.id)) : new Set<string>();
      return {
        action,
        grants: grants.map((g) => ({
          id: g.id,
          role: g.role,
          holds: id === undefined ? null : holds.has(g.id),
          fields: [...readableUnder(p.def, g, p.roles)],
          statuses: g.statuses,
          scope: g.scope,
        })),
      };
    }),
  );
  return { bypass: user.is_admin === 1, roles, exists, actions };
}
