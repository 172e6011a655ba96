import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import { Password, errorResponses } from '../schemas.js';
import { actorContext, requestContext, requireSession } from '../pipeline/authenticate.js';
import { signInAnswer } from './sign-in-answer.js';
import { ChallengeToken, Code, CodeSent, EnrolledAnswer, EnrolmentToken, RecoveryCodes, body, iso } from './mfa.js';

const Phone = Type.String({
  minLength: 1,
  maxLength: 40,
  pattern: '^[0-9+ ().-]+$',
  description: 'The phone number in international form (+4512345678); spaces, dots, dashes, parentheses and a leading 00 are accepted.',
});
const sent = (c: { sentTo: string; expiresAt: number }) => ({ sentTo: c.sentTo, expiresAt: iso(c.expiresAt) });

/**
 * SMS one-time codes (AUTH-12) under /api/auth/mfa, beside mfaRoutes: the second step's code, the
 * enrolment of a user who must enrol (token in the body), and the signed-in user's own number (every
 * change needs the current password). A code is texted before the answer: a gateway that fails answers
 * 503 SMS_UNAVAILABLE; without a gateway, SMS_NOT_CONFIGURED.
 */
export const mfaSmsRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['auth: second factor'];
    const step = { auth: 'public' as const, rateLimit: 'auth' as const };
    const own = { rateLimit: 'auth' as const, recentAuth: true };
    const accepted = { 202: CodeSent, ...errorResponses };

    app.post(
      '/sms-code',
      {
        config: step,
        schema: {
          tags,
          description:
            "Texts a one-time code for the challenge to the user's confirmed phone number (SMS factor); a new code replaces the previous one. Verify it at /verify with method sms.",
          body: body({ challengeToken: ChallengeToken }),
          response: accepted,
        },
      },
      async (req, reply) => {
        const c = await s.mfa.sendSignInSms(req.body.challengeToken, requestContext(req));
        reply.code(202);
        return sent(c);
      },
    );

    app.post(
      '/enrolment/sms',
      {
        config: step,
        schema: {
          tags,
          description: 'With an enrolment-only token: texts a code to the phone number; entering it at /enrolment/sms/confirm makes it a factor.',
          body: body({ enrolmentToken: EnrolmentToken, phone: Phone }),
          response: accepted,
        },
      },
      async (req, reply) => {
        const c = await s.mfa.startSmsWithToken(req.body.enrolmentToken, req.body.phone, requestContext(req));
        reply.code(202);
        return sent(c);
      },
    );

    app.post(
      '/enrolment/sms/confirm',
      {
        config: step,
        schema: {
          tags,
          description:
            'With an enrolment-only token: confirms the phone number with the texted code, spends the token and signs in (the answer of POST /api/auth/login, plus the recovery codes, shown once).',
          body: body({ enrolmentToken: EnrolmentToken, code: Code }),
          response: { 200: EnrolledAnswer, ...errorResponses },
        },
      },
      async (req, reply) => {
        const request = requestContext(req);
        const done = await s.mfa.confirmSmsWithToken(req.body.enrolmentToken, req.body.code, request);
        const opened = await s.sessions.create(done.user, done.method, { ...done.session, request });
        return { ...(await signInAnswer(s, reply, done.user, opened, done.session)), recoveryCodes: done.recoveryCodes };
      },
    );

    app.post(
      '/sms',
      {
        config: own,
        schema: {
          tags,
          description:
            'Texts a code to a phone number (needs the current password); entering it at /sms/confirm makes the number a factor. A new number replaces one awaiting its code; a confirmed one must be removed first.',
          body: body({ password: Password, phone: Phone }),
          response: accepted,
        },
      },
      async (req, reply) => {
        const c = await s.mfa.startSms(requireSession(req).user, req.body.password, req.body.phone, actorContext(req));
        reply.code(202);
        return sent(c);
      },
    );

    app.post(
      '/sms/confirm',
      {
        config: own,
        schema: {
          tags,
          description: 'Confirms the phone number with the texted code; the first factor brings ten recovery codes, shown once.',
          body: body({ code: Code }),
          response: { 200: Type.Object({ recoveryCodes: RecoveryCodes }), ...errorResponses },
        },
      },
      async (req) => s.mfa.confirmSms(requireSession(req).user, req.body.code, actorContext(req)),
    );

    app.delete(
      '/sms',
      {
        config: own,
        schema: {
          tags,
          description:
            'Removes the phone number (or one awaiting its code); needs the current password. With the last factor the recovery codes go too; a user who must use a second factor cannot remove the last one.',
          body: body({ password: Password }),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.mfa.remove(requireSession(req).user, 'sms', req.body.password, actorContext(req));
        reply.code(204);
      },
    );
  };
