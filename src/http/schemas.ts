import Type from 'typebox';
import { EMAIL_MAX_LENGTH, EMAIL_PATTERN } from '../mail/address.js';

/** Shared route schemas. Objects refuse unknown keys; strings are bounded. */
export const ErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  }),
});

export const errorResponses = { '4xx': ErrorSchema, '5xx': ErrorSchema };

export const UserSchema = Type.Object({
  id: Type.String(),
  username: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  isAdmin: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  hasPassword: Type.Boolean(),
  passwordChangedAt: Type.Union([Type.String(), Type.Null()]),
  mustChangePassword: Type.Boolean(),
  mustChangeBy: Type.Union([Type.String(), Type.Null()], {
    description: 'When a one-time password (generated, or set by an administrator with mustChangePassword) stops signing in; null: no such deadline.',
  }),
  ssoOnly: Type.Boolean(),
});

export const SessionSchema = Type.Object({
  id: Type.String(),
  current: Type.Boolean(),
  mode: Type.String(),
  rememberMe: Type.Boolean(),
  device: Type.String(),
  ip: Type.String(),
  createdAt: Type.String(),
  lastSeenAt: Type.String(),
  expiresAt: Type.String(),
});

/** A name or a short reason a person types (an API key's or passkey's name, a client's name, a lock reason): one line, no
 * control character (C0, DEL, C1), so that it cannot rewrite what an operator's terminal or a log viewer shows. */
const labelPattern = '^[^\\u0000-\\u001f\\u007f-\\u009f]+$';
export const Label = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: labelPattern });

export const Username = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' });
/** One plain addr-spec: the same rule as the services, the CLI and the mailer (src/mail/address.ts). */
export const Email = Type.String({ minLength: 3, maxLength: EMAIL_MAX_LENGTH, pattern: EMAIL_PATTERN });
/** Bounded before hashing: a megabyte password must not reach argon2. */
export const Password = Type.String({ minLength: 1, maxLength: 1024 });
export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) }, { additionalProperties: false });
