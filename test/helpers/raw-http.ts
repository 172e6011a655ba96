import net from 'node:net';
import type { FastifyInstance } from 'fastify';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  json(): any;
}

/** Starts the app on a spare loopback port and returns the port. */
export async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const a = app.server.address();
  if (!a || typeof a === 'string') throw new Error('no port');
  return a.port;
}

/**
 * Sends one request exactly as written (request target, headers) over a fresh TCP connection,
 * so that spellings which an HTTP client would normalise reach the server unchanged.
 */
export function rawRequest(port: number, method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const lines = [`${method} ${target} HTTP/1.1`, 'host: 127.0.0.1', 'connection: close'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    if (body !== undefined) lines.push(`content-length: ${Buffer.byteLength(body)}`);
    const sock = net.connect(port, '127.0.0.1', () => sock.write(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`));
    const chunks: Buffer[] = [];
    sock.setTimeout(10_000, () => sock.destroy(new Error(`timeout: ${method} ${target}`)));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      let rest = split === -1 ? '' : text.slice(split + 4);
      const [statusLine, ...hl] = head.split('\r\n');
      const hs: Record<string, string> = {};
      for (const h of hl) {
        const i = h.indexOf(':');
        if (i > 0) hs[h.slice(0, i).toLowerCase()] = h.slice(i + 1).trim();
      }
      if (hs['transfer-encoding'] === 'chunked') rest = dechunk(rest);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
      resolve({ status, headers: hs, body: rest, json: () => JSON.parse(rest) });
    });
  });
}

function dechunk(s: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const nl = s.indexOf('\r\n', i);
    if (nl === -1) return out;
    const n = parseInt(s.slice(i, nl), 16);
    if (!n) return out;
    out += s.slice(nl + 2, nl + 2 + n);
    i = nl + 2 + n + 2;
  }
}

/**
 * Spellings of a path that a router, a proxy or a browser might treat as the same resource:
 * percent-encoded letters (one at a time and all), doubled slashes, dot segments (plain and
 * encoded), case changes, absolute-form targets, trailing decorations and backslashes.
 */
export function pathSpellings(path: string): string[] {
  const out = new Set<string>();
  const letters = [...path].map((c, i) => ({ c, i })).filter(({ c }) => /[a-z]/i.test(c));
  const enc = (c: string, upper: boolean) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')[upper ? 'toUpperCase' : 'toLowerCase']()}`;
  for (const { c, i } of letters.filter((_, k) => k % 3 === 0)) out.add(path.slice(0, i) + enc(c, k(i)) + path.slice(i + 1));
  out.add([...path].map((c) => (/[a-z]/i.test(c) ? enc(c, true) : c)).join(''));
  const segs = path.split('/').filter(Boolean);
  for (let j = 0; j <= segs.length; j++) {
    out.add(`/${[...segs.slice(0, j), '', ...segs.slice(j)].join('/')}`);
    out.add(`/${[...segs.slice(0, j), '.', ...segs.slice(j)].join('/')}`);
    out.add(`/${[...segs.slice(0, j), 'x', '..', ...segs.slice(j)].join('/')}`);
    out.add(`/${[...segs.slice(0, j), '%2e', ...segs.slice(j)].join('/')}`);
    out.add(`/${[...segs.slice(0, j), 'x', '%2e%2e', ...segs.slice(j)].join('/')}`);
  }
  out.add(path.toUpperCase());
  out.add(path.replace(/\/(\w)/g, (_m, c: string) => `/${c.toUpperCase()}`));
  out.add(path.replace(/\//g, '\\'));
  out.add(segs.length ? `/${segs.join('%2f')}` : path);
  for (const suffix of ['/', '?', '#', ';', '/.', '%20', '%00', '%09']) out.add(path + suffix);
  for (const origin of ['http://127.0.0.1', 'HTTP://evil.example', 'http://127.0.0.1:80', 'https://x']) {
    out.add(origin + path);
    out.add(origin + path.replace(/[a-z]/, (c) => enc(c, false)));
  }
  out.delete(path);
  return [...out];
}
const k = (i: number) => i % 2 === 0;
