// File fields without the network (pure; unit-tested in test/ui/files.test.ts): the known types, the server's
// own list (src/collections/file-types.ts, imported so that the two cannot drift), sizes and states in words.
import { DEFAULT_ACCEPT, FILE_FIELD_BOUNDS, FILE_TYPES } from '../../../src/collections/file-types';
import type { FileRules } from './records';

export { DEFAULT_ACCEPT, FILE_FIELD_BOUNDS };

/** A file as a record read and the files routes show it; `current` only in a `?versions=true` list. */
export interface FileInfo {
  id: string;
  name: string;
  type: string;
  size: number;
  state: 'quarantined' | 'clean' | 'infected' | 'unscanned';
  version: number;
  uploadedAt: string;
  current?: boolean;
  /** An upload's answer only: what became of the file's metadata. */
  metadata?: 'removed' | 'kept' | 'untouched';
}

const LABELS: Record<string, string> = {
  'image/png': 'PNG image',
  'image/jpeg': 'JPEG image',
  'image/gif': 'GIF image',
  'image/webp': 'WebP image',
  'image/avif': 'AVIF image',
  'image/bmp': 'BMP image',
  'image/tiff': 'TIFF image',
  'application/pdf': 'PDF document',
  'application/zip': 'ZIP archive',
  'application/gzip': 'gzip archive',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'Word document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'Excel workbook',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'PowerPoint presentation',
  'application/vnd.oasis.opendocument.text': 'OpenDocument text',
  'application/vnd.oasis.opendocument.spreadsheet': 'OpenDocument spreadsheet',
  'audio/mpeg': 'MP3 audio',
  'audio/ogg': 'Ogg audio',
  'audio/wav': 'WAV audio',
  'video/mp4': 'MP4 video',
  'video/webm': 'WebM video',
  'text/plain': 'Plain text (only if named)',
};

/** Every type the server recognises, in its order, with a label and its extensions. */
export const KNOWN_FILE_TYPES: ReadonlyArray<{ type: string; label: string; ext: readonly string[] }> = Object.keys(FILE_TYPES).map((type) => ({
  type,
  label: LABELS[type] ?? type,
  ext: FILE_TYPES[type]!.ext,
}));

/** A state in words, its badge colour and whether the file may be downloaded. */
export function stateOf(state: string): { text: string; colour: 'green' | 'grey' | 'red' | ''; downloadable: boolean } {
  switch (state) {
    case 'clean':
      return { text: 'clean', colour: 'green', downloadable: true };
    case 'unscanned':
      return { text: 'not scanned', colour: 'grey', downloadable: true };
    case 'quarantined':
      return { text: 'being scanned', colour: '', downloadable: false };
    case 'infected':
      return { text: 'blocked: a virus was found', colour: 'red', downloadable: false };
    default:
      return { text: state, colour: 'grey', downloadable: false };
  }
}

/** Whether a value is a record's file list (a file field as a read shows it). */
export function isFileList(v: unknown): v is FileInfo[] {
  return (
    Array.isArray(v) &&
    v.every((x) => typeof x === 'object' && x !== null && typeof x.name === 'string' && typeof x.state === 'string' && typeof x.id === 'string')
  );
}

/** A file field as table text: the names, or "no file". */
export function fileNames(v: unknown): string {
  if (!isFileList(v)) return '—';
  return v.length === 0 ? 'no file' : v.map((f) => f.name).join(', ');
}

/** A byte count in words: "512 bytes", "47.1 KiB", "3.2 MiB". */
export function formatSize(n: number): string {
  if (!Number.isFinite(n) || n < 1024) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? Math.round(v) : Number(v.toFixed(1))} ${units[i]}`;
}

/** A file field's rules in words, for the upload control: "PNG, JPEG or GIF; up to 2.0 KB; at most 2 files; replaces the file". */
export function rulesText(r: FileRules): string {
  const names = (r.accept ?? DEFAULT_ACCEPT).map((t) => LABELS[t] ?? t);
  const types = names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
  const parts = [`Accepts ${types}`];
  if (r.maxBytes !== null) parts.push(`up to ${formatSize(r.maxBytes)}`);
  if (r.maxPixels !== null) parts.push(`images up to ${r.maxPixels.toLocaleString('en')} pixels`);
  if (r.multiple) parts.push(r.maxFiles !== null ? `at most ${r.maxFiles} files` : 'several files');
  else
    parts.push(
      r.versions > 0 ? `a new upload replaces the file, ${r.versions} earlier version${r.versions === 1 ? '' : 's'} kept` : 'a new upload replaces the file',
    );
  return `${parts.join('; ')}.`;
}
