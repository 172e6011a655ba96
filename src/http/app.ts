import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import { randomUUID } from 'node:crypto';
import type { Services } from '../services.js';
import { AppError, ERRORS, type ErrorCode } from '../errors.js';
import { errorBody } from './errors.js';
import { dbErrorOf } from '../db/errors.js';
import { registerAuthPipeline } from './pipeline/authenticate.js';
import { securityHeaders } from './pipeline/headers.js';
import { registerEdge } from './pipeline/edge.js';
import { accessRefusalRecorder } from './pipeline/refusals.js';
import { registerCors } from './pipeline/cors.js';
import { registerMetrics } from './pipeline/metrics.js';
import { clientErrorHandler, drainGate, frameworkErrorHandler } from './framework-errors.js';
import { RequestLogController, serializeRequest, stackFrames } from './request-log.js';
import { errorSummary } from '../background.js';
import { inputBounds } from './pipeline/input-bounds.js';
import { parseJsonText } from './pipeline/json-body.js';
import { registerTransport } from './pipeline/transport.js';
import { healthRoutes } from './routes/health.js';
import { cspReportRoutes } from './routes/csp-reports.js';
import { authRoutes } from './routes/auth.js';
import { adminUserRoutes } from './routes/admin-users.js';
import { adminSecurityRoutes } from './routes/admin-security.js';
import { adminAuditRoutes } from './routes/admin-audit.js';
import { adminPrivacyRoutes } from './routes/admin-privacy.js';
import { adminAuditRetentionRoutes } from './routes/admin-audit-retention.js';
import { adminEdgeRoutes } from './routes/admin-edge.js';
import { adminDoctorRoutes } from './routes/admin-doctor.js';
import { adminSecretRoutes } from './routes/admin-secrets.js';
import { adminBackupRoutes } from './routes/admin-backups.js';
import { adminConfigRoutes } from './routes/admin-config.js';
import { ssoRoutes } from './routes/sso.js';
import { adminSsoRoutes } from './routes/admin-sso.js';
import { adminOidcClientRoutes } from './routes/admin-oidc-clients.js';
import { oidcInteractionRoutes, oidcProviderMount } from './routes/oidc-provider.js';
import { configTransferOf } from '../config-transfer/wire.js';
import { adminCollectionRoutes } from './routes/admin-collections.js';
import { accessExplainRoutes, adminAccessRoutes } from './routes/admin-access.js';
import { recordRoutes } from './routes/records.js';
import { recordFileRoutes } from './routes/record-files.js';
import { adminPasswordRoutes, passwordRoutes } from './routes/password.js';
import { adminBotCheckRoutes, botCheckRoutes } from './routes/bot-check.js';
import { adminApiKeyRoutes, apiKeyRoutes } from './routes/api-keys.js';
import { adminMfaRoutes, mfaRoutes } from './routes/mfa.js';
import { mfaSmsRoutes } from './routes/mfa-sms.js';
import { adminTrustedAddressRoutes, trustedAddressRoutes } from './routes/mfa-trusted.js';
import { passkeyRoutes, passkeySecondStepRoutes } from './routes/passkeys.js';
import { oidcConsentRoutes } from './routes/oidc-consents.js';
import { findUiDir, uiRoutes } from './routes/ui.js';
import { httpsOptions, watchTls } from './tls.js';
import { compileSerializer, compileValidator } from './schema-compilers.js';

export async function buildApp(s: Services): Promise<FastifyInstance> {
  // The services' logger (src/logger.ts), with what HTTP adds: the request without query values, the status.
  const loggerInstance: FastifyBaseLogger = s.logger.child(
    {},
    { serializers: { req: serializeRequest as never, res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }) } },
  );
  // Built-in TLS (EDGE-5): TLS 1.2 at least, AEAD suites with forward secrecy; the files are watched.
  // A request must arrive whole within REQUEST_TIMEOUT (D281): Fastify's default of none lets a slow body (an upload
  // trickled a byte at a time) hold its connection for ever. Given to the server's constructor: Node 20 does not apply
  // a requestTimeout set afterwards. Node checks the deadline every `connectionsCheckingInterval`.
  const requestMs = s.config.requestTimeout * 1000;
  const timeouts = { requestTimeout: requestMs, headersTimeout: Math.min(60_000, requestMs), connectionsCheckingInterval: Math.min(30_000, requestMs / 4) };
  const https = s.config.tls ? { https: { ...httpsOptions(s.config.tls, s.config.adminClientCa), ...timeouts } } : { http: timeouts };
  const app = Fastify({
    ...https,
    loggerInstance,
    // One line per request, with the route pattern and the query's names only (request-log.ts).
    logController: new RequestLogController(),
    bodyLimit: s.config.bodyLimit,
    requestTimeout: requestMs,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    requestIdHeader: false,
    genReqId: () => randomUUID(),
    // Our own drain gate answers in our envelope (framework-errors.ts).
    return503OnClosing: false,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true, maxParamLength: 200 },
  });

  // Our own JSON parser, so that proto poisoning gets its own code instead of "invalid JSON".
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonText(String(body)));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  app.setValidatorCompiler(compileValidator);
  app.setSerializerCompiler(compileSerializer);

  await app.register(cookie);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Palisade API', version: '0.1.0', description: 'Self-hosted, security-first data platform.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          cookie: { type: 'apiKey', in: 'cookie', name: '__Host-palisade_session' },
        },
      },
    },
  });

  // A refused authorisation is a security event (sampled), recorded here, where every refusal becomes its answer,
  // and written after the answer has gone: its time must not tell a hidden record from a missing one.
  const recordAccessRefusal = accessRefusalRecorder(s);
  app.setErrorHandler(async (err, req, reply) => {
    // A client that closed its connection while its body was read: Node's own "aborted" error (ECONNRESET) is the
    // client's doing, not the database's connection reset that `classify` would take it for; nobody hears this answer.
    // Any other error of a request whose client left (a bodiless request given up by a proxy) is classified as usual.
    const { code, status, details, internal, headers } = clientAborted(err, req.raw)
      ? { code: 'BAD_REQUEST' as const, status: 400, details: undefined, internal: 'the client closed the request', headers: undefined }
      : classify(err);
    s.metrics.refusal(code);
    s.tasks.run('access.refused', async () => {
      await new Promise((r) => setImmediate(r));
      await recordAccessRefusal(err, req);
    });
    // The system log's error line: the error's class, code and message and where it failed; no request data.
    if (status >= 500) req.log.error({ event: 'system.error', code, reason: internal, err: errorSummary(err), frames: stackFrames(err) }, 'request failed');
    else req.log.info({ code, reason: internal }, 'request refused');
    if (err instanceof AppError && err.headers) reply.headers(err.headers);
    if (headers) reply.headers(headers);
    return reply.code(status).header('cache-control', 'no-store').send(errorBody(code, details));
  });
  app.setNotFoundHandler((_req, reply) => {
    reply.code(404).send(errorBody('NOT_FOUND'));
  });

  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    done();
  });
  drainGate(app);
  inputBounds(app);
  // Deny by default, checked at boot: a route under /api/admin that declares neither a permission nor
  // the administrator level is a programming error, and the server does not start (like fastify's own
  // boot-time checks).
  app.addHook('onRoute', (route) => {
    const c = (route.config ?? {}) as { auth?: string; permission?: string };
    if (/^\/api\/admin(\/|$)/.test(route.url) && c.permission === undefined && c.auth !== 'admin') {
      throw new TypeError(`route ${String(route.method)} ${route.url} is under /api/admin but declares neither config.permission nor auth: 'admin'`);
    }
  });
  if (s.config.tls) watchTls(app, s.config.tls, loggerInstance, s.config.adminClientCa);
  securityHeaders(app, { hsts: s.config.hsts, proxies: { trustedProxies: s.config.trustedProxies, header: s.config.clientIpHeader } });
  registerEdge(app, s);
  // Encrypted API bodies (EDGE-6): after the edge, before authentication; opens JWE bodies, seals answers.
  registerTransport(app, s);
  registerAuthPipeline(app, s);
  registerCors(app, s);
  registerMetrics(app, s);

  await app.register(healthRoutes(s));
  await app.register(cspReportRoutes);
  await app.register(authRoutes(s), { prefix: '/api/auth' });
  await app.register(adminUserRoutes(s), { prefix: '/api/admin' });
  await app.register(adminSecurityRoutes(s), { prefix: '/api/admin' });
  await app.register(adminAuditRoutes(s), { prefix: '/api/admin' });
  await app.register(adminDoctorRoutes(s), { prefix: '/api/admin' });
  await app.register(adminSecretRoutes(s), { prefix: '/api/admin' });
  await app.register(adminBackupRoutes(s), { prefix: '/api/admin' });
  await app.register(adminConfigRoutes(s, configTransferOf(s)), { prefix: '/api/admin' });
  await app.register(adminPrivacyRoutes(s), { prefix: '/api/admin' });
  await app.register(adminAuditRetentionRoutes(s), { prefix: '/api/admin' });
  await app.register(adminEdgeRoutes(s), { prefix: '/api/admin' });
  await app.register(adminCollectionRoutes(s), { prefix: '/api/admin' });
  await app.register(adminAccessRoutes(s), { prefix: '/api/admin' });
  await app.register(accessExplainRoutes(s), { prefix: '/api/access' });
  await app.register(recordRoutes(s), { prefix: '/api/collections' });
  await app.register(recordFileRoutes(s), { prefix: '/api' });
  await app.register(passwordRoutes(s), { prefix: '/api/auth/password' });
  await app.register(adminPasswordRoutes(s), { prefix: '/api/admin' });
  await app.register(botCheckRoutes(s), { prefix: '/api/auth' });
  await app.register(adminBotCheckRoutes(s), { prefix: '/api/admin' });
  await app.register(apiKeyRoutes(s), { prefix: '/api/auth/api-keys' });
  await app.register(adminApiKeyRoutes(s), { prefix: '/api/admin' });
  await app.register(mfaRoutes(s), { prefix: '/api/auth/mfa' });
  await app.register(ssoRoutes(s), { prefix: '/api/auth' });
  await app.register(adminSsoRoutes(s), { prefix: '/api/admin' });
  await app.register(adminOidcClientRoutes(s), { prefix: '/api/admin' });
  // Palisade as an OpenID Provider: the interaction (Palisade's own sign-in and consent), then the provider itself.
  await app.register(oidcInteractionRoutes(s), { prefix: '/oidc' });
  await app.register(oidcProviderMount(s), { prefix: '/oidc' });
  await app.register(mfaSmsRoutes(s), { prefix: '/api/auth/mfa' });
  await app.register(adminMfaRoutes(s), { prefix: '/api/admin' });
  await app.register(trustedAddressRoutes(s), { prefix: '/api/auth/mfa' });
  await app.register(adminTrustedAddressRoutes(s), { prefix: '/api/admin' });
  await app.register(passkeyRoutes(s), { prefix: '/api/auth/passkeys' });
  await app.register(oidcConsentRoutes(s), { prefix: '/api/auth/oidc-consents' });
  await app.register(passkeySecondStepRoutes(s), { prefix: '/api/auth/mfa/passkey' });
  app.get('/api/openapi.json', { schema: { hide: true }, config: { auth: 'public' } }, async () => app.swagger());
  // The admin UI, when it is built (npm run build): without it the API still serves, and says so once.
  const uiDir = findUiDir();
  if (uiDir) await app.register(uiRoutes(uiDir));
  else s.logger.warn('the admin UI is not built (dist/ui): run npm run build; the API serves without it');
  return app;
}

/** The error Node gives a request body's reader when the client closed the connection before the body ended. */
function clientAborted(err: unknown, raw: { readableAborted: boolean; complete: boolean }): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return raw.readableAborted && !raw.complete && e?.code === 'ECONNRESET' && e?.message === 'aborted';
}

interface Classified {
  code: ErrorCode;
  status: number;
  details?: unknown;
  internal?: string;
  headers?: Record<string, string>;
}

/** Maps any thrown error to a registry code. Unknown errors become a bare INTERNAL_ERROR. */
function classify(err: unknown): Classified {
  if (err instanceof AppError) return { code: err.code, status: err.status, details: err.details, internal: err.internal };
  const e = err as { code?: string; statusCode?: number; validation?: Array<{ instancePath?: string; message?: string; params?: unknown }>; message?: string };
  const as = (code: ErrorCode, details?: unknown, internal?: string): Classified => ({ code, status: ERRORS[code].status, details, internal });
  if (e.validation) {
    return as(
      'VALIDATION_FAILED',
      e.validation.slice(0, 10).map((v) => ({ path: v.instancePath || '/', message: v.message, params: v.params })),
    );
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return as('PAYLOAD_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return as('UNSUPPORTED_MEDIA_TYPE');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return as('BAD_REQUEST');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return as('INVALID_JSON');
    default:
      break;
  }
  if (typeof e.message === 'string' && /forbidden (prototype|constructor) property/.test(e.message)) return as('UNSAFE_INPUT');
  if (e.statusCode === 400 && err instanceof SyntaxError) return as('INVALID_JSON');
  // A database outage (503, retryable) or a refusal the request caused (a value taken, a concurrent
  // schema change, a value the column cannot hold): src/db/errors.ts, for both dialects.
  const db = dbErrorOf(err);
  if (db) return { code: db.code, status: db.status, internal: db.internal, headers: db.headers ? { ...db.headers } : undefined };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return as('BAD_REQUEST', undefined, e.code);
  return as('INTERNAL_ERROR');
}
