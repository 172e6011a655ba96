import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { cookies, createUser, login } from '../../helpers/app.js';
import { PW, enrolTotp, totp } from '../mfa/world.js';
import { go, Jar, signOutAtPeer } from './browser.js';
import { startCraftedPeer, startOidcPeer, type CraftedPeer, type OidcPeer } from './peers.js';
import { addProvider, api, eventsOf, finish, me, SESSION_COOKIE, startPalisade, toCallback, type SsoWorld } from './world.js';

// AUTH-13, OIDC back-channel logout (OpenID Connect Back-Channel Logout 1.0): signing out at a real provider
// (oidc-provider) ends the Palisade sessions its sign-ins opened, and only those; a crafted provider's logout tokens
// show each check refusing a token that is wrong in one way, and a right one getting through.

const EVENT = { 'http://schemas.openid.net/event/backchannel-logout': {} };
/** The refusals that come after the provider's signature was verified: the only ones recorded. */
const SIGNED_CASES = new Set([
  'another issuer',
  'another audience',
  'no events claim',
  'another event',
  'a nonce (an ID token)',
  'no jti',
  'issued ten minutes ago',
  'issued in the future',
  'expired',
  'neither sub nor sid',
  'two audiences, and we are not the authorised party',
]);

describe('OIDC back-channel logout against oidc-provider', () => {
  let w: SsoWorld;
  let peer: OidcPeer;

  before(async () => {
    w = await startPalisade();
    peer = await startOidcPeer([`${w.base}/api/auth/sso/corp/callback`], {
      uri: `${w.base}/api/auth/sso/corp/backchannel-logout`,
      sessionRequired: true,
    });
    await addProvider(w, 'corp', peer.issuer, peer.clientSecret, { oidc: { scopes: ['email', 'profile'] } });
  });
  after(async () => {
    await w?.close();
    await peer?.close();
  });

  it("signing out at the provider ends the session its sign-in opened, and no one else's [ASVS V7.6.1]", async () => {
    peer.accounts.set('lin', { email: 'lin@corp.test', email_verified: true, preferred_username: 'lin' });
    peer.accounts.set('max', { email: 'max@corp.test', email_verified: true, preferred_username: 'max' });
    const lin = new Jar();
    await finish(w, lin, await toCallback(w, lin, 'corp', 'lin'));
    const max = new Jar();
    await finish(w, max, await toCallback(w, max, 'corp', 'max'));
    const linUser = (await me(w, lin)).user;
    assert.equal((await me(w, max)).status, 200);
    // The session remembers the provider's session (sid), which the logout token names.
    const row = await w.t.s.db.selectFrom('sessions').selectAll().where('user_id', '=', linUser.id).executeTakeFirstOrThrow();
    assert.equal(row.sso_provider, 'corp');
    assert.equal(row.sso_subject, 'lin');
    assert.ok(row.sso_sid, 'the ID token carried a sid');

    await signOutAtPeer(lin, peer.issuer);

    assert.equal((await me(w, lin)).status, 401, 'lin is signed out of Palisade');
    assert.equal((await me(w, max)).status, 200, "max's session is untouched");
    const ended = (await eventsOf(w, 'sso.logout')).filter((e) => e.outcome === 'success');
    assert.equal(ended.length, 1);
    assert.equal(ended[0].subjectId, linUser.id);
    assert.deepEqual(ended[0].details, { provider: 'corp', ended: 1, by: 'session' });
    const sessionEnded = (await eventsOf(w, 'session.ended')).filter((e) => e.subjectId === linUser.id);
    assert.equal(sessionEnded[0].details.reason, 'sso_logout');
  });

  it('a user who proved a second factor after the provider gets a session the logout still ends, recorded as an SSO sign-in', async () => {
    // A local user with a password and TOTP, linked by an administrator to the provider's subject "kim".
    const id = await createUser(w.t, w.admin, 'kim', PW, { email: 'kim@example.org' });
    const { secret } = await enrolTotp(w.t, (await login(w.t, 'kim', PW)).token);
    w.t.clock.advance(30);
    assert.equal((await api(w, 'POST', `/api/admin/users/${id}/sso-links`, { provider: 'corp', subject: 'kim' })).status, 204);
    peer.accounts.set('kim', { preferred_username: 'kim' });
    const jar = new Jar();
    const landed = await finish(w, jar, await toCallback(w, jar, 'corp', 'kim'));
    const challengeToken = new URLSearchParams(landed.split('#')[1]).get('mfa');
    assert.ok(challengeToken, `a second step: ${landed}`);
    const verified = await w.t.app.inject({
      method: 'POST',
      url: '/api/auth/mfa/verify',
      payload: { challengeToken, method: 'totp', code: totp(w.t, secret) },
    });
    assert.equal(verified.statusCode, 200, verified.body);
    // The SSO flow asked for a browser session: the second step answers with its cookie.
    const cookie = `${SESSION_COOKIE}=${cookies(verified)[SESSION_COOKIE]!.value}`;
    const byCookie = async () => (await w.t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } })).statusCode;
    const login2 = (await eventsOf(w, 'auth.login')).find((e) => e.subjectId === id && e.outcome === 'success' && e.details.provider === 'corp');
    assert.ok(login2, 'the sign-in is recorded as the SSO sign-in it was');
    assert.equal(login2.details.method, 'sso');
    assert.equal(login2.details.secondFactor, 'totp');
    assert.equal(await byCookie(), 200);
    // Kim's own password sign-in (no provider), made meanwhile, is not the provider's to end.
    const first = await w.t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'kim', password: PW } });
    w.t.clock.advance(30);
    const own = await w.t.app.inject({
      method: 'POST',
      url: '/api/auth/mfa/verify',
      payload: { challengeToken: first.json().error.details.challengeToken, method: 'totp', code: totp(w.t, secret) },
    });
    assert.equal(own.statusCode, 200, own.body);

    await signOutAtPeer(jar, peer.issuer);

    assert.equal(await byCookie(), 401, 'the session opened by the second step is ended');
    const ownToken = own.json().token as string;
    assert.ok(ownToken);
    assert.equal((await api(w, 'GET', '/api/auth/me', undefined, ownToken)).status, 200);
  });
});

describe('OIDC back-channel logout: each check of the logout token', () => {
  let w: SsoWorld;
  let peer: CraftedPeer;

  before(async () => {
    w = await startPalisade();
    peer = await startCraftedPeer('palisade');
    await addProvider(w, 'crafted', peer.issuer, 'a-client-secret-for-the-crafted-peer', { oidc: { userinfo: false } });
  });
  after(async () => {
    await w?.close();
    await peer?.close();
  });

  const post = (token: string, slug = 'crafted') =>
    w.t.app.inject({
      method: 'POST',
      url: `/api/auth/sso/${slug}/backchannel-logout`,
      payload: new URLSearchParams({ logout_token: token }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: peer.issuer,
    aud: 'palisade',
    iat: Math.floor(Date.now() / 1000),
    jti: randomBytes(12).toString('base64url'),
    sub: 'crafted-1',
    events: EVENT,
    ...extra,
  });
  /** Signs the crafted peer's subject in through a real code flow; answers the session cookie jar. */
  async function signedIn(sub: string): Promise<Jar> {
    peer.next = { mode: 'good', sub, claims: { email: `${sub}@crafted.test`, email_verified: true, preferred_username: sub } };
    const jar = new Jar();
    const start = await go(jar, `${w.base}/api/auth/sso/crafted/start`);
    const atProvider = await go(jar, start.headers.get('location')!);
    await finish(w, jar, atProvider.headers.get('location')!);
    assert.equal((await me(w, jar)).status, 200);
    return jar;
  }

  it('refuses tokens wrong in one way each, and records each refusal [ASVS V10.5.5]', async () => {
    const jar = await signedIn('crafted-1');
    // Another provider's key: its server is closed at once, so that a failing check below leaves nothing open.
    const other = await startCraftedPeer('palisade');
    const foreign = await other.sign(claims()).finally(() => other.close());
    const cases: Array<[string, Promise<string>]> = [
      ['alg none', peer.sign(claims(), { alg: 'none' })],
      ['HS256 with the client secret', Promise.resolve(hs256(claims()))],
      ["another provider's key", Promise.resolve(foreign)],
      ['another issuer', peer.sign(claims({ iss: 'http://127.0.0.1:1/elsewhere' }))],
      ['another audience', peer.sign(claims({ aud: 'someone-else' }))],
      ['no events claim', peer.sign(claims({ events: undefined }))],
      ['another event', peer.sign(claims({ events: { 'http://schemas.openid.net/event/other': {} } }))],
      ['a nonce (an ID token)', peer.sign(claims({ nonce: 'n-0S6_WzA2Mj' }))],
      ['no jti', peer.sign(claims({ jti: undefined }))],
      ['issued ten minutes ago', peer.sign(claims({ iat: Math.floor(Date.now() / 1000) - 600 }))],
      ['issued in the future', peer.sign(claims({ iat: Math.floor(Date.now() / 1000) + 600 }))],
      ['expired', peer.sign(claims({ exp: Math.floor(Date.now() / 1000) - 120 }))],
      ['neither sub nor sid', peer.sign(claims({ sub: undefined }))],
      ['an access token type', peer.sign(claims(), { alg: 'RS256', kid: 'c1', typ: 'at+jwt' })],
      ['not a JWT', Promise.resolve('not.a.jwt')],
      // The same key published without an alg (kid c2): only Palisade's allow-list (the provider's idTokenAlg) refuses it.
      ['RS384 where RS256 is configured', peer.sign(claims(), { alg: 'RS384', kid: 'c2' })],
      ['two audiences, and we are not the authorised party', peer.sign(claims({ aud: ['palisade', 'another-client'] }))],
    ];
    for (const [name, token] of cases) {
      const r = await post(await token);
      assert.equal(r.statusCode, 400, `${name}: ${r.body}`);
      assert.equal(r.json().error.code, 'SSO_LOGOUT_INVALID', name);
    }
    assert.equal((await me(w, jar)).status, 200, 'no refused token ended the session');
    // Only what the provider's key signed is recorded: junk anyone can post is not (D340).
    const refused = (await eventsOf(w, 'sso.logout')).filter((e) => e.outcome === 'failure');
    assert.equal(refused.length, cases.filter(([name]) => SIGNED_CASES.has(name)).length);
    // Unknown, or not an OIDC provider: nothing to log out of.
    assert.equal((await post(await peer.sign(claims()), 'nobody')).statusCode, 404);
  });

  it('a right token ends every session of the subject; the same token again is a replay [ASVS V10.5.5]', async () => {
    const a = await signedIn('crafted-2');
    const b = await signedIn('crafted-2');
    const bystander = await signedIn('crafted-3');
    const token = await peer.sign(claims({ sub: 'crafted-2', typ: undefined }), { alg: 'RS256', kid: 'c1', typ: 'logout+jwt' });
    const r = await post(token);
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal((await me(w, a)).status, 401);
    assert.equal((await me(w, b)).status, 401);
    assert.equal((await me(w, bystander)).status, 200);
    const ok = (await eventsOf(w, 'sso.logout')).find((e) => e.outcome === 'success');
    assert.deepEqual(ok.details, { provider: 'crafted', ended: 2, by: 'subject' });
    const again = await post(token);
    assert.equal(again.statusCode, 400);
    assert.equal(again.json().error.code, 'SSO_LOGOUT_INVALID');
    // A token naming a session that is not live is still answered 200 (the provider needs no more), and ends nothing.
    assert.equal((await post(await peer.sign(claims({ sub: undefined, sid: 'no-such-session' })))).statusCode, 200);
    assert.equal((await me(w, bystander)).status, 200);
    // The same key without an alg in the key set, used with the configured algorithm: accepted (the refusal above was the alg).
    // Both a sub and a sid: a session of that subject whose sign-in named no sid is ended too (it may be that one).
    const both = await peer.sign(claims({ sub: 'crafted-3', sid: 'idp-session-9', aud: ['palisade', 'another-client'], azp: 'palisade' }), {
      alg: 'RS256',
      kid: 'c2',
    });
    assert.equal((await post(both)).statusCode, 200);
    assert.equal((await me(w, bystander)).status, 401);
  });

  it("one provider's logout never reaches another's sessions, nor those of a provider deleted and added again", async () => {
    const second = await startCraftedPeer('palisade');
    try {
      await addProvider(w, 'second', second.issuer, 'a-client-secret-for-the-second-peer', { oidc: { userinfo: false } });
      const atFirst = await signedIn('shared-sub');
      second.next = { mode: 'good', sub: 'shared-sub', claims: { email: 'other@second.test', email_verified: true, preferred_username: 'other' } };
      const atSecond = new Jar();
      const start = await go(atSecond, `${w.base}/api/auth/sso/second/start`);
      await finish(w, atSecond, (await go(atSecond, start.headers.get('location')!)).headers.get('location')!);
      assert.equal((await me(w, atSecond)).status, 200);
      // The first provider's token posted at the second: not its key, refused.
      assert.equal((await post(await peer.sign(claims({ sub: 'shared-sub' })), 'second')).statusCode, 400);
      // The second provider's own token ends its session only.
      const own = await second.sign({ ...claims({ sub: 'shared-sub' }), iss: second.issuer });
      assert.equal((await post(own, 'second')).statusCode, 200);
      assert.equal((await me(w, atSecond)).status, 401);
      assert.equal((await me(w, atFirst)).status, 200);
      // Deleted and added again under the same slug: the sessions the old provider opened are no longer its to end.
      assert.equal((await api(w, 'DELETE', '/api/admin/sso/providers/crafted')).status, 204);
      await addProvider(w, 'crafted', peer.issuer, 'a-client-secret-for-the-crafted-peer', { oidc: { userinfo: false } });
      assert.equal((await post(await peer.sign(claims({ sub: 'shared-sub' })))).statusCode, 200);
      assert.equal((await me(w, atFirst)).status, 200);
    } finally {
      await second.close();
    }
  });

  it('a malformed request is a 4xx, never a 5xx', async () => {
    const bare = (payload: string, type = 'application/x-www-form-urlencoded') =>
      w.t.app.inject({ method: 'POST', url: '/api/auth/sso/crafted/backchannel-logout', payload, headers: { 'content-type': type } });
    for (const [payload, type] of [
      ['', undefined],
      ['logout_token=', undefined],
      ['logout_token=a&logout_token=b', undefined],
      [`logout_token=${'x'.repeat(20000)}`, undefined],
      ['{"logout_token":"x.y.z"}', 'application/json'],
      ['logout_token=x.y.z&extra=1', undefined],
    ] as const) {
      const r = await bare(payload, type);
      assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${payload.slice(0, 40)}: ${r.statusCode}`);
    }
  });
});

/** An HS256 token keyed with a client secret: never accepted (the provider's algorithm is asymmetric). */
function hs256(c: Record<string, unknown>): string {
  const b = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b({ alg: 'HS256' })}.${b(c)}`;
  return `${head}.${createHmac('sha256', 'a-client-secret-for-the-crafted-peer').update(head).digest('base64url')}`;
}
