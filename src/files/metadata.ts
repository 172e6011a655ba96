/**
 * Metadata removal from uploads (ASVS V14.2.8, D441): EXIF (GPS position, camera serial, owner), XMP, IPTC,
 * comments and document authors go before the bytes become a stored file. ExifTool (Debian's
 * `libimage-exiftool-perl`) rewrites a private copy; a PDF is then rewritten whole by `qpdf`, because ExifTool's PDF
 * edits are incremental updates that leave the old metadata in the file, recoverable (`man exiftool`, "PDF-update").
 * Each tool is spawned with an argument array (no shell) on file names of our own, with an empty environment, in a
 * private directory (0700) beside the staged upload, within a time limit; a file that cannot be rewritten is refused,
 * never stored with its metadata (fail closed).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, statSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.js';
import type { Staged } from './store.js';

/** Where the tools are looked for: system directories only, never the caller's PATH. */
const TOOL_DIRS = ['/usr/bin', '/usr/local/bin', '/bin'];

export interface MetadataTools {
  readonly exiftool: string;
  readonly qpdf: string;
  /** FILES_STRIP_TIMEOUT, ms: how long the removal of one file may take, both tools together. */
  readonly timeoutMs: number;
}

/** What became of an upload's metadata: removed, kept by the uploader's consent, or left as it came (a type without metadata, or FILES_STRIP_METADATA=false). */
export type MetadataOutcome = 'removed' | 'kept' | 'untouched';

/** The absolute path of an executable `name` in the system directories, or null. */
export function findTool(name: string): string | null {
  for (const dir of TOOL_DIRS) {
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * ExifTool's arguments per type. `-all=` deletes every deletable group; `-tagsfromfile @` then copies back only the
 * orientation and the colour space tags (ICC profile), so that the image still shows as it did. A TIFF's first IFDs
 * are its images: a group deletion leaves their Make, Model, Artist and the like, which are deleted tag by tag
 * (naming two groups does that; `-2all:all=` would too, at some 15 s of CPU a file). Video keeps its track structure;
 * its movie-level metadata (user data, item lists, keys: GPS position, author) goes.
 */
const COPY_BACK = ['-tagsfromfile', '@', '-ColorSpaceTags', '-Orientation'];
const IMAGE = ['-all=', ...COPY_BACK];
const TIFF = ['-all=', '-EXIF:IFD0:all=', '-EXIF:IFD1:all=', '-EXIF:IFD2:all=', ...COPY_BACK];
const HANDLED: Readonly<Record<string, { args: readonly string[]; qpdf?: true }>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, { args: readonly string[]; qpdf?: true }>, {
    'image/jpeg': { args: IMAGE },
    'image/png': { args: IMAGE },
    'image/gif': { args: IMAGE },
    'image/webp': { args: IMAGE },
    'image/avif': { args: IMAGE },
    'image/tiff': { args: TIFF },
    'video/mp4': { args: ['-all='] },
    // The document information dictionary and XMP; qpdf then drops the old revision that still holds them.
    'application/pdf': { args: ['-all:all='], qpdf: true },
  }),
);

/** The types whose metadata is removed. */
export const STRIPPED_TYPES: readonly string[] = Object.freeze(Object.keys(HANDLED));

/**
 * The types whose format has no place for metadata about people, places or devices: plain text is its own content.
 * (A BMP is not one: a version 5 header may embed an ICC profile naming the device and its maker, and bytes after the
 * pixels are kept.)
 */
export const METADATA_FREE_TYPES: readonly string[] = Object.freeze(['text/plain']);

/**
 * What an upload of `type` needs before it is stored (ASVS V14.2.8, D446): its metadata removed (`remove`), nothing
 * (`none`), or the uploader's consent (`consent`): Office and OpenDocument files (authors, edit times, comments),
 * audio (ID3, Vorbis comments, RIFF INFO), WebM, ZIP and gzip (names, times, comments), BMP (an embedded ICC
 * profile) carry metadata that no tool
 * here can remove, so they are stored only when the uploader agrees to keep it, where the field allows that.
 * Every type not named is `consent`: a type added to the allow-list is covered before anyone reviews it.
 */
export function metadataTreatment(type: string): 'remove' | 'none' | 'consent' {
  if (HANDLED[type] !== undefined) return 'remove';
  return METADATA_FREE_TYPES.includes(type) ? 'none' : 'consent';
}

/** Removals running at once per instance, and waiting; one more is SERVER_BUSY. */
const CONCURRENCY = 2;
const QUEUE_MAX = 32;
/** The most of a tool's output kept for the log. */
const MAX_OUTPUT = 2048;

/** A tool that could not give an answer in time: the dependency failed, not the file (sent with Retry-After, as the other 503s). */
const unavailable = (why: string): AppError => new AppError('SERVICE_UNAVAILABLE', undefined, why, { 'retry-after': '5' });

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export class MetadataStripper {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly tools: MetadataTools) {
    if (!path.isAbsolute(tools.exiftool) || !path.isAbsolute(tools.qpdf)) throw new TypeError('MetadataStripper: tool paths must be absolute');
    if (!Number.isInteger(tools.timeoutMs) || tools.timeoutMs <= 0) throw new TypeError('MetadataStripper: timeoutMs must be a positive integer');
  }

  handles(type: string): boolean {
    return HANDLED[type] !== undefined;
  }

  /**
   * Rewrites the staged upload without its metadata and returns it (same path, its new size and SHA-256). The staged
   * file is replaced only by a complete result (a rename); on any failure it is left as it was, for the caller to
   * discard, and the private directory is removed. FILE_METADATA_NOT_REMOVABLE (422) when a tool refuses the file;
   * SERVICE_UNAVAILABLE (503) when a tool cannot run or takes longer than the limit; SERVER_BUSY past the queue.
   */
  async strip(staged: Staged, type: string, ext: string): Promise<Staged> {
    const how = HANDLED[type];
    if (!how) throw new TypeError(`MetadataStripper: ${type} is not handled`);
    if (!/^[a-z0-9]{1,5}$/.test(ext)) throw new TypeError('MetadataStripper: not an extension');
    return this.queued(async () => {
      const deadline = Date.now() + this.tools.timeoutMs;
      // Beside the staged upload: the same private directory (0700) and file system; a leftover after a crash is
      // swept with the staging files (FileService.collectOrphans).
      const work = await mkdtemp(path.join(path.dirname(staged.path), 'metadata-'));
      try {
        // Fixed names with the type's extension (ExifTool picks its writer by it): nothing of the client's reaches a command line.
        const input = path.join(work, `in.${ext}`);
        const cleaned = path.join(work, `out.${ext}`);
        await copyFile(staged.path, input);
        await this.run('exiftool', this.tools.exiftool, ['-config', '', '-m', '-q', '-q', ...how.args, '-o', cleaned, '--', input], work, deadline);
        let result = cleaned;
        if (how.qpdf) {
          result = path.join(work, `final.${ext}`);
          // Absolute paths of our own: never read as an option or an @argument file.
          await this.run('qpdf', this.tools.qpdf, [cleaned, result], work, deadline);
        }
        // A tool that ended well without writing its output has not removed anything.
        const written = await stat(result).catch(() => null);
        if (!written?.isFile()) throw new AppError('FILE_METADATA_NOT_REMOVABLE', undefined, 'no output written');
        await chmod(result, 0o600);
        const size = written.size;
        const sha256 = await sha256Of(result);
        await rename(result, staged.path);
        return { path: staged.path, size, sha256 };
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
  }

  /** Whether both tools run (`palisade doctor`): their versions, or why not. */
  async versions(): Promise<{ exiftool: string; qpdf: string } | { problem: string }> {
    const deadline = Date.now() + Math.min(this.tools.timeoutMs, 10_000);
    try {
      const exiftool = (await this.run('exiftool', this.tools.exiftool, ['-config', '', '-ver'], '/', deadline)).trim();
      const qpdf = ((await this.run('qpdf', this.tools.qpdf, ['--version'], '/', deadline)).split('\n')[0] ?? '').trim();
      return { exiftool, qpdf };
    } catch (e) {
      return { problem: e instanceof AppError ? (e.internal ?? e.code) : String(e) };
    }
  }

  private async queued<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= CONCURRENCY) {
      if (this.waiting.length >= QUEUE_MAX) throw new AppError('SERVER_BUSY', undefined, 'metadata removal queue full', { 'retry-after': '1' });
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /**
   * Runs one tool to its end within `deadline`: stdout on exit 0 (qpdf: 3, warnings, also writes its output);
   * FILE_METADATA_NOT_REMOVABLE on another exit; SERVICE_UNAVAILABLE when it cannot start, is killed or runs late.
   */
  private run(name: string, file: string, args: string[], cwd: string, deadline: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const left = deadline - Date.now();
      if (left <= 0) return reject(unavailable(`${name}: no time left`));
      // No shell; an empty environment (no secret of this process, no PERL5LIB); TMPDIR and HOME in the private directory.
      const child = spawn(file, args, {
        cwd,
        env: { PATH: '/usr/bin:/bin', LC_ALL: 'C', TMPDIR: cwd, HOME: cwd },
        stdio: ['ignore', 'pipe', 'pipe'],
        shell: false,
        windowsHide: true,
      });
      let out = '';
      let err = '';
      let late = false;
      const keep = (s: string, more: Buffer) => (s.length < MAX_OUTPUT ? (s + more.toString('utf8')).slice(0, MAX_OUTPUT) : s);
      child.stdout.on('data', (b: Buffer) => {
        out = keep(out, b);
      });
      child.stderr.on('data', (b: Buffer) => {
        err = keep(err, b);
      });
      const timer = setTimeout(() => {
        late = true;
        child.kill('SIGKILL');
      }, left);
      child.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(unavailable(`${name} did not start: ${e.code ?? e.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const said = err.replace(/\s+/g, ' ').trim().slice(0, 300);
        if (late) reject(unavailable(`${name}: no result within ${this.tools.timeoutMs} ms`));
        else if (code === 0 || (name === 'qpdf' && code === 3)) resolve(out);
        else if (signal !== null) reject(unavailable(`${name} ended by ${signal}`));
        else reject(new AppError('FILE_METADATA_NOT_REMOVABLE', undefined, `${name} exit ${code}: ${said}`));
      });
    });
  }
}
