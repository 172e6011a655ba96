import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { AppError, ERRORS, type ErrorCode } from '../errors.js';
import { errorBody } from './errors.js';
import { routerAnswerHeaders, socketAnswerHeaders } from './pipeline/headers.js';
import { requestLine } from './request-log.js';

/**
 * Answers that Fastify or Node would otherwise write in their own shape (malformed URLs, an
 * over-long path parameter, malformed HTTP, the drain while closing) go through our envelope:
 * a registered code, a fixed message, the security headers (HSTS included over HTTPS, decided by
 * pipeline/headers.ts like every other answer's), nothing echoed from the request.
 */

const FRAMEWORK_CODES: Readonly<Record<string, ErrorCode>> = Object.freeze({
  FST_ERR_BAD_URL: 'URL_INVALID',
  FST_ERR_MAX_PARAM_LENGTH: 'URL_TOO_LONG',
  FST_ERR_ASYNC_CONSTRAINT: 'BAD_REQUEST',
});

/** Fastify's `frameworkErrors` option: errors raised by the router before any hook runs. */
export function frameworkErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const code = FRAMEWORK_CODES[err.code] ?? 'BAD_REQUEST';
  req.log.info({ code, reason: err.code }, 'request refused');
  // No route, no onResponse: the request log's line is written here (request-log.ts).
  reply.raw.once('finish', () => req.log.info(requestLine(req, reply), 'request'));
  reply
    .code(ERRORS[code].status)
    .headers({ ...routerAnswerHeaders(req), 'x-request-id': req.id, 'cache-control': 'no-store' })
    .send(errorBody(code));
}

/** Node's `clientError`: the request could not be parsed as HTTP at all. Written straight to the socket. */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST';
  this.log.debug({ code, reason: err.code }, 'client error');
  if (socket.writable) {
    const status = ERRORS[code].status;
    const body = JSON.stringify(errorBody(code));
    const headers = {
      ...socketAnswerHeaders(this, socket),
      'cache-control': 'no-store',
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    };
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join('\r\n')}\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/**
 * Requests that arrive while the server drains (on a kept-alive connection) answer 503
 * `SHUTTING_DOWN` with `Retry-After` through the error handler, instead of Fastify's own body.
 * Registered as the first onRequest hook, so nothing else runs for them.
 */
export function drainGate(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', (_req, reply, done) => {
    if (!closing) return done();
    reply.header('connection', 'close');
    done(new AppError('SHUTTING_DOWN', undefined, 'server closing', { 'retry-after': '1' }));
  });
}
