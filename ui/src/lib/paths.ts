// Pure address helpers (no DOM, no state), unit-tested in test/ui/paths.test.ts.

/** A safe "next" address: a same-origin path only (never //host or a scheme). */
export function safeNext(raw: string | null, origin = 'http://localhost'): string {
  if (!raw?.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/';
  let url: URL;
  try {
    url = new URL(raw, origin);
  } catch {
    return '/';
  }
  // What the browser would make of it (tabs and newlines dropped, dot segments resolved): still here, one slash.
  if (url.origin !== new URL(origin).origin || url.pathname.startsWith('//') || url.pathname.startsWith('/\\')) return '/';
  return url.pathname + url.search;
}

/** Matches a path against a pattern with :params; undefined when it does not match. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split('/').filter(Boolean);
  const a = path.split('/').filter(Boolean);
  if (p.length !== a.length) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const seg = p[i]!;
    if (seg.startsWith(':')) {
      try {
        out[seg.slice(1)] = decodeURIComponent(a[i]!);
      } catch {
        return undefined; // a malformed escape is no address of ours
      }
    } else if (seg !== a[i]) return undefined;
  }
  return out;
}
