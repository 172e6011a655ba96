import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import { errorResponses } from '../schemas.js';
import { settingsRoutes } from './admin-security.js';
import { assertOutbound } from '../../config/outbound.js';

/**
 * The `botCheck` field of sign-in and forgot-password: the ALTCHA payload (proof of work) or the
 * reCAPTCHA v3 token. Bounded: tokens are about 2 KB, payloads under 1 KB.
 */
export const BotCheckProof = Type.String({
  minLength: 1,
  maxLength: 4096,
  description: 'The bot check, when one is required (BOT_CHECK_REQUIRED): the ALTCHA payload for pow, the reCAPTCHA v3 token for recaptcha.',
});

const StatusSchema = Type.Object({
  kind: Type.Union([Type.Literal('off'), Type.Literal('pow'), Type.Literal('recaptcha')]),
  required: Type.Boolean({ description: 'Whether sign-in and forgot-password from this address need the check now.' }),
  siteKey: Type.Union([Type.String(), Type.Null()], { description: 'The reCAPTCHA site key (kind recaptcha).' }),
});

const ChallengeSchema = Type.Object({
  parameters: Type.Object({
    algorithm: Type.String(),
    nonce: Type.String(),
    salt: Type.String(),
    cost: Type.Integer(),
    keyLength: Type.Integer(),
    keyPrefix: Type.String(),
    keySignature: Type.String(),
    expiresAt: Type.Integer({ description: 'Seconds since the epoch.' }),
  }),
  signature: Type.String(),
});

/** Public bot-check routes under /api/auth (AUTH-15); the challenge is budgeted like sign-in (it costs a key derivation). */
export const botCheckRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['auth: bot check'];
    const config = { auth: 'public' as const, rateLimit: 'auth' as const };

    app.get(
      '/bot-check',
      {
        // Cheap to answer: the read budget, so a form asking first does not halve the sign-in budget.
        config: { auth: 'public' as const, rateLimit: 'read' as const },
        schema: {
          tags,
          description: 'Which bot check sign-in and forgot-password need from this address, for the form to show it.',
          response: { 200: StatusSchema, ...errorResponses },
        },
      },
      async (req) => s.botCheck.status(req.clientIp),
    );

    app.get(
      '/bot-check/challenge',
      {
        config,
        schema: {
          tags,
          description:
            'A signed ALTCHA v2 proof-of-work challenge (deterministic mode, PBKDF2/SHA-256). Solve it and send the base64 ALTCHA payload as `botCheck`; each solution is accepted once, before `expiresAt`. NOT_FOUND unless the mode is pow.',
          response: { 200: ChallengeSchema, ...errorResponses },
        },
      },
      async () => s.botCheck.challenge(),
    );
  };

/** The bot-check settings under /api/admin (security.manage); the reCAPTCHA secret key is write-only. */
export const adminBotCheckRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    settingsRoutes(
      plain,
      s,
      '/settings/bot-check',
      s.botCheck.area,
      'Bot checks on sign-in and forgot-password; durations in seconds, recaptchaTimeout in ms. The reCAPTCHA secret key is written here and never returned (recaptchaSecretKeySet).',
      // The verifier is a destination the server connects to: on OUTBOUND_ALLOW, when a list is set (D435).
      // Checked when it is used (recaptcha mode) or changed: another setting of a proof-of-work check is not refused for it.
      async (after, req) => {
        if (after.mode === 'recaptcha' || 'recaptchaVerifyUrl' in (req.body as object))
          assertOutbound(s.config.outbound, after.recaptchaVerifyUrl, '/recaptchaVerifyUrl');
      },
    );
  };
