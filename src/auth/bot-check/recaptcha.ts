import { AppError } from '../../errors.js';
import { UNREADABLE_SECRET } from '../../config/settings.js';
import { BreakerOpenError, CircuitBreaker } from '../../util/circuit-breaker.js';
import type { BotCheckSettings } from './settings.js';

/** What the siteverify endpoint answered, reduced to the fields we use (the tokens and secret never). */
export interface SiteVerifyAnswer {
  success: boolean;
  score: number | null;
  action: string | null;
  hostname: string | null;
  errorCodes: string[];
}

export type RecaptchaRefusal = 'rejected' | 'no_score' | 'low_score' | 'action_mismatch';

export type RecaptchaVerdict = { answer: SiteVerifyAnswer; refusal: RecaptchaRefusal | null };

/** Error codes that say our request or secret is wrong, not the user's token: a 503, never the user's fault. */
const OUR_FAULT = new Set(['missing-input-secret', 'invalid-input-secret', 'bad-request']);
const MAX_ANSWER = 64 * 1024;

class VerifierDown extends Error {}

/**
 * reCAPTCHA v3 (AUTH-15): posts `secret`, `response` and `remoteip` form-encoded to the configured
 * siteverify URL with a short timeout. A verifier that is down, slow or answers nonsense is a fast
 * 503 BOT_CHECK_UNAVAILABLE, never a pass; after three such failures in a row a circuit breaker
 * answers at once for ten seconds instead of letting each request wait for its timeout.
 */
export class RecaptchaVerifier {
  private breaker: { url: string; b: CircuitBreaker } | null = null;

  private breakerFor(url: string): CircuitBreaker {
    if (this.breaker?.url !== url) this.breaker = { url, b: new CircuitBreaker({ threshold: 3, cooldownMs: 10_000 }) };
    return this.breaker.b;
  }

  async verify(token: string, remoteIp: string | null | undefined, expectedAction: string, s: BotCheckSettings): Promise<RecaptchaVerdict> {
    // A stored secret that can no longer be opened (APP_KEY changed): fail closed until it is written again.
    if (s.recaptchaSecretKey === UNREADABLE_SECRET) {
      throw new AppError('BOT_CHECK_UNAVAILABLE', undefined, 'reCAPTCHA secret cannot be opened: write it again', { 'retry-after': '60' });
    }
    const breaker = this.breakerFor(s.recaptchaVerifyUrl);
    let answer: SiteVerifyAnswer;
    try {
      answer = await breaker.run(
        () => this.post(token, remoteIp, s),
        () => true,
      );
    } catch (e) {
      const open = e instanceof BreakerOpenError;
      const why = open
        ? 'circuit open'
        : e instanceof VerifierDown
          ? e.message
          : `${(e as Error).name}: ${String((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message)}`;
      throw new AppError('BOT_CHECK_UNAVAILABLE', undefined, `reCAPTCHA verifier: ${why}`, { 'retry-after': String(open ? breaker.retryAfterSeconds() : 5) });
    }
    if (!answer.success && answer.errorCodes.some((c) => OUR_FAULT.has(c))) {
      throw new AppError('BOT_CHECK_UNAVAILABLE', undefined, `reCAPTCHA verifier refused our request: ${answer.errorCodes.join(',')}`, { 'retry-after': '60' });
    }
    const refusal: RecaptchaRefusal | null = !answer.success
      ? 'rejected'
      : answer.score === null
        ? 'no_score'
        : answer.score < s.recaptchaThreshold
          ? 'low_score'
          : answer.action !== expectedAction
            ? 'action_mismatch'
            : null;
    return { answer, refusal };
  }

  private async post(token: string, remoteIp: string | null | undefined, s: BotCheckSettings): Promise<SiteVerifyAnswer> {
    const form = new URLSearchParams({ secret: s.recaptchaSecretKey, response: token });
    if (remoteIp) form.set('remoteip', remoteIp);
    const res = await fetch(s.recaptchaVerifyUrl, {
      method: 'POST',
      body: form,
      redirect: 'error',
      signal: AbortSignal.timeout(s.recaptchaTimeout),
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new VerifierDown(`status ${res.status}`);
    }
    if (Number(res.headers.get('content-length') ?? 0) > MAX_ANSWER) {
      await res.body?.cancel();
      throw new VerifierDown('answer too large');
    }
    const text = await res.text();
    if (text.length > MAX_ANSWER) throw new VerifierDown('answer too large');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new VerifierDown('answer is not JSON');
    }
    return parseAnswer(raw);
  }
}

function parseAnswer(raw: unknown): SiteVerifyAnswer {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new VerifierDown('answer is not an object');
  const o = raw as Record<string, unknown>;
  if (typeof o.success !== 'boolean') throw new VerifierDown('answer has no success flag');
  const text = (v: unknown) => (typeof v === 'string' ? v.slice(0, 200) : null);
  const codes = Array.isArray(o['error-codes']) ? o['error-codes'] : [];
  return {
    success: o.success,
    score: typeof o.score === 'number' && o.score >= 0 && o.score <= 1 ? o.score : null,
    action: text(o.action),
    hostname: text(o.hostname),
    errorCodes: codes
      .filter((c): c is string => typeof c === 'string')
      .slice(0, 10)
      .map((c) => c.slice(0, 64)),
  };
}
