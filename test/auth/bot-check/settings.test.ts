import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bearer, createUser, events, login, makeApp, ROOT, type TestApp, useApp } from '../../helpers/app.js';
import { ConfigError, loadConfig } from '../../../src/app-config.js';
import { SiteVerifyServer } from './helpers.js';

const SECRET = '6LeWriteOnlySecret_0123456789abcdefghij';
const verifier = new SiteVerifyServer(SECRET);
before(() => verifier.start());
after(() => verifier.stop());

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

const get = (token = admin) => t.app.inject({ method: 'GET', url: '/api/admin/settings/bot-check', headers: bearer(token) });
const patch = (payload: Record<string, unknown>, token = admin) =>
  t.app.inject({ method: 'PATCH', url: '/api/admin/settings/bot-check', headers: bearer(token), payload });
const recaptcha = () => ({ mode: 'recaptcha', when: 'always', recaptchaSiteKey: 'site-key', recaptchaSecretKey: SECRET, recaptchaVerifyUrl: verifier.url });

test('the defaults: off, after 3 failures, threshold 0.5, the Google verify URL, no secret set', async () => {
  const r = await get();
  assert.equal(r.statusCode, 200);
  const v = r.json();
  assert.equal(v.mode, 'off');
  assert.equal(v.when, 'after-failures');
  assert.equal(v.failures, 3);
  assert.equal(v.recaptchaThreshold, 0.5);
  assert.equal(v.recaptchaLogResults, false);
  assert.equal(v.recaptchaVerifyUrl, 'https://www.google.com/recaptcha/api/siteverify');
  assert.equal(v.recaptchaSecretKeySet, false);
  assert.equal('recaptchaSecretKey' in v, false);
});

test('the secret key is write-only: not in the PATCH answer, GET, the change event, the stored row or the logs', async () => {
  const p = await patch(recaptcha());
  assert.equal(p.statusCode, 200, p.body);
  assert.equal(p.json().recaptchaSecretKeySet, true);
  assert.equal(p.json().mode, 'recaptcha');
  const g = await get();
  assert.equal(g.json().recaptchaSecretKeySet, true);
  assert.equal(g.json().recaptchaSiteKey, 'site-key');
  // Used (the verifier received it), yet nowhere to be read back.
  assert.equal((await login(t, ROOT.username, ROOT.password, { botCheck: verifier.token('t1', 0.9) })).res.statusCode, 200);
  assert.equal(verifier.requests.at(-1)!.secret, SECRET);
  const changed = (await events(t, admin, 'settings.changed')).find((e) => e.details.area === 'botCheck')!;
  assert.deepEqual(changed.details.written, ['recaptchaSecretKey']);
  assert.equal(changed.details.before.recaptchaSecretKeySet, false);
  assert.equal(changed.details.after.recaptchaSecretKeySet, true);
  const row = await t.s.db.selectFrom('settings').select('value').where('key', '=', 'botCheck').executeTakeFirstOrThrow();
  // The row refers to the secret store (DATA-1), which holds it encrypted.
  assert.equal(JSON.parse(row.value).recaptchaSecretKey, 'secret-store:v1');
  const stored = await t.s.db.selectFrom('secrets').selectAll().where('name', '=', 'botCheck.recaptchaSecretKey').executeTakeFirstOrThrow();
  const everything = [p.body, g.body, JSON.stringify(await events(t, admin, 'settings.changed')), row.value, JSON.stringify(stored), t.logs.join('\n')].join(
    '\n',
  );
  assert.equal(everything.includes(SECRET), false);
  const openapi = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
  assert.equal(openapi.body.includes(SECRET), false);
});

test('changing other fields keeps the secret; an empty string clears it, which only mode off allows', async () => {
  await patch(recaptcha());
  assert.equal((await patch({ recaptchaThreshold: 0.7 })).json().recaptchaSecretKeySet, true);
  assert.equal((await login(t, ROOT.username, ROOT.password, { botCheck: verifier.token('t2', 0.8) })).res.statusCode, 200);
  const refused = await patch({ recaptchaSecretKey: '' });
  assert.equal(refused.statusCode, 400);
  assert.equal(refused.json().error.code, 'SETTINGS_INVALID');
  assert.equal((await patch({ mode: 'off', recaptchaSecretKey: '' })).json().recaptchaSecretKeySet, false);
});

test('inconsistent settings are refused: reCAPTCHA without keys, a verify URL that is not https or loopback [ASVS V12.3.3]', async () => {
  const cases: Record<string, unknown>[] = [
    { mode: 'recaptcha' },
    { mode: 'recaptcha', recaptchaSiteKey: 'site-key' },
    { recaptchaVerifyUrl: 'http://verifier.example/siteverify' },
    { recaptchaVerifyUrl: 'ftp://127.0.0.1/siteverify' },
    { recaptchaVerifyUrl: 'https://user:pw@verifier.example/x' },
    { recaptchaVerifyUrl: 'not a url at all' },
  ];
  for (const c of cases) {
    const r = await patch(c);
    assert.equal(r.statusCode, 400, JSON.stringify(c));
    assert.equal(r.json().error.code, 'SETTINGS_INVALID', JSON.stringify(c));
  }
  for (const c of [{ recaptchaThreshold: 1.5 }, { mode: 'captcha' }, { failures: 0 }, { recaptchaSecretKey: 'has spaces' }, { recaptchaSecretKeySet: true }]) {
    const r = await patch(c);
    assert.equal(r.json().error.code, 'VALIDATION_FAILED', JSON.stringify(c));
  }
  assert.equal((await patch({ recaptchaVerifyUrl: 'http://localhost:9/x' })).statusCode, 200);
  assert.equal((await patch({ recaptchaVerifyUrl: 'https://recaptcha.net/recaptcha/api/siteverify' })).statusCode, 200);
});

test('only holders of security.manage read or change the area', async () => {
  await createUser(t, admin, 'plain', 'Ordinary-walker-77');
  const plain = (await login(t, 'plain', 'Ordinary-walker-77')).token;
  assert.equal((await get(plain)).json().error.code, 'FORBIDDEN');
  assert.equal((await patch({ mode: 'pow' }, plain)).json().error.code, 'FORBIDDEN');
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/settings/bot-check' })).json().error.code, 'AUTH_REQUIRED');
  assert.equal((await get()).json().mode, 'off', 'nothing changed');
});

test('env variables seed the area; the seeded secret is write-only too', async () => {
  const seeded = await makeApp({
    env: { BOT_CHECK_MODE: 'recaptcha', BOT_CHECK_WHEN: 'always', RECAPTCHA_SITE_KEY: 'env-site', RECAPTCHA_SECRET_KEY: SECRET, RECAPTCHA_THRESHOLD: '0.7' },
  });
  try {
    const token = (await seeded.app.inject({ method: 'POST', url: '/api/auth/login', payload: ROOT })).json();
    // Sign-in itself needs the check now; the verify URL is Google's, so the seeded app is configured through the API.
    assert.equal(token.error.code, 'BOT_CHECK_REQUIRED');
    assert.equal(token.error.details.siteKey, 'env-site');
    const st = await seeded.app.inject({ method: 'GET', url: '/api/auth/bot-check' });
    assert.deepEqual(st.json(), { kind: 'recaptcha', required: true, siteKey: 'env-site' });
    assert.equal(seeded.logs.join('\n').includes(SECRET), false);
  } finally {
    await seeded.close();
  }
});

test('a bad env value is a config problem naming the variable', () => {
  const env = { APP_KEY: 'k8Jq2vN5xR7tZ1wC4yB6mD9pF3hL0sG8', DATA_DIR: mkdtempSync(path.join(tmpdir(), 'palisade-bc-')) };
  for (const [name, value] of [
    ['BOT_CHECK_MODE', 'captcha'],
    ['RECAPTCHA_THRESHOLD', '2'],
    ['BOT_CHECK_FAILURES', '0'],
    ['RECAPTCHA_VERIFY_URL', 'http://verifier.example/'],
  ] as const) {
    assert.throws(
      () => loadConfig({ ...env, [name]: value }, { generateKey: false }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.includes(name) || p.includes('bot check')),
      name,
    );
  }
});
