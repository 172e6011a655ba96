import type { FastifyPluginAsync, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { IncomingMessage } from 'node:http';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { SessionAuth } from '../../auth/session/types.js';
import { OIDC_MOUNT, escapeHtml, type InteractionDetails, type OidcClient } from '../../auth/oidc-provider/index.js';
import { AppError } from '../../errors.js';
import { authenticateRequest, requestContext } from '../pipeline/authenticate.js';
import type { Authenticator } from '../pipeline/authenticators.js';
import { cookieNames, setSessionCookies } from '../pipeline/cookies.js';
import { routerAnswerHeaders } from '../pipeline/headers.js';
import { pathAndQuery } from '../pipeline/edge.js';

/**
 * The consent page's policy: nothing from anywhere but the page itself, no script; no `form-action`, because the
 * consent form's answer redirects on to the client's own address, which a browser would check against it (D327).
 */
const CONSENT_CSP = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const UidParam = Type.Object({ uid: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) }, { additionalProperties: false });

const SCOPE_TEXT: Readonly<Record<string, string>> = Object.freeze({
  openid: 'your Palisade user id',
  profile: 'your username',
  email: 'your email address',
  roles: 'the names of your roles',
});

/** How long what the person allows lasts, on the consent page (D413). */
const lifetime = (client: OidcClient): string =>
  `What ${escapeHtml(client.name)} receives is valid for 10 minutes, with no refresh token. ${
    client.confidential
      ? 'Palisade remembers your answer until you revoke it under My account, Connected applications (at most 180 days).'
      : 'Palisade asks you again each time.'
  }`;

function consentPage(uid: string, client: OidcClient, scopes: string[], token: string, username: string): string {
  const items = scopes.map((sc) => `<li>${escapeHtml(SCOPE_TEXT[sc] ?? sc)}</li>`).join('');
  const action = `${OIDC_MOUNT}/interaction/${encodeURIComponent(uid)}/consent`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Allow ${escapeHtml(client.name)}?</title></head><body><main><h1>Allow ${escapeHtml(client.name)} to sign you in?</h1><p>Signed in to Palisade as <strong>${escapeHtml(username)}</strong>. ${escapeHtml(client.name)} asks for:</p><ul>${items}</ul><p>${lifetime(client)}</p><form method="post" action="${escapeHtml(action)}"><input type="hidden" name="token" value="${escapeHtml(token)}"><button type="submit" name="decision" value="allow">Allow</button> <button type="submit" name="decision" value="deny">Deny</button></form></main></body></html>`;
}

/**
 * The interaction of Palisade's OpenID Provider (AUTH-13) under /oidc/interaction: the sign-in is Palisade's own.
 * A browser with a live Palisade session (cookie; a session exists only after the second factor) completes the
 * login prompt with its account; otherwise it goes to the sign-in page, which brings it back here. The consent
 * page is server-rendered HTML without script, its form bound to the interaction and the session by a token.
 */
export const oidcInteractionRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
      const out: Record<string, string> = Object.create(null);
      for (const [k, v] of new URLSearchParams(String(body))) out[k] = v;
      done(null, { ...out });
    });
    // After the security headers (hooks of the root run first): the consent page's own policy.
    app.addHook('onSend', async (_req, reply, payload) => {
      if (String(reply.getHeader('content-type') ?? '').startsWith('text/html')) reply.header('content-security-policy', CONSENT_CSP);
      return payload;
    });
    const config = { auth: 'public' as const, rateLimit: 'auth' as const };
    const ctxOf = (req: FastifyRequest, session: SessionAuth | null) => ({
      ...requestContext(req),
      actor: session ? { id: session.user.id, name: session.user.username } : { id: null, name: 'anonymous' },
    });

    /**
     * The browser's Palisade session, when it has a live one (the cookie only); a renewal's cookies go on the answer.
     * The consent form's POST proves it comes from the page with the session's XSRF token in a field (a form
     * cannot send the header), checked like the header before anything else.
     */
    const palisadeSession = async (req: FastifyRequest, reply: FastifyReply, formXsrf?: string): Promise<SessionAuth | null> => {
      if (req.headers.authorization !== undefined) return null;
      const cookie = req.cookies[cookieNames(s.config).session];
      if (!cookie) return null;
      const gate =
        formXsrf === undefined
          ? undefined
          : (sid: string) => {
              if (!s.sessions.checkXsrf(sid, formXsrf)) throw new AppError('XSRF_TOKEN_INVALID');
            };
      const byCookie: Authenticator = {
        method: 'session',
        async identify() {
          const pending = await s.sessions.identify(cookie, 'cookie', requestContext(req), true, gate);
          return {
            user: pending.user,
            async complete(cleared) {
              const { session, renewed } = await pending.complete(cleared);
              return { method: 'session', via: 'cookie', user: pending.user, session, ...(renewed ? { renewed } : {}) };
            },
          };
        },
      };
      try {
        const st = await authenticateRequest(req, s, [byCookie]);
        if (st.method !== 'session') return null;
        if (st.renewed) setSessionCookies(reply, s.config, st.renewed, s.sessions.xsrfToken(st.session.id), st.session.remember === 1, s.now());
        return st;
      } catch (e) {
        if (e instanceof AppError && e.status < 500) return null;
        throw e;
      }
    };
    const details = async (req: FastifyRequest, uid: string, reply: FastifyReply): Promise<InteractionDetails> => {
      if (!(await s.oidcProvider.active())) throw new AppError('NOT_FOUND');
      const d = await s.oidcProvider.interactionDetails(req.raw, reply.raw);
      if (d.uid !== uid) throw new AppError('OIDC_INTERACTION_INVALID');
      return d;
    };
    const raw = (req: FastifyRequest): IncomingMessage => req.raw;

    app.get('/interaction/:uid', { config, schema: { hide: true, params: UidParam } }, async (req, reply) => {
      const d = await details(req, req.params.uid, reply);
      const session = await palisadeSession(req, reply);
      const ctx = ctxOf(req, session);
      const client = await s.oidcProvider.clientOf(d);
      if (!client) return reply.redirect(await s.oidcProvider.refuse(raw(req), reply.raw, d, 'access_denied', 'the client is not enabled', ctx), 303);
      const here = `${OIDC_MOUNT}/interaction/${d.uid}`;
      if (!session) return reply.redirect(`/sign-in?next=${encodeURIComponent(here)}`, 303);
      if (d.prompt.name === 'login') {
        const authTime = Number(session.session.created_at);
        const iat = Number((d as { iat?: number }).iat ?? 0) * 1000;
        const maxAge = d.params.max_age === undefined ? null : Number(d.params.max_age);
        // A fresh sign-in asked for (prompt=login, max_age) and the session is older: the client is told (D326).
        if ((d.prompt.reasons.includes('login_prompt') && authTime < iat) || (maxAge !== null && s.now() - authTime > maxAge * 1000)) {
          return reply.redirect(await s.oidcProvider.refuse(raw(req), reply.raw, d, 'login_required', 'a fresh sign-in to Palisade is required', ctx), 303);
        }
        return reply.redirect(await s.oidcProvider.finishLogin(raw(req), reply.raw, session.user, authTime, client.clientId, ctx), 303);
      }
      if (d.prompt.name === 'consent') {
        if (d.session?.accountId !== session.user.id) {
          return reply.redirect(await s.oidcProvider.refuse(raw(req), reply.raw, d, 'login_required', 'the Palisade account changed; start again', ctx), 303);
        }
        // A public client's identity is not proved by a secret: its person is always asked (D412).
        if (!client.consentRequired && client.confidential) return reply.redirect(await s.oidcProvider.grantConsent(raw(req), reply.raw, d, ctx), 303);
        const scopes = String(d.params.scope ?? '')
          .split(' ')
          .filter((x) => x.length > 0);
        reply.type('text/html; charset=utf-8');
        return consentPage(d.uid, client, scopes, s.sessions.xsrfToken(session.session.id), session.user.username);
      }
      return reply.redirect(await s.oidcProvider.refuse(raw(req), reply.raw, d, 'invalid_request', 'this request cannot be completed', ctx), 303);
    });

    app.post(
      '/interaction/:uid/consent',
      {
        config,
        schema: {
          hide: true,
          params: UidParam,
          body: Type.Object(
            { token: Type.String({ minLength: 1, maxLength: 100 }), decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]) },
            { additionalProperties: false },
          ),
        },
      },
      async (req, reply) => {
        const d = await details(req, req.params.uid, reply);
        const session = await palisadeSession(req, reply, req.body.token);
        const ctx = ctxOf(req, session);
        if (!session || d.prompt.name !== 'consent' || d.session?.accountId !== session.user.id) {
          // A forged or stale form (no live session, a wrong form token, another account): refused and recorded (D336).
          const reason = !session
            ? 'the consent form came without a live Palisade session or with a wrong form token'
            : d.prompt.name !== 'consent'
              ? 'the interaction asks for no consent'
              : 'the consent form came from another Palisade account';
          await s.oidcProvider.recordRefusal(ctx, d, reason);
          throw new AppError('OIDC_INTERACTION_INVALID');
        }
        const client = await s.oidcProvider.clientOf(d);
        if (!client) return reply.redirect(await s.oidcProvider.refuse(raw(req), reply.raw, d, 'access_denied', 'the client is not enabled', ctx), 303);
        if (req.body.decision === 'deny') {
          return reply.redirect(await s.oidcProvider.refuse(raw(req), reply.raw, d, 'access_denied', 'the user did not allow the request', ctx), 303);
        }
        return reply.redirect(await s.oidcProvider.grantConsent(raw(req), reply.raw, d, ctx), 303);
      },
    );
  };

/**
 * oidc-provider itself under /oidc (discovery, authorisation, token, userinfo, JWKS, revocation), behind the whole
 * edge pipeline (client address, IP rules, rate limit); the provider authenticates its clients. Fastify reads no
 * body here: the provider gets the raw request. Until a client is enabled, everything here is a 404 (D321). The
 * provider sees PUBLIC_URL's host and scheme, never the request's Host header.
 */
export const oidcProviderMount =
  (s: Services): FastifyPluginAsync =>
  async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
    const pub = new URL(s.config.mail.publicUrl);
    const handler: RouteHandlerMethod = async (req, reply) => {
      if (!(await s.oidcProvider.active())) throw new AppError('NOT_FOUND');
      // The provider routes on the path after the mount: another spelling of it (`/%6Fidc/…`, an absolute-form
      // target) would reach it cut in the wrong place, so only the plain `/oidc/…` is handed on (D337).
      const target = pathAndQuery(req.raw.url ?? '/');
      if (!target.startsWith(`${OIDC_MOUNT}/`)) throw new AppError('NOT_FOUND');
      const provider = await s.oidcProvider.provider();
      reply.hijack();
      for (const [k, v] of Object.entries({ ...routerAnswerHeaders(req), 'x-request-id': req.id, 'cache-control': 'no-store' })) reply.raw.setHeader(k, v);
      const r = req.raw as IncomingMessage & { originalUrl?: string };
      r.originalUrl = target;
      r.url = target.slice(OIDC_MOUNT.length);
      r.headers.host = pub.host;
      r.headers['x-forwarded-host'] = pub.host;
      r.headers['x-forwarded-proto'] = pub.protocol.slice(0, -1);
      r.headers['x-forwarded-for'] = req.clientIp;
      await s.oidcProvider.serve(r, reply.raw, provider, { ...requestContext(req), actor: { id: null, name: 'oidc-client' } });
    };
    app.route({ method: 'GET', url: '/*', config: { auth: 'public', rateLimit: 'read' }, schema: { hide: true }, handler });
    app.route({ method: 'POST', url: '/*', config: { auth: 'public', rateLimit: 'auth' }, schema: { hide: true }, handler });
  };
