import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type, { type TSchema } from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import { IdParam, Password, errorResponses } from '../schemas.js';
import { actorContext, requestContext, requireSession } from '../pipeline/authenticate.js';
import { settingsRoutes } from './admin-security.js';
import { LoginAnswer, signInAnswer } from './sign-in-answer.js';
import { IDENTITY_CHECKS } from '../../auth/mfa/index.js';

export const iso = (ms: number) => new Date(ms).toISOString();

const StepToken = (description: string) => Type.String({ minLength: 1, maxLength: 100, description });
export const ChallengeToken = StepToken('The challengeToken of the MFA_REQUIRED answer of POST /api/auth/login.');
export const EnrolmentToken = StepToken('The enrolmentToken of the MFA_ENROLMENT_REQUIRED answer of POST /api/auth/login.');
export const Code = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9 -]+$', description: 'A 6-digit code, or a recovery code.' });
const Method = Type.Union([Type.Literal('totp'), Type.Literal('email'), Type.Literal('sms'), Type.Literal('recovery')]);
export const body = <P extends Record<string, TSchema>>(props: P) => Type.Object(props, { additionalProperties: false });

const IdentityCheckSchema = Type.Object(
  {
    method: Type.Union(
      IDENTITY_CHECKS.map((m) => Type.Literal(m)),
      {
        description:
          'How the person was checked: in person, on a video call, by calling back a number on file, confirmed by their manager, or an identity document seen.',
      },
    ),
    reference: Type.String({
      minLength: 3,
      maxLength: 200,
      pattern: '^[^\\p{Cc}\\p{Cf}]+$',
      description: 'Where the evidence is kept: a ticket or case number, who confirmed.',
    }),
  },
  { additionalProperties: false, description: 'The evidence the reset rests on, kept with the mfa.reset event (ASVS V6.4.4).' },
);

const TotpEnrolmentSchema = Type.Object({
  otpauthUri: Type.String({ description: 'The otpauth://totp/ URI for an authenticator app.' }),
  qrCode: Type.String({ description: 'The URI as a QR code, a data:image/png;base64 URL.' }),
  secret: Type.String({ description: 'The secret in base32, to type in by hand. Shown now only.' }),
});
export const CodeSent = Type.Object({ sentTo: Type.String({ description: 'The address or phone number, masked.' }), expiresAt: Type.String() });
export const RecoveryCodes = Type.Union([Type.Array(Type.String()), Type.Null()], {
  description: 'The ten recovery codes, shown this once: made with the first factor; null when the user already had a set.',
});
export const EnrolledAnswer = Type.Object({ ...LoginAnswer.properties, recoveryCodes: RecoveryCodes });
const StatusSchema = Type.Object({
  required: Type.Boolean({ description: 'The policy requires this user to use a second factor.' }),
  totp: Type.Union([Type.Literal('none'), Type.Literal('pending'), Type.Literal('confirmed')]),
  email: Type.Object({ enabled: Type.Boolean(), address: Type.Union([Type.String(), Type.Null()]) }),
  sms: Type.Object({
    state: Type.Union([Type.Literal('none'), Type.Literal('pending'), Type.Literal('confirmed')]),
    phone: Type.Union([Type.String(), Type.Null()], { description: 'The number, masked (+45******78).' }),
  }),
  recoveryCodesRemaining: Type.Integer(),
  passkeys: Type.Integer({ description: 'Registered passkeys (/api/auth/passkeys); each is a second factor too.' }),
  methods: Type.Array(Type.Union([Type.Literal('passkey'), Method]), {
    description: 'What a second step may use; passkey through POST /api/auth/mfa/passkey/options and /verify.',
  }),
  available: Type.Object(
    { sms: Type.Boolean(), passkeys: Type.Boolean(), email: Type.Boolean() },
    {
      description:
        'What this server offers to set up: sms needs a gateway (SMS_KANNEL_URL), passkeys an RP ID (WEBAUTHN_RP_ID or PUBLIC_URL), email the mfa setting emailCodes (off by default).',
    },
  ),
});

/**
 * Second factor (AUTH-12) under /api/auth/mfa. The second step of a sign-in and the enrolment of a user
 * who must enrol are public routes: they carry their single-use token in the body, and the token is no
 * session (the pipeline does not accept it anywhere). The rest is the signed-in user's own factors:
 * every change needs the current password.
 */
export const mfaRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['auth: second factor'];
    const step = { auth: 'public' as const, rateLimit: 'auth' as const };
    const own = { rateLimit: 'auth' as const, recentAuth: true };

    app.post(
      '/verify',
      {
        config: step,
        schema: {
          tags,
          description:
            'The second step of a sign-in: proves a factor for the challenge token and answers like POST /api/auth/login (the mode and rememberMe of the first step). The token works once; a wrong code spends a lockout attempt.',
          body: body({ challengeToken: ChallengeToken, method: Method, code: Code }),
          response: { 200: LoginAnswer, ...errorResponses },
        },
      },
      async (req, reply) => {
        const request = requestContext(req);
        const proven = await s.mfa.verify(req.body, request);
        const opened = await s.sessions.create(proven.user, proven.method, { ...proven.session, request });
        return signInAnswer(s, reply, proven.user, opened, proven.session);
      },
    );

    app.post(
      '/email-code',
      {
        config: step,
        schema: {
          tags,
          description: 'Mails a one-time code for the challenge to the user (email factor on); a new code replaces the previous one.',
          body: body({ challengeToken: ChallengeToken }),
          response: { 202: CodeSent, ...errorResponses },
        },
      },
      async (req, reply) => {
        const sent = await s.mfa.sendSignInCode(req.body.challengeToken, requestContext(req));
        reply.code(202);
        return { sentTo: sent.sentTo, expiresAt: iso(sent.expiresAt) };
      },
    );

    app.post(
      '/enrolment/totp',
      {
        config: step,
        schema: {
          tags,
          description: 'With an enrolment-only token: starts a TOTP enrolment (a new secret, not a factor until confirmed).',
          body: body({ enrolmentToken: EnrolmentToken }),
          response: { 200: TotpEnrolmentSchema, ...errorResponses },
        },
      },
      async (req) => s.mfa.startTotpWithToken(req.body.enrolmentToken, requestContext(req)),
    );

    app.post(
      '/enrolment/email-code',
      {
        config: step,
        schema: {
          tags,
          description: "With an enrolment-only token: mails a code to the user's address that turns the email factor on.",
          body: body({ enrolmentToken: EnrolmentToken }),
          response: { 202: CodeSent, ...errorResponses },
        },
      },
      async (req, reply) => {
        const sent = await s.mfa.sendEnableCodeWithToken(req.body.enrolmentToken, requestContext(req));
        reply.code(202);
        return { sentTo: sent.sentTo, expiresAt: iso(sent.expiresAt) };
      },
    );

    for (const factor of ['totp', 'email'] as const) {
      app.post(
        `/enrolment/${factor}/confirm`,
        {
          config: step,
          schema: {
            tags,
            description: `With an enrolment-only token: confirms the ${factor === 'totp' ? 'TOTP enrolment with a first code' : 'email factor with the mailed code'}, spends the token and signs in (the answer of POST /api/auth/login, plus the recovery codes, shown once).`,
            body: body({ enrolmentToken: EnrolmentToken, code: Code }),
            response: { 200: EnrolledAnswer, ...errorResponses },
          },
        },
        async (req, reply) => {
          const request = requestContext(req);
          const { enrolmentToken, code } = req.body;
          const done =
            factor === 'totp'
              ? await s.mfa.confirmTotpWithToken(enrolmentToken, code, request)
              : await s.mfa.confirmEmailWithToken(enrolmentToken, code, request);
          const opened = await s.sessions.create(done.user, done.method, { ...done.session, request });
          return { ...(await signInAnswer(s, reply, done.user, opened, done.session)), recoveryCodes: done.recoveryCodes };
        },
      );
    }

    app.get('', { schema: { tags, description: "The signed-in user's second factors.", response: { 200: StatusSchema, ...errorResponses } } }, async (req) =>
      s.mfa.status(requireSession(req).user),
    );

    app.post(
      '/totp',
      {
        config: own,
        schema: {
          tags,
          description: 'Starts a TOTP enrolment (needs the current password); confirm it with a first code. An existing confirmed one must be removed first.',
          body: body({ password: Password }),
          response: { 200: TotpEnrolmentSchema, ...errorResponses },
        },
      },
      async (req) => s.mfa.startTotp(requireSession(req).user, req.body.password, actorContext(req)),
    );

    app.post(
      '/email/code',
      {
        config: own,
        schema: {
          tags,
          description: "Mails a code to the user's address (needs the current password); entering it at /email/confirm turns the email factor on.",
          body: body({ password: Password }),
          response: { 202: CodeSent, ...errorResponses },
        },
      },
      async (req, reply) => {
        const sent = await s.mfa.sendEnableCode(requireSession(req).user, req.body.password, actorContext(req));
        reply.code(202);
        return { sentTo: sent.sentTo, expiresAt: iso(sent.expiresAt) };
      },
    );

    for (const factor of ['totp', 'email'] as const) {
      app.post(
        `/${factor}/confirm`,
        {
          config: own,
          schema: {
            tags,
            description: `Confirms the ${factor === 'totp' ? 'TOTP enrolment with a first code' : 'email factor with the mailed code'}; the first factor brings ten recovery codes, shown once.`,
            body: body({ code: Code }),
            response: { 200: Type.Object({ recoveryCodes: RecoveryCodes }), ...errorResponses },
          },
        },
        async (req) => {
          const user = requireSession(req).user;
          const code = req.body.code;
          return factor === 'totp' ? s.mfa.confirmTotp(user, code, actorContext(req)) : s.mfa.confirmEmail(user, code, actorContext(req));
        },
      );

      app.delete(
        `/${factor}`,
        {
          config: own,
          schema: {
            tags,
            description: `Removes the ${factor === 'totp' ? 'TOTP factor (or a pending enrolment)' : 'email factor'}; needs the current password. With the last factor the recovery codes go too; a user who must use a second factor cannot remove the last one.`,
            body: body({ password: Password }),
            response: { 204: Type.Null(), ...errorResponses },
          },
        },
        async (req, reply) => {
          await s.mfa.remove(requireSession(req).user, factor, req.body.password, actorContext(req));
          reply.code(204);
        },
      );
    }

    app.post(
      '/recovery-codes',
      {
        config: own,
        schema: {
          tags,
          description: 'Ten new recovery codes, shown once; the old ones stop working. Needs the current password.',
          body: body({ password: Password }),
          response: { 200: Type.Object({ recoveryCodes: Type.Array(Type.String()) }), ...errorResponses },
        },
      },
      async (req) => ({ recoveryCodes: await s.mfa.regenerateRecoveryCodes(requireSession(req).user, req.body.password, actorContext(req)) }),
    );
  };

/** An administrator's reset of a user's factors (users.manage) and the policy (security.manage). */
export const adminMfaRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    settingsRoutes(
      plain,
      s,
      '/settings/mfa',
      s.mfa.area,
      'Second factor: who must use one (required, requiredRoles) and how long the challenge and emailed codes live (seconds).',
      undefined,
      true,
    );

    app.post(
      '/users/:id/mfa/reset',
      {
        config: { permission: 'users.manage' as const, auth: 'session' as const },
        schema: {
          tags: ['admin: users'],
          description:
            "Removes every second factor and recovery code of the user, ends the user's sessions and revokes their API keys (audited as mfa.reset, with the identity check). Not for your own account. The body says how the administrator checked that the person asking is the account's owner (D436).",
          params: IdParam,
          body: body({ identityCheck: IdentityCheckSchema }),
          response: { 200: Type.Object({ sessionsEnded: Type.Integer() }), ...errorResponses },
        },
      },
      async (req) => s.mfa.reset(req.params.id, req.body.identityCheck, actorContext(req)),
    );
  };
