// Bug class: session fixation across sign-ins. A sign-in that arrives carrying a session (a cookie someone planted, a
// bearer token of another account or of the same one) must not leave that session alive beside the new one: the one
// funnel to a session ends it in the new session's transaction (issue 18, ASVS V7.2.4, D365).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, cookies, createUser, events, type TestApp, useApp } from '../../helpers/app.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  {},
  true,
);

const COOKIE = '__Host-palisade_session';
const PW = 'Fixation-proof-pass-31';
const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
const signIn = (payload: Record<string, unknown>, extra: { headers?: Record<string, string>; cookies?: Record<string, string> } = {}) =>
  t.app.inject({ method: 'POST', url: '/api/auth/login', payload, ...extra });

test("signing in as another account with a bearer token of the first ends the first's session [ASVS V7.2.4]", async () => {
  await createUser(t, admin, 'amy', PW);
  const bob = await createUser(t, admin, 'bob', PW);
  const a = await login(t, 'amy', PW);
  const res = await signIn({ username: 'bob', password: PW }, { headers: bearer(a.token) });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json().user.id, bob);
  const old = await me(a.token);
  assert.equal(old.statusCode, 401);
  assert.equal(old.json().error.code, 'SESSION_ENDED');
  assert.equal((await me(res.json().token)).statusCode, 200);
  const ended = (await events(t, admin, 'session.ended')).filter((e) => e.details.sessionId === a.sessionId);
  assert.deepEqual(
    ended.map((e) => [e.details.reason, e.subjectId, e.actor.id]),
    [['signed_in_again', a.userId, bob]],
  );
});

test('signing in again in a browser that holds a session cookie of the same account ends the old session [ASVS V7.2.4]', async () => {
  await createUser(t, admin, 'cat', PW);
  const first = await signIn({ username: 'cat', password: PW, mode: 'cookie' });
  const planted = cookies(first)[COOKIE]!.value;
  const second = await signIn({ username: 'cat', password: PW, mode: 'cookie' }, { cookies: { [COOKIE]: planted } });
  assert.equal(second.statusCode, 200, second.body);
  const fresh = cookies(second)[COOKIE]!.value;
  assert.notEqual(fresh, planted);
  const old = await t.app.inject({ method: 'GET', url: '/api/auth/me', cookies: { [COOKIE]: planted } });
  assert.equal(old.statusCode, 401);
  assert.equal(old.json().error.code, 'SESSION_ENDED');
  const now = await t.app.inject({ method: 'GET', url: '/api/auth/me', cookies: { [COOKIE]: fresh } });
  assert.equal(now.statusCode, 200);
  assert.equal(now.json().user.username, 'cat');
});

test('a sign-in that opens no session (a required change) ends nothing; other devices and unreadable tokens are left alone [ASVS V7.2.4]', async () => {
  await createUser(t, admin, 'dan', PW);
  await createUser(t, admin, 'eve', PW, { mustChangePassword: true });
  const d1 = await login(t, 'dan', PW);
  const d2 = await login(t, 'dan', PW);
  // No session is opened, so the carried one lives on.
  const refused = await signIn({ username: 'eve', password: PW }, { headers: bearer(d1.token) });
  assert.equal(refused.statusCode, 403);
  assert.equal(refused.json().error.code, 'PASSWORD_CHANGE_REQUIRED');
  assert.equal((await me(d1.token)).statusCode, 200);
  // A sign-in without a carried session leaves the user's other sessions alone (no logout everywhere).
  const d3 = await login(t, 'dan', PW);
  for (const tok of [d1.token, d2.token, d3.token]) assert.equal((await me(tok)).statusCode, 200);
  // A token that does not verify names no session: the sign-in goes on and ends nothing.
  const forged = `${d1.token.slice(0, -4)}AAAA`;
  const ok = await signIn({ username: 'dan', password: PW }, { headers: bearer(forged) });
  assert.equal(ok.statusCode, 200, ok.body);
  for (const tok of [d1.token, d2.token, d3.token]) assert.equal((await me(tok)).statusCode, 200);
  // A malformed Authorization header on the public sign-in route is no reason to refuse it either.
  const odd = await signIn({ username: 'dan', password: PW }, { headers: { authorization: 'Basic Zm9vOmJhcg==' } });
  assert.equal(odd.statusCode, 200, odd.body);
});
