import type { FastifyPluginAsync } from 'fastify';
import { AppError } from '../../errors.js';
import { CSP_REPORT_PATH } from '../pipeline/headers.js';
import { parseJsonText } from '../pipeline/json-body.js';
import { RefusalSampler } from '../../audit/sampler.js';

/** A report is a few hundred bytes; a browser batches a few (Reporting API). */
const BODY_LIMIT = 16 * 1024;
const MAX_PER_BODY = 5;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A URL as the log keeps it: origin and path only (a query or fragment may carry a token); a keyword the browser
 * reports instead of a URL (`inline`, `eval`, `trusted-types-sink`) as a short word.
 */
function urlPart(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length === 0) return undefined;
  try {
    const u = new URL(v.slice(0, 4096));
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return u.protocol;
    return `${u.origin}${u.pathname}`.slice(0, 300);
  } catch {
    return word(v);
  }
}

const word = (v: unknown): string | undefined => (typeof v === 'string' ? v.slice(0, 80).replace(/[^\w' -]/g, '') : undefined);
const line = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);

/** The violations of a body: the Reporting API's list (`application/reports+json`) or report-uri's one object. */
function violations(body: unknown): Obj[] {
  if (Array.isArray(body)) return body.filter((r) => isObj(r) && r.type === 'csp-violation' && isObj(r.body)).map((r) => (r as Obj).body as Obj);
  if (isObj(body) && isObj(body['csp-report'])) return [body['csp-report']];
  return [];
}

/**
 * POST /csp-reports: public (a browser sends no credential with a report), outside /api (a plain body even when
 * TRANSPORT_ENCRYPTION is required), on the per-address read budget. Each violation becomes one `csp.violation`
 * warning in the log, with only the directive, the blocked and the page's address (no query) and the script line:
 * a page that breaks its policy is found, and an attacker's probe is seen (ASVS V3.4.7).
 */
export const cspReportRoutes: FastifyPluginAsync = async (app) => {
  // Anyone may post reports: a flood is logged as a sample (D371's sampler): one line a minute per address, violation and
  // page, 60 a minute in all, so that the log (and the collector it feeds) cannot be filled from outside.
  const sampler = new RefusalSampler();
  app.addContentTypeParser(['application/csp-report', 'application/reports+json'], { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => {
    try {
      done(null, parseJsonText(String(body)));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  app.post(
    CSP_REPORT_PATH,
    { bodyLimit: BODY_LIMIT, schema: { hide: true }, config: { auth: 'public', rateLimit: 'read', plainTransport: true } },
    async (req, reply) => {
      const found = violations(req.body);
      if (found.length === 0 || found.length > MAX_PER_BODY) throw new AppError('VALIDATION_FAILED', undefined, 'not a CSP violation report');
      for (const v of found) {
        const directive = word(v.effectiveDirective ?? v['effective-directive'] ?? v['violated-directive']);
        const blocked = urlPart(v.blockedURL ?? v['blocked-uri']);
        const document = urlPart(v.documentURL ?? v['document-uri']);
        if (!sampler.take(`${req.clientIp}\u0000${directive}\u0000${blocked}\u0000${document}`, Date.now())) continue;
        req.log.warn(
          {
            event: 'csp.violation',
            directive,
            blocked,
            document,
            source: urlPart(v.sourceFile ?? v['source-file']),
            line: line(v.lineNumber ?? v['line-number']),
            disposition: word(v.disposition),
          },
          'a page of the admin UI broke its content security policy',
        );
      }
      return reply.code(204).send();
    },
  );
};
