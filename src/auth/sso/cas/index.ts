import { randomBytes } from 'node:crypto';
import { AppError } from '../../../errors.js';
import { providerEmail } from '../accounts.js';
import { childElements, strictXml } from '../saml/index.js';
import type { CallbackInput, CasProvider, FlowSecrets, ProvenIdentity, RedirectProtocol } from '../types.js';

const CAS_NS = 'http://www.yale.edu/tp/cas';
/** A service ticket (CAS protocol 3.0, section 3.1.1): `ST-`, then URL-safe characters, 256 in all at most. */
const TICKET = /^ST-[A-Za-z0-9._~-]{1,253}$/;
/** The largest validation answer read (bytes): a real one is a few kilobytes. */
const MAX_ANSWER = 256 * 1024;

/**
 * The body of an answer, read up to `max` bytes and no further (null: larger). `res.text()` would hold whatever the
 * server sends until the timeout, however large (D314).
 */
async function boundedText(res: Response, max: number): Promise<string | null> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > max) {
    res.body?.cancel().catch(() => {});
    return null;
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The CAS 3.0 client: a redirect to `<server>/login?service=<callback?state=…>`, then the service ticket validated
 * at `<server>/p3/serviceValidate` (XML, parsed without DTDs). The flow's state travels inside the service address, so
 * a ticket reaches an account only with a live flow of this browser; the server makes the ticket single-use, and the
 * flow row is spent before it is validated.
 */
export class CasProtocol implements RedirectProtocol<CasProvider> {
  /** The service address the server is told: the callback with the flow's state (the same at login and validation). */
  private serviceOf(callback: string, state: string): string {
    const u = new URL(callback);
    u.search = '';
    u.searchParams.set('state', state);
    return u.href;
  }

  async start(p: CasProvider, redirectUri: string): Promise<{ url: string; kept: FlowSecrets }> {
    const state = randomBytes(32).toString('base64url');
    const url = new URL(`${p.settings.serverUrl}/login`);
    url.searchParams.set('service', this.serviceOf(redirectUri, state));
    return { url: url.href, kept: { state, nonce: '', codeVerifier: '' } };
  }

  stateOf(cb: CallbackInput): string | null {
    return cb.url.searchParams.get('state');
  }

  providerError(cb: CallbackInput): string | null {
    return cb.url.searchParams.get('ticket') ? null : 'no ticket';
  }

  async finish(p: CasProvider, cb: CallbackInput, kept: FlowSecrets & { state: string }): Promise<ProvenIdentity> {
    const s = p.settings;
    const ticket = cb.url.searchParams.get('ticket') ?? '';
    if (!TICKET.test(ticket)) throw failed('not a service ticket');
    const validate = new URL(`${s.serverUrl}/p3/serviceValidate`);
    validate.searchParams.set('service', this.serviceOf(cb.url.href, kept.state));
    validate.searchParams.set('ticket', ticket);
    let body: string;
    try {
      const res = await fetch(validate, { redirect: 'error', signal: AbortSignal.timeout(s.timeoutMs), headers: { accept: 'application/xml' } });
      if (res.status >= 500) {
        res.body?.cancel().catch(() => {});
        throw new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, `cas: validation answered ${res.status}`);
      }
      const text = await boundedText(res, MAX_ANSWER);
      if (text === null) throw failed('cas: the validation answer is too large');
      body = text;
    } catch (e) {
      if (e instanceof AppError) throw e;
      throw new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, `cas: ${e instanceof Error ? e.name : 'error'}`);
    }
    const doc = strictXml(body);
    if (!doc) throw failed('cas: the validation answer is not XML, or holds a DTD');
    // The protocol's own elements only, where the protocol puts them (never a `cas:user` among the attributes).
    const root = doc.documentElement as unknown as Element;
    if (root.namespaceURI !== CAS_NS || root.localName !== 'serviceResponse') throw failed('cas: not a serviceResponse');
    const failure = childElements(root, 'authenticationFailure', CAS_NS)[0];
    if (failure) throw failed(`cas: ${(failure.getAttribute('code') ?? 'failure').slice(0, 64)}`);
    const successes = childElements(root, 'authenticationSuccess', CAS_NS);
    const success = successes.length === 1 ? successes[0] : undefined;
    const users = childElements(success, 'user', CAS_NS);
    const subject = users.length === 1 ? (users[0]!.textContent ?? '').trim() : '';
    if (!success || !subject || subject.length > 255) throw failed('cas: no user in the validation answer');
    const claims: Record<string, unknown> = Object.create(null);
    const attributes = childElements(success, 'attributes', CAS_NS)[0];
    for (const el of attributes ? [...attributes.childNodes] : []) {
      if (el.nodeType !== 1) continue;
      const name = (el as Element).localName;
      const value = (el.textContent ?? '').trim();
      const had = claims[name];
      claims[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    }
    const first = (name: string): string | null => {
      const v = claims[name];
      return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : null;
    };
    const { email, canonical } = providerEmail(first(s.emailAttribute));
    const groups = claims[s.groupsAttribute];
    return {
      issuer: s.serverUrl,
      subject,
      email,
      emailVerified: s.emailVerified && canonical && email !== null,
      username: first(s.usernameAttribute) ?? subject,
      claims: { ...claims, user: subject, email, groups: typeof groups === 'string' ? [groups] : (groups ?? []) },
      // CAS 3.0 has no standard statement of the factors used (D311), and single logout is not built for it.
      providerSession: null,
      mfa: false,
    };
  }
}

const failed = (why: string) => new AppError('SSO_FAILED', undefined, why.slice(0, 300));
