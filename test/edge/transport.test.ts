// Encrypted API bodies (EDGE-6) through the public HTTP surface, with the shipped client helper
// (src/client/transport.ts): the round trip, and every refusal with its stable code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader, generateKeyPair, importJWK, exportJWK, base64url } from 'jose';
import { deriveTransportKey } from '../../src/edge/transport.js';
import { answerKeyOf, JOSE, keyDocument, RESPONSE_KEY_HEADER, seal, type TransportKey } from '../../src/client/transport.js';
import { MAX_SEALED_ANSWER } from '../../src/http/pipeline/transport.js';
import { bearer, configProblems, login, makeApp, ROOT, useApp, type Res, type TestApp } from '../helpers/app.js';

const NOTES = '/api/collections/notes/records';

async function keyOf(t: TestApp): Promise<TransportKey> {
  const res = await t.app.inject({ method: 'GET', url: '/api/transport/key' });
  assert.equal(res.statusCode, 200, res.body);
  return keyDocument(res.json()).keys[0]!;
}

/** One encrypted call through the helper: the raw answer and the opened one. */
async function call(
  t: TestApp,
  key: TransportKey,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const sealed = await seal(key, method, url, body, { now: t.clock.now });
  const res = await t.app.inject({ method, url, headers: { ...sealed.headers, ...headers }, ...(sealed.body !== undefined ? { payload: sealed.body } : {}) });
  const opened = await sealed.open({ status: res.statusCode, contentType: res.headers['content-type'] ?? null, body: res.body });
  return { res, opened, json: opened.contentType.startsWith('application/json') && opened.text !== '' ? JSON.parse(opened.text) : undefined };
}

/** Sends a ready JWE body (asking for a plain answer, so that refusals read plainly). */
const sendJwe = (t: TestApp, token: string, method: 'POST' | 'PATCH', url: string, jwe: string) =>
  t.app.inject({ method, url, headers: { ...bearer(token), 'content-type': JOSE }, payload: jwe });

const codeOf = (res: Res): string => res.json().error.code;

async function count(t: TestApp, token: string): Promise<number> {
  const res = await t.app.inject({ method: 'GET', url: `${NOTES}?total=true`, headers: bearer(token) });
  assert.equal(res.statusCode, 200, res.body);
  return res.json().total;
}

/** A JWE made by hand: the header as given, encrypted to `to` (a public JWK); a string plaintext is sent as it is. */
async function handMade(to: Record<string, unknown>, header: Record<string, unknown>, plaintext: unknown): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(typeof plaintext === 'string' ? plaintext : JSON.stringify(plaintext)))
    .setProtectedHeader(header as { alg: string; enc: string })
    .encrypt(await importJWK({ kty: 'EC', crv: 'P-256', x: to.x, y: to.y } as never, String(header.alg)));
}

/** Like handMade, with our own epk: the answer is sealed under its agreement with `to`, and `read` opens it (asserting it came sealed). */
async function handMadeOwn(to: TransportKey, header: Record<string, unknown>, plaintext: string) {
  const pair = await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
  const jwe = await new CompactEncrypt(new TextEncoder().encode(plaintext))
    .setProtectedHeader(header as { alg: string; enc: string })
    .setKeyManagementParameters({ epk: pair.privateKey })
    .encrypt(await importJWK({ kty: 'EC', crv: 'P-256', x: to.x, y: to.y } as never, 'ECDH-ES'));
  const read = async (res: Res) => {
    assert.equal(res.headers['content-type'], JOSE, res.body);
    const k = await answerKeyOf(to, pair.privateKey as CryptoKey, decodeProtectedHeader(res.body).epk as { x: string; y: string });
    return JSON.parse(new TextDecoder().decode((await compactDecrypt(res.body, k, { keyManagementAlgorithms: ['dir'] })).plaintext));
  };
  return { jwe, read };
}

/** A public P-256 key of an attacker for the palisade-response-key header, and its private half. */
async function attackerKey() {
  const pair = await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
  const { kty, crv, x, y } = await exportJWK(pair.publicKey);
  return { privateKey: pair.privateKey, header: base64url.encode(JSON.stringify({ kty, crv, x, y })) };
}

/** Replaces the protected header of a compact JWE (the ciphertext stays as it was). */
function withHeader(jwe: string, edit: (h: Record<string, unknown>) => void): string {
  const parts = jwe.split('.');
  const h = JSON.parse(new TextDecoder().decode(base64url.decode(parts[0]!)));
  edit(h);
  parts[0] = base64url.encode(JSON.stringify(h));
  return parts.join('.');
}

async function makeNotes(t: TestApp, admin: string): Promise<void> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/admin/collections',
    headers: bearer(admin),
    payload: { name: 'notes', fields: [{ name: 'title', type: 'string', required: true }] },
  });
  assert.equal(res.statusCode, 201, res.body);
}

describe('encrypted API bodies, TRANSPORT_ENCRYPTION=optional (the default)', () => {
  let t: TestApp;
  let admin: string;
  let key: TransportKey;
  useApp(async (app, token) => {
    t = app;
    admin = token;
    await makeNotes(t, admin);
    key = await keyOf(t);
  });

  it('publishes a public P-256 key with kid, alg and use, and the mode [ASVS V11.6.2]', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/transport/key' });
    const doc = res.json();
    assert.equal(doc.mode, 'optional');
    assert.equal(doc.keys.length, 1);
    const k = doc.keys[0];
    assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.deepEqual([k.kty, k.crv, k.alg, k.use], ['EC', 'P-256', 'ECDH-ES', 'enc']);
    assert.match(k.kid, /^tk_k/);
    // Derived, not random: the same on every call (and every instance with the same APP_KEY).
    assert.deepEqual((await t.app.inject({ method: 'GET', url: '/api/transport/key' })).json(), doc);
  });

  it('round trip: an encrypted record create is validated, stored and answered sealed', async () => {
    const { res, opened, json } = await call(t, key, 'POST', NOTES, { title: 'secret-plan-7781' }, bearer(admin));
    assert.equal(res.statusCode, 201, opened.text);
    assert.equal(res.headers['content-type'], JOSE);
    assert.ok(!res.body.includes('secret-plan'), 'the answer is not plain');
    assert.equal(opened.sealed, true);
    assert.match(opened.contentType, /^application\/json/);
    assert.equal(json.title, 'secret-plan-7781');
    // Stored as plain data: a plain read finds it.
    const plain = await t.app.inject({ method: 'GET', url: `${NOTES}/${json.id}`, headers: bearer(admin) });
    assert.equal(plain.json().title, 'secret-plan-7781');
  });

  it('round trip: a list asked with a response key comes sealed, and the route schema applies to the plaintext', async () => {
    await call(t, key, 'POST', NOTES, { title: 'listed-note' }, bearer(admin));
    const url = `${NOTES}?sort=-title&perPage=5`;
    const { res, json } = await call(t, key, 'GET', url, undefined, bearer(admin));
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], JOSE);
    assert.ok(!res.body.includes('listed-note'));
    assert.ok(json.items.some((r: { title: string }) => r.title === 'listed-note'));
    // A streamed answer (an export) is read whole and sealed, with its own content type in `cty`.
    const csv = await call(t, key, 'GET', `${NOTES}/export?format=csv`, undefined, bearer(admin));
    assert.equal(csv.res.headers['content-type'], JOSE);
    assert.equal(csv.res.headers['content-disposition'], 'attachment; filename="notes.csv"');
    assert.match(csv.opened.contentType, /^text\/csv/);
    assert.match(csv.opened.text, /^.*title.*\n(.*\n)*.*listed-note/);
    // The plaintext meets the route's schema like a plain body: an unknown field is refused, in a sealed envelope.
    const bad = await call(t, key, 'POST', '/api/admin/collections', { name: 'x1', fields: [], extra: 1 }, bearer(admin));
    assert.equal(bad.res.statusCode, 400);
    assert.equal(bad.res.headers['content-type'], JOSE);
    assert.equal(bad.json.error.code, 'VALIDATION_FAILED');
    // And the JSON rules of plain bodies: proto poisoning, NUL characters, bad JSON, bad UTF-8 in the plaintext.
    const header = { alg: 'ECDH-ES', enc: 'A256GCM', kid: key.kid, iat: Math.floor(t.clock.now() / 1000), htm: 'POST', htu: NOTES };
    for (const [text, code] of [
      ['{"title":"a","__proto__":{"admin":true}}', 'UNSAFE_INPUT'],
      ['{"title":"a\\u0000b"}', 'NUL_CHARACTER'],
      ['{"title":', 'INVALID_JSON'],
      ['0', 'VALIDATION_FAILED'],
    ]) {
      // A JWE body is always answered sealed to its epk, so the refusal comes sealed too.
      const own = await handMadeOwn(key, header, text!);
      const res = await sendJwe(t, admin, 'POST', NOTES, own.jwe);
      assert.equal(res.statusCode, 400, text);
      assert.equal((await own.read(res)).error.code, code, text);
    }
  });

  it('refuses tampered ciphertext, tag, IV or header with TRANSPORT_BODY_INVALID, and nothing is written [ASVS V11.3.3, V11.2.5]', async () => {
    const before = await count(t, admin);
    const sealed = await seal(key, 'POST', NOTES, { title: 'tampered' }, { now: t.clock.now });
    const parts = sealed.body!.split('.');
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    for (const [name, index] of [
      ['ciphertext', 3],
      ['tag', 4],
      ['iv', 2],
    ] as const) {
      const p = [...parts];
      p[index] = flip(p[index]!, 1);
      const res = await sendJwe(t, admin, 'POST', NOTES, p.join('.'));
      assert.equal(res.statusCode, 400, name);
      assert.equal(codeOf(res), 'TRANSPORT_BODY_INVALID', name);
    }
    // A header re-encoded with a harmless extra space still fails: it is the authenticated data.
    const reencoded = [base64url.encode(`${new TextDecoder().decode(base64url.decode(parts[0]!))} `), ...parts.slice(1)].join('.');
    assert.equal(codeOf(await sendJwe(t, admin, 'POST', NOTES, reencoded)), 'TRANSPORT_BODY_INVALID');
    // Not a JWE at all.
    for (const junk of ['', 'a.b.c', 'x'.repeat(50), `${parts.slice(0, 4).join('.')}.`]) {
      assert.equal(codeOf(await sendJwe(t, admin, 'POST', NOTES, junk)), 'TRANSPORT_BODY_INVALID', junk);
    }
    // The untouched one goes through.
    const ok = await sendJwe(t, admin, 'POST', NOTES, sealed.body!);
    assert.equal(ok.statusCode, 201, ok.body);
    assert.equal(await count(t, admin), before + 1);
  });

  it('refuses a body encrypted to another key (TRANSPORT_BODY_INVALID) or naming an unknown kid (TRANSPORT_KEY_UNKNOWN)', async () => {
    const before = await count(t, admin);
    const other = await exportJWK((await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true })).publicKey);
    const iat = Math.floor(t.clock.now() / 1000);
    const header = { alg: 'ECDH-ES', enc: 'A256GCM', kid: key.kid, iat, htm: 'POST', htu: NOTES };
    const wrongKey = await handMade(other, header, { title: 'wrong key' });
    assert.equal(codeOf(await sendJwe(t, admin, 'POST', NOTES, wrongKey)), 'TRANSPORT_BODY_INVALID');
    for (const kid of ['tk_nope', 'nope', key.kid.slice(3)]) {
      const wrongKid = await handMade(key, { ...header, kid }, { title: 'wrong kid' });
      const res = await sendJwe(t, admin, 'POST', NOTES, wrongKid);
      assert.equal(res.statusCode, 400);
      assert.equal(codeOf(res), 'TRANSPORT_KEY_UNKNOWN', kid);
    }
    assert.equal(await count(t, admin), before);
  });

  it('binds the body to its method, target and time: a replay elsewhere or later is TRANSPORT_BODY_MISMATCH', async () => {
    const before = await count(t, admin);
    const sealed = await seal(key, 'POST', NOTES, { title: 'bound' }, { now: t.clock.now });
    const other = await t.app.inject({
      method: 'POST',
      url: '/api/admin/collections',
      headers: { ...bearer(admin), 'content-type': JOSE },
      payload: sealed.body!,
    });
    assert.equal(codeOf(other), 'TRANSPORT_BODY_MISMATCH');
    assert.deepEqual(other.json().error.details, { reason: 'target' });
    // The query is part of the target.
    assert.equal(codeOf(await sendJwe(t, admin, 'POST', `${NOTES}?x=1`, sealed.body!)), 'TRANSPORT_BODY_MISMATCH');
    const moved = await t.app.inject({ method: 'PATCH', url: `${NOTES}/abc`, headers: { ...bearer(admin), 'content-type': JOSE }, payload: sealed.body! });
    assert.equal(codeOf(moved), 'TRANSPORT_BODY_MISMATCH');
    assert.deepEqual(moved.json().error.details, { reason: 'method' });
    // Too old, and from too far in the future.
    t.clock.advance(61);
    const late = await sendJwe(t, admin, 'POST', NOTES, sealed.body!);
    assert.equal(codeOf(late), 'TRANSPORT_BODY_MISMATCH');
    assert.deepEqual(late.json().error.details, { reason: 'time' });
    const future = await seal(key, 'POST', NOTES, { title: 'future' }, { now: () => t.clock.now() + 61_000 });
    assert.deepEqual((await sendJwe(t, admin, 'POST', NOTES, future.body!)).json().error.details, { reason: 'time' });
    // Within the window it is accepted.
    const fresh = await seal(key, 'POST', NOTES, { title: 'fresh' }, { now: () => t.clock.now() - 59_000 });
    assert.equal((await sendJwe(t, admin, 'POST', NOTES, fresh.body!)).statusCode, 201);
    assert.equal(await count(t, admin), before + 1);
  });

  it('a body is good for one request: sent again, to this instance or another, it is TRANSPORT_BODY_REPLAYED', async () => {
    const before = await count(t, admin);
    const sealed = await seal(key, 'POST', NOTES, { title: 'once' }, { now: t.clock.now });
    assert.equal((await sendJwe(t, admin, 'POST', NOTES, sealed.body!)).statusCode, 201);
    const again = await sendJwe(t, admin, 'POST', NOTES, sealed.body!);
    assert.equal(again.statusCode, 409);
    assert.equal(again.headers['content-type'], JOSE, 'the refusal is sealed to the key of the body');
    const peer = await makeApp({ peerOf: t });
    try {
      const elsewhere = await sendJwe(peer, admin, 'POST', NOTES, sealed.body!);
      assert.equal(elsewhere.statusCode, 409);
    } finally {
      await peer.close();
    }
    assert.equal(await count(t, admin), before + 1);
    // The same request encrypted again is a new body: accepted.
    const fresh = await seal(key, 'POST', NOTES, { title: 'once' }, { now: t.clock.now });
    assert.equal((await sendJwe(t, admin, 'POST', NOTES, fresh.body!)).statusCode, 201);
  });

  it('refuses zip, other algorithms, extra header members and bad epks [ASVS V11.6.2, V11.3.2]', async () => {
    const before = await count(t, admin);
    const iat = Math.floor(t.clock.now() / 1000);
    const header = { alg: 'ECDH-ES', enc: 'A256GCM', kid: key.kid, iat, htm: 'POST', htu: NOTES };
    const base = (await seal(key, 'POST', NOTES, { title: 'x' }, { now: t.clock.now })).body!;
    const cases: Array<[string, string]> = [
      ['zip', withHeader(base, (h) => (h.zip = 'DEF'))],
      ['crit', withHeader(base, (h) => (h.crit = ['htm']))],
      // Properly encrypted with the extra member: only the allow-list refuses these.
      ['jku', await handMade(key, { ...header, jku: 'https://evil.example/jwks' }, { title: 'x' })],
      ['cty', await handMade(key, { ...header, cty: 'text/plain' }, { title: 'x' })],
      ['apu', await handMade(key, { ...header, apu: 'QWxpY2U' }, { title: 'x' })],
      ['private epk', withHeader(base, (h) => ((h.epk as Record<string, unknown>).d = 'AAAA'))],
      ['epk off P-256', withHeader(base, (h) => ((h.epk as Record<string, unknown>).crv = 'P-384'))],
      ['alg none', withHeader(base, (h) => (h.alg = 'none'))],
      ['A128GCM', await handMade(key, { ...header, enc: 'A128GCM' }, { title: 'x' })],
      ['ECDH-ES+A256KW', await handMade(key, { ...header, alg: 'ECDH-ES+A256KW' }, { title: 'x' })],
      ['no iat', withHeader(base, (h) => delete h.iat)],
    ];
    for (const [name, jwe] of cases) {
      const res = await sendJwe(t, admin, 'POST', NOTES, jwe);
      assert.equal(res.statusCode, 400, name);
      assert.equal(codeOf(res), 'TRANSPORT_BODY_INVALID', name);
    }
    assert.equal(await count(t, admin), before);
  });

  it('bounds sizes: an over-long protected header is TRANSPORT_BODY_INVALID, a body over BODY_LIMIT PAYLOAD_TOO_LARGE', async () => {
    const base = (await seal(key, 'POST', NOTES, { title: 'x' }, { now: t.clock.now })).body!;
    const long = withHeader(base, (h) => (h.htu = `${NOTES}${'#'.repeat(1200)}`));
    assert.equal(codeOf(await sendJwe(t, admin, 'POST', NOTES, long)), 'TRANSPORT_BODY_INVALID');
    const big = await seal(key, 'POST', NOTES, { title: 'y'.repeat(1_100_000) }, { now: t.clock.now });
    const res = await sendJwe(t, admin, 'POST', NOTES, big.body!);
    assert.equal(res.statusCode, 413);
    assert.equal(codeOf(res), 'PAYLOAD_TOO_LARGE');
  });

  it('seals error envelopes once the response key is known; refuses a missing or bad response key', async () => {
    const missing = await call(t, key, 'GET', '/api/collections/nope/records', undefined, bearer(admin));
    assert.equal(missing.res.headers['content-type'], JOSE);
    assert.ok(missing.res.statusCode >= 400);
    assert.ok(['NOT_FOUND', 'FORBIDDEN'].includes(missing.json.error.code));
    // The response key is read before authentication, so even AUTH_REQUIRED comes sealed.
    const anon = await call(t, key, 'GET', NOTES);
    assert.equal(anon.res.headers['content-type'], JOSE);
    assert.equal(anon.json.error.code, 'AUTH_REQUIRED');
    for (const value of [
      'not-base64!',
      base64url.encode('{"kty":"EC"}'),
      base64url.encode(JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(43) })),
    ]) {
      const res = await t.app.inject({ method: 'GET', url: NOTES, headers: { ...bearer(admin), accept: JOSE, [RESPONSE_KEY_HEADER]: value } });
      assert.equal(res.statusCode, 400, value);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal(codeOf(res), 'TRANSPORT_RESPONSE_KEY_INVALID', value);
    }
    const noKey = await t.app.inject({ method: 'GET', url: NOTES, headers: { ...bearer(admin), accept: JOSE } });
    assert.equal(codeOf(noKey), 'TRANSPORT_RESPONSE_KEY_INVALID');
    // A JWE body is answered sealed to its epk even when the answer is not asked sealed (D175).
    const unasked = await seal(key, 'POST', NOTES, { title: 'sealed unasked' }, { now: t.clock.now });
    const unaskedRes = await sendJwe(t, admin, 'POST', NOTES, unasked.body!);
    assert.equal(unaskedRes.statusCode, 201);
    assert.equal(unaskedRes.headers['content-type'], JOSE);
    assert.ok(!unaskedRes.body.includes('sealed unasked'));
    const opened = await unasked.open({ status: unaskedRes.statusCode, contentType: unaskedRes.headers['content-type'] ?? null, body: unaskedRes.body });
    assert.equal(JSON.parse(opened.text).title, 'sealed unasked');
    // The helper refuses a plain successful answer to a request that asked for a sealed one.
    const sealed = await seal(key, 'GET', NOTES);
    await assert.rejects(sealed.open({ status: 200, contentType: 'application/json', body: '{"items":[]}' }), /plain text/);
  });

  it('review F1 (optional): a JWE body is answered only to its own epk, never to a response key or in plain', async () => {
    const victim = await seal(key, 'POST', '/api/auth/login', { username: ROOT.username, password: ROOT.password }, { now: t.clock.now });
    const a = await attackerKey();
    for (const headers of [
      { 'content-type': JOSE, accept: JOSE, [RESPONSE_KEY_HEADER]: a.header },
      { 'content-type': JOSE, [RESPONSE_KEY_HEADER]: a.header },
    ]) {
      const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', headers, payload: victim.body! });
      assert.equal(res.statusCode, 400);
      assert.equal(codeOf(res), 'TRANSPORT_RESPONSE_KEY_INVALID');
    }
    // Without Accept: application/jose, the replay gets a sealed answer the attacker cannot open.
    const noAccept = await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': JOSE }, payload: victim.body! });
    assert.equal(noAccept.headers['content-type'], JOSE);
    assert.ok(!noAccept.body.includes('token'));
    await assert.rejects(compactDecrypt(noAccept.body, a.privateKey));
    // The legitimate client opens its own answer.
    const opened = await victim.open({ status: noAccept.statusCode, contentType: noAccept.headers['content-type'] ?? null, body: noAccept.body });
    assert.equal(typeof JSON.parse(opened.text).token, 'string');
    const signIn = await call(t, key, 'POST', '/api/auth/login', { username: ROOT.username, password: ROOT.password });
    assert.equal(signIn.res.statusCode, 200);
  });

  it('review F4: answers are authenticated: one sealed to the client key from public data only is refused', async () => {
    const get = await seal(key, 'GET', NOTES);
    const pub = JSON.parse(new TextDecoder().decode(base64url.decode(get.headers[RESPONSE_KEY_HEADER]!)));
    assert.equal(pub.kid, key.kid);
    const forged = await new CompactEncrypt(new TextEncoder().encode('{"items":[{"title":"FORGED"}],"total":1}'))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', cty: 'application/json', htm: 'GET', htu: NOTES })
      .encrypt(await importJWK({ kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y }, 'ECDH-ES'));
    await assert.rejects(get.open({ status: 200, contentType: JOSE, body: forged }));
    // A `dir` answer under a key of the forger's choosing does not open either.
    const dirForged = await new CompactEncrypt(new TextEncoder().encode('{"items":[]}'))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'application/json', htm: 'GET', htu: NOTES })
      .encrypt(crypto.getRandomValues(new Uint8Array(32)));
    await assert.rejects(get.open({ status: 200, contentType: JOSE, body: dirForged }));
    // A response key naming an unknown server key is refused before anything runs.
    const unknownKid = base64url.encode(JSON.stringify({ kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid: 'tk_nope' }));
    const res = await t.app.inject({ method: 'GET', url: NOTES, headers: { ...bearer(admin), accept: JOSE, [RESPONSE_KEY_HEADER]: unknownKid } });
    assert.equal(codeOf(res), 'TRANSPORT_KEY_UNKNOWN');
    // The server's own answer opens, and is `dir` under the answer key.
    const real = await t.app.inject({ method: 'GET', url: NOTES, headers: { ...bearer(admin), ...get.headers } });
    assert.equal(JSON.parse(new TextDecoder().decode(base64url.decode(real.body.split('.')[0]!))).alg, 'dir');
    const opened = await get.open({ status: real.statusCode, contentType: real.headers['content-type'] ?? null, body: real.body });
    assert.equal(opened.sealed, true);
    assert.ok(Array.isArray(JSON.parse(opened.text).items));
  });

  it('review F4/F6: the helper accepts a plain answer only for 204, HEAD or a listed pre-key error; answers are capped at 8 MiB', async () => {
    const get = await seal(key, 'GET', NOTES);
    const plain = (status: number, contentType: string | null, body: string) => get.open({ status, contentType, body });
    await assert.rejects(plain(200, 'application/json', ''), /plain text/);
    await assert.rejects(plain(200, 'application/json', '{"items":[]}'), /plain text/);
    await assert.rejects(plain(302, 'text/html', 'moved'), /plain text/);
    await assert.rejects(plain(400, 'application/json', '{"error":{"code":"VALIDATION_FAILED"}}'), /plain text/);
    await assert.rejects(plain(403, 'text/plain', 'denied'), /plain text/);
    assert.equal((await plain(204, null, '')).sealed, false);
    assert.equal((await plain(400, 'application/json', '{"error":{"code":"TRANSPORT_KEY_UNKNOWN"}}')).sealed, false);
    assert.equal((await plain(401, 'application/json; charset=utf-8', '{"error":{"code":"AUTH_REQUIRED"}}')).sealed, false);
    const head = await seal(key, 'HEAD', NOTES);
    assert.equal((await head.open({ status: 200, contentType: 'application/json', body: '' })).sealed, false);
    // The legitimate round trip still opens, and an error after the key is known comes sealed.
    const anon = await call(t, key, 'GET', NOTES);
    assert.equal(anon.opened.sealed, true);
    assert.equal(MAX_SEALED_ANSWER, 8 * 1024 * 1024);
  });

  it('a rotation publishes a new key; the old one opens requests for ten minutes more', async () => {
    const old = key;
    const rotated = await t.app.inject({ method: 'POST', url: '/api/admin/keys/rotate', headers: bearer(admin) });
    assert.equal(rotated.statusCode, 200, rotated.body);
    const fresh = await keyOf(t);
    assert.notEqual(fresh.kid, old.kid);
    assert.notEqual(fresh.x, old.x);
    const token = (await login(t)).token;
    assert.equal((await call(t, old, 'POST', NOTES, { title: 'old key' }, bearer(token))).res.statusCode, 201);
    t.clock.advance(9 * 60);
    const token2 = (await login(t)).token;
    assert.equal((await call(t, old, 'POST', NOTES, { title: 'old key later' }, bearer(token2))).res.statusCode, 201);
    t.clock.advance(2 * 60);
    const token3 = (await login(t)).token;
    const late = await sendJwe(t, token3, 'POST', NOTES, (await seal(old, 'POST', NOTES, { title: 'too late' }, { now: t.clock.now })).body!);
    assert.equal(codeOf(late), 'TRANSPORT_KEY_UNKNOWN');
    assert.equal((await call(t, fresh, 'POST', NOTES, { title: 'new key' }, bearer(token3))).res.statusCode, 201);
    key = fresh;
  });
});

describe('TRANSPORT_ENCRYPTION=required', () => {
  let t: TestApp;
  let key: TransportKey;
  // Not useApp: its plain sign-in is refused here.
  before(async () => {
    t = await makeApp({ env: { TRANSPORT_ENCRYPTION: 'required', METRICS_TOKEN: 'metrics-token-for-the-transport-test-0042' } });
    key = await keyOf(t);
    const token = (await call(t, key, 'POST', '/api/auth/login', { username: ROOT.username, password: ROOT.password })).json.token;
    const made = await call(
      t,
      key,
      'POST',
      '/api/admin/collections',
      { name: 'notes', fields: [{ name: 'title', type: 'string', required: true }] },
      bearer(token),
    );
    assert.equal(made.res.statusCode, 201, made.opened.text);
  });
  after(() => t?.close());

  it('signs in, creates and lists records only encrypted', async () => {
    const signIn = await call(t, key, 'POST', '/api/auth/login', { username: ROOT.username, password: ROOT.password });
    assert.equal(signIn.res.statusCode, 200, signIn.opened.text);
    assert.ok(!signIn.res.body.includes(signIn.json.token), 'the token is not in the clear');
    const token: string = signIn.json.token;
    assert.equal((await call(t, key, 'POST', NOTES, { title: 'required-note' }, bearer(token))).res.statusCode, 201);
    const list = await call(t, key, 'GET', NOTES, undefined, bearer(token));
    assert.equal(list.res.statusCode, 200);
    assert.deepEqual(
      list.json.items.map((r: { title: string }) => r.title),
      ['required-note'],
    );
    // A DELETE without a body that asks for a sealed answer is fine.
    const id = list.json.items[0].id;
    assert.equal((await call(t, key, 'DELETE', `${NOTES}/${id}`, undefined, bearer(token))).res.statusCode, 204);
  });

  it('refuses plain bodies and plain answers with TRANSPORT_ENCRYPTION_REQUIRED, before anything is read or written', async () => {
    const plainSignIn = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password } });
    assert.equal(plainSignIn.statusCode, 403);
    assert.equal(codeOf(plainSignIn), 'TRANSPORT_ENCRYPTION_REQUIRED');
    const token = (await call(t, key, 'POST', '/api/auth/login', { username: ROOT.username, password: ROOT.password })).json.token;
    for (const [method, url, payload] of [
      ['GET', NOTES, undefined],
      ['POST', NOTES, { title: 'plain' }],
      ['GET', '/api/auth/me', undefined],
      ['GET', '/api/openapi.json', undefined],
      ['GET', '/api/no-such-route', undefined],
    ] as const) {
      const res = await t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
      assert.equal(res.statusCode, 403, `${method} ${url}`);
      assert.equal(codeOf(res), 'TRANSPORT_ENCRYPTION_REQUIRED');
    }
    // A plain body with a sealed answer asked: refused, and the refusal is sealed.
    const sealed = await seal(key, 'POST', NOTES);
    const res = await t.app.inject({ method: 'POST', url: NOTES, headers: { ...bearer(token), ...sealed.headers }, payload: { title: 'plain body' } });
    assert.equal(res.statusCode, 403);
    const opened = await sealed.open({ status: res.statusCode, contentType: res.headers['content-type'] ?? null, body: res.body });
    assert.equal(opened.sealed, true);
    assert.equal(JSON.parse(opened.text).error.code, 'TRANSPORT_ENCRYPTION_REQUIRED');
    // A JWE body without Accept: application/jose counts as asking; its answer is sealed to the body's epk.
    const unasked = await seal(key, 'POST', NOTES, { title: 'sealed unasked' }, { now: t.clock.now });
    const unaskedRes = await sendJwe(t, token, 'POST', NOTES, unasked.body!);
    assert.equal(unaskedRes.statusCode, 201);
    assert.equal(unaskedRes.headers['content-type'], JOSE);
    const list = await call(t, key, 'GET', NOTES, undefined, bearer(token));
    assert.deepEqual(
      list.json.items.map((r: { title: string }) => r.title),
      ['sealed unasked'],
    );
    await call(t, key, 'DELETE', `${NOTES}/${list.json.items[0].id}`, undefined, bearer(token));
  });

  it('review F1: a captured login JWE replayed with an attacker response key is refused; the client still signs in', async () => {
    const victim = await seal(key, 'POST', '/api/auth/login', { username: ROOT.username, password: ROOT.password }, { now: t.clock.now });
    const a = await attackerKey();
    const replay = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      headers: { 'content-type': JOSE, accept: JOSE, [RESPONSE_KEY_HEADER]: a.header },
      payload: victim.body!,
    });
    assert.equal(replay.statusCode, 400);
    assert.equal(codeOf(replay), 'TRANSPORT_RESPONSE_KEY_INVALID');
    assert.ok(!replay.body.includes('token'));
    // Replayed as it was, the answer is sealed to the victim's epk: the attacker's key does not open it.
    const again = await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: victim.headers, payload: victim.body! });
    assert.equal(again.headers['content-type'], JOSE);
    await assert.rejects(compactDecrypt(again.body, a.privateKey));
    // The legitimate client: its sealed sign-in works and opens.
    const signIn = await call(t, key, 'POST', '/api/auth/login', { username: ROOT.username, password: ROOT.password });
    assert.equal(signIn.res.statusCode, 200);
    assert.equal(typeof signIn.json.token, 'string');
  });

  it('review F2: a GET/HEAD or an empty body labelled application/jose cannot stand in for the response key', async () => {
    const token = (await call(t, key, 'POST', '/api/auth/login', { username: ROOT.username, password: ROOT.password })).json.token;
    await call(t, key, 'POST', NOTES, { title: 'TOP-SECRET-RECORD' }, bearer(token));
    const jose = { ...bearer(token), accept: JOSE, 'content-type': JOSE };
    for (const url of [NOTES, '/api/auth/me', '/api/admin/users', `${NOTES}/export?format=csv`]) {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await t.app.inject({ method, url, headers: jose });
        assert.equal(res.statusCode, 400, `${method} ${url}`);
        assert.ok(!res.body.includes('TOP-SECRET') && !res.body.includes(ROOT.username), `${method} ${url}`);
        if (method === 'GET') assert.equal(codeOf(res), 'TRANSPORT_BODY_INVALID');
      }
    }
    for (const method of ['POST', 'DELETE'] as const) {
      const res = await t.app.inject({ method, url: `${NOTES}/x`, headers: { ...jose, 'content-length': '0' } });
      assert.equal(res.statusCode, 400, method);
      assert.equal(codeOf(res), 'TRANSPORT_BODY_INVALID');
    }
    // The legitimate client reads the same routes sealed.
    const list = await call(t, key, 'GET', NOTES, undefined, bearer(token));
    assert.equal(list.res.statusCode, 200);
    assert.ok(list.json.items.some((r: { title: string }) => r.title === 'TOP-SECRET-RECORD'));
    const csv = await call(t, key, 'GET', `${NOTES}/export?format=csv`, undefined, bearer(token));
    assert.match(csv.opened.text, /TOP-SECRET-RECORD/);
    await call(t, key, 'DELETE', `${NOTES}/${list.json.items[0].id}`, undefined, bearer(token));
  });

  it('lets health probes, metrics and the published key through in plain', async () => {
    for (const url of ['/healthz', '/readyz', '/api/transport/key']) {
      const res = await t.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), /^application\/json/);
    }
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/transport/key' })).json().mode, 'required');
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics', headers: bearer('metrics-token-for-the-transport-test-0042') });
    assert.equal(metrics.statusCode, 200);
  });
});

describe('TRANSPORT_ENCRYPTION=off', () => {
  let t: TestApp;
  let admin: string;
  let optionalKey: TransportKey;
  useApp(
    async (app, token) => {
      t = app;
      admin = token;
      await makeNotes(t, admin);
    },
    { env: { TRANSPORT_ENCRYPTION: 'off' } },
  );

  it('publishes no key and refuses the protocol with TRANSPORT_ENCRYPTION_OFF; plain requests are served', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/api/transport/key' })).json();
    assert.deepEqual(doc, { mode: 'off', keys: [] });
    // A key as an optional server would publish it (the same derivation): the body is still refused.
    const ring = await t.s.keys.current();
    optionalKey = deriveTransportKey(t.shared.appKey, ring.kid).publicJwk;
    const before = await count(t, admin);
    const body = (await seal(optionalKey, 'POST', NOTES, { title: 'x' }, { now: t.clock.now })).body!;
    const res = await sendJwe(t, admin, 'POST', NOTES, body);
    assert.equal(res.statusCode, 400);
    assert.equal(codeOf(res), 'TRANSPORT_ENCRYPTION_OFF');
    const sealed = await seal(optionalKey, 'GET', NOTES);
    const get = await t.app.inject({ method: 'GET', url: NOTES, headers: { ...bearer(admin), ...sealed.headers } });
    assert.equal(codeOf(get), 'TRANSPORT_ENCRYPTION_OFF');
    assert.equal(await count(t, admin), before);
    const plain = await t.app.inject({ method: 'POST', url: NOTES, headers: bearer(admin), payload: { title: 'plain' } });
    assert.equal(plain.statusCode, 201);
  });
});

describe('TRANSPORT_ENCRYPTION in the configuration', () => {
  it('accepts off, optional and required, and refuses anything else', () => {
    for (const v of ['off', 'optional', 'required', 'Required']) assert.deepEqual(configProblems({ TRANSPORT_ENCRYPTION: v }), [], v);
    assert.deepEqual(configProblems({ TRANSPORT_ENCRYPTION: 'on' }), ['TRANSPORT_ENCRYPTION must be off, optional or required']);
  });
});
