/** `palisade audit ...`: verify the chain, sign a checkpoint, export the record audit log, run retention. */
import { appendFileSync, readFileSync } from 'node:fs';
import type { Services } from '../services.js';
import { CLI_ACTOR } from '../audit/events.js';
import type { Checkpoint } from '../audit/verify.js';
import { AUDIT_KINDS, type AuditKind } from '../audit/trail.js';
import { toStdout } from './out.js';

export class AuditUsage extends Error {}

/** Reads exported checkpoints: one JSON object per line, as `audit checkpoint --out` writes them. */
function readCheckpoints(file: string): Checkpoint[] {
  const out: Checkpoint[] = [];
  for (const [i, line] of readFileSync(file, 'utf8').split('\n').entries()) {
    if (line.trim() === '') continue;
    let c: Partial<Checkpoint>;
    try {
      c = JSON.parse(line) as Partial<Checkpoint>;
    } catch {
      throw new AuditUsage(`${file}:${i + 1}: not JSON`);
    }
    if (!Number.isSafeInteger(c.seq) || typeof c.hash !== 'string' || !Number.isSafeInteger(c.at) || typeof c.signature !== 'string')
      throw new AuditUsage(`${file}:${i + 1}: not a checkpoint (seq, hash, at, signature)`);
    out.push(c as Checkpoint);
  }
  return out;
}

function time(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new AuditUsage(`--${name} is an ISO 8601 date-time`);
  return t;
}

export async function auditCommand(s: Services, sub: string, values: Record<string, string | boolean | undefined>): Promise<number> {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  switch (sub) {
    case 'verify': {
      const file = str('checkpoints');
      const r = await s.audit.verify({ actor: CLI_ACTOR }, file ? readCheckpoints(file) : []);
      const summary = `${r.entries} entries on the chain, ${r.checked} checked, ${r.pruned} removed by retention, ${r.checkpoints} checkpoints matched, ${r.unchained} older events before the chain (${r.ms} ms)`;
      if (r.ok) {
        toStdout(`audit chain intact: ${summary}\n`);
        return 0;
      }
      toStdout(`audit chain BROKEN at entry ${r.problem!.seq}: ${r.problem!.problem}: ${r.problem!.detail}\n${summary}\n`);
      return 1;
    }
    case 'checkpoint': {
      const c = await s.audit.checkpoint({ actor: CLI_ACTOR });
      const line = `${JSON.stringify(c)}\n`;
      const out = str('out');
      if (out) appendFileSync(out, line, { mode: 0o600 });
      toStdout(line);
      return 0;
    }
    case 'export': {
      const format = str('format') ?? 'jsonl';
      if (format !== 'jsonl') throw new AuditUsage('--format is jsonl (CSV: GET /api/admin/audit/export?format=csv)');
      const kind = str('kind');
      if (kind !== undefined && !AUDIT_KINDS.includes(kind as AuditKind)) throw new AuditUsage(`--kind is one of ${AUDIT_KINDS.join(', ')}`);
      for await (const e of s.audit.entries(
        { actor: CLI_ACTOR },
        { kind: kind as AuditKind | undefined, collection: str('collection'), since: time(str('since'), 'since'), until: time(str('until'), 'until') },
        format,
      ))
        toStdout(`${JSON.stringify(e)}\n`);
      return 0;
    }
    case 'prune': {
      // The retention of the `auditLog` settings area, now; --dry-run counts only.
      const r = await s.auditRetention.run({ actor: CLI_ACTOR }, { dryRun: values['dry-run'] === true });
      for (const k of r.kinds) {
        const what =
          k.days === 0 ? 'kept forever' : `${k.removed} ${r.dryRun ? 'would be removed' : 'removed'} (older than ${new Date(k.before!).toISOString()})`;
        toStdout(`${k.kind}: ${what}${k.archive ? `, archived to audit-archive/${k.archive}` : ''}\n`);
      }
      return 0;
    }
    default:
      throw new AuditUsage(`unknown command: audit ${sub}`);
  }
}
