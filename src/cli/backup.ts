/** `palisade backup create|list|verify FILE|restore FILE` (DATA-2). */
import type { AppConfig } from '../app-config.js';
import { CLI_ACTOR, SecurityLog } from '../audit/events.js';
import { deploymentOf, listBackups, restoreBackup, type Checked } from '../backup/index.js';
import { backupTarget, type Services } from '../services.js';
import { AppError } from '../errors.js';
import { toStdout, toStderr } from './out.js';

export class BackupUsage extends Error {}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

export async function backupCreate(s: Services): Promise<number> {
  const b = await s.backups.create({ actor: CLI_ACTOR });
  const rows = Object.values(b.manifest.tables).reduce((a, n) => a + n, 0);
  toStdout(`backup written: ${b.file} (${mb(b.size)}, ${Object.keys(b.manifest.tables).length} tables, ${rows} rows)\n`);
  if (b.verified?.ok) toStdout(`verified: restored into a scratch place, rows and audit chain (${b.manifest.chain.seq} entries) intact\n`);
  if (b.verified && !b.verified.ok) toStderr(`palisade: the new backup did not verify: ${b.verified.code}: ${b.verified.reason}\n`);
  if (b.copy.state === 'copied') toStdout(`copied to ${b.copy.where}\n`);
  if (b.copy.state === 'failed') toStderr(`palisade: the copy to ${b.copy.where} failed: ${b.copy.error}\n`);
  const removed = await s.backups.prune({ actor: CLI_ACTOR });
  if (removed.length > 0) toStdout(`removed by retention: ${removed.join(', ')}\n`);
  return b.copy.state === 'failed' || (b.verified !== null && !b.verified.ok) ? 1 : 0;
}

export function backupList(c: AppConfig): number {
  const list = listBackups(c.backup.dir, deploymentOf(c.appKey));
  if (list.length === 0) toStdout(`no backups in ${c.backup.dir}\n`);
  for (const b of list) toStdout(`${b.name}  ${b.createdAt}  ${mb(b.size)}\n`);
  return 0;
}

function report(r: Checked): void {
  const rows = Object.values(r.counts).reduce((a, n) => a + n, 0);
  toStdout(
    `backup of ${r.manifest.createdAt} (Palisade ${r.manifest.palisade}, ${r.manifest.dialect}, schema ${r.manifest.migration}): ${Object.keys(r.counts).length} tables, ${rows} rows as listed\n`,
  );
  toStdout(r.chain.ok ? `audit chain intact: ${r.chain.entries} entries\n` : `audit chain BROKEN at ${r.chain.problem}\n`);
}

/** The passphrase: standard input with --passphrase-stdin, else BACKUP_PASSPHRASE(_FILE). */
async function passphraseOf(c: AppConfig, fromStdin: boolean, readStdin: () => Promise<string>): Promise<string> {
  if (fromStdin) return readStdin();
  if (c.backup.passphrase === null) throw new AppError('BACKUP_NOT_CONFIGURED');
  return c.backup.passphrase;
}

/** Verifies FILE with the deployment's services, which record the outcome (`backup.verified`) for the doctor. */
export async function backupVerify(s: Services, file: string | undefined, fromStdin: boolean, readStdin: () => Promise<string>): Promise<number> {
  if (!file) throw new BackupUsage('backup verify needs a FILE');
  const v = await s.backups.verify(file, await passphraseOf(s.config, fromStdin, readStdin), { actor: CLI_ACTOR });
  if (!v.ok) throw new AppError(v.code, { reason: v.reason });
  report(v.checked);
  return 0;
}

export async function backupRestore(
  c: AppConfig,
  file: string | undefined,
  opts: { force: boolean; fromStdin: boolean },
  readStdin: () => Promise<string>,
): Promise<number> {
  if (!file) throw new BackupUsage('backup restore needs a FILE');
  const r = await restoreBackup(file, await passphraseOf(c, opts.fromStdin, readStdin), backupTarget(c), {
    force: opts.force,
    ctx: { actor: CLI_ACTOR },
    log: (db) => new SecurityLog(db, Date.now),
    now: Date.now,
  });
  report(r);
  toStdout(`restored into ${c.databaseUrl ? `PostgreSQL${c.databaseSchema ? ` schema ${c.databaseSchema}` : ''}` : c.dataDir}`);
  toStdout(r.migrated.length > 0 ? `; migrated: ${r.migrated.join(', ')}\n` : '\n');
  if (r.keptAside.length > 0) toStdout(`replaced files kept aside (remove them once satisfied): ${r.keptAside.join(', ')}\n`);
  return r.chain.ok ? 0 : 1;
}
