import { readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Services } from '../services.js';
import { CLI_ACTOR } from '../audit/events.js';
import { CONFIG_LIMITS, formatOfName, type ConfigDiff, type FieldChange } from '../config-transfer/index.js';
import { configTransferOf } from '../config-transfer/wire.js';
import { toStdout, toStderr } from './out.js';

export class ConfigTransferUsage extends Error {}

const show = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v).slice(0, 120));
const fieldText = (c: FieldChange) =>
  c.from === undefined ? `${c.field} added` : c.to === undefined ? `${c.field} removed` : `${c.field}: ${show(c.from)} -> ${show(c.to)}`;

/** The diff as people read it: one line per added, changed, removed or kept item. */
export function diffText(diff: ConfigDiff): string {
  const lines: string[] = [];
  for (const [name, s] of Object.entries(diff.sections)) {
    if (!s.inFile && s.removed.length === 0) {
      lines.push(`${name}: not in the file, left as it is`);
      continue;
    }
    const n = s.added.length + s.changed.length + s.removed.length;
    lines.push(`${name}: ${n === 0 ? 'no change' : `${s.added.length} added, ${s.changed.length} changed, ${s.removed.length} removed`}`);
    for (const a of s.added) lines.push(`  + ${a}`);
    for (const c of s.changed) for (const f of c.changes) lines.push(`  ~ ${c.name}: ${fieldText(f)}`);
    for (const r of s.removed) lines.push(`  - ${r}`);
    if (s.kept.length > 0) lines.push(`  kept (not in the file): ${s.kept.join(', ')}`);
  }
  if (diff.missingSecrets.length > 0)
    lines.push(`secrets not set here (values are never imported; set each with palisade secrets set NAME): ${diff.missingSecrets.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * `palisade config export [--format json|yaml] [--out FILE]` and `config import FILE [--dry-run] [--prune]`
 * (DATA-5). Export holds no secret value; import prints the diff, and applies it unless --dry-run.
 */
export async function configTransferCommand(
  s: Services,
  sub: string,
  file: string | undefined,
  o: { format?: string; out?: string; dryRun?: boolean; prune?: boolean },
): Promise<number> {
  const transfer = configTransferOf(s);
  if (sub === 'export') {
    const format = o.format ?? (o.out ? formatOfName(o.out) : 'json');
    if (format !== 'json' && format !== 'yaml') throw new ConfigTransferUsage('--format is json or yaml');
    const text = await transfer.exportText(format, { actor: CLI_ACTOR });
    if (o.out) {
      // The file says how the environment is defended (IP rules, policies): private to its owner.
      writeFileSync(o.out, text, { mode: 0o600 });
      toStderr(`configuration written to ${o.out}\n`);
    } else toStdout(text);
    return 0;
  }
  if (!file) throw new ConfigTransferUsage('config import needs a FILE (JSON or YAML)');
  const size = statSync(file).size;
  if (size > CONFIG_LIMITS.chars * 4) throw new ConfigTransferUsage(`${file} is larger than a configuration document may be`);
  const r = await transfer.importText(
    readFileSync(file, 'utf8'),
    formatOfName(file),
    { dryRun: o.dryRun ?? false, prune: o.prune ?? false },
    { actor: CLI_ACTOR },
  );
  toStdout(diffText(r.diff));
  toStdout(
    r.dryRun
      ? `dry run: nothing was changed (${r.diff.total} change(s) would be made)\n`
      : `imported: ${r.diff.total} change(s) applied (sha256 ${r.digest})\n`,
  );
  return 0;
}
