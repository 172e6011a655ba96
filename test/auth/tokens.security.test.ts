// Bug classes: forged tokens, algorithm confusion (alg:none, HS512, RS256), key confusion
// after APP_KEY changes or rotation, and replay of expired tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, generateKeyPair, decodeProtectedHeader, exportJWK } from 'jose';
import { makeApp, login, bearer, events, type TestApp, useApp } from '../helpers/app.js';
import { deriveKey } from '../../src/auth/keys.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const parts = (token: string) => {
  const [h, p, sig] = token.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), payload: JSON.parse(Buffer.from(p!, 'base64url').toString()), sig: sig! };
};

test('a valid token passes (the control for every refusal below) [ASVS V7.2.1, V9.1.1, V9.1.2]', async () => {
  assert.equal((await me(admin)).statusCode, 200);
});

test('alg:none is refused [ASVS V9.1.2]', async () => {
  const { header, payload } = parts(admin);
  const forged = `${b64({ ...header, alg: 'none' })}.${b64(payload)}.`;
  const res = await me(forged);
  assert.equal(res.statusCode, 401);
  assert.equal(res.json().error.code, 'TOKEN_INVALID');
});

test('HS512 signed with the real derived key is refused (algorithm allow-list) [ASVS V9.1.2]', async () => {
  const { header, payload } = parts(admin);
  const key = deriveKey(t.shared.appKey, header.kid, 'palisade/token-signing/v1');
  const forged = await new SignJWT(payload).setProtectedHeader({ alg: 'HS512', kid: header.kid, typ: 'JWT' }).sign(key);
  assert.equal((await me(forged)).json().error.code, 'TOKEN_INVALID');
});

test('RS256 with an attacker key is refused [ASVS V9.1.2, V9.1.3]', async () => {
  const { header, payload } = parts(admin);
  const { privateKey } = await generateKeyPair('RS256');
  const forged = await new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: header.kid, typ: 'JWT' }).sign(privateKey);
  assert.equal((await me(forged)).json().error.code, 'TOKEN_INVALID');
});

test('a key the token names itself (jwk, jku, x5u, x5c headers) is never used: only the configured key ring verifies [ASVS V9.1.3]', async () => {
  const { header, payload } = parts(admin);
  // HS256 with the attacker's own secret, embedded as a JWK and offered by URL.
  const secret = new Uint8Array(32).fill(7);
  const oct = { kty: 'oct', k: Buffer.from(secret).toString('base64url') };
  for (const extra of [{ jwk: oct }, { jku: 'https://attacker.example/jwks.json' }, { x5u: 'https://attacker.example/cert.pem' }]) {
    const forged = await new SignJWT(payload).setProtectedHeader({ ...header, ...extra, alg: 'HS256' }).sign(secret);
    assert.equal((await me(forged)).json().error.code, 'TOKEN_INVALID', Object.keys(extra)[0]);
  }
  // RS256 with the attacker's public key in the header (CVE-2018-0114), with and without the ring's kid.
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  for (const kid of [header.kid, undefined]) {
    const forged = await new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', jwk, x5c: ['MIIB'], ...(kid ? { kid } : {}) }).sign(privateKey);
    assert.equal((await me(forged)).json().error.code, 'TOKEN_INVALID');
  }
  // The same claims under the ring's key pass (the control).
  const key = deriveKey(t.shared.appKey, header.kid, 'palisade/token-signing/v1');
  const real = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: header.kid, typ: 'JWT' }).sign(key);
  assert.equal((await me(real)).statusCode, 200);
});

test("a token of another type or purpose is refused, though signed with the real key: typ must be JWT and the claims a session token's [ASVS V9.2.2]", async () => {
  const { header, payload } = parts(admin);
  const key = deriveKey(t.shared.appKey, header.kid, 'palisade/token-signing/v1');
  const sign = (h: Record<string, unknown>, p: Record<string, unknown>) => new SignJWT(p).setProtectedHeader({ alg: 'HS256', kid: header.kid, ...h }).sign(key);
  // Another type: an access token, a logout token, an ID token's plain typ, or none at all.
  for (const typ of ['at+jwt', 'logout+jwt', 'JOSE', undefined]) {
    assert.equal((await me(await sign(typ ? { typ } : {}, payload))).json().error.code, 'TOKEN_INVALID', String(typ));
  }
  // Another purpose: claims without the session id, or from another issuer.
  const { sid: _sid, ...noSession } = payload;
  assert.equal((await me(await sign({ typ: 'JWT' }, noSession))).json().error.code, 'TOKEN_INVALID');
  assert.equal((await me(await sign({ typ: 'JWT' }, { ...payload, iss: 'https://idp.example' }))).json().error.code, 'TOKEN_INVALID');
  // A session token as it is issued passes.
  assert.equal((await me(await sign({ typ: 'JWT' }, payload))).statusCode, 200);
});

test('a tampered payload (another subject) is refused [ASVS V7.2.1, V9.1.1]', async () => {
  const { header, payload, sig } = parts(admin);
  const forged = `${b64(header)}.${b64({ ...payload, sub: '00000000-0000-0000-0000-000000000000' })}.${sig}`;
  assert.equal((await me(forged)).json().error.code, 'TOKEN_INVALID');
});

test('a token signed with another APP_KEY is refused [ASVS V9.1.1, V9.1.3]', async () => {
  const { header, payload } = parts(admin);
  const key = deriveKey('another-app-key-that-is-long-enough-xyz', header.kid, 'palisade/token-signing/v1');
  const forged = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: header.kid, typ: 'JWT' }).sign(key);
  assert.equal((await me(forged)).json().error.code, 'TOKEN_INVALID');
});

test('an unknown key id and malformed Authorization headers are refused [ASVS V9.1.3]', async () => {
  const { header, payload, sig } = parts(admin);
  assert.equal((await me(`${b64({ ...header, kid: 'nope' })}.${b64(payload)}.${sig}`)).json().error.code, 'TOKEN_INVALID');
  for (const h of ['Basic abc', 'Bearer', 'Bearer a.b', `Bearer ${admin} extra`, `Bearer ${'a'.repeat(5000)}`]) {
    const res = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: h } });
    assert.equal(res.statusCode, 401, h.slice(0, 20));
    assert.equal(res.json().error.code, 'TOKEN_INVALID');
  }
});

test('no credentials at all gets AUTH_REQUIRED', async () => {
  const res = await t.app.inject({ method: 'GET', url: '/api/auth/me' });
  assert.equal(res.statusCode, 401);
  assert.equal(res.json().error.code, 'AUTH_REQUIRED');
});

test('an expired bearer token is refused on ordinary routes [ASVS V9.2.1, V7.4.1]', async () => {
  const { token } = await login(t);
  t.clock.advance(15 * 60 + 1);
  const res = await me(token);
  assert.equal(res.statusCode, 401);
  assert.equal(res.json().error.code, 'TOKEN_EXPIRED');
  admin = (await login(t)).token;
});

test('changing APP_KEY invalidates every token', async () => {
  const { token } = await login(t);
  const other = await makeApp({ peerOf: t, env: { APP_KEY: 'a-completely-different-app-key-0123456789' } });
  try {
    const res = await other.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error.code, 'TOKEN_INVALID');
  } finally {
    await other.close();
  }
  assert.equal((await me(token)).statusCode, 200);
});

test('key rotation: new tokens use the new kid; old tokens verify until they can no longer be renewed [ASVS V11.2.2]', async () => {
  const old = await login(t);
  const oldKid = decodeProtectedHeader(old.token).kid;
  const rot = await t.app.inject({ method: 'POST', url: '/api/admin/keys/rotate', headers: bearer(admin) });
  assert.equal(rot.statusCode, 200);
  const newKid = rot.json().kid;
  assert.notEqual(newKid, oldKid);
  const fresh = await login(t);
  assert.equal(decodeProtectedHeader(fresh.token).kid, newKid);
  assert.equal((await me(old.token)).statusCode, 200, 'old key still verifies');
  // Past validity but inside the refresh limit: the old-key token is still renewable.
  t.clock.advance(20 * 60);
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(old.token) });
  assert.equal(r.statusCode, 200);
  assert.equal(decodeProtectedHeader(r.json().token).kid, newKid);
  // Once no token of the old key can be renewed, the old key verifies nothing.
  const keep = await login(t);
  t.clock.advance(11 * 60);
  const keepToken = (await t.app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(keep.token) })).json().token;
  const late = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(old.token) });
  assert.equal(late.statusCode, 401);
  assert.equal(late.json().error.code, 'TOKEN_INVALID');
  const keys = (await t.app.inject({ method: 'GET', url: '/api/admin/keys', headers: bearer(keepToken) })).json().keys;
  assert.equal(keys.find((k: { kid: string }) => k.kid === oldKid).active, false);
  assert.equal(keys.find((k: { kid: string }) => k.kid === newKid).active, true);
  const rotated = await events(t, keepToken, 'key.rotated');
  assert.equal(rotated[0]!.details.kid, newKid);
  admin = keepToken;
});

test('a token in the URL is never read: in the query under any usual name it is refused, in the Authorization header the same token passes [ASVS V14.2.1]', async () => {
  const { token } = await login(t);
  for (const name of ['access_token', 'token', 'jwt', 'session', 'api_key', 'apiKey', 'key', 'authorization', 'bearer']) {
    const res = await t.app.inject({ method: 'GET', url: `/api/auth/me?${name}=${encodeURIComponent(token)}` });
    assert.equal(res.statusCode, 401, name);
    assert.equal(res.json().error.code, 'AUTH_REQUIRED', name);
  }
  assert.equal(
    (await t.app.inject({ method: 'GET', url: `/api/auth/me?access_token=${token}`, headers: { authorization: `Bearer ${token}` } })).statusCode,
    200,
  );
  assert.equal((await me(token)).statusCode, 200);
});

test('answers that carry account data, the sign-in answer and refusals are no-store, for browsers and shared caches alike [ASVS V14.3.2, V14.2.2]', async () => {
  const { token } = await login(t);
  for (const url of ['/api/auth/me', '/api/auth/sessions', '/api/admin/users', '/api/admin/keys']) {
    const res = await t.app.inject({ method: 'GET', url, headers: bearer(token) });
    assert.equal(res.statusCode, 200, url);
    assert.equal(res.headers['cache-control'], 'no-store', url);
  }
  for (const res of [await t.app.inject({ method: 'GET', url: '/api/auth/me' }), await me('not-a-token')]) {
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['cache-control'], 'no-store');
  }
  // The sign-in answer carries a token in its body: never kept by a cache either.
  const signIn = await login(t);
  assert.equal(signIn.res.headers['cache-control'], 'no-store');
});
