import { test, before, after } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import { events, ROOT, type TestApp, useApp } from '../../../helpers/app.js';
import { deadUrl, setBotCheck, SiteVerifyServer } from '../helpers.js';

// A failing verifier must never become a pass, nor a hang: each case answers a fast 503
// BOT_CHECK_UNAVAILABLE (bug class: fail-open on an outside dependency, and request pile-up).
const SECRET = '6LeTestSecretKey_verifier_attacks_0123';
const TIMEOUT = 400;
const verifier = new SiteVerifyServer(SECRET);
before(() => verifier.start());
after(() => verifier.stop());

let t: TestApp;
let admin: string;
useApp(
  async (app, token) => {
    t = app;
    admin = token;
    verifier.behaviour = 'normal';
    await setBotCheck(t, admin, {
      mode: 'recaptcha',
      when: 'always',
      recaptchaSiteKey: 'site-key',
      recaptchaSecretKey: SECRET,
      recaptchaVerifyUrl: verifier.url,
      recaptchaTimeout: TIMEOUT,
    });
  },
  {},
  true,
);

const login = (botCheck: string) =>
  t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ROOT.username, password: ROOT.password, botCheck } });

async function unavailable(botCheck: string, maxMs: number): Promise<void> {
  const start = performance.now();
  const r = await login(botCheck);
  const ms = performance.now() - start;
  assert.equal(r.statusCode, 503, r.body);
  assert.deepEqual(r.json(), { error: { code: 'BOT_CHECK_UNAVAILABLE', message: 'The bot check cannot be verified right now; retry shortly.' } });
  assert.ok(r.headers['retry-after'], 'Retry-After');
  assert.ok(ms < maxMs, `answered in ${Math.round(ms)} ms`);
}

test('a verifier that is down: a fast 503, not a pass [ASVS V16.5.2, V16.5.3]', async () => {
  await setBotCheck(t, admin, { recaptchaVerifyUrl: await deadUrl(), recaptchaSecretKey: SECRET });
  await unavailable(verifier.token('good', 0.9), 1000);
  const ev = await events(t, admin, 'botcheck.refused');
  assert.equal(ev[0]!.details.reason, 'unavailable');
});

test('a verifier that hangs: a 503 once the timeout passes, never a hang [ASVS V13.2.6]', async () => {
  verifier.behaviour = 'hang';
  await unavailable(verifier.token('good', 0.9), TIMEOUT + 1500);
});

test('after three failures in a row the breaker answers at once, without waiting for the timeout [ASVS V16.5.2, V13.2.6]', async () => {
  verifier.behaviour = 'hang';
  await setBotCheck(t, admin, { recaptchaTimeout: 1000 });
  for (let i = 0; i < 3; i++) await unavailable('x', 3000);
  const n = verifier.requests.length;
  await unavailable('x', 300);
  assert.equal(verifier.requests.length, n, 'the breaker did not call the verifier');
});

test('a verifier answering 500 or something that is not siteverify JSON: 503', async () => {
  verifier.behaviour = 'status500';
  await unavailable(verifier.token('good', 0.9), 1000);
  verifier.behaviour = 'garbage';
  await unavailable(verifier.token('good', 0.9), 1000);
});

test('a wrong secret key is our fault, not the user: 503, not BOT_CHECK_FAILED', async () => {
  await setBotCheck(t, admin, { recaptchaSecretKey: 'not-the-secret' });
  await unavailable(verifier.token('good', 0.9), 1000);
  // The 503 is logged with its reason, never with the secret keys.
  assert.ok(t.logs.some((l) => l.includes('invalid-input-secret')));
  assert.equal(
    t.logs.some((l) => l.includes(SECRET) || l.includes('not-the-secret')),
    false,
  );
});

test('a verifier address that redirects is not followed: 503, and the redirect target gets no request [ASVS V15.3.2]', async () => {
  // The redirect points at the real verifier: following it would pass the check with the secret sent on.
  const hop = createServer((req, res) => {
    req.resume();
    res.writeHead(307, { location: verifier.url }).end();
  });
  await new Promise<void>((resolve) => hop.listen(0, '127.0.0.1', resolve));
  try {
    await setBotCheck(t, admin, {
      recaptchaVerifyUrl: `http://127.0.0.1:${(hop.address() as AddressInfo).port}/recaptcha/api/siteverify`,
      recaptchaSecretKey: SECRET,
    });
    const n = verifier.requests.length;
    await unavailable(verifier.token('good', 0.9), 1000);
    assert.equal(verifier.requests.length, n, 'the redirect was followed');
  } finally {
    await new Promise((resolve) => hop.close(resolve));
  }
});

test('the legitimate path still passes once the verifier is back [ASVS V15.3.2, V16.5.2]', async () => {
  assert.equal((await login(verifier.token('good', 0.9))).statusCode, 200);
});
