/**
 * The one way the UI talks to the server: same-origin fetch with the session cookie, the XSRF header on
 * unsafe methods, JSON in and out, and errors as ApiError carrying the server's stable code. The server
 * decides everything; the UI only shows what it answers. When the server requires encrypted API bodies
 * (TRANSPORT_ENCRYPTION=required, EDGE-6), every call is sealed and opened by the shared client helper, and
 * from then on, for the page's life, a call that cannot be sealed is not sent (D179). A raw body (a file upload) is
 * then sealed as its bytes, and a binary answer (a file download) is opened into its bytes (D263).
 */
import type { Sealed, TransportKey } from '../../../src/client/transport';

/** The shared client helper (and jose), loaded only when the server requires encryption. */
const transportLib = () => import('../../../src/client/transport');

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

/** Listeners told when an action needs a recent sign-in (REAUTH_REQUIRED, D432): the shell offers to sign in again. */
const reauthListeners = new Set<(e: ApiError) => void>();
export function onReauthRequired(fn: (e: ApiError) => void): () => void {
  reauthListeners.add(fn);
  return () => reauthListeners.delete(fn);
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined | null>;
  /** Raw body (a file upload): sent as is with this content type, or, when calls are sealed, sealed as its bytes. */
  raw?: { body: Blob; type: string };
  /** The answer is binary (a file download): a success comes back as a Blob of its bytes. */
  binary?: boolean;
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

/**
 * Once the server has said `required` (its key document or a TRANSPORT_ENCRYPTION_REQUIRED refusal), every
 * call of this page's life is sealed or not sent at all (D179): a failed key fetch or a stale mode never
 * sends a body in plain.
 */
let requiredSeen = false;

/** The transport mode and the raw key document (checked by the helper only when a key is needed). */
interface TransportInfo {
  mode: 'off' | 'optional' | 'required';
  doc: unknown;
}

/**
 * The server's transport mode (asked once; again after a refusal that says the mode or the key changed, and
 * before every credential call while `required` has not been seen), or null when it could not be read. The UI
 * encrypts only when it must: the server publishes the mode.
 */
let transport: Promise<TransportInfo | null> | undefined;
function transportInfo(refresh = false): Promise<TransportInfo | null> {
  if (transport === undefined || refresh) {
    const fetched: Promise<TransportInfo | null> = fetch('/api/transport/key', {
      headers: { accept: 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store',
    })
      .then(async (r): Promise<TransportInfo> => {
        if (!r.ok) throw new Error(`transport key: HTTP ${r.status}`);
        const doc: unknown = await r.json();
        const mode = (doc as { mode?: unknown } | null)?.mode;
        if (mode !== 'off' && mode !== 'optional' && mode !== 'required') throw new Error('transport key: no mode');
        if (mode === 'required') requiredSeen = true;
        return { mode: mode as TransportInfo['mode'], doc };
      })
      .catch(() => {
        transport = undefined;
        return null;
      });
    transport = fetched;
    return fetched;
  }
  return transport;
}

const UNAVAILABLE = 'This server accepts only encrypted requests, which cannot be made now: nothing was sent. Reload the page and try again (HTTPS is needed).';

/** Calls that carry credentials (passwords, MFA codes, API keys, secrets): sent only once the mode is known fresh. */
const CREDENTIAL_CALL = /^\/api\/(auth\/|admin\/(users|secrets)(\/|$))/;

/**
 * The key to seal a call to, or null for a plain call; throws (nothing is sent) when the call must be sealed
 * and cannot be. Before a credential call the mode is read again unless `required` was already seen, so a
 * password never crosses in plain because of a cached `optional`.
 */
async function keyFor(method: string, pathname: string): Promise<TransportKey | null> {
  const credential = UNSAFE.has(method) && CREDENTIAL_CALL.test(pathname);
  const info = await transportInfo(credential && !requiredSeen);
  if (info === null) {
    if (requiredSeen || credential) throw new ApiError(0, 'TRANSPORT_UNAVAILABLE', UNAVAILABLE);
    return null;
  }
  if (info.mode !== 'required' && !requiredSeen) return null;
  // Required (now, or earlier in this page's life): sealed or not sent.
  if (info.mode === 'off') throw new ApiError(0, 'TRANSPORT_UNAVAILABLE', UNAVAILABLE);
  try {
    const key = (await transportLib()).keyDocument(info.doc).keys[0];
    if (key) return key;
  } catch {
    // fall through: no usable key
  }
  throw new ApiError(0, 'TRANSPORT_UNAVAILABLE', UNAVAILABLE);
}

/** Whether this page's calls are sealed (the server requires it, now or earlier in the page's life). */
export async function sealedCalls(): Promise<boolean> {
  const info = await transportInfo();
  return requiredSeen || info?.mode === 'required';
}

/** Refusals of the transport stage, answered before any handler runs: safe to send again once, sealed. */
const TRANSPORT_RETRY = new Set(['TRANSPORT_ENCRYPTION_REQUIRED', 'TRANSPORT_KEY_UNKNOWN']);

export async function request<T = unknown>(method: string, path: string, opts: RequestOptions = {}, retried = false): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  // The target as the browser sends it (its URL parser may encode more): what a sealed body is bound to.
  const url = new URL(withQuery(path, opts.query), location.origin);
  const target = `${url.pathname}${url.search}`;
  let body: BodyInit | undefined;
  let sealed: Sealed | null = null;
  const key = await keyFor(method, url.pathname);
  if (key) {
    let payload: unknown = opts.body;
    if (opts.raw) {
      try {
        payload = new Uint8Array(await opts.raw.body.arrayBuffer());
      } catch {
        throw new ApiError(0, 'FILE_UNREADABLE', 'The file could not be read; choose it again.');
      }
    }
    try {
      sealed = await (await transportLib()).seal(key, method, target, payload);
    } catch {
      throw new ApiError(0, 'TRANSPORT_UNAVAILABLE', 'This server accepts only encrypted requests, which this browser cannot make here (HTTPS is needed).');
    }
    Object.assign(headers, sealed.headers);
    body = sealed.body;
  } else if (opts.raw) {
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
    res = await fetch(target, { method, headers, body, credentials: 'same-origin', signal: opts.signal, cache: 'no-store' });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK_ERROR', 'The server could not be reached. Check your connection and try again.');
  }
  if (res.status === 204) return undefined as T;
  let type = res.headers.get('content-type') ?? '';
  // A plain binary answer is read as bytes (text would corrupt it); a sealed one is a JWE, which is text.
  if (opts.binary && res.ok && !sealed) return (await res.blob()) as T;
  let text = await res.text();
  if (sealed) {
    let opened: Awaited<ReturnType<Sealed['open']>>;
    try {
      opened = await sealed.open({ status: res.status, contentType: type, body: text });
    } catch {
      throw new ApiError(0, 'TRANSPORT_ANSWER_INVALID', 'The server answer could not be decrypted. Try again.');
    }
    // The opened bytes, never the text (which would corrupt a binary file), typed so that the page never shows them.
    if (opts.binary && res.ok) return new Blob([opened.bytes.slice()], { type: 'application/octet-stream' }) as T;
    ({ contentType: type, text } = opened);
  }
  let data: unknown = text;
  if (type.includes('application/json')) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
    if (err?.code === 'TRANSPORT_ENCRYPTION_REQUIRED') requiredSeen = true;
    if (!retried && err?.code !== undefined && TRANSPORT_RETRY.has(err.code)) {
      await transportInfo(true);
      return request<T>(method, path, opts, true);
    }
    const retry = Number(res.headers.get('retry-after'));
    const e = new ApiError(
      res.status,
      err?.code ?? `HTTP_${res.status}`,
      err?.message ?? res.statusText,
      err?.details,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
    if (res.status === 401 && !opts.quiet401) for (const fn of signedOutListeners) fn(e);
    if (res.status === 403 && (e.code === 'REAUTH_REQUIRED' || e.code === 'SESSION_CONTEXT_CHANGED')) for (const fn of reauthListeners) fn(e);
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
