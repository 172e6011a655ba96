/**
 * `palisade records history|revision|diff|restore|status-times`: a record's revisions and status times
 * from the command line, acting as a named user with that user's grants (the same checks as the API;
 * an administrator's `--as` bypasses grants as it does over HTTP, and is recorded the same way).
 */
import type { Services } from '../services.js';
import type { Caller } from '../records/service.js';
import { toStdout } from './out.js';

export class RecordsUsage extends Error {}

export interface RecordsArgs {
  as?: string;
  collection?: string;
  id?: string;
  rev?: string;
  against?: string;
  field?: string;
  fields?: string;
}

const positive = (v: string | undefined, name: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new RecordsUsage(`--${name} is a revision number (1 is the oldest)`);
  return n;
};

export async function recordsCommand(s: Services, sub: string, a: RecordsArgs): Promise<number> {
  if (!a.as || !a.collection || !a.id) throw new RecordsUsage(`records ${sub} needs --as USERNAME, --collection C and --id ID`);
  const user = await s.users.findByName(a.as);
  if (!user) throw new RecordsUsage(`no such user: ${a.as}`);
  const p = await s.access.principal(user, null);
  const caller: Caller = { user, admin: p.admin, roles: p.roles, departments: p.departments, ctx: { actor: { id: user.id, name: `${user.username} (cli)` } } };
  const out = (v: unknown) => toStdout(`${JSON.stringify(v, null, 2)}\n`);
  switch (sub) {
    case 'history':
      out(await s.records.revisions(caller, a.collection, a.id, { limit: 200 }));
      return 0;
    case 'revision':
      out(await s.records.revision(caller, a.collection, a.id, positive(a.rev, 'rev')));
      return 0;
    case 'diff':
      out(
        await s.records.revisionDiff(
          caller,
          a.collection,
          a.id,
          positive(a.rev, 'rev'),
          a.against === undefined || a.against === 'current' ? 'current' : positive(a.against, 'against'),
        ),
      );
      return 0;
    case 'restore':
      out(await s.records.restoreRevision(caller, a.collection, a.id, positive(a.rev, 'rev'), a.fields ? a.fields.split(',').filter(Boolean) : undefined));
      return 0;
    case 'status-times':
      out(await s.records.statusTimes(caller, a.collection, a.id, a.field));
      return 0;
    default:
      throw new RecordsUsage(`unknown command: records ${sub}`);
  }
}
