import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors.js';

/**
 * The admin UI (ui/, built into dist/ui at install): its index page under every address the app draws,
 * and its hashed assets. Everything passes the pipeline like any route (client IP, IP and country rules,
 * rate limit); the pages are public because the app itself signs the user in through /api.
 */

/** Where the single-page app draws a screen (ui/src/routes.ts); anything else is a 404. */
export const UI_PATHS = [
  '/',
  '/sign-in',
  '/forgot-password',
  '/reset-password',
  '/accept-invitation',
  '/account',
  '/account/*',
  '/data',
  '/data/*',
  '/admin/*',
];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
}

function load(path: string): Asset | null {
  const type = TYPES[extname(path)];
  if (!type) return null;
  const body = readFileSync(path);
  const gz = body.length > 1024 && !type.startsWith('image/png') && type !== 'font/woff2' ? gzipSync(body, { level: 9 }) : null;
  return { body, gzip: gz && gz.length < body.length ? gz : null, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/**
 * dist/ui, from the compiled server (dist/http/routes) or from the sources under tsx (src/http/routes);
 * PALISADE_UI_DIR names another build (a development build, or a test's own).
 */
export function findUiDir(): string | null {
  const own = process.env.PALISADE_UI_DIR;
  if (own) return existsSync(join(own, 'index.html')) ? own : null;
  for (const rel of ['../../ui/', '../../../dist/ui/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return null;
}

/** Whether the client takes gzip: named (or `*`) in Accept-Encoding with a weight above 0. */
export function acceptsGzip(header: string | undefined): boolean {
  let star: boolean | undefined;
  for (const part of String(header ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((x) => x.trim()).find((x) => x.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    const ok = Number.isFinite(weight) && weight > 0;
    if (name === 'gzip' || name === 'x-gzip') return ok;
    if (name === '*') star = ok;
  }
  return star ?? false;
}

/** One representation per encoding, each with its own strong ETag, so no cache hands gzip to a client that did not ask. */
function send(req: FastifyRequest, reply: FastifyReply, a: Asset, cache: string) {
  const gzip = a.gzip !== null && acceptsGzip(req.headers['accept-encoding']);
  const etag = gzip ? `${a.etag.slice(0, -1)}-gz"` : a.etag;
  reply.header('content-type', a.type).header('cache-control', cache).header('etag', etag).header('vary', 'accept-encoding');
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  if (gzip) return reply.header('content-encoding', 'gzip').send(a.gzip);
  return reply.send(a.body);
}

export const uiRoutes =
  (dir: string): FastifyPluginAsync =>
  async (app) => {
    const index = load(join(dir, 'index.html'))!;
    const assets = new Map<string, Asset>();
    const assetDir = join(dir, 'assets');
    if (existsSync(assetDir)) {
      for (const name of readdirSync(assetDir)) {
        if (!statSync(join(assetDir, name)).isFile()) continue;
        const a = load(join(assetDir, name));
        if (a) assets.set(name, a);
      }
    }
    const root = new Map<string, Asset>();
    for (const name of readdirSync(dir)) {
      if (name === 'index.html' || !statSync(join(dir, name)).isFile()) continue;
      const a = load(join(dir, name));
      if (a) root.set(name, a);
    }

    const page = { auth: 'public' as const, page: true };
    const pageHandler = async (req: FastifyRequest, reply: FastifyReply) => send(req, reply, index, 'no-cache');
    for (const url of UI_PATHS) {
      // The administration screens fall under the admin scope of the IP rules, like the API they call.
      const config = url.startsWith('/admin') ? { ...page, adminScope: true } : page;
      app.get(url, { config, schema: { hide: true } }, pageHandler);
    }

    // Hashed file names: cached for a year, never revalidated.
    app.get<{ Params: { file: string } }>('/assets/:file', { config: { auth: 'public' }, schema: { hide: true } }, async (req, reply) => {
      const a = assets.get(req.params.file);
      if (!a) throw new AppError('NOT_FOUND');
      return send(req, reply, a, 'public, max-age=31536000, immutable');
    });
    for (const [name, a] of root) {
      app.get(`/${name}`, { config: { auth: 'public' }, schema: { hide: true } }, async (req, reply) => send(req, reply, a, 'public, max-age=86400'));
    }
  };
