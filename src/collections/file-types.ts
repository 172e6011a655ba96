/**
 * The file types Palisade recognises by their bytes (DATA-3): the one allow-list that field definitions
 * (`accept`) are checked against and that `src/files/sniff.ts` recognises uploads by. Every type here is one
 * the `file-type` package detects by magic bytes, except `text/plain`, which is recognised as valid UTF-8 without
 * NUL and only where a field names it.
 */
export interface FileTypeInfo {
  /** The extensions a name of this type may end in; the first is the one given to a name that fits none. */
  readonly ext: readonly string[];
  /** An image whose dimensions are checked (`image-size`). */
  readonly image?: true;
}

const table: Record<string, FileTypeInfo> = {
  'image/png': { ext: ['png'], image: true },
  'image/jpeg': { ext: ['jpg', 'jpeg'], image: true },
  'image/gif': { ext: ['gif'], image: true },
  'image/webp': { ext: ['webp'], image: true },
  'image/avif': { ext: ['avif'], image: true },
  'image/bmp': { ext: ['bmp'], image: true },
  'image/tiff': { ext: ['tif', 'tiff'], image: true },
  'application/pdf': { ext: ['pdf'] },
  'application/zip': { ext: ['zip'] },
  'application/gzip': { ext: ['gz'] },
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': { ext: ['docx'] },
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': { ext: ['xlsx'] },
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': { ext: ['pptx'] },
  'application/vnd.oasis.opendocument.text': { ext: ['odt'] },
  'application/vnd.oasis.opendocument.spreadsheet': { ext: ['ods'] },
  'audio/mpeg': { ext: ['mp3'] },
  'audio/ogg': { ext: ['ogg', 'oga'] },
  'audio/wav': { ext: ['wav'] },
  'video/mp4': { ext: ['mp4'] },
  'video/webm': { ext: ['webm'] },
  'text/plain': { ext: ['txt'] },
};

/** MIME type → what it is; prototype-free, frozen. */
export const FILE_TYPES: Readonly<Record<string, FileTypeInfo>> = Object.freeze(Object.assign(Object.create(null) as Record<string, FileTypeInfo>, table));

export const isKnownFileType = (mime: unknown): mime is string => typeof mime === 'string' && FILE_TYPES[mime] !== undefined;

/** What a file field accepts when its definition names nothing: every known type but text/plain, which a field must name. */
export const DEFAULT_ACCEPT: readonly string[] = Object.freeze(Object.keys(table).filter((t) => t !== 'text/plain'));

/** Bounds a field's own limits are checked against at definition time; the global caps (FILES_*) apply on top. */
export const FILE_FIELD_BOUNDS = Object.freeze({ maxBytes: 1024 ** 3, maxFiles: 100, maxPixels: 1_000_000_000, versions: 100 });
