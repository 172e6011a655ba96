/** `palisade privacy ...`: run a GDPR policy now, or carry out a data subject's erasure request. */
import type { Services } from '../services.js';
import { CLI_ACTOR } from '../audit/events.js';
import type { RunResult } from '../records/privacy.js';
import { toStdout } from './out.js';

export class PrivacyUsage extends Error {}

function report(r: RunResult, dryRun: boolean): void {
  const what = dryRun ? `dry run: ${r.matched} record(s) would change; nothing was changed` : `${r.changed} of ${r.matched} matched record(s) changed`;
  toStdout(`${what}${r.remaining ? ' (more remain: run again)' : ''}\n`);
  for (const id of r.ids) toStdout(`${id}\n`);
}

/** A value given on the command line as the field's type takes it (numbers, true/false). */
async function typed(s: Services, collection: string, field: string, v: string): Promise<unknown> {
  const def = await s.collections.get(collection);
  const f = def?.fields.find((x) => x.name === field);
  if (f?.type === 'integer' || f?.type === 'decimal') {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new PrivacyUsage(`--value: ${field} takes a number`);
    return n;
  }
  if (f?.type === 'boolean') {
    if (v !== 'true' && v !== 'false') throw new PrivacyUsage(`--value: ${field} takes true or false`);
    return v === 'true';
  }
  return v;
}

export async function privacyCommand(s: Services, sub: string, values: Record<string, string | boolean | undefined>): Promise<number> {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const collection = str('collection');
  if (!collection) throw new PrivacyUsage('--collection is required');
  const dryRun = values['dry-run'] === true;
  switch (sub) {
    case 'run': {
      const policy = str('policy');
      if (!policy) throw new PrivacyUsage('--policy ID is required');
      report(await s.privacy.run(collection, policy, { dryRun }, { actor: CLI_ACTOR }), dryRun);
      return 0;
    }
    case 'erase': {
      const user = str('user');
      const field = str('field');
      const value = str('value');
      if ((user === undefined) === (field === undefined)) throw new PrivacyUsage('name either --user U or --field F --value V');
      if (field !== undefined && value === undefined) throw new PrivacyUsage('--field needs --value');
      const action = str('action') ?? 'anonymise';
      if (action !== 'anonymise' && action !== 'delete') throw new PrivacyUsage('--action is anonymise or delete');
      // A user by name, or by id (an account already deleted has no name to look up).
      const userId = user === undefined ? undefined : ((await s.users.findByName(user))?.id ?? user);
      const by = userId !== undefined ? { userId } : { field: field!, value: await typed(s, collection, field!, value!) };
      report(await s.privacy.erase({ collection, by, action, dryRun }, { actor: CLI_ACTOR }), dryRun);
      return 0;
    }
    default:
      throw new PrivacyUsage(`unknown command: privacy ${sub}`);
  }
}
