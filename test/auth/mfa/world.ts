// Helpers for the second-factor tests: codes computed here with otpauth on the app's own clock, the two
// steps of a sign-in, and TOTP enrolment through the API.
import assert from 'node:assert/strict';
import { Secret, TOTP } from 'otpauth';
import { bearer, createUser, login, type Res, type TestApp } from '../../helpers/app.js';

export const PW = 'Quarterly-report-4411';

/** The TOTP code of a base32 secret at the app's clock, `steps` time steps away (30 s each). */
export function totp(t: TestApp, secret: string, steps = 0): string {
  return TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: t.clock.t + steps * 30_000 });
}

export const code = (r: Res): string | undefined => r.json().error?.code;

export function post(t: TestApp, url: string, payload: object, headers: Record<string, string> = {}) {
  return t.app.inject({ method: 'POST', url, payload, headers });
}

/** The first step: a password sign-in; answers the raw response. */
export function signIn(t: TestApp, username: string, password = PW, extra: object = {}) {
  return post(t, '/api/auth/login', { username, password, ...extra });
}

/** The first step of a user with a factor: the challenge of the MFA_REQUIRED answer. */
export async function challenge(t: TestApp, username: string, extra: object = {}): Promise<{ challengeToken: string; methods: string[]; expiresAt: string }> {
  const r = await signIn(t, username, PW, extra);
  assert.equal(r.statusCode, 401, r.body);
  assert.equal(code(r), 'MFA_REQUIRED');
  return r.json().error.details;
}

export function verify(t: TestApp, challengeToken: string, method: string, c: string) {
  return post(t, '/api/auth/mfa/verify', { challengeToken, method, code: c });
}

/** A user with a confirmed TOTP factor; the clock is moved on a step, so the confirming code is spent. */
export async function userWithTotp(
  t: TestApp,
  admin: string,
  username: string,
  extra: object = {},
): Promise<{ id: string; secret: string; recoveryCodes: string[]; token: string }> {
  const id = await createUser(t, admin, username, PW, extra);
  const token = (await login(t, username, PW)).token;
  const { secret, recoveryCodes } = await enrolTotp(t, token);
  t.clock.advance(30);
  return { id, secret, recoveryCodes, token };
}

export async function enrolTotp(t: TestApp, token: string): Promise<{ secret: string; recoveryCodes: string[]; otpauthUri: string; qrCode: string }> {
  const started = await post(t, '/api/auth/mfa/totp', { password: PW }, bearer(token));
  assert.equal(started.statusCode, 200, started.body);
  const e = started.json();
  const confirmed = await post(t, '/api/auth/mfa/totp/confirm', { code: totp(t, e.secret) }, bearer(token));
  assert.equal(confirmed.statusCode, 200, confirmed.body);
  return { ...e, recoveryCodes: confirmed.json().recoveryCodes };
}

/** Live sessions of a user, read from the database (no session may exist between the two steps). */
export async function liveSessions(t: TestApp, userId: string): Promise<number> {
  const rows = await t.s.db.selectFrom('sessions').select('id').where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  return rows.length;
}
