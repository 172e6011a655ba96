import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Services } from '../services.js';
import { CLI_ACTOR } from '../audit/events.js';
import { dataKey, keyFileProblem, parseKey } from '../secrets/key.js';
import { readFileSync } from 'node:fs';
import { toStdout, toStderr } from './out.js';

export class SecretsUsage extends Error {}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

/** The value from standard input (a pipe), or typed at a prompt that does not echo; never from argv. */
export async function readValue(name: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  toStderr(`value of ${name} (not shown): `);
  const muted = new Writable({ write: (_c, _e, cb) => cb() });
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
    toStderr('\n');
  }
}

/**
 * `palisade secrets list|set NAME|delete NAME|rotate-key` (DATA-1), for operators. A value is read from
 * standard input or a silent prompt, never the command line (argv is visible to every user of the machine).
 */
export async function secretsCommand(s: Services, sub: string, name: string | undefined, opts: { newKeyFile?: string } = {}): Promise<number> {
  switch (sub) {
    case 'list': {
      const list = await s.secrets.list();
      if (list.length === 0) toStdout('no secrets\n');
      for (const v of list) {
        const state = !v.set ? 'not set' : v.readable ? 'set' : 'UNREADABLE';
        const by = v.updatedBy ? `${v.updatedBy.name}${v.updatedBy.id ? ` (${v.updatedBy.id})` : ''}` : '-';
        toStdout(`${v.name}  ${state}  updated ${iso(v.updatedAt)} by ${by}${v.usedBy ? `  used by ${v.usedBy}` : ''}\n`);
      }
      toStdout(
        `data key ${s.secrets.keyId} from ${s.secrets.keySource === 'data-dir' ? 'the data directory' : s.secrets.keySource === 'env' ? 'SECRETS_KEY' : 'SECRETS_KEY_FILE'}\n`,
      );
      return 0;
    }
    case 'set': {
      if (!name) throw new SecretsUsage('secrets set needs a NAME; the value is read from standard input');
      const value = await readValue(name);
      const { created } = await s.secrets.set(name, value, { actor: CLI_ACTOR });
      toStdout(`${created ? 'created' : 'replaced'} secret ${name}\n`);
      return 0;
    }
    case 'delete': {
      if (!name) throw new SecretsUsage('secrets delete needs a NAME');
      const gone = await s.secrets.delete(name, { actor: CLI_ACTOR });
      toStdout(gone ? `deleted secret ${name}\n` : `no secret ${name}\n`);
      return gone ? 0 : 1;
    }
    case 'rotate-key': {
      // A key from the environment: the operator gives the new one up front, saved in a file (0600) before
      // anything commits, so no lost output can leave the secrets without their key (D209).
      const external = s.secrets.keySource !== 'data-dir';
      if (!external && opts.newKeyFile)
        throw new SecretsUsage('--new-key-file is for a key from SECRETS_KEY or SECRETS_KEY_FILE; the data directory key is generated and kept by Palisade');
      if (external && !opts.newKeyFile)
        throw new SecretsUsage(
          'the key comes from the environment: make the new key first (openssl rand -base64 32 > FILE; chmod 600 FILE) and give it with --new-key-file FILE',
        );
      let given: ReturnType<typeof dataKey> | undefined;
      if (opts.newKeyFile) {
        const p = keyFileProblem(opts.newKeyFile);
        if (p) throw new SecretsUsage(`--new-key-file: ${p}`);
        given = dataKey(parseKey(readFileSync(opts.newKeyFile, 'utf8'))!);
      }
      const r = await s.secrets.rotate({ actor: CLI_ACTOR }, 'return', given);
      toStdout(`re-encrypted ${r.count} secret(s) under the new data key ${r.keyId} (was ${r.previousKeyId})\n`);
      if (external) {
        toStdout(
          `install the key in ${opts.newKeyFile} as SECRETS_KEY (or as the SECRETS_KEY_FILE file) on every instance and restart them; until then they cannot open the secrets and refuse to write them\n`,
        );
      }
      return 0;
    }
    default:
      throw new SecretsUsage(`unknown command: secrets ${sub}`);
  }
}
