import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { events, ROOT, type TestApp, useApp } from '../../helpers/app.js';
import { setBotCheck, SiteVerifyServer } from './helpers.js';

// reCAPTCHA v3 against a local server speaking the siteverify protocol: Google cannot be reached
// from a test machine, so this is the one outside service checked this way (README).
const SECRET = '6LeTestSecretKey_abcdefghijklmnopqrstuv';
const SITE = '6LeTestSiteKey_abcdefghijklmnopqrstuvwx';
const verifier = new SiteVerifyServer(SECRET);
before(() => verifier.start());
after(() => verifier.stop());

let t: TestApp;
let admin: string;
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    await setBotCheck(t, admin, {
      mode: 'recaptcha',
      when: 'always',
      recaptchaSiteKey: SITE,
      recaptchaSecretKey: SECRET,
      recaptchaVerifyUrl: verifier.url,
      recaptchaTimeout: 1000,
    });
  },
  {},
  true,
);

const login = (botCheck?: string, remoteAddress?: string) =>
  t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username: ROOT.username, password: ROOT.password, ...(botCheck === undefined ? {} : { botCheck }) },
    ...(remoteAddress ? { remoteAddress } : {}),
  });

test('the status and the refusal without a token tell the form to run reCAPTCHA with the site key and action', async () => {
  assert.deepEqual((await t.app.inject({ method: 'GET', url: '/api/auth/bot-check' })).json(), { kind: 'recaptcha', required: true, siteKey: SITE });
  const r = await login();
  assert.equal(r.statusCode, 403);
  assert.deepEqual(r.json().error.details, { kind: 'recaptcha', siteKey: SITE, action: 'login' });
  assert.equal(r.json().error.code, 'BOT_CHECK_REQUIRED');
});

test('a score above the threshold signs in; the server posted secret, response and remoteip form-encoded', async () => {
  const n = verifier.requests.length;
  const r = await login(verifier.token('human-1', 0.9), '192.0.2.10');
  assert.equal(r.statusCode, 200, r.body);
  const sent = verifier.requests.slice(n);
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0], { secret: SECRET, response: 'human-1', remoteip: '192.0.2.10', contentType: 'application/x-www-form-urlencoded;charset=UTF-8' });
});

test('a score at the threshold passes; below it is refused', async () => {
  assert.equal((await login(verifier.token('edge', 0.5))).statusCode, 200);
  const low = await login(verifier.token('bot-ish', 0.3));
  assert.equal(low.statusCode, 403);
  assert.deepEqual(low.json().error, { code: 'BOT_CHECK_FAILED', message: 'The bot check failed; try a new one.', details: { kind: 'recaptcha' } });
  const ev = await events(t, admin, 'botcheck.refused');
  assert.equal(ev[0]!.details.reason, 'low_score');
});

test('the threshold is a setting: raised to 0.95, a 0.9 is refused', async () => {
  await setBotCheck(t, admin, { recaptchaThreshold: 0.95 });
  assert.equal((await login(verifier.token('ok-before', 0.9))).statusCode, 403);
  assert.equal((await login(verifier.token('very-human', 0.97))).statusCode, 200);
});

test('a verifier answering success:false refuses the token (unknown, expired or duplicate token)', async () => {
  verifier.tokens.set('used-twice', { success: false, 'error-codes': ['timeout-or-duplicate'] });
  for (const token of ['never-issued', 'used-twice']) {
    const r = await login(token);
    assert.equal(r.statusCode, 403);
    assert.equal(r.json().error.code, 'BOT_CHECK_FAILED');
  }
  assert.equal((await events(t, admin, 'botcheck.refused'))[0]!.details.reason, 'rejected');
});

test('a token made for another action is refused; a v2 token without a score is refused', async () => {
  const other = await login(verifier.token('for-signup', 0.9, 'signup'));
  assert.equal(other.statusCode, 403);
  verifier.tokens.set('v2', { success: true, hostname: 'app.example' });
  assert.equal((await login('v2')).statusCode, 403);
  const reasons = (await events(t, admin, 'botcheck.refused')).map((e) => e.details.reason).sort();
  assert.deepEqual(reasons, ['action_mismatch', 'no_score']);
});

test('forgot-password honours the check with its own action', async () => {
  const forgot = (botCheck?: string) =>
    t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { username: ROOT.username, ...(botCheck ? { botCheck } : {}) } });
  const missing = await forgot();
  assert.equal(missing.statusCode, 403);
  assert.deepEqual(missing.json().error.details, { kind: 'recaptcha', siteKey: SITE, action: 'forgot_password' });
  assert.equal((await forgot(verifier.token('login-token', 0.9, 'login'))).statusCode, 403, 'a sign-in token does not serve forgot-password');
  assert.equal((await forgot(verifier.token('forgot-token', 0.9, 'forgot_password'))).statusCode, 202);
});

test('result logging off (default): no result events; on: every result with score, action and hostname, never the token', async () => {
  await login(verifier.token('quiet', 0.9));
  assert.equal((await events(t, admin, 'botcheck.recaptcha')).length, 0);
  await setBotCheck(t, admin, { recaptchaLogResults: true });
  await login(verifier.token('logged-pass', 0.8));
  await login(verifier.token('logged-fail', 0.1));
  const ev = await events(t, admin, 'botcheck.recaptcha');
  assert.equal(ev.length, 2);
  const [fail, pass] = ev;
  assert.equal(pass!.outcome, 'success');
  assert.equal(pass!.details.score, 0.8);
  assert.equal(pass!.details.action, 'login');
  assert.equal(pass!.details.hostname, 'app.example');
  assert.equal(pass!.details.threshold, 0.5);
  assert.equal(fail!.outcome, 'failure');
  assert.equal(fail!.details.refusal, 'low_score');
  assert.doesNotMatch(JSON.stringify(ev), /logged-pass|logged-fail/);
});

test('after-failures mode with reCAPTCHA: no verifier call until the address has failed', async () => {
  await setBotCheck(t, admin, { when: 'after-failures', failures: 1 });
  const n = verifier.requests.length;
  assert.equal((await login()).statusCode, 200);
  assert.equal(verifier.requests.length, n, 'no check, no call');
  await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: 'Not-the-password-1' } });
  assert.equal((await login()).json().error.code, 'BOT_CHECK_REQUIRED');
  assert.equal((await login(verifier.token('after', 0.9))).statusCode, 200);
});
