import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import type { SsoLinksTable } from '../../db/types.js';
import { SLUG_PATTERN, safeReturnPath, type CallbackInput } from '../../auth/sso/index.js';
import { AppError } from '../../errors.js';
import { Password, errorResponses } from '../schemas.js';
import { LoginAnswer, signInAnswer } from './sign-in-answer.js';
import { BotCheckProof } from './bot-check.js';
import { actorContext, requestContext, requireSession } from '../pipeline/authenticate.js';
import { clearSsoCookie, setSessionCookies, setSsoCookie, ssoCookieName } from '../pipeline/cookies.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());
const ProviderParam = Type.Object({ provider: Type.String({ minLength: 1, maxLength: 40, pattern: SLUG_PATTERN }) }, { additionalProperties: false });
export const LinkParams = Type.Object(
  { provider: Type.String({ minLength: 1, maxLength: 40, pattern: SLUG_PATTERN }), subject: Type.String({ minLength: 1, maxLength: 255 }) },
  { additionalProperties: false },
);
export const LinkSchema = Type.Object({
  provider: Type.String(),
  subject: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  linkedBy: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
});
export const linkView = (l: SsoLinksTable) => ({
  provider: l.provider,
  subject: l.subject,
  email: l.email,
  linkedBy: l.linked_by,
  createdAt: iso(l.created_at)!,
  lastUsedAt: iso(l.last_used_at),
});

/** The callback address the provider is told: from PUBLIC_URL, never from the request's Host header. */
const callbackOf = (s: Services, slug: string) => `${s.config.mail.publicUrl}/api/auth/sso/${slug}/callback`;

/** Where the UI's sign-in page picks up what the callback could not finish (an error, a second step). */
const signInPage = (fragment: Record<string, string>) => `/sign-in#${new URLSearchParams(fragment).toString()}`;

/**
 * Single sign-on (AUTH-13) under /api/auth/sso: the enabled providers, the start (a redirect to the
 * provider), the callback (a redirect back into the admin UI, at a same-origin path only), and the
 * signed-in user's own links. The rules live in `src/auth/sso/`.
 */
export const ssoRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['auth: single sign-on'];

    app.get(
      '/sso/providers',
      {
        config: { auth: 'public' },
        schema: {
          tags,
          description: 'The enabled identity providers, for the sign-in page: slug, name and type.',
          response: {
            200: Type.Object({ providers: Type.Array(Type.Object({ slug: Type.String(), displayName: Type.String(), type: Type.String() })) }),
            ...errorResponses,
          },
        },
      },
      async () => ({ providers: await s.sso.enabledProviders() }),
    );

    app.get(
      '/sso/:provider/start',
      {
        config: { auth: 'public', rateLimit: 'auth' },
        schema: {
          tags,
          description:
            'Starts a sign-in: redirects to the provider, with state, nonce and PKCE kept server-side and bound to this browser by a cookie. `return`: a same-origin path to land on afterwards.',
          params: ProviderParam,
          querystring: Type.Object({ return: Type.Optional(Type.String({ maxLength: 512 })) }, { additionalProperties: false }),
          response: { 302: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        const slug = req.params.provider;
        let started: { url: string; binding: string; crossSitePost: boolean };
        try {
          started = await s.sso.start(slug, {
            purpose: 'signin',
            userId: null,
            returnTo: safeReturnPath(req.query.return, '/'),
            redirectUri: callbackOf(s, slug),
          });
        } catch (e) {
          // A provider that cannot be reached is told on the sign-in page; an unknown one is a plain 404.
          if (e instanceof AppError && e.code !== 'NOT_FOUND') return reply.redirect(failurePage(e), 302);
          throw e;
        }
        setSsoCookie(reply, s.config, started.binding, started.crossSitePost);
        return reply.redirect(started.url, 302);
      },
    );

    app.get(
      '/sso/:provider/callback',
      {
        config: { auth: 'public', rateLimit: 'auth' },
        schema: {
          tags,
          description:
            'The provider redirects here. A finished sign-in sets the session cookies and redirects to the path the start named; a second factor, or a refusal, redirects to the sign-in page with `mfa`/`enrol` tokens or `error` in the fragment.',
          params: ProviderParam,
          querystring: Type.Record(Type.String(), Type.String({ maxLength: 4096 })),
          response: { 302: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        const callbackUrl = new URL(callbackOf(s, req.params.provider));
        for (const [k, v] of Object.entries(req.query)) callbackUrl.searchParams.set(k, v);
        return land(req as FastifyRequest, reply, req.params.provider, { url: callbackUrl, form: null });
      },
    );

    // SAML's HTTP-POST binding: the IdP's page posts a form here (cross-site); only this plugin parses forms.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 512 * 1024 }, (_req, body, done) => {
      const out: Record<string, string> = Object.create(null);
      for (const [k, v] of new URLSearchParams(String(body))) {
        if (k in out) return done(new AppError('VALIDATION_FAILED', [{ path: `/${k.slice(0, 40)}`, message: 'given twice' }]));
        out[k] = v;
      }
      done(null, out);
    });

    app.post(
      '/sso/:provider/acs',
      {
        config: { auth: 'public', rateLimit: 'auth' },
        schema: {
          tags,
          description:
            "SAML's assertion consumer service (HTTP-POST binding): the IdP's signed answer (`SAMLResponse`) with the flow's `RelayState`. Answers like the callback: a redirect into the admin UI, or to the sign-in page with a second step or `error`.",
          params: ProviderParam,
          body: Type.Object(
            { SAMLResponse: Type.String({ minLength: 1, maxLength: 262144 }), RelayState: Type.Optional(Type.String({ maxLength: 512 })) },
            { additionalProperties: false },
          ),
          response: { 302: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        const form: Record<string, string> = { SAMLResponse: req.body.SAMLResponse };
        if (req.body.RelayState !== undefined) form.RelayState = req.body.RelayState;
        return land(req as FastifyRequest, reply, req.params.provider, {
          url: new URL(`${s.config.mail.publicUrl}/api/auth/sso/${req.params.provider}/acs`),
          form,
        });
      },
    );

    app.post(
      '/sso/:provider/backchannel-logout',
      {
        // The write budget (300 a minute per address by default), not the sign-in one (30): every logout token comes
        // from the provider's server, and one that is throttled leaves a session live.
        config: { auth: 'public', rateLimit: 'write' },
        schema: {
          tags,
          description:
            "An OIDC provider's back-channel logout (OpenID Connect Back-Channel Logout 1.0): the provider posts a signed `logout_token` naming a subject or its session; the Palisade sessions that sign-in opened end (`sso.logout`). 200 when verified (whether or not a session was live); 400 SSO_LOGOUT_INVALID otherwise (signature, issuer, audience, age, event, nonce, a replayed jti).",
          params: ProviderParam,
          body: Type.Object({ logout_token: Type.String({ minLength: 1, maxLength: 16384 }) }, { additionalProperties: false }),
          response: { 200: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.sso.backchannelLogout(req.params.provider, req.body.logout_token, requestContext(req));
        reply.header('cache-control', 'no-store');
        reply.code(200);
      },
    );

    app.post(
      '/sso/:provider/saml/slo',
      {
        config: { auth: 'public', rateLimit: 'auth' },
        schema: {
          tags,
          description:
            "A SAML provider's single logout service (HTTP-POST binding only; D341, D344), for a provider with `sloUrl`. A `SAMLRequest` is the IdP's LogoutRequest: verified (signed by the IdP, its Issuer, Destination, IssueInstant, one NameID, an ID spent once), the Palisade sessions that sign-in opened end (`sso.logout`), and the answer is a redirect to the IdP's `sloUrl` with our LogoutResponse; a refused one is 400 SSO_LOGOUT_INVALID. A `SAMLResponse` (the IdP's answer to our LogoutRequest at sign-out) changes nothing and redirects to /sign-in.",
          params: ProviderParam,
          body: Type.Object(
            {
              SAMLRequest: Type.Optional(Type.String({ minLength: 1, maxLength: 16384 })),
              SAMLResponse: Type.Optional(Type.String({ minLength: 1, maxLength: 16384 })),
              RelayState: Type.Optional(Type.String({ maxLength: 2048 })),
            },
            { additionalProperties: false },
          ),
          response: { 302: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        // The sessions end on the server; this browser's cookies are left alone (D348): the IdP's cross-site post carries
        // no Lax cookie, so this browser may not be the one signed out, and a page replaying a captured request to its
        // visitors must not sign them out.
        const { redirect } = await s.sso.samlLogout(req.params.provider, req.body, requestContext(req));
        reply.header('cache-control', 'no-store');
        return reply.redirect(redirect, 302);
      },
    );

    app.get(
      '/sso/:provider/saml/metadata',
      {
        config: { auth: 'public', rateLimit: 'auth' },
        schema: {
          tags,
          description:
            "A SAML provider's service-provider metadata (entity id, ACS, NameID format, our certificate when set), to register Palisade at the IdP.",
          params: ProviderParam,
          response: { 200: Type.String(), ...errorResponses },
        },
      },
      async (req, reply) => {
        const xml = await s.sso.samlMetadata(req.params.provider);
        reply.type('application/samlmetadata+xml; charset=utf-8');
        return xml;
      },
    );

    /** Where a provider's answer lands (OIDC's callback, SAML's ACS): the flow finished, then a redirect. */
    async function land(req: FastifyRequest, reply: FastifyReply, slug: string, cb: CallbackInput) {
      clearSsoCookie(reply, s.config);
      try {
        const done = await s.sso.finish(slug, cb, req.cookies[ssoCookieName(s.config)], requestContext(req));
        if (done.kind === 'linked') return reply.redirect(done.returnTo, 302);
        const { session, issued } = done.opened;
        setSessionCookies(reply, s.config, issued, s.sessions.xsrfToken(session.id), false, s.now());
        return reply.redirect(done.returnTo, 302);
      } catch (e) {
        // A refusal (recorded where it happened) lands on the sign-in page; anything else is a real fault.
        if (!(e instanceof AppError)) throw e;
        return reply.redirect(failurePage(e), 302);
      }
    }

    app.post(
      '/sso/:provider/login',
      {
        config: { auth: 'public', rateLimit: 'auth' },
        schema: {
          tags,
          description:
            "Signs in at a directory provider (LDAP) with its username and password: the bot check, the lockout and the spread pause as for a local password, then the one funnel (a second factor answers MFA_REQUIRED). A directory that cannot be reached answers 503 SSO_PROVIDER_UNAVAILABLE within the provider's timeouts.",
          params: ProviderParam,
          body: Type.Object(
            {
              // Any text a directory may hold, but no control characters; the directory's rules decide the rest.
              username: Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\x00-\\x1f\\x7f]+$' }),
              password: Password,
              rememberMe: Type.Optional(Type.Boolean()),
              mode: Type.Optional(Type.Union([Type.Literal('bearer'), Type.Literal('cookie')])),
              botCheck: Type.Optional(BotCheckProof),
            },
            { additionalProperties: false },
          ),
          response: { 200: LoginAnswer, ...errorResponses },
        },
      },
      async (req, reply) => {
        const b = req.body;
        const mode = b.mode ?? 'bearer';
        const rememberMe = b.rememberMe ?? false;
        const request = requestContext(req);
        // The bot check first: before the directory is asked (AUTH-15).
        await s.botCheck.assert(b.botCheck, { ...request, action: 'login' });
        const { user, opened } = await s.sso.signInWithPassword(
          req.params.provider,
          { username: b.username, password: b.password },
          { mode, rememberMe, request },
        );
        return signInAnswer(s, reply, user, opened, { mode, rememberMe });
      },
    );

    app.post(
      '/sso/:provider/link',
      {
        // A new way to sign in: a recent sign-in (every factor, D432) as well as the password.
        config: { rateLimit: 'write', recentAuth: true },
        schema: {
          tags,
          description:
            "Starts linking a provider identity to the signed-in account: needs a sign-in within the last 10 minutes (else REAUTH_REQUIRED) and `password` (the current one), or for an SSO-only account a sign-in within the last 10 minutes (else SSO_REAUTH_REQUIRED); answers the provider's address for the browser to go to; the callback links, while this session is still live, and returns to `return` (default /account/security).",
          params: ProviderParam,
          body: Type.Object({ return: Type.Optional(Type.String({ maxLength: 512 })), password: Type.Optional(Password) }, { additionalProperties: false }),
          response: { 200: Type.Object({ url: Type.String() }), ...errorResponses },
        },
      },
      async (req, reply) => {
        const auth = requireSession(req);
        const slug = req.params.provider;
        const { url, binding, crossSitePost } = await s.sso.startLink(
          slug,
          auth.user,
          auth.session,
          req.body.password,
          { returnTo: safeReturnPath(req.body.return, '/account/security'), redirectUri: callbackOf(s, slug) },
          actorContext(req),
        );
        setSsoCookie(reply, s.config, binding, crossSitePost);
        return { url };
      },
    );

    app.get(
      '/sso/links',
      {
        schema: {
          tags,
          description: "The signed-in user's linked sign-ins.",
          response: { 200: Type.Object({ links: Type.Array(LinkSchema) }), ...errorResponses },
        },
      },
      async (req) => ({ links: (await s.sso.linksOf(requireSession(req).user.id)).map(linkView) }),
    );

    app.delete(
      '/sso/links/:provider/:subject',
      {
        // Removing a way to sign in, as linking one: a recent sign-in (D432).
        config: { rateLimit: 'write', recentAuth: true },
        schema: {
          tags,
          description:
            "Unlinks one of the signed-in user's sign-ins (`sso.unlinked`): needs a sign-in within the last 10 minutes (else REAUTH_REQUIRED); an SSO-only account keeps its last one (SSO_LAST_LINK).",
          params: LinkParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        const auth = requireSession(req);
        if (!(await s.sso.unlink(auth.user.id, req.params.provider, req.params.subject, 'user', actorContext(req)))) throw new AppError('NOT_FOUND');
        reply.code(204);
      },
    );
  };

/** The sign-in page's address for what stopped a callback: a second step to take, or a stable error code. */
function failurePage(e: AppError): string {
  {
    const d = (e.details ?? {}) as { challengeToken?: string; enrolmentToken?: string; methods?: string[]; offered?: string[]; expiresAt?: string };
    if (e.code === 'MFA_REQUIRED' && d.challengeToken) {
      return signInPage({ mfa: d.challengeToken, methods: (d.methods ?? []).join(','), expires: d.expiresAt ?? '' });
    }
    if (e.code === 'MFA_ENROLMENT_REQUIRED' && d.enrolmentToken)
      return signInPage({ enrol: d.enrolmentToken, offered: (d.offered ?? []).join(','), expires: d.expiresAt ?? '' });
    return signInPage({ error: e.code });
  }
}
