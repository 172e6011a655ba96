/**
 * The one way the UI talks to the server: same-origin fetch with the session cookie, the XSRF header on
 * unsafe methods, JSON in and out, and errors as ApiError carrying the server's stable code. The server
 * decides everything; the UI only shows what it answers.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The session's XSRF token, from the `__Host-` cookie, which only this origin over HTTPS (or loopback) can
 * set. The unprefixed cookie of COOKIE_INSECURE_DEV is read only when there is no `__Host-` one and the page
 * is not on HTTPS: a sibling host or a plain-HTTP attacker can plant an unprefixed cookie, and reading it first
 * would break every write and the sign-out.
 */
function xsrfToken(): string | undefined {
  const jar = new Map<string, string>();
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k && !jar.has(k)) jar.set(k, v.join('='));
  }
  const raw = jar.get('__Host-palisade_xsrf') ?? (location.protocol === 'https:' ? undefined : jar.get('palisade_xsrf'));
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** Listeners told when the server says the session is gone (so the app returns to sign-in). */
const signedOutListeners = new Set<(e: ApiError) => void>();
export function onSignedOut(fn: (e: ApiError) => void): () => void {
  signedOutListeners.add(fn);
  return () => signedOutListeners.delete(fn);
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined | null>;
  /** Raw body (CSV import): sent as is with this content type. */
  raw?: { body: BodyInit; type: string };
  signal?: AbortSignal;
  /** Do not treat a 401 as "signed out" (sign-in forms, /me at start). */
  quiet401?: boolean;
}

export function withQuery(path: string, query?: RequestOptions['query']): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export async function request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  let body: BodyInit | undefined;
  if (opts.raw) {
    headers['content-type'] = opts.raw.type;
    body = opts.raw.body;
  } else if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  if (UNSAFE.has(method)) {
    const x = xsrfToken();
    if (x) headers['x-xsrf-token'] = x;
  }
  let res: Response;
  try {
    res = await fetch(withQuery(path, opts.query), { method, headers, body, credentials: 'same-origin', signal: opts.signal, cache: 'no-store' });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK_ERROR', 'The server could not be reached. Check your connection and try again.');
  }
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  const data: unknown = type.includes('application/json') ? await res.json().catch(() => undefined) : await res.text();
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
    const retry = Number(res.headers.get('retry-after'));
    const e = new ApiError(
      res.status,
      err?.code ?? `HTTP_${res.status}`,
      err?.message ?? res.statusText,
      err?.details,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
    if (res.status === 401 && !opts.quiet401) for (const fn of signedOutListeners) fn(e);
    throw e;
  }
  return data as T;
}

export const api = {
  get: <T = unknown>(path: string, opts?: RequestOptions) => request<T>('GET', path, opts),
  post: <T = unknown>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('POST', path, { ...opts, body }),
  put: <T = unknown>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('PUT', path, { ...opts, body }),
  patch: <T = unknown>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('PATCH', path, { ...opts, body }),
  del: <T = unknown>(path: string, opts?: RequestOptions) => request<T>('DELETE', path, opts),
};

/** A readable sentence for an error, with the server's code kept for support. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'VALIDATION_FAILED' && Array.isArray(e.details) && e.details.length > 0) {
      const d = e.details as Array<{ path?: string; message?: string }>;
      return `${e.message} ${d.map((x) => `${(x.path ?? '').replace(/^\//, '') || 'value'}: ${x.message ?? ''}`.trim()).join('; ')}`;
    }
    return e.message;
  }
  return 'Something went wrong. Try again.';
}
