import { Agent, request } from 'node:https';
import { AppError } from '../errors.js';
import { BreakerOpenError, CircuitBreaker } from '../util/circuit-breaker.js';
import type { KannelConfig } from './env.js';
import { isE164 } from './phone.js';

/** A secret as the secret store resolves it (src/secrets), given in so that this module imports no store. */
export type StoredSecret = { state: 'set'; value: string } | { state: 'unset' } | { state: 'unreadable' };

/** One SMS without concatenation (160 GSM characters); longer texts are a caller's mistake. */
export const MAX_SMS_TEXT = 160;

/** Why the gateway did not take a message; the detail names no number, text or credential. */
class GatewayFailed extends Error {
  constructor(
    readonly detail: string,
    /** Counts towards the circuit breaker (the gateway is down or refuses us), or says nothing about it (null). */
    readonly outage: boolean | null,
  ) {
    super(detail);
  }
}

/**
 * The Kannel sendsms client (AUTH-12, SMS codes): one GET to the smsbox's sendsms interface with
 * `username`, `password`, `from`, `to`, `text` and `charset`, every value URL-encoded, a short timeout
 * and no redirects. Kannel answers 202 once bearerbox has the message (accepted, or queued until its
 * SMSC is back). Anything else, a refused connection, or an answer slower than the timeout is a fast
 * 503 SMS_UNAVAILABLE; after three outages in a row a circuit breaker answers at once for ten seconds.
 * Nothing here logs: the text carries a code, the URL the gateway password, and errors name neither.
 * It is an `SmsChannel` (index.ts; createSmsChannel checks the shape).
 */
export class KannelChannel {
  private readonly breaker = new CircuitBreaker({ threshold: 3, cooldownMs: 10_000 });
  /** With SMS_KANNEL_TLS_CERT (D448): the client certificate offered to the gateway's TLS front, its CA pinned. */
  private readonly agent: Agent | null;

  constructor(
    private readonly gateway: KannelConfig,
    private readonly from: string | null,
    private readonly timeoutMs: number,
    /** The gateway password in the secret store, looked up at each send (it may change at run time). */
    private readonly stored?: () => Promise<StoredSecret>,
  ) {
    const tls = gateway.tls;
    this.agent =
      tls === null
        ? null
        : new Agent({
            keepAlive: false,
            rejectUnauthorized: true,
            ...(tls.ca === null ? {} : { ca: tls.ca }),
            ...(tls.cert === null || tls.key === null ? {} : { cert: tls.cert, key: tls.key }),
          });
  }

  /** The stored password, else SMS_KANNEL_PASSWORD; an unreadable or missing one fails closed, before any request. */
  private async password(): Promise<string> {
    const s = this.stored ? await this.stored() : ({ state: 'unset' } as const);
    if (s.state === 'set') return s.value;
    const why = s.state === 'unreadable' ? 'the stored gateway password cannot be opened' : this.gateway.password ? null : 'no gateway password';
    if (why === null) return this.gateway.password;
    throw new AppError('SMS_UNAVAILABLE', undefined, `Kannel sendsms: ${why}`, { 'retry-after': '60' });
  }

  async send(to: string, text: string): Promise<void> {
    if (!isE164(to)) throw new AppError('PHONE_NUMBER_INVALID');
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_SMS_TEXT) throw new TypeError(`an SMS text is 1 to ${MAX_SMS_TEXT} characters`);
    const password = await this.password();
    try {
      await this.breaker.run(
        () => this.get(to, text, password),
        (e) => (e instanceof GatewayFailed ? e.outage : true),
      );
    } catch (e) {
      const open = e instanceof BreakerOpenError;
      const why = open ? 'circuit open' : e instanceof GatewayFailed ? e.detail : networkReason(e);
      throw new AppError('SMS_UNAVAILABLE', undefined, `Kannel sendsms: ${why}`, { 'retry-after': String(open ? this.breaker.retryAfterSeconds() : 5) });
    }
  }

  private async get(to: string, text: string, password: string): Promise<void> {
    const url = new URL(this.gateway.url);
    url.searchParams.set('username', this.gateway.username);
    url.searchParams.set('password', password);
    if (this.from !== null) url.searchParams.set('from', this.from);
    url.searchParams.set('to', to);
    url.searchParams.set('text', text);
    url.searchParams.set('charset', 'UTF-8');
    const status = this.agent === null ? await this.fetchStatus(url) : await this.tlsStatus(url, this.agent);
    if (status >= 200 && status < 300) return;
    // 401/403: our sendsms-user is refused, every send will be; 5xx: the gateway is failing. Other 4xx
    // concern this one message (a number outside the gateway's allow-list) and leave the breaker alone.
    const outage = status >= 500 || status === 401 || status === 403 ? true : null;
    throw new GatewayFailed(`status ${status}`, outage);
  }

  private async fetchStatus(url: URL): Promise<number> {
    const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(this.timeoutMs) });
    // The answer is a line such as "0: Accepted for delivery"; the status says all we need.
    await res.body?.cancel().catch(() => undefined);
    return res.status;
  }

  /** The same GET through node:https with the client certificate (fetch takes no agent); redirects are not followed. */
  private tlsStatus(url: URL, agent: Agent): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'GET', agent, signal: AbortSignal.timeout(this.timeoutMs) }, (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400) reject(new GatewayFailed(`redirect ${status}`, true));
        else resolve(status);
      });
      req.once('error', (e: Error) => reject(e.name === 'AbortError' ? Object.assign(new Error('timeout'), { name: 'TimeoutError' }) : e));
      req.end();
    });
  }
}

/** The error's kind (TimeoutError, ECONNREFUSED, a TLS refusal...), never its message: fetch's could quote the URL. */
function networkReason(e: unknown): string {
  const err = e as { name?: unknown; code?: unknown; cause?: { code?: unknown } };
  const raw = typeof err.cause?.code === 'string' ? err.cause.code : typeof err.code === 'string' ? err.code : null;
  const code = raw !== null && /^[A-Z0-9_]{1,64}$/.test(raw) ? `: ${raw}` : '';
  return `${typeof err.name === 'string' ? err.name : 'Error'}${code}`;
}
