// Bug class: a token made for another deployment. Two installations that share signing keys (a staging copy
// restored from production's backup, an APP_KEY reused) must not accept each other's session tokens: each
// deployment's tokens carry its own audience, its PUBLIC_URL (D370), and tokens of the former constant audience
// are refused too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { makeApp, login, bearer, type TestApp } from '../../helpers/app.js';
import { deriveKey } from '../../../src/auth/keys.js';

const A = 'http://a.example:8080';
const B = 'http://b.example:8080/palisade';

let a: TestApp;
let b: TestApp;
before(async () => {
  a = await makeApp({ env: { PUBLIC_URL: A } });
  // The same database, APP_KEY and key ring: only PUBLIC_URL differs.
  b = await makeApp({ peerOf: a, env: { PUBLIC_URL: B } });
});
after(async () => {
  await b.close();
  await a.close();
});

const me = (t: TestApp, token: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

test("each deployment's tokens carry its own PUBLIC_URL as audience and work there [ASVS V9.2.3, V9.2.4]", async () => {
  const fromA = (await login(a)).token;
  const fromB = (await login(b)).token;
  assert.equal(claims(fromA).aud, A);
  assert.equal(claims(fromB).aud, B);
  assert.equal((await me(a, fromA)).statusCode, 200);
  assert.equal((await me(b, fromB)).statusCode, 200);
});

test('a token made for another deployment is refused like any invalid token, on every route and at refresh [ASVS V9.2.3, V9.2.4]', async () => {
  const fromA = (await login(a)).token;
  const garbage = await me(b, `${fromA.slice(0, -4)}AAAA`);
  for (const res of [
    await me(b, fromA),
    await b.app.inject({ method: 'GET', url: '/api/collections', headers: bearer(fromA) }),
    await b.app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(fromA) }),
  ]) {
    assert.equal(res.statusCode, 401, res.body);
    // The same answer as a forged token: nothing tells the caller which check failed (no oracle).
    assert.deepEqual(res.json(), garbage.json());
    assert.equal(res.json().error.code, 'TOKEN_INVALID');
  }
  // The token still works where it was made.
  assert.equal((await me(a, fromA)).statusCode, 200);
});

test('a token of the former constant audience (palisade-api) is refused after the upgrade, not honoured until it expires (D370) [ASVS V9.2.3]', async () => {
  const fromA = (await login(a)).token;
  const [h] = fromA.split('.');
  const header = JSON.parse(Buffer.from(h!, 'base64url').toString()) as { kid: string };
  const key = deriveKey(a.shared.appKey, header.kid, 'palisade/token-signing/v1');
  // Byte for byte what the earlier version signed: the real key and claims, the constant audience.
  const legacy = await new SignJWT({ ...claims(fromA), aud: 'palisade-api' }).setProtectedHeader({ alg: 'HS256', kid: header.kid, typ: 'JWT' }).sign(key);
  const res = await me(a, legacy);
  assert.equal(res.statusCode, 401);
  assert.equal(res.json().error.code, 'TOKEN_INVALID');
  // The control: the same claims with this deployment's audience pass.
  const current = await new SignJWT(claims(fromA)).setProtectedHeader({ alg: 'HS256', kid: header.kid, typ: 'JWT' }).sign(key);
  assert.equal((await me(a, current)).statusCode, 200);
});
