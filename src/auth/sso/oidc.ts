import * as client from 'openid-client';
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

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * The OIDC relying party (openid-client): discovery, authorisation code with PKCE (S256), state and
 * nonce, the ID token checked for issuer, audience, expiry and the one configured algorithm (an
 * asymmetric one: `none` and HS* never pass), then userinfo when asked for.
 */
export class OidcProtocol implements RedirectProtocol<Provider> {
  private readonly configs = new Map<string, { at: number; key: string; failed: boolean; config: Promise<client.Configuration> }>();

  constructor(
    private readonly resolveSecret: (name: string) => Promise<string | null>,
    private readonly now: () => number = Date.now,
  ) {}

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
