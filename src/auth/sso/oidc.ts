import * as client from 'openid-client';
import { createRemoteJWKSet, customFetch as joseFetch, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { hostOf, type OutboundAllowlist } from '../../config/outbound.js';
import { isLoopbackHost as isLoopback } from '../../util/hosts.js';
import { AppError } from '../../errors.js';
import { providerEmail } from './accounts.js';
import type { CallbackInput, FlowSecrets, OidcProvider as Provider, ProvenIdentity, RedirectProtocol } from './types.js';

/** The kind of factor each amr value (RFC 8176) names: something known, held or inherent. */
const AMR_KIND: Readonly<Record<string, 'know' | 'have' | 'are'>> = {
  pwd: 'know',
  pin: 'know',
  kba: 'know',
  otp: 'have',
  hwk: 'have',
  swk: 'have',
  sms: 'have',
  tel: 'have',
  sc: 'have',
  pop: 'have',
  fpt: 'are',
  face: 'are',
  iris: 'are',
  retina: 'are',
  vbm: 'are',
  bio: 'are',
};

/**
 * Whether the provider says it proved more than one factor (D293): `mfa`, or methods of two different kinds
 * (a password and a one-time code). One method alone (`sms`, `otp`, a bare security key `hwk`) is one factor, however
 * strong; `mca` (several of one kind) is not counted either.
 */
export function multiFactor(amr: readonly string[]): boolean {
  if (amr.includes('mfa')) return true;
  return new Set(amr.map((a) => AMR_KIND[a]).filter((k) => k !== undefined)).size >= 2;
}

/** How long a discovered configuration is reused before it is fetched again. */
const DISCOVERY_TTL_MS = 10 * 60_000;
/** How long a failed discovery is remembered: anonymous starts do not each wait on a provider that is down. */
const FAILED_DISCOVERY_TTL_MS = 30_000;
/** Each request to the provider (discovery, token, keys, userinfo). */
const TIMEOUT_SECONDS = 5;

/** The event a logout token carries (OpenID Connect Back-Channel Logout 1.0, 2.4). */
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** How old a logout token may be (its `iat`), and the clock difference allowed. */
const LOGOUT_TOKEN_MAX_AGE_S = 300;
const LOGOUT_CLOCK_SKEW_S = 30;
/** The largest logout token read: a real one is well under a kilobyte or two. */
export const MAX_LOGOUT_TOKEN = 16 * 1024;

/**
 * A refused logout token. `signed`: the refusal came after the provider's signature was verified (a replay, the wrong
 * audience or age, no event): only those are the provider's doing and recorded; anyone can post junk (D340).
 */
export class LogoutTokenRefusal extends AppError {
  constructor(
    readonly signed: boolean,
    why: string,
  ) {
    super('SSO_LOGOUT_INVALID', undefined, why.slice(0, 300));
  }
}

/** What a verified logout token names: the provider's subject and/or its session, and its id (spent once). */
export interface LogoutToken {
  subject: string | null;
  sid: string | null;
  jti: string;
  /** Epoch ms until which the token's id must be remembered (its age limit passed). */
  until: number;
}

/** http is allowed for an issuer on loopback only (a provider on the same machine, and the tests); everything else must be https. */
export function issuerProblem(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'the issuer is not a URL';
  }
  if (u.username || u.password || u.search || u.hash) return 'the issuer may not hold credentials, a query or a fragment';
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:' && isLoopback(u.hostname)) return null;
  return 'the issuer must be https (http only on loopback)';
}

/**
 * The OIDC relying party (openid-client): discovery, authorisation code with PKCE (S256), state and
 * nonce, the ID token checked for issuer, audience, expiry and the one configured algorithm (an
 * asymmetric one: `none` and HS* never pass), then userinfo when asked for.
 */
export class OidcProtocol implements RedirectProtocol<Provider> {
  private readonly configs = new Map<string, { at: number; key: string; failed: boolean; config: Promise<client.Configuration> }>();
  /** The provider's signing keys by JWKS address (jose refetches on an unknown `kid`, at most every 30 s). */
  private readonly keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  constructor(
    private readonly resolveSecret: (name: string) => Promise<string | null>,
    private readonly now: () => number = Date.now,
    /** OUTBOUND_ALLOW (D435): every request (discovery, token, userinfo, keys) goes only to a listed host. */
    private readonly outbound: OutboundAllowlist | null = null,
  ) {}

  /**
   * fetch for every request of this relying party when a list is set: the endpoints a provider's metadata names may
   * point anywhere, so each address is checked, not only the issuer (D435).
   */
  private readonly listedFetch = (url: string | URL, init?: RequestInit): Promise<Response> => {
    const host = hostOf(String(url));
    if (this.outbound !== null && (host === null || !this.outbound.allows(host))) {
      return Promise.reject(new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, `${host ?? 'an unreadable address'} is not in OUTBOUND_ALLOW`));
    }
    return fetch(url, init);
  };

  private async configOf(p: Provider): Promise<client.Configuration> {
    const s = p.settings;
    // Cached by everything it depends on: a changed provider (or a rotated secret, refetched after the TTL) starts afresh.
    const key = `${p.updatedAt}|${s.issuer}|${s.clientId}|${s.idTokenAlg}`;
    const hit = this.configs.get(p.slug);
    if (hit && hit.key === key && Date.now() - hit.at < (hit.failed ? FAILED_DISCOVERY_TTL_MS : DISCOVERY_TTL_MS)) return hit.config;
    const config = this.discover(p);
    const entry = { at: Date.now(), key, failed: false, config };
    this.configs.set(p.slug, entry);
    config.catch(() => {
      entry.failed = true;
      entry.at = Date.now();
    });
    return config;
  }

  private async discover(p: Provider): Promise<client.Configuration> {
    const s = p.settings;
    const problem = issuerProblem(s.issuer);
    if (problem) throw new AppError('SSO_FAILED', undefined, problem);
    const secret = s.clientSecretName === null ? null : await this.resolveSecret(s.clientSecretName);
    if (s.clientSecretName !== null && secret === null) throw new AppError('SSO_FAILED', undefined, `client secret ${s.clientSecretName} is not set`);
    const auth = secret === null ? client.None() : client.ClientSecretBasic(secret);
    const insecure = new URL(s.issuer).protocol === 'http:';
    try {
      return await client.discovery(new URL(s.issuer), s.clientId, { id_token_signed_response_alg: s.idTokenAlg }, auth, {
        timeout: TIMEOUT_SECONDS,
        ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
        ...(this.outbound !== null ? { [client.customFetch]: this.listedFetch as client.CustomFetch } : {}),
      });
    } catch (e) {
      throw new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, `discovery: ${describe(e)}`);
    }
  }

  async start(p: Provider, redirectUri: string): Promise<{ url: string; kept: FlowSecrets }> {
    const config = await this.configOf(p);
    const kept: FlowSecrets = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier() };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: ['openid', ...p.settings.scopes.filter((x) => x !== 'openid')].join(' '),
      state: kept.state,
      nonce: kept.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(kept.codeVerifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, kept };
  }

  /**
   * Verifies a back-channel logout token (OpenID Connect Back-Channel Logout 1.0, 2.6; D340): signed with the
   * provider's configured algorithm by a key of its JWKS, from its issuer, for our client id, issued within the last
   * five minutes, with a `jti`, the back-channel logout event, a `sub` or a `sid`, and no `nonce` (an ID token is
   * never a logout token); `typ`, when given, is `logout+jwt` or `JWT`. Throws SSO_LOGOUT_INVALID, or
   * SSO_PROVIDER_UNAVAILABLE when the keys cannot be fetched. The replay check (the `jti`) is the caller's.
   */
  async verifyLogoutToken(p: Provider, token: string): Promise<LogoutToken> {
    const invalid = (why: string) => new LogoutTokenRefusal(false, why);
    if (token.length === 0 || token.length > MAX_LOGOUT_TOKEN) throw invalid('no logout_token, or one too large');
    let typ: unknown;
    let alg: unknown;
    try {
      ({ typ, alg } = decodeProtectedHeader(token));
    } catch {
      throw invalid('not a JWS');
    }
    if (typ !== undefined && !/^(application\/)?(logout\+jwt|jwt)$/i.test(String(typ))) throw invalid(`typ ${String(typ).slice(0, 40)}`);
    // A token that cannot verify under the provider's algorithm (unsigned, another one) is refused before the provider's
    // configuration and keys are fetched: anyone may post one, and the answer must not depend on the provider.
    if (alg !== p.settings.idTokenAlg) throw invalid(`alg ${String(alg).slice(0, 20)}`);
    const config = await this.configOf(p);
    const meta = config.serverMetadata();
    const keys = this.keysOf(meta.jwks_uri, p.settings.issuer);
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, keys, {
        algorithms: [p.settings.idTokenAlg],
        issuer: meta.issuer,
        audience: p.settings.clientId,
        requiredClaims: ['iat', 'jti'],
        maxTokenAge: LOGOUT_TOKEN_MAX_AGE_S,
        // The wall clock, as for the ID token (openid-client): the provider's times are real ones.
        clockTolerance: LOGOUT_CLOCK_SKEW_S,
      }));
    } catch (e) {
      // The keys could not be had (timeout, refused, not a 200, not a key set): the provider should retry.
      if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid || (e instanceof Error && unreachable(e))) {
        throw new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, `keys: ${describe(e)}`);
      }
      if (e instanceof joseErrors.JOSEError && e.code === 'ERR_JOSE_GENERIC') throw new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, `keys: ${describe(e)}`);
      // A claim check failed after the signature verified (jose checks the signature first): the provider's doing.
      throw new LogoutTokenRefusal(e instanceof joseErrors.JWTClaimValidationFailed || e instanceof joseErrors.JWTExpired, `jwt: ${describe(e)}`);
    }
    const signedInvalid = (why: string) => new LogoutTokenRefusal(true, why);
    // Several audiences: we must be the authorised party (as for an ID token, OIDC Core 3.1.3.7).
    if (Array.isArray(claims.aud) && claims.aud.length > 1 && claims.azp !== p.settings.clientId) throw signedInvalid('several audiences and azp is not us');
    const events = claims.events as Record<string, unknown> | undefined;
    const event = events && typeof events === 'object' && !Array.isArray(events) ? events[BACKCHANNEL_EVENT] : undefined;
    if (!event || typeof event !== 'object' || Array.isArray(event)) throw signedInvalid('no back-channel logout event');
    if (claims.nonce !== undefined) throw signedInvalid('a nonce: an ID token is not a logout token');
    const text = (v: unknown) => (typeof v === 'string' && v.length > 0 && v.length <= 255 ? v : null);
    const subject = claims.sub === undefined ? null : text(claims.sub);
    const sid = claims.sid === undefined ? null : text(claims.sid);
    if ((claims.sub !== undefined && subject === null) || (claims.sid !== undefined && sid === null)) throw signedInvalid('sub or sid is not a short string');
    if (subject === null && sid === null) throw signedInvalid('neither sub nor sid');
    const jti = text(claims.jti);
    if (jti === null) throw signedInvalid('jti is not a short string');
    return { subject, sid, jti, until: (Number(claims.iat) + LOGOUT_TOKEN_MAX_AGE_S + LOGOUT_CLOCK_SKEW_S) * 1000 };
  }

  /**
   * The provider's key set at its discovered `jwks_uri`: https, or http only for an issuer on loopback (as the issuer
   * itself); cached by address (jose refetches on an unknown `kid`, at most every 30 s).
   */
  private keysOf(jwksUri: string | undefined, issuer: string): ReturnType<typeof createRemoteJWKSet> {
    let u: URL;
    try {
      u = new URL(jwksUri ?? '');
    } catch {
      throw new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, 'the provider publishes no valid jwks_uri');
    }
    const loopbackIssuer = new URL(issuer).protocol === 'http:';
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopbackIssuer && isLoopback(u.hostname))) {
      throw new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, 'the jwks_uri is not https');
    }
    let keys = this.keySets.get(u.href);
    if (!keys) {
      keys = createRemoteJWKSet(u, {
        timeoutDuration: TIMEOUT_SECONDS * 1000,
        cooldownDuration: 30_000,
        cacheMaxAge: DISCOVERY_TTL_MS,
        ...(this.outbound !== null ? { [joseFetch]: this.listedFetch } : {}),
      });
      this.keySets.set(u.href, keys);
    }
    return keys;
  }

  stateOf(cb: CallbackInput): string | null {
    return cb.url.searchParams.get('state');
  }

  providerError(cb: CallbackInput): string | null {
    return cb.url.searchParams.has('error') ? String(cb.url.searchParams.get('error')) : null;
  }

  async finish(p: Provider, cb: CallbackInput, kept: FlowSecrets & { state: string }): Promise<ProvenIdentity> {
    const callbackUrl = cb.url;
    const config = await this.configOf(p);
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: kept.codeVerifier,
        expectedState: kept.state,
        expectedNonce: kept.nonce,
        idTokenExpected: true,
      });
    } catch (e) {
      throw new AppError(unreachable(e) ? 'SSO_PROVIDER_UNAVAILABLE' : 'SSO_FAILED', undefined, `code grant: ${describe(e)}`);
    }
    const idClaims = tokens.claims();
    if (!idClaims) throw new AppError('SSO_FAILED', undefined, 'no ID token');
    let claims: Record<string, unknown> = { ...idClaims };
    if (p.settings.userinfo && tokens.access_token) {
      try {
        const info = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub);
        // The ID token's claims win: userinfo only adds what the token does not say.
        claims = { ...info, ...idClaims };
      } catch (e) {
        throw new AppError(unreachable(e) ? 'SSO_PROVIDER_UNAVAILABLE' : 'SSO_FAILED', undefined, `userinfo: ${describe(e)}`);
      }
    }
    return identityOf(idClaims.iss, idClaims.sub, claims, p.settings.usernameClaim);
  }
}

/** The proven identity from checked claims. */
export function identityOf(issuer: string, subject: string, claims: Record<string, unknown>, usernameClaim: string): ProvenIdentity {
  // A subject is kept on the link and named in the unlink routes (at most 255 characters there).
  if (subject.length === 0 || subject.length > 255) throw new AppError('SSO_FAILED', undefined, 'subject empty or longer than 255 characters');
  const { email, canonical } = providerEmail(claims.email);
  const amr = Array.isArray(claims.amr) ? claims.amr.filter((x): x is string => typeof x === 'string') : [];
  const uname = claims[usernameClaim];
  return {
    issuer,
    subject,
    email,
    // Only the boolean true counts: "true" as a string, or a missing claim, is unverified.
    emailVerified: claims.email_verified === true && canonical,
    username: typeof uname === 'string' ? uname : null,
    claims,
    mfa: multiFactor(amr),
    // The provider's session (OIDC Front- and Back-Channel Logout): a logout token may name it instead of the subject.
    providerSession: typeof claims.sid === 'string' && claims.sid.length > 0 && claims.sid.length <= 255 ? claims.sid : null,
  };
}

/** A provider that did not answer (refused, reset, timed out), as opposed to one that answered with a refusal. */
function unreachable(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 4; x = (x as { cause?: unknown }).cause, depth++) {
    if (x.name === 'TimeoutError' || x.name === 'AbortError' || (x instanceof TypeError && x.message === 'fetch failed')) return true;
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|UND_ERR_)/.test(code)) return true;
  }
  return false;
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${typeof code === 'string' ? `${code}: ` : ''}${e.message}`.slice(0, 300);
  }
  return 'unknown error';
}
