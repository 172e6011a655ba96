/**
 * A small history router: the path and query are state; links are ordinary <a href> that the app
 * intercepts (so middle-click and "open in new tab" keep working). Tokens in mailed links travel in the
 * fragment and are read once by the page that needs them, then removed from the address bar.
 */
export { match, safeNext } from './paths';

class Route {
  path = $state(location.pathname);
  query = $state(new URLSearchParams(location.search));

  sync(): void {
    this.path = location.pathname;
    this.query = new URLSearchParams(location.search);
  }
}

export const route = new Route();

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const url = new URL(to, location.origin);
  if (url.origin !== location.origin) return;
  if (opts.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route.sync();
  window.scrollTo(0, 0);
}

/** Replaces the query of the current address (filters and paging), keeping the path. */
export function setQuery(params: Record<string, string | number | undefined | null>): void {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') q.delete(k);
    else q.set(k, String(v));
  }
  const s = q.toString();
  history.replaceState(null, '', `${location.pathname}${s ? `?${s}` : ''}`);
  route.sync();
}

/** Reads the fragment's parameters once and clears the fragment (a token must not linger in history). */
export function takeFragment(): URLSearchParams {
  const p = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (location.hash) history.replaceState(null, '', `${location.pathname}${location.search}`);
  return p;
}

export function startRouter(): void {
  window.addEventListener('popstate', () => route.sync());
  document.addEventListener('click', (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const a = (ev.target as Element | null)?.closest?.('a');
    if (!a || a.target || a.hasAttribute('download') || a.getAttribute('rel') === 'external') return;
    const href = a.getAttribute('href');
    if (!href || href.startsWith('#')) return;
    const url = new URL(href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
    ev.preventDefault();
    navigate(url.pathname + url.search);
  });
}
