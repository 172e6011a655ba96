// The identity providers the SSO tests talk to, real HTTP servers on spare ports in the test process:
// `oidc-provider` (a certified OpenID Provider) with a client registered for Palisade and its dev
// login form, and a small hand-written provider that answers discovery, authorize, token and JWKS with
// ID tokens crafted to be wrong in one way each (alg none, another issuer, a wrong nonce...).
import { createHash, createPrivateKey, type JsonWebKey, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import Provider from 'oidc-provider';

export interface PeerAccount {
  email?: string;
  email_verified?: boolean;
  groups?: string[];
  preferred_username?: string;
}

export interface OidcPeer {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Accounts by login name (the dev login form takes any password). */
  accounts: Map<string, PeerAccount>;
  close(): Promise<void>;
}

const listen = async (srv: Server): Promise<number> => {
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return (srv.address() as { port: number }).port;
};
const closeServer = (srv: Server) =>
  new Promise<void>((resolve) => {
    srv.closeAllConnections();
    srv.close(() => resolve());
  });

/**
 * oidc-provider on a spare port, one confidential client with Palisade's callback registered; with `backchannel`, the
 * client's back-channel logout address (and whether the logout token must name the session, `sid`): signing out at
 * the provider (`signOutAtPeer`) posts a logout token there.
 */
export async function startOidcPeer(redirectUris: string[], backchannel?: { uri: string; sessionRequired: boolean }): Promise<OidcPeer> {
  const srv = createServer();
  const port = await listen(srv);
  const issuer = `http://127.0.0.1:${port}`;
  const accounts = new Map<string, PeerAccount>();
  const clientSecret = randomBytes(24).toString('base64url');
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' } as JWK;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'palisade',
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        ...(backchannel ? { backchannel_logout_uri: backchannel.uri, backchannel_logout_session_required: backchannel.sessionRequired } : {}),
      },
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, backchannelLogout: { enabled: backchannel !== undefined } },
    // The provider refuses to call loopback addresses (SSRF protection); Palisade listens on one in the tests.
    fetch: (url: string | URL, options: RequestInit & { dispatcher?: unknown }) => fetch(url, { ...options, dispatcher: undefined } as RequestInit),
    async findAccount(_ctx, id) {
      const a = accounts.get(id);
      if (!a) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...a }) };
    },
  });
  // oidc-provider logs a warning for dev interactions and keys; the tests do not need to see it.
  srv.on('request', provider.callback());
  provider.on('backchannel.error', (_ctx, err) => console.error('backchannel logout failed:', err));
  return { issuer, clientId: 'palisade', clientSecret, accounts, close: () => closeServer(srv) };
}

export type CraftMode = 'good' | 'alg-none' | 'other-issuer' | 'bad-nonce' | 'hs256' | 'other-audience' | 'expired';

export interface CraftedPeer {
  issuer: string;
  /** How the next ID token is made, and the claims it carries. */
  next: { mode: CraftMode; sub: string; claims: Record<string, unknown> };
  /** What the last authorisation request asked for (state, nonce, PKCE challenge and method). */
  lastAuthorize: URLSearchParams | null;
  /** Whether the last token request's code_verifier matched the challenge (S256). */
  lastPkceOk: boolean | null;
  /** The tokens the last token request was answered with. */
  lastTokens: { idToken: string; accessToken: string } | null;
  /** Signs a JWT with the provider's key (or as the header says: `alg: none` is left unsigned), for crafted logout tokens. */
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

/**
 * A minimal OpenID Provider that speaks the real protocol over HTTP (discovery, a redirect from
 * authorize, the token endpoint checking PKCE, JWKS) and crafts each ID token per `next.mode`.
 */
export async function startCraftedPeer(clientId: string): Promise<CraftedPeer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const pub = { ...(await exportJWK(publicKey)), kid: 'c1', alg: 'RS256', use: 'sig' };
  // The same private key as a KeyObject, which signs with any RS algorithm (the CryptoKey is bound to SHA-256).
  const anyRsAlg = createPrivateKey({ key: (await exportJWK(privateKey)) as JsonWebKey, format: 'jwk' });
  const codes = new Map<string, { nonce: string; challenge: string }>();
  const srv = createServer();
  const port = await listen(srv);
  const issuer = `http://127.0.0.1:${port}`;
  const peer: CraftedPeer = {
    issuer,
    next: { mode: 'good', sub: 'crafted-1', claims: {} },
    lastAuthorize: null,
    lastPkceOk: null,
    lastTokens: null,
    sign: async (claims, header = { alg: 'RS256', kid: 'c1' }) =>
      header.alg === 'none' ? `${b64(header)}.${b64(claims)}.` : new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(anyRsAlg),
    close: () => closeServer(srv),
  };
  srv.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const json = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      });
    }
    // c2: the same key published without an `alg`, so that only the relying party's own allow-list refuses another one.
    if (url.pathname === '/jwks') return json(200, { keys: [pub, { ...pub, kid: 'c2', alg: undefined }] });
    if (url.pathname === '/authorize') {
      peer.lastAuthorize = url.searchParams;
      const code = randomBytes(16).toString('base64url');
      codes.set(code, { nonce: url.searchParams.get('nonce') ?? '', challenge: url.searchParams.get('code_challenge') ?? '' });
      const back = new URL(url.searchParams.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', async () => {
        const form = new URLSearchParams(body);
        const issued = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        if (!issued) return json(400, { error: 'invalid_grant' });
        const verifier = form.get('code_verifier') ?? '';
        peer.lastPkceOk = createHash('sha256').update(verifier).digest('base64url') === issued.challenge;
        if (!peer.lastPkceOk) return json(400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
        const n = peer.next;
        const now = Math.floor(Date.now() / 1000);
        const claims = {
          iss: n.mode === 'other-issuer' ? 'http://127.0.0.1:1/elsewhere' : issuer,
          aud: n.mode === 'other-audience' ? 'someone-else' : clientId,
          sub: n.sub,
          iat: now,
          exp: n.mode === 'expired' ? now - 600 : now + 300,
          nonce: n.mode === 'bad-nonce' ? 'not-the-nonce' : issued.nonce,
          ...n.claims,
        };
        let idToken: string;
        if (n.mode === 'alg-none') idToken = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
        else if (n.mode === 'hs256')
          idToken = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('the-client-secret-as-hmac-key-00'));
        else idToken = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'c1' }).sign(privateKey);
        peer.lastTokens = { idToken, accessToken: randomBytes(16).toString('base64url') };
        return json(200, { access_token: peer.lastTokens.accessToken, token_type: 'Bearer', expires_in: 300, id_token: idToken });
      });
      return;
    }
    json(404, { error: 'not_found' });
  });
  return peer;
}
