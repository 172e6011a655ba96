import { pino, type DestinationStream, type Logger } from 'pino';

/** Paths redacted from every log line: credentials in headers and any secret-named body field. */
export const LOG_REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-xsrf-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.token',
  '*.xsrfToken',
  '*.secret',
  '*.passwordHash',
  '*.changeToken',
  '*.challengeToken',
  '*.enrolmentToken',
  '*.recoveryCodes',
  '*.phone',
  '*.recaptchaSecretKey',
  '*.botCheck',
];

/**
 * The one JSON logger of a Palisade process, made before the services so that every part (the
 * HTTP layer, background work) writes through it. `stream`: stdout by default; tests capture it.
 */
export function createLogger(level: string, stream?: DestinationStream): Logger {
  const options = { level, redact: { paths: LOG_REDACT, censor: '[redacted]' }, serializers: { err: pino.stdSerializers.err } };
  return stream ? pino(options, stream) : pino(options);
}
