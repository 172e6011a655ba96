import type { FastifyRequest } from 'fastify';
import type { RouteServices as Services } from '../../services.js';
import { AppError, HIDDEN, isHidden, type ErrorCode } from '../../errors.js';
import { RefusalSampler } from '../../audit/sampler.js';
import { actorContext } from './request-auth.js';

/**
 * The answers that refuse an authenticated caller's authorisation (V16.3.2): the access plan's and the pipeline's
 * 403s, the filter oracle, privilege escalation. A NOT_FOUND that hides a record or collection (`HIDDEN`) is one too.
 */
export const ACCESS_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'FORBIDDEN',
  'PRIVILEGE_ESCALATION',
  'ROLE_NOT_HELD',
  'CANNOT_MODIFY_SELF',
  'PASSWORD_SET_FORBIDDEN',
  'FIELD_NOT_WRITABLE',
  'FIELD_NOT_READABLE',
  'FIELD_NOT_FILTERABLE',
  'API_KEY_READ_ONLY',
  'SESSION_REQUIRED',
  'REAUTH_REQUIRED',
  'SESSION_CONTEXT_CHANGED',
  'DEVICE_CERTIFICATE_REQUIRED',
]);

const hiddenKind = (internal: string | undefined): string | undefined =>
  (Object.keys(HIDDEN) as Array<keyof typeof HIDDEN>).find((k) => HIDDEN[k] === internal);

const param = (params: unknown, name: string, max: number): string | undefined => {
  const v = (params as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' && v.length > 0 ? v.slice(0, max) : undefined;
};

/**
 * Records each refused authorisation as an `access.refused` security event, from the one place every refusal
 * becomes an answer (the error handler). Sampled like the edge's `ip.rejected`: once a minute per actor, reason
 * and collection (or route), at most 60 a minute, so a flood of refusals writes almost nothing (D371). The event
 * names the actor, the collection, the action (method and route pattern), the record id where the route has one
 * and the reason code: never a value of the request or a record (D373). Never throws: the refusal is answered
 * whether or not its event could be written.
 */
export function accessRefusalRecorder(s: Services): (err: unknown, req: FastifyRequest) => Promise<void> {
  const sampler = new RefusalSampler();
  return async (err, req) => {
    const auth = req.auth;
    if (!auth || !(err instanceof AppError)) return;
    const hidden = isHidden(err);
    if (!hidden && !ACCESS_REFUSALS.has(err.code)) return;
    const route = req.routeOptions.url ?? null;
    const collection = param(req.params, 'collection', 64);
    if (!sampler.take(`${auth.user.id}\u0000${err.code}\u0000${collection ?? route}`, s.now())) return;
    const id = param(req.params, 'id', 128);
    const onUser = route !== null && /^\/api\/admin\/users\/:id(\/|$)/.test(route);
    try {
      await s.securityLog.record(actorContext(req), {
        type: 'access.refused',
        outcome: 'failure',
        subjectId: onUser ? (id ?? null) : null,
        details: {
          reason: err.code,
          ...(hidden ? { hidden: hiddenKind(err.internal) } : {}),
          ...(collection ? { collection } : {}),
          action: `${req.method} ${route ?? '(no route)'}`,
          ...(collection && id ? { recordId: id } : {}),
          sampled: 'once a minute per actor, reason and collection or route; at most 60 a minute',
        },
      });
    } catch (e) {
      req.log.warn({ type: 'access.refused', err: String(e) }, 'an access.refused security event was not written');
    }
  };
}
