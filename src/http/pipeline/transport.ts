import { Readable } from 'node:stream';
import Type from 'typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteServices as Services } from '../../services.js';
import { AppError } from '../../errors.js';
import { answerKey, openRequest, parseResponseKeyHeader, sealAnswer, TransportKeys, type AnswerKey } from '../../edge/transport.js';
import { parseJsonText } from './json-body.js';
import { JOSE, RESPONSE_KEY_HEADER } from '../../client/transport.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Encrypted API bodies (EDGE-6) on an API request; null elsewhere and when TRANSPORT_ENCRYPTION=off. */
    transport: TransportState | null;
  }
  interface FastifyContextConfig {
    /** Neither encrypted nor held to TRANSPORT_ENCRYPTION=required: the published key itself. */
    plainTransport?: boolean;
    /**
     * The body is raw bytes (a file upload): a JWE body's plaintext is handed to the route as a stream of its bytes,
     * not parsed as JSON; every check of the JWE still applies (D260).
     */
    rawBody?: boolean;
  }
}

interface TransportState {
  /** The answer must be sealed: the client asked (`Accept: application/jose`) or sent a JWE body (D178). */
  asks: boolean;
  /**
   * The key the answer is sealed with (D177): from the agreement of the server key with the request JWE's `epk` when
   * there is a JWE body, else with the response-key header's key.
   */
  replyKey: AnswerKey | null;
  /** A JWE body was opened: the route's body is its plaintext, whatever the request's Content-Length said. */
  opened: boolean;
}

// The media type of encrypted bodies and the answer-key header: the protocol's names, from the shipped client.
export { JOSE, RESPONSE_KEY_HEADER };
/** The largest answer sealed (exports are read whole to be sealed); larger is TRANSPORT_ANSWER_TOO_LARGE (D201). */
export const MAX_SEALED_ANSWER = 8 * 1024 * 1024;
/** Streamed answers (exports) being read whole to be sealed at once, per instance; one more is SERVER_BUSY (D201). */
export const MAX_CONCURRENT_SEALED_STREAMS = 4;
/**
 * JWE bodies of raw-body routes (file uploads) are read whole to be opened: at once, per instance, at most this many
 * of the route's largest (counted in declared bytes, a chunked one as the largest); one more is SERVER_BUSY (D261).
 */
export const MAX_CONCURRENT_SEALED_UPLOADS = 4;
/** The methods whose body Fastify reads: only these can carry the JWE whose `epk` receives the answer. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const mediaType = (v: string | undefined): string => (v ?? '').split(';')[0]!.trim().toLowerCase();

/** Whether an Accept header lists application/jose with a quality above 0. */
export function acceptsJose(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((x) => x.trim().toLowerCase());
    if (type !== JOSE) return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * An API request: a matched route under /api/ other than the published key, or a request that matched no
 * route (fail closed, like the admin scope of the IP rules: decided on the route, never the raw URL, D55).
 * Health probes, /metrics, the admin UI's pages and assets, and CORS preflights (`OPTIONS *`) are not.
 */
export function isApiRequest(req: FastifyRequest): boolean {
  const pattern = req.routeOptions.url;
  if (pattern === undefined) return true;
  if (req.routeOptions.config.plainTransport === true) return false;
  return pattern === '/api' || pattern.startsWith('/api/');
}

/** Whether the route's body came as a JWE that the transport stage opened (its Content-Length is the JWE's, not the body's). */
export const sealedBody = (req: FastifyRequest): boolean => req.transport?.opened === true;

const hasBody = (req: FastifyRequest): boolean => {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
};

const tooLarge = () => new AppError('TRANSPORT_ANSWER_TOO_LARGE', { maxBytes: MAX_SEALED_ANSWER });
const isStream = (payload: unknown): payload is Readable => typeof (payload as Readable | null)?.pipe === 'function';
/** No body to seal or to leak: nothing, or empty text or bytes. */
const isEmpty = (payload: unknown): boolean =>
  payload === null || payload === undefined || ((typeof payload === 'string' || Buffer.isBuffer(payload)) && payload.length === 0);

let sealingStreams = 0;
async function bytesOf(payload: unknown): Promise<Uint8Array | null> {
  if (payload === null || payload === undefined) return null;
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    if (bytes.length > MAX_SEALED_ANSWER) throw tooLarge();
    return bytes;
  }
  if (isStream(payload)) {
    const stream = payload;
    if (sealingStreams >= MAX_CONCURRENT_SEALED_STREAMS) {
      stream.destroy();
      throw new AppError('SERVER_BUSY', undefined, 'too many sealed exports at once');
    }
    sealingStreams += 1;
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of stream) {
        const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk as Uint8Array);
        size += b.length;
        if (size > MAX_SEALED_ANSWER) {
          stream.destroy();
          throw tooLarge();
        }
        chunks.push(b);
      }
      return Buffer.concat(chunks);
    } finally {
      sealingStreams -= 1;
    }
  }
  throw new TypeError('transport: an answer payload that is neither text, bytes nor a stream');
}

/**
 * Encrypted API bodies (EDGE-6, docs/edge.md "Encrypted API bodies"), one stage for every route:
 * - onRequest (after the edge, before authentication): decides per API request whether the answer is
 *   sealed (asked, or a JWE body), reads the response key, and applies TRANSPORT_ENCRYPTION (`off` refuses
 *   the protocol, `required` refuses plain bodies and plain answers), before any body is read;
 * - the `application/jose` body parser: opens the JWE (allow-listed header, known kid, bound to this
 *   method, target and time, used once), then the plaintext meets the same JSON rule and route schema as a
 *   plain body, or, on a `rawBody` route (a file upload), is handed over as the body's bytes (D260); the JWE's
 *   `epk`, and only it, receives the answer (D178);
 * - preHandler: no handler runs for a request whose answer must be sealed while no key is known;
 * - onSend: seals every answer of a request that asked, error envelopes included, and fails closed: a
 *   2xx/3xx body that should be sealed and has no key is never sent plain.
 * No route decrypts or encrypts on its own.
 */
export function registerTransport(app: FastifyInstance, s: Services): void {
  const mode = s.config.transportEncryption;
  const keys = new TransportKeys(s.config.appKey, s.keys);
  app.decorateRequest('transport', null);
  let sealedUploadBytes = 0;

  app.get(
    '/api/transport/key',
    {
      schema: {
        tags: ['transport'],
        description:
          'The key clients encrypt request bodies to (a P-256 JWK for ECDH-ES with A256GCM) and the TRANSPORT_ENCRYPTION mode. `keys` is empty when the mode is off.',
        response: {
          200: Type.Object({
            mode: Type.Union([Type.Literal('off'), Type.Literal('optional'), Type.Literal('required')]),
            keys: Type.Array(
              Type.Object({
                kty: Type.String(),
                crv: Type.String(),
                x: Type.String(),
                y: Type.String(),
                kid: Type.String(),
                alg: Type.String(),
                use: Type.String(),
              }),
            ),
          }),
        },
      },
      config: { auth: 'public', rateLimit: 'read', plainTransport: true },
    },
    async () => ({ mode, keys: mode === 'off' ? [] : [await keys.published()] }),
  );

  /** Holds room for a raw JWE body (read whole) until its answer is done; refuses one more than the room (D261). */
  const holdUploadRoom = (req: FastifyRequest, reply: FastifyReply): void => {
    const limit = req.routeOptions.bodyLimit ?? s.config.bodyLimit;
    const declared = Number(req.headers['content-length']);
    const need = Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, limit) : limit;
    if (sealedUploadBytes + need > MAX_CONCURRENT_SEALED_UPLOADS * limit) throw new AppError('SERVER_BUSY', undefined, 'too many sealed uploads at once');
    sealedUploadBytes += need;
    reply.raw.once('close', () => {
      sealedUploadBytes -= need;
    });
  };

  /**
   * Synchronous for a plain request (it runs on every request, and a plain one should pay no extra turn of the event
   * loop); a promise only when the response-key header's kid must be looked up.
   */
  const decide = (req: FastifyRequest, reply: FastifyReply): Promise<void> | undefined => {
    if (!isApiRequest(req)) return undefined;
    const joseBody = mediaType(req.headers['content-type']) === JOSE;
    const acceptJose = acceptsJose(req.headers.accept);
    if (mode === 'off') {
      if (joseBody || acceptJose) throw new AppError('TRANSPORT_ENCRYPTION_OFF');
      return undefined;
    }
    // A JWE body always gets a sealed answer, to its own epk and nothing else (D178): a captured body
    // replayed with another key, or without asking, yields nothing readable.
    const asks = acceptJose || joseBody;
    const state: TransportState = { asks, replyKey: null, opened: false };
    req.transport = state;
    const header = req.headers[RESPONSE_KEY_HEADER];
    let clientKey: ReturnType<typeof parseResponseKeyHeader> | null = null;
    if (joseBody) {
      if (header !== undefined) throw new AppError('TRANSPORT_RESPONSE_KEY_INVALID', undefined, 'response key with a JWE body');
      // Only a body Fastify reads can stand in for the key header (no GET/HEAD, no empty body).
      if (!BODY_METHODS.has(req.method) || !hasBody(req)) throw new AppError('TRANSPORT_BODY_INVALID', undefined, 'application/jose without a body');
      if (req.routeOptions.config.rawBody === true) holdUploadRoom(req, reply);
    } else if (asks) {
      if (typeof header === 'string') clientKey = parseResponseKeyHeader(header);
      else if (header !== undefined) throw new AppError('TRANSPORT_RESPONSE_KEY_INVALID', undefined, 'header repeated');
      else throw new AppError('TRANSPORT_RESPONSE_KEY_INVALID', undefined, 'no response key');
    }
    const enforce = (): void => {
      if (mode !== 'required') return;
      if (!asks) throw new AppError('TRANSPORT_ENCRYPTION_REQUIRED', undefined, 'plain answer asked');
      if (hasBody(req) && !joseBody) throw new AppError('TRANSPORT_ENCRYPTION_REQUIRED', undefined, 'plain body');
    };
    if (clientKey === null) {
      enforce();
      return undefined;
    }
    const { key, kid } = clientKey;
    // The key first, so that a refusal of `required` comes sealed to a client that asked.
    return keys.forKid(kid).then((serverKey) => {
      if (!serverKey) throw new AppError('TRANSPORT_KEY_UNKNOWN', undefined, `response key kid ${kid.slice(0, 80)}`);
      state.replyKey = answerKey(serverKey, key);
      enforce();
    });
  };
  app.addHook('onRequest', (req, reply, done) => {
    let pending: Promise<void> | undefined;
    try {
      pending = decide(req, reply);
    } catch (e) {
      return done(e as Error);
    }
    if (pending === undefined) return done();
    pending.then(
      () => done(),
      (e: Error) => done(e),
    );
  });

  app.addContentTypeParser(JOSE, { parseAs: 'string' }, async (req: FastifyRequest, body: string | Buffer) => {
    const state = req.transport;
    // Not an API route (a health probe, a page): no route there takes an encrypted body.
    if (state === null) throw new AppError('UNSUPPORTED_MEDIA_TYPE', undefined, 'JWE body outside the API');
    const opened = await openRequest(String(body), keys, { method: req.method, target: req.url, now: s.now() });
    // The body's epk, never a header's (refused with a JWE body in onRequest), receives the answer: a refusal too.
    state.replyKey = opened.answerKey;
    // Each body is good for one request, on any instance (EDGE-6, D231).
    if (!(await s.transportReplay.firstUse(opened.tag))) throw new AppError('TRANSPORT_BODY_REPLAYED');
    state.opened = true;
    // A raw-body route (a file upload) takes the plaintext's bytes as they are: the route's own checks apply to them.
    const { plaintext } = opened;
    if (req.routeOptions.config.rawBody === true) {
      return Readable.from([Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength)], { objectMode: false });
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
    } catch {
      throw new AppError('INVALID_JSON', undefined, 'plaintext is not UTF-8');
    }
    return parseJsonText(text);
  });

  const sealReply = async (req: FastifyRequest, reply: FastifyReply, payload: unknown, key: AnswerKey): Promise<unknown> => {
    const bytes = await bytesOf(payload);
    if (bytes === null) return payload;
    const cty = String(reply.getHeader('content-type') ?? 'application/octet-stream');
    const sealed = sealAnswer(bytes, key, { cty, method: req.method, target: req.url, now: s.now() });
    reply.header('content-type', JOSE);
    reply.removeHeader('content-length');
    return sealed;
  };
  if (mode === 'off') return;
  // Fail closed before any handler: an answer to seal and no key (a JWE body that was never read).
  app.addHook('preHandler', (req, _reply, done) => {
    const state = req.transport;
    if (state?.asks && state.replyKey === null) return done(new AppError('TRANSPORT_RESPONSE_KEY_INVALID', undefined, 'no key for the answer'));
    done();
  });
  app.addHook('onSend', (req, reply, payload, done) => {
    const state = req.transport;
    if (!state?.asks || req.method === 'HEAD' || reply.statusCode === 204 || reply.statusCode === 304) return done(null, payload);
    const key = state.replyKey;
    if (!key) {
      // Only errors from before the key was known (they carry no data of the request) and empty answers go plain.
      if (reply.statusCode >= 400 || isEmpty(payload)) return done(null, payload);
      if (isStream(payload)) payload.destroy();
      return done(new AppError('TRANSPORT_RESPONSE_KEY_INVALID', undefined, 'a sealed answer without a key'));
    }
    sealReply(req, reply, payload, key).then(
      (sealed) => done(null, sealed),
      (e: Error) => done(e),
    );
  });
}
