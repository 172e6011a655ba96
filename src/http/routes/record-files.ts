import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { Readable } from 'node:stream';
import type { RouteServices as Services } from '../../services.js';
import type { Caller } from '../../records/service.js';
import type { FileMeta } from '../../files/service.js';
import { AppError } from '../../errors.js';
import { errorResponses } from '../schemas.js';
import { actorContext, linkCaller, linkCredentialOf, principalOf, requireAuth } from '../pipeline/authenticate.js';
import { sealedBody } from '../pipeline/transport.js';
import { sealedLength } from '../../edge/transport.js';

const NAME = '^[a-z][a-z0-9_]{0,40}$';
const FieldParams = Type.Object(
  {
    collection: Type.String({ pattern: NAME }),
    id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
    field: Type.String({ pattern: NAME }),
  },
  { additionalProperties: false },
);
const FileParams = Type.Object(
  {
    collection: Type.String({ pattern: NAME }),
    id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
    field: Type.String({ pattern: NAME }),
    fileId: Type.String({ pattern: '^[0-9a-f-]{36}$' }),
  },
  { additionalProperties: false },
);
const Meta = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.String(),
  size: Type.Integer(),
  state: Type.Union([Type.Literal('quarantined'), Type.Literal('clean'), Type.Literal('infected'), Type.Literal('unscanned')]),
  version: Type.Integer(),
  current: Type.Boolean(),
  uploadedAt: Type.String(),
  signature: Type.Optional(Type.String()),
  metadata: Type.Optional(
    Type.Union([Type.Literal('removed'), Type.Literal('kept'), Type.Literal('untouched')], {
      description:
        "An upload's answer only: the file's metadata removed, kept (the uploader's keepMetadata), or untouched (a type whose metadata is not removed, or FILES_STRIP_METADATA=false).",
    }),
  ),
});

/** What every download sends with the bytes: never rendered by the browser, never cached, never sniffed. */
const DOWNLOAD_CSP = "sandbox; default-src 'none'";
const downloads = new WeakSet<FastifyReply>();

/** RFC 5987/6266: the stored (already safe) name, percent-encoded, plus an ASCII fallback. */
function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%;]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

function sendFile(reply: FastifyReply, file: { meta: FileMeta; body: Readable }): FastifyReply {
  downloads.add(reply);
  reply.header('content-type', file.meta.type === 'text/plain' ? 'text/plain; charset=utf-8' : file.meta.type);
  reply.header('content-length', String(file.meta.size));
  reply.header('content-disposition', disposition(file.meta.name));
  reply.header('x-content-type-options', 'nosniff');
  reply.header('cache-control', 'private, no-store');
  return reply.send(file.body);
}

/**
 * Files of records (DATA-3). Routes only translate HTTP; every access decision is the records service's. An
 * upload's body is the raw file (any Content-Type, which is ignored: the type comes from the bytes), read as a
 * stream within the largest file the server takes, or a JWE of it that the transport stage opens (D260).
 */
export const recordFileRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['files'];

    // Scoped to these routes: every body is the raw file, whatever the client says it is, except a JWE
    // (`application/jose`), which the transport stage's inherited parser opens into the file's bytes (D260).
    // The only other parser registered (src/http/app.ts) is the JSON one.
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    if (!app.hasContentTypeParser('application/jose')) throw new TypeError('record files: the transport stage must be registered before the files routes');
    const maxBytes = s.config.files.maxBytes;
    // A sealed upload's JWE is about 4/3 of its file: the route takes that much (no JWE arrives when the mode is
    // off); a plain body is still held to FILES_MAX_BYTES, by its declared length below and the store's count.
    const uploadLimit = s.config.transportEncryption === 'off' ? maxBytes : sealedLength(maxBytes);
    /** Signed links put a one-use right in a URL's path, which a proxy that terminates TLS sees (D262). */
    const linksOffered = s.config.transportEncryption !== 'required';
    // After the security headers stage: a download's own policy replaces the API's.
    app.addHook('onSend', async (_req, reply, payload) => {
      if (downloads.has(reply)) reply.header('content-security-policy', DOWNLOAD_CSP);
      return payload;
    });

    const caller = async (req: FastifyRequest): Promise<Caller> => {
      const auth = requireAuth(req);
      const p = await principalOf(req, s);
      return { user: auth.user, admin: p.admin, roles: p.roles, departments: p.departments, ctx: actorContext(req), stamp: p.stamp };
    };
    const prefix = '/collections/:collection/records/:id/files/:field';

    app.post(
      prefix,
      {
        bodyLimit: uploadLimit,
        config: { rateLimit: 'upload', rawBody: true },
        // A refused upload ends its connection: the rest of the body (chunked, or a huge declared length) is never read.
        onSend: async (req, reply, payload) => {
          if (reply.statusCode >= 400 && !req.raw.complete) reply.header('connection', 'close');
          return payload;
        },
        onResponse: async (req, reply) => {
          if (reply.statusCode >= 400 && !req.raw.complete) req.raw.destroy();
        },
        schema: {
          tags,
          params: FieldParams,
          querystring: Type.Object(
            {
              name: Type.Optional(Type.String({ maxLength: 1000 })),
              keepMetadata: Type.Optional(
                Type.Boolean({
                  description:
                    "The uploader's consent to store the file with its metadata (EXIF, XMP, document authors); only where the field has keepMetadata, else FILE_METADATA_KEEP_NOT_ALLOWED.",
                }),
              ),
            },
            { additionalProperties: false },
          ),
          description:
            'Uploads a file into a file field: the body is the raw bytes (any Content-Type; the type is recognised from the content), or a JWE (`application/jose`) whose plaintext is those bytes (encrypted API bodies). Needs update access to the record and write access to the field. A single-file field replaces its file (kept as a version when the field keeps versions); a multiple field adds one. The metadata of images, PDF and MP4 files is removed before the file is stored, unless the uploader asks to keep it where the field allows (`keepMetadata=true`); a type whose metadata cannot be removed (Office, OpenDocument, audio, WebM, zip, gzip, BMP) is stored only with that consent, else FILE_METADATA_CONSENT_REQUIRED. The file starts `quarantined` (a scanner is configured) or `unscanned`.',
          response: { 201: Meta, ...errorResponses },
        },
      },
      async (req, reply) => {
        const declared = Number(req.headers['content-length']);
        if (!sealedBody(req) && Number.isSafeInteger(declared) && declared > maxBytes) throw new AppError('FILE_TOO_LARGE', { maxBytes });
        const body = req.body instanceof Readable ? req.body : Readable.from([]);
        const meta = await s.records.uploadFile(await caller(req), req.params, req.query.name ?? 'file', body, {
          keepMetadata: req.query.keepMetadata === true,
        });
        reply.code(201);
        return meta;
      },
    );

    app.get(
      prefix,
      {
        schema: {
          tags,
          params: FieldParams,
          querystring: Type.Object({ versions: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
          description: "A file field's current files; with `versions=true` every kept version too (for those who may write the field).",
          response: { 200: Type.Object({ files: Type.Array(Meta) }), ...errorResponses },
        },
      },
      async (req) => ({ files: await s.records.listFiles(await caller(req), req.params, req.query.versions === true) }),
    );

    app.get(
      `${prefix}/:fileId`,
      {
        schema: {
          tags,
          params: FileParams,
          description:
            'The bytes of a clean or unscanned file, as an attachment (`FILE_QUARANTINED` while it waits for the scanner; `FILE_INFECTED` never leaves; `FILE_CONTENT_MISSING` when the store no longer holds its bytes).',
        },
      },
      async (req, reply) => {
        const { fileId, ...t } = req.params;
        return sendFile(reply, await s.records.openFile(await caller(req), t, fileId));
      },
    );

    app.delete(
      `${prefix}/:fileId`,
      {
        schema: {
          tags,
          params: FileParams,
          description: 'Deletes a file or a kept version (write access to the field).',
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        const { fileId, ...t } = req.params;
        await s.records.deleteFile(await caller(req), t, fileId);
        reply.code(204);
        return null;
      },
    );

    app.post(
      `${prefix}/:fileId/restore`,
      {
        schema: {
          tags,
          params: FileParams,
          description: 'Makes a kept version current again; the current file becomes a kept version (write access to the field).',
          response: { 200: Meta, ...errorResponses },
        },
      },
      async (req) => {
        const { fileId, ...t } = req.params;
        return s.records.restoreFile(await caller(req), t, fileId);
      },
    );

    app.post(
      `${prefix}/:fileId/link`,
      {
        schema: {
          tags,
          params: FileParams,
          description:
            'A signed download link for the caller, good once within 60 seconds. Using it re-checks that the caller may still read the field of the record. Not offered with TRANSPORT_ENCRYPTION=required (`FILE_LINK_UNAVAILABLE`).',
          response: { 200: Type.Object({ url: Type.String(), expiresAt: Type.String() }), ...errorResponses },
        },
      },
      async (req) => {
        if (!linksOffered) throw new AppError('FILE_LINK_UNAVAILABLE');
        const { fileId, ...t } = req.params;
        const auth = requireAuth(req);
        const role = auth.method === 'apikey' ? auth.key.role : auth.method === 'session' ? auth.session.active_role : null;
        const link = await s.records.linkFile(await caller(req), t, fileId, linkCredentialOf(auth), role);
        return { url: `/api/files/signed/${link.token}`, expiresAt: link.expiresAt };
      },
    );

    app.get(
      '/files/signed/:token',
      {
        // No HEAD: a link preview must not spend the one use of a link.
        exposeHeadRoute: false,
        config: { auth: 'public' },
        schema: {
          tags,
          params: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
          description: "A signed link's file: the link is spent, and the user it was made for must still be active and allowed to read the field.",
        },
      },
      async (req, reply) => {
        // Refused before the link is spent, even asked sealed (a link made before the mode changed).
        if (!linksOffered) throw new AppError('FILE_LINK_UNAVAILABLE');
        const claims = await s.files.links.redeem(req.params.token);
        const c = await linkCaller(req, s, claims);
        return sendFile(reply, await s.records.openLinked(c, claims));
      },
    );
  };
