/** The data browser's home: every collection the caller has a grant on, as the access engine describes it. */
import { catalogueEntry, type CatalogueEntry } from '../access/catalogue.js';
import type { Caller, RecordsContext } from './context.js';

export async function catalogue(rc: RecordsContext, caller: Caller): Promise<CatalogueEntry[]> {
  const admin = caller.admin;
  const who = { userId: caller.user.id, admin, roles: caller.roles, departments: caller.departments };
  const out: CatalogueEntry[] = [];
  for (const def of await rc.registry.list()) {
    const grants = admin ? [] : await rc.access.grantsFor(caller.roles, def.name);
    const entry = catalogueEntry(def, who, grants, rc.now());
    if (entry) out.push(entry);
  }
  return out;
}
