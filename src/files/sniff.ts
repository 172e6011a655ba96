/**
 * What an upload is, from its bytes only (DATA-3): `file-type` reads the magic bytes, `image-size` the
 * dimensions of an image. The name and the client's Content-Type are never asked. text/plain is recognised only
 * for a field that accepts it, and only as valid UTF-8 without NUL.
 */
import { createReadStream } from 'node:fs';
import { AppError } from '../errors.js';
import { FILE_TYPES } from '../collections/file-types.js';

/** file-type and image-size, loaded at the first upload (they are not needed to start). */
let readers: Promise<[typeof import('file-type'), typeof import('image-size/fromFile')]> | undefined;
function loadReaders(): Promise<[typeof import('file-type'), typeof import('image-size/fromFile')]> {
  if (!readers) readers = Promise.all([import('file-type'), import('image-size/fromFile')]);
  return readers;
}

export interface Sniffed {
  type: string;
  /** The extension a name of this type gets when its own does not fit. */
  ext: string;
}

/** Whether the whole file is valid UTF-8 without NUL, read in 64 KiB pieces (never the whole file in memory). */
async function isPlainText(file: string): Promise<boolean> {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (chunk.includes(0)) return false;
      utf8.decode(chunk, { stream: true });
    }
    // A sequence cut off at the end throws here.
    utf8.decode();
    return true;
  } catch {
    return false;
  } finally {
    stream.destroy();
  }
}

/**
 * The type of the stored bytes at `file`, if it is one `accept` lists; otherwise FILE_TYPE_NOT_ALLOWED (a type
 * Palisade does not know, one the field does not accept, or no type at all). An image must be within `maxPixels`.
 */
export async function sniff(file: string, accept: readonly string[], maxPixels: number): Promise<Sniffed> {
  const [{ fileTypeFromFile }, { imageSizeFromFile }] = await loadReaders();
  const found = await fileTypeFromFile(file);
  let type: string | null = null;
  if (found && FILE_TYPES[found.mime]) type = found.mime;
  else if (!found && accept.includes('text/plain') && (await isPlainText(file))) type = 'text/plain';
  if (type === null || !accept.includes(type)) throw new AppError('FILE_TYPE_NOT_ALLOWED', { type: type ?? found?.mime ?? null, accept });
  const info = FILE_TYPES[type]!;
  if (info.image) {
    let pixels: number;
    try {
      const size = await imageSizeFromFile(file);
      const dims = [size, ...(size.images ?? [])].map((d) => (d.width ?? 0) * (d.height ?? 0));
      pixels = Math.max(...dims);
      if (!(pixels > 0)) throw new Error('no dimensions');
    } catch {
      // An image whose dimensions cannot be read cannot be shown to be within the limit.
      throw new AppError('FILE_TYPE_NOT_ALLOWED', { type, accept }, 'image dimensions unreadable');
    }
    if (pixels > maxPixels) throw new AppError('FILE_TOO_MANY_PIXELS', { maxPixels });
  }
  return { type, ext: info.ext[0]! };
}

/**
 * Control characters, line and paragraph separators, and every format character (Unicode Cf): the bidirectional marks
 * and overrides that disguise an extension (U+061C, U+200E, U+202A–U+202E, U+2066–U+2069), and the zero-width ones
 * (U+200B, U+2060, U+FEFF, the soft hyphen) that make two names look alike; not the joiners (U+200C, U+200D).
 */
// The zero-width joiner and non-joiner stay: emoji sequences and the spelling of several scripts need them.
const INVISIBLE = /(?![\u200c\u200d])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const invisible = (ch: string): boolean => INVISIBLE.test(ch);

/** Most characters of a stored file name. */
const MAX_NAME = 200;

/**
 * A client's file name as it is stored and sent back: the last path segment only, no control or NUL
 * characters, none of `<>:"/\|?*`, no leading dots or trailing dots and spaces, NFC, at most 200 characters;
 * its extension replaced by the sniffed type's when it does not fit that type (a PNG named `x.pdf` is `x.png`).
 */
export function safeName(raw: string, sniffed: Sniffed): string {
  let name = raw.normalize('NFC');
  name = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  name = [...name]
    .filter((ch) => !invisible(ch))
    .join('')
    .replace(/[<>:"/\\|?*]/g, '_')
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
  const fits = FILE_TYPES[sniffed.type]!.ext.includes(ext);
  const base = (fits ? stem : stem || 'file').slice(0, MAX_NAME - 6) || 'file';
  return `${base}.${fits ? ext : sniffed.ext}`;
}
