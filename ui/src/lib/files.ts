// File fields in the UI (DATA-3): the files routes and their refusals as sentences (the pure part, types,
// sizes and states in words, is in file-kinds.ts). The server decides every
// access; this only shows what it answers.
import { api, ApiError, describeError, sealedCalls } from './api';
import type { FileInfo } from './file-kinds';

export * from './file-kinds';

/** The files routes' refusals in words (codes of src/errors.ts). */
export const FILE_ERRORS: Record<string, string> = {
  FILE_TYPE_NOT_ALLOWED: 'This kind of file is not accepted here (the type is recognised from its content, not its name), or the file is empty.',
  FILE_TOO_LARGE: 'The file is larger than this field allows.',
  FILE_TOO_MANY_PIXELS: 'The image has more pixels than this field allows.',
  FILE_LIMIT_REACHED: 'This field already holds as many files as it may: delete one first.',
  FILE_METADATA_NOT_REMOVABLE: 'The file’s metadata (location, camera, author) could not be removed, so it was not stored; the file may be damaged.',
  FILE_METADATA_KEEP_NOT_ALLOWED: 'This field does not let an upload keep its metadata.',
  FILE_METADATA_CONSENT_REQUIRED:
    'This kind of file (an Office or OpenDocument file, audio, WebM, zip, gzip or BMP) keeps its metadata (authors, edit times, comments), which cannot be removed, and this field does not let files keep it.',
  FILE_TOO_LARGE_TO_SCAN: 'The file is larger than the virus scanner accepts.',
  FILE_QUARANTINED: 'The file is still being scanned for viruses; try again in a moment.',
  FILE_INFECTED: 'The file is not available: a virus was found in it.',
  FILE_CONTENT_MISSING: 'The file’s content is missing from the server’s file store; ask an administrator to restore it from a backup.',
  FILE_LINK_INVALID: 'The download link has expired or was used; try again.',
  FIELD_NOT_WRITABLE: 'You may not change the files of this field.',
  FIELD_NOT_READABLE: 'You may not see the files of this field.',
  FIELD_UNKNOWN: 'This field does not exist for you.',
  NOT_A_FILE_FIELD: 'This field does not hold files.',
  SCANNER_UNAVAILABLE: 'The virus scanner cannot be reached right now; try again later.',
  FORBIDDEN: 'Your access does not allow this.',
  NOT_FOUND: 'This record or file does not exist, or it is outside what you may see.',
  RATE_LIMITED: 'Too many uploads or downloads; wait a moment and try again.',
  TRANSPORT_ANSWER_TOO_LARGE:
    'This file is larger than 8 MiB, the most this server sends encrypted, and the server accepts only encrypted requests: it cannot be downloaded here.',
  PAYLOAD_TOO_LARGE: 'The file is larger than this server takes.',
  FILE_UNREADABLE: 'The file could not be read; choose it again.',
};

/** An upload refused until the uploader agrees to keep metadata that cannot be removed, on a field that allows it (D446). */
export function needsConsent(e: unknown): boolean {
  return e instanceof ApiError && e.code === 'FILE_METADATA_CONSENT_REQUIRED' && (e.details as { keepable?: unknown } | undefined)?.keepable === true;
}

export function fileError(e: unknown): string {
  if (e instanceof ApiError && FILE_ERRORS[e.code]) return FILE_ERRORS[e.code]!;
  return describeError(e);
}

const base = (collection: string, id: string, field: string) =>
  `/api/collections/${encodeURIComponent(collection)}/records/${encodeURIComponent(id)}/files/${encodeURIComponent(field)}`;

export const filesApi = {
  /** The current files; with `versions` every kept version too (needs write access). */
  async list(collection: string, id: string, field: string, versions = false): Promise<FileInfo[]> {
    return (await api.get<{ files: FileInfo[] }>(base(collection, id, field), { query: versions ? { versions: true } : undefined })).files;
  },
  /** `keepMetadata`: the user's consent to store the file with its metadata (only where the field allows it). */
  upload(collection: string, id: string, field: string, file: File, keepMetadata = false): Promise<FileInfo> {
    return api.post<FileInfo>(base(collection, id, field), undefined, {
      query: keepMetadata ? { name: file.name, keepMetadata: true } : { name: file.name },
      raw: { body: file, type: file.type || 'application/octet-stream' },
    });
  },
  remove(collection: string, id: string, field: string, fileId: string): Promise<void> {
    return api.del(`${base(collection, id, field)}/${encodeURIComponent(fileId)}`);
  },
  restore(collection: string, id: string, field: string, fileId: string): Promise<FileInfo> {
    return api.post<FileInfo>(`${base(collection, id, field)}/${encodeURIComponent(fileId)}/restore`);
  },
  /** A one-use signed link (60 s): the browser navigates to it and saves the attachment. */
  link(collection: string, id: string, field: string, fileId: string): Promise<{ url: string; expiresAt: string }> {
    return api.post(`${base(collection, id, field)}/${encodeURIComponent(fileId)}/link`);
  },
  /** The file's bytes through the API itself (sealed when calls are sealed): at most 8 MiB when sealed. */
  bytes(collection: string, id: string, field: string, fileId: string): Promise<Blob> {
    return api.get<Blob>(`${base(collection, id, field)}/${encodeURIComponent(fileId)}`, { binary: true });
  },
  /**
   * Saves a file. Through a one-use signed link the browser navigates to (an attachment: the page stays), except when
   * the server requires encrypted requests: a link's token would cross in the URL, in plain, and the server offers
   * none (D262). The file then comes as a sealed answer and is saved from a Blob. `linked` or `saved`.
   */
  async download(collection: string, id: string, field: string, f: Pick<FileInfo, 'id' | 'name'>): Promise<'linked' | 'saved'> {
    if (!(await sealedCalls())) {
      try {
        const { url } = await filesApi.link(collection, id, field, f.id);
        location.assign(url);
        return 'linked';
      } catch (e) {
        // The server went to `required` since the page last asked.
        if (!(e instanceof ApiError && e.code === 'FILE_LINK_UNAVAILABLE')) throw e;
      }
    }
    saveBlob(await filesApi.bytes(collection, id, field, f.id), f.name);
    return 'saved';
  },
};

/** Saves bytes under a name through a temporary blob: link (the page's policy lets an `<a download>` follow it). */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
