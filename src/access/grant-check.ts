/** The checks of a grant against its collection's definition (pure: the caller says whether the role exists). */
import { AppError } from '../errors.js';
import { compileFilter } from '../collections/filter.js';
import type { CollectionDef } from '../collections/schema.js';
import { ACTIONS, type GrantInput } from './types.js';

/** Every problem with a grant on `def`, or none: its role, actions, fields or blocks, statuses and scope. */
export function checkGrantInput(g: GrantInput, def: CollectionDef, roleKnown: boolean): string[] {
  const problems: string[] = [];
  if (!roleKnown) problems.push(`unknown role ${g.role}`);
  if (g.actions.length === 0) problems.push('a grant names at least one action');
  for (const a of g.actions) if (!(ACTIONS as readonly string[]).includes(a)) problems.push(`unknown action ${String(a).slice(0, 20)}`);
  for (const f of g.fields) {
    if (f.startsWith('block:') ? !def.fields.some((x) => x.block === f.slice(6)) : !def.fields.some((x) => x.name === f))
      problems.push(`unknown field or block ${f}`);
  }
  const status = def.fields.find((f) => f.type === 'status');
  if (g.statuses) {
    if (!status) problems.push('the collection has no status field');
    else for (const v of g.statuses) if (!status.values?.includes(v)) problems.push(`unknown status ${v}`);
  }
  if (g.scope) {
    try {
      compileFilter(g.scope, { def, vars: { userId: 'x', roles: [], departments: [], now: 0 } });
    } catch (e) {
      problems.push(`scope: ${e instanceof AppError ? JSON.stringify(e.details ?? e.code) : 'invalid'}`);
    }
  }
  return problems;
}
