// Bug classes: forged tokens, algorithm confusion (alg:none, HS512, RS256), key confusion
// after APP_KEY changes or rotation, and replay of expired tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, generateKeyPair, decodeProtectedHeader } from 'jose';
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

test('a valid token passes (the control for every refusal below)', async () => {
  assert.equal((await me(admin)).statusCode, 200);
});

test('alg:none is refused', async () => {
  const { header, payload } = parts(admin);
  const forged = `${b64({ ...header, alg: 'none' })}.${b64(payload)}.`;
  const res = await me(forged);
  assert.equal(res.statusCode, 401);
  assert.equal(res.json().error.code, 'TOKEN_INVALID');
});

test('HS512 signed with the real derived key is refused (algorithm allow-list)', async () => {
  const { header, payload } = parts(admin);
  const key = deriveKey(t.shared.appKey, header.kid, 'palisade/token-signing/v1');
  const forged = await new SignJWT(payload).setProtectedHeader({ alg: 'HS512', kid: header.kid, typ: 'JWT' }).sign(key);
  assert.equal((await me(forged)).json().error.code, 'TOKEN_INVALID');
});

test('RS256 with an attacker key is refused', async () => {
  const { header, payload } = parts(admin);
  const { privateKey } = await generateKeyPair('RS256');
  const forged = await new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: header.kid, typ: 'JWT' }).sign(privateKey);
  assert.equal((await me(forged)).json().error.code, 'TOKEN_INVALID');
});

test('a tampered payload (another subject) is refused', async () => {
  const { header, payload, sig } = parts(admin);
  const forged = `${b64(header)}.${b64({ ...payload, sub: '00000000-0000-0000-0000-000000000000' })}.${sig}`;
  assert.equal((await me(forged)).json().error.code, 'TOKEN_INVALID');
});

test('a token signed with another APP_KEY is refused', async () => {
  const { header, payload } = parts(admin);
  const key = deriveKey('another-app-key-that-is-long-enough-xyz', header.kid, 'palisade/token-signing/v1');
  const forged = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: header.kid, typ: 'JWT' }).sign(key);
  assert.equal((await me(forged)).json().error.code, 'TOKEN_INVALID');
});

test('an unknown key id and malformed Authorization headers are refused', async () => {
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

test('an expired bearer token is refused on ordinary routes', async () => {
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

test('key rotation: new tokens use the new kid; old tokens verify until they can no longer be renewed', async () => {
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
