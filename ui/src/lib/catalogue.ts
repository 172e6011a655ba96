// The caller's collections as GET /api/collections answers them, and the records API's refusals in words.
import { api, ApiError, describeError } from './api';
import { RECORD_ERRORS, type CatalogueEntry } from './records';

export async function fetchCatalogue(): Promise<CatalogueEntry[]> {
  return (await api.get<{ collections: CatalogueEntry[] }>('/api/collections')).collections;
}

/** One collection as the caller may use it; undefined when they have no grant on it (or it does not exist). */
export async function fetchEntry(name: string): Promise<CatalogueEntry | undefined> {
  return (await fetchCatalogue()).find((c) => c.name === name);
}

/** A sentence for a records API refusal, with the fields or rows the server named. */
export function recordError(e: unknown): string {
  if (!(e instanceof ApiError)) return describeError(e);
  if (e.code === 'VALIDATION_FAILED') return describeError(e);
  const base = RECORD_ERRORS[e.code] ?? describeError(e);
  const d = e.details as { fields?: string[]; field?: string; message?: string } | undefined;
  if (d?.fields?.length) return `${base} (${d.fields.join(', ')})`;
  if (d?.field) return `${base} (${d.field})`;
  if (d?.message) return `${base} ${d.message}`;
  return base;
}
