/**
 * The backup archive (DATA-2): a tar of known members, gzip-compressed, encrypted with a passphrase by age
 * (scrypt, on the thread pool (passphrase.ts), then ChaCha20-Poly1305 in 64 KiB chunks, each authenticated, the last one marked: an altered,
 * cut or extended archive is refused). Reading extracts every member into a private staging directory and
 * answers only once the whole archive has been authenticated: nothing is acted on before.
 */
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadable } from 'node:stream/web';
import { createGunzip, createGzip } from 'node:zlib';
import { AppError } from '../errors.js';
import { PassphraseIdentity, PassphraseRecipient } from './passphrase.js';

/** What an archive may hold: every other name, type or size is refused (a crafted member never reaches a path). */
const MEMBERS: readonly { re: RegExp; max: number }[] = [
  { re: /^manifest\.json$/, max: 16 << 20 },
  { re: /^keys\/(app|secrets)\.key$/, max: 4096 },
  { re: /^db\/palisade\.db$/, max: Number.MAX_SAFE_INTEGER },
  { re: /^db\/tables\/[a-z_][a-z0-9_]{0,62}\.jsonl$/, max: Number.MAX_SAFE_INTEGER },
  // Stored files (DATA-3), under their key: a file row's id.
  { re: /^files\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, max: Number.MAX_SAFE_INTEGER },
];

const memberRule = (name: string) => MEMBERS.find((m) => m.re.test(name));

/** A member to write: its name (one of MEMBERS) and a file to copy or the bytes. */
export type Member = { name: string; file: string } | { name: string; data: Buffer };

/** Passphrases shorter than this are refused at configuration and at the command line. */
export const MIN_PASSPHRASE = 12;

async function statSize(file: string): Promise<number> {
  const { stat } = await import('node:fs/promises');
  return (await stat(file)).size;
}

/** Writes the archive to `dest` (mode 0600), through a temporary name renamed at the end: a reader never sees half of it. */
export async function writeArchive(dest: string, passphrase: string, members: readonly Member[]): Promise<number> {
  // age is loaded on first use: most starts of the server never make or read a backup.
  const { Encrypter } = await import('age-encryption');
  for (const m of members) if (!memberRule(m.name)) throw new TypeError(`not an archive member: ${m.name}`);
  const tar = (await import('tar-stream')).default;
  const pack = tar.pack();
  const feed = (async () => {
    for (const m of members) {
      if ('data' in m) {
        await new Promise<void>((ok, fail) =>
          pack.entry({ name: m.name, size: m.data.length, mode: 0o600, mtime: new Date(0) }, m.data, (e) => (e ? fail(e) : ok())),
        );
        continue;
      }
      const size = await statSize(m.file);
      const entry = pack.entry({ name: m.name, size, mode: 0o600, mtime: new Date(0) });
      await pipeline(createReadStream(m.file), entry);
    }
    pack.finalize();
  })().catch((e: unknown) => {
    // A member that cannot be read ends the whole stream, so that the writing side settles too.
    pack.destroy(e instanceof Error ? e : new Error(String(e)));
    throw e;
  });
  const e = new Encrypter();
  e.addRecipient(new PassphraseRecipient(passphrase));
  const gz = pack.pipe(createGzip());
  const encrypted = await e.encrypt(Readable.toWeb(gz) as unknown as ReadableStream<Uint8Array>);
  const partial = `${dest}.partial`;
  mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
  try {
    await Promise.all([
      feed,
      pipeline(Readable.fromWeb(encrypted as unknown as WebReadable<Uint8Array>), createWriteStream(partial, { mode: 0o600, flags: 'wx' })),
    ]);
    renameSync(partial, dest);
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
  return statSize(dest);
}

/** age's messages for a passphrase that opens nothing, and for everything else (altered, cut, not age). */
function decryptError(e: unknown): AppError {
  const msg = e instanceof Error ? e.message : '';
  if (/no identity matched/.test(msg)) return new AppError('BACKUP_PASSPHRASE_WRONG');
  return new AppError('BACKUP_ARCHIVE_INVALID', { reason: 'the archive is not intact (altered, cut short, or not a Palisade backup)' });
}

/** A failure of this machine (a full disk, a permission), not of the archive: said as it is, never as a damaged backup. */
const isFileSystemError = (e: unknown): boolean => {
  const x = e as { code?: unknown; syscall?: unknown };
  return typeof x?.code === 'string' && typeof x?.syscall === 'string';
};

/** Counts bytes and stops past `max`. */
function limit(max: number, name: string): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      n += chunk.length;
      if (n > max) done(new AppError('BACKUP_ARCHIVE_INVALID', { reason: `member ${name} is larger than allowed` }));
      else done(null, chunk);
    },
  });
}

/**
 * Decrypts and extracts `file` into a new private directory under `under` and returns it with the member names.
 * Refuses a wrong passphrase, an archive that is not intact, and any member outside MEMBERS (a path, a link, a
 * duplicate, an oversize key). The caller removes the directory.
 */
export async function readArchive(file: string, passphrase: string, under: string): Promise<{ dir: string; members: string[] }> {
  mkdirSync(under, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(path.join(under, 'restore-'));
  const members: string[] = [];
  try {
    const d = new (await import('age-encryption')).Decrypter();
    d.addIdentity(new PassphraseIdentity(passphrase));
    let plain: Readable;
    try {
      const web = Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>;
      plain = Readable.fromWeb((await d.decrypt(web)) as unknown as WebReadable<Uint8Array>);
    } catch (e) {
      throw decryptError(e);
    }
    const tar = (await import('tar-stream')).default;
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      const name = header.name;
      const rule = memberRule(name);
      const refuse = (reason: string) => {
        stream.resume();
        extract.destroy(new AppError('BACKUP_ARCHIVE_INVALID', { reason }));
      };
      if (header.type !== 'file') return refuse(`member ${JSON.stringify(name.slice(0, 80))} is not a plain file`);
      if (!rule) return refuse(`member ${JSON.stringify(name.slice(0, 80))} is not one a backup holds`);
      if (members.includes(name)) return refuse(`member ${name} appears twice`);
      members.push(name);
      const target = path.join(dir, ...name.split('/'));
      mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
      pipeline(stream, limit(rule.max, name), createWriteStream(target, { mode: 0o600, flags: 'wx' })).then(
        () => next(),
        (e: unknown) => extract.destroy(e instanceof Error ? e : new Error(String(e))),
      );
    });
    try {
      await pipeline(plain, createGunzip(), extract);
    } catch (e) {
      if (e instanceof AppError || isFileSystemError(e)) throw e;
      throw decryptError(e);
    }
    if (!members.includes('manifest.json')) throw new AppError('BACKUP_ARCHIVE_INVALID', { reason: 'the archive has no manifest' });
    return { dir, members };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
