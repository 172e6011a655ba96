// The secret store (DATA-1) through its API: write-only, administrators only, audited by name, tamper-evident.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, events, login, ROOT, type TestApp, useApp } from '../helpers/app.js';
import { SiteVerifyServer } from '../auth/bot-check/helpers.js';

const VALUE = 'smtp-Pa55word-that-must-never-leak-7Q2x';
const RECAPTCHA = '6LeSecretStoreRecaptcha_0123456789abcdef';
const verifier = new SiteVerifyServer(RECAPTCHA);
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

const list = (token = admin) => t.app.inject({ method: 'GET', url: '/api/admin/secrets', headers: bearer(token) });
const put = (name: string, payload: unknown, token = admin) =>
  t.app.inject({ method: 'PUT', url: `/api/admin/secrets/${name}`, headers: bearer(token), payload: payload as Record<string, unknown> });
const del = (name: string, token = admin) => t.app.inject({ method: 'DELETE', url: `/api/admin/secrets/${name}`, headers: bearer(token) });
const rotate = (token = admin) => t.app.inject({ method: 'POST', url: '/api/admin/secrets/rotate-key', headers: bearer(token) });
const patchBotCheck = (payload: Record<string, unknown>) =>
  t.app.inject({ method: 'PATCH', url: '/api/admin/settings/bot-check', headers: bearer(admin), payload });
const recaptcha = () => ({ mode: 'recaptcha', when: 'always', recaptchaSiteKey: 'site-key', recaptchaSecretKey: RECAPTCHA, recaptchaVerifyUrl: verifier.url });

test('set, list and delete; no answer, event or log line holds the value [ASVS V13.3.1, V14.2.6]', async () => {
  const created = await put('smtp.password', { value: VALUE });
  assert.equal(created.statusCode, 200, created.body);
  assert.equal(created.json().created, true);
  assert.equal(created.json().secret.set, true);
  assert.equal(created.json().secret.readable, true);
  assert.equal(created.json().secret.updatedBy.name, ROOT.username);
  const replaced = await put('smtp.password', { value: `${VALUE}-2` });
  assert.equal(replaced.json().created, false);

  const l = await list();
  assert.equal(l.statusCode, 200);
  const row = l.json().secrets.find((s: { name: string }) => s.name === 'smtp.password');
  assert.equal(row.set, true);
  assert.equal(row.readable, true);
  assert.match(row.updatedAt, /^\d{4}-/);
  assert.deepEqual(Object.keys(row).sort(), ['createdAt', 'createdBy', 'name', 'readable', 'set', 'updatedAt', 'updatedBy', 'usedBy']);
  assert.deepEqual(await t.s.secrets.resolve('smtp.password'), { state: 'set', value: `${VALUE}-2` });

  const gone = await del('smtp.password');
  assert.equal(gone.statusCode, 204);
  assert.equal((await del('smtp.password')).json().error.code, 'NOT_FOUND');
  assert.deepEqual(await t.s.secrets.resolve('smtp.password'), { state: 'unset' });
  assert.equal(
    (await list()).json().secrets.some((s: { name: string }) => s.name === 'smtp.password'),
    false,
  );

  const set = await events(t, admin, 'secret.set');
  assert.equal(set.length, 2);
  assert.deepEqual(set[0]!.details, { name: 'smtp.password', created: false });
  assert.equal((await events(t, admin, 'secret.deleted'))[0]!.details.name, 'smtp.password');
  const stored = await t.s.db.selectFrom('secrets').selectAll().execute();
  const everything = [created.body, replaced.body, l.body, JSON.stringify(set), JSON.stringify(stored), t.logs.join('\n')].join('\n');
  assert.equal(everything.includes(VALUE), false);
});

test('the setting that refers to the store: the reCAPTCHA secret lives in it, never in the row or an answer', async () => {
  const p = await patchBotCheck(recaptcha());
  assert.equal(p.statusCode, 200, p.body);
  const row = await t.s.db.selectFrom('settings').select('value').where('key', '=', 'botCheck').executeTakeFirstOrThrow();
  assert.equal(JSON.parse(row.value).recaptchaSecretKey, 'secret-store:v1');
  const secret = await t.s.db.selectFrom('secrets').selectAll().where('name', '=', 'botCheck.recaptchaSecretKey').executeTakeFirstOrThrow();
  assert.equal(secret.updated_by_name, ROOT.username);
  const l = (await list()).json().secrets.find((s: { name: string }) => s.name === 'botCheck.recaptchaSecretKey');
  assert.equal(l.set, true);
  assert.equal(l.usedBy, 'settings botCheck.recaptchaSecretKey');
  // It works: the verifier receives it.
  assert.equal((await login(t, ROOT.username, ROOT.password, { botCheck: verifier.token('a', 0.9) })).res.statusCode, 200);
  assert.equal(verifier.requests.at(-1)!.secret, RECAPTCHA);
  const g = await t.app.inject({ method: 'GET', url: '/api/admin/settings/bot-check', headers: bearer(admin) });
  assert.equal(g.json().recaptchaSecretKeySet, true);
  const evs = [...(await events(t, admin, 'secret.set')), ...(await events(t, admin, 'settings.changed'))];
  assert.ok(evs.some((e) => e.details.name === 'botCheck.recaptchaSecretKey'));
  const everything = [p.body, g.body, row.value, JSON.stringify(secret), JSON.stringify(evs), (await list()).body, t.logs.join('\n')].join('\n');
  assert.equal(everything.includes(RECAPTCHA), false);

  // Written through the secrets API, the setting uses the new value.
  const other = '6LeReplacedThroughTheStore_abcdefghijkl';
  verifier.tokens.clear();
  assert.equal((await put('botCheck.recaptchaSecretKey', { value: other })).statusCode, 200);
  const refused = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { ...ROOT, botCheck: verifier.token('b', 0.9) } });
  assert.equal(verifier.requests.at(-1)!.secret, other);
  assert.notEqual(refused.statusCode, 200, 'the verifier knows only the first secret');
  // Deleted from the store, the setting fails closed rather than switching the check off.
  assert.equal((await put('botCheck.recaptchaSecretKey', { value: RECAPTCHA })).statusCode, 200);
  assert.equal((await del('botCheck.recaptchaSecretKey')).statusCode, 204);
  const closed = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { ...ROOT, botCheck: verifier.token('c', 0.9) } });
  assert.equal(closed.json().error.code, 'BOT_CHECK_UNAVAILABLE');
  // Cleared through the settings (mode off), the store entry goes too.
  assert.equal((await patchBotCheck({ mode: 'off', recaptchaSecretKey: '' })).statusCode, 200);
  assert.equal((await t.s.secrets.resolve('botCheck.recaptchaSecretKey')).state, 'unset');
});

test('administrators only; unknown fields, bad names and oversized values are refused [ASVS V13.3.2]', async () => {
  await createUser(t, admin, 'plain', 'Ordinary-walker-77');
  const plain = (await login(t, 'plain', 'Ordinary-walker-77')).token;
  assert.equal((await list(plain)).json().error.code, 'FORBIDDEN');
  assert.equal((await put('x', { value: 'v' }, plain)).json().error.code, 'FORBIDDEN');
  assert.equal((await del('x', plain)).json().error.code, 'FORBIDDEN');
  assert.equal((await rotate(plain)).json().error.code, 'FORBIDDEN');
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/secrets' })).json().error.code, 'AUTH_REQUIRED');
  for (const [name, body] of [
    ['ok', { value: 'v', extra: 1 }],
    ['ok', {}],
    ['ok', { value: '' }],
    ['ok', { value: 'x'.repeat(16385) }],
    ['ok', { value: 42 }],
    ['1starts-with-digit', { value: 'v' }],
    ['has%20space', { value: 'v' }],
    ['a'.repeat(101), { value: 'v' }],
  ] as const) {
    const r = await put(name, body);
    assert.equal(r.json().error.code, 'VALIDATION_FAILED', `${name} ${JSON.stringify(body).slice(0, 40)}`);
  }
  assert.equal((await put('ok', { value: 'x'.repeat(16384) })).statusCode, 200);
  assert.equal((await t.s.db.selectFrom('secrets').select('name').execute()).length, 1, 'nothing else stored');
});

test('rotation re-encrypts every secret in one go: they still resolve, the key file changed and is 0600 [ASVS V13.3.1, V11.2.2]', async () => {
  const { readFileSync, statSync } = await import('node:fs');
  const path = await import('node:path');
  const file = path.join(t.shared.dataDir, 'secrets.key');
  const before = readFileSync(file, 'utf8');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal((await patchBotCheck(recaptcha())).statusCode, 200);
  assert.equal((await put('s3.secretAccessKey', { value: VALUE })).statusCode, 200);
  const oldRows = await t.s.db.selectFrom('secrets').selectAll().orderBy('name').execute();

  const r = await rotate();
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(r.json().count, 2);
  assert.notEqual(r.json().keyId, r.json().previousKeyId);
  assert.equal(JSON.stringify(r.json()).includes(readFileSync(file, 'utf8').trim()), false, 'the key is never answered');
  const after = readFileSync(file, 'utf8');
  assert.notEqual(after, before);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const newRows = await t.s.db.selectFrom('secrets').selectAll().orderBy('name').execute();
  for (const [i, row] of newRows.entries()) {
    assert.equal(row.key_id, r.json().keyId);
    assert.notEqual(row.ciphertext, oldRows[i]!.ciphertext);
  }
  // Still works through the feature that uses it, and directly.
  assert.equal((await login(t, ROOT.username, ROOT.password, { botCheck: verifier.token('r', 0.9) })).res.statusCode, 200);
  assert.equal(verifier.requests.at(-1)!.secret, RECAPTCHA);
  assert.deepEqual(await t.s.secrets.resolve('s3.secretAccessKey'), { state: 'set', value: VALUE });
  const ev = (await events(t, admin, 'secrets.key_rotated'))[0]!;
  assert.deepEqual(ev.details, { count: 2, keyId: r.json().keyId, previousKeyId: r.json().previousKeyId });
  assert.equal((await list()).json().keyId, r.json().keyId);
});

test('a ciphertext altered in the database reads as unreadable, fails closed, and stops a rotation [ASVS V11.3.3, V11.2.5]', async () => {
  assert.equal((await patchBotCheck(recaptcha())).statusCode, 200);
  assert.equal((await put('sms.gatewayPassword', { value: VALUE })).statusCode, 200);
  const row = await t.s.db.selectFrom('secrets').select('ciphertext').where('name', '=', 'botCheck.recaptchaSecretKey').executeTakeFirstOrThrow();
  const [iv, body, tag] = row.ciphertext.split('.');
  const flipped = Buffer.from(body!, 'base64url');
  flipped[0] = flipped[0]! ^ 1;
  await t.s.db
    .updateTable('secrets')
    .set({ ciphertext: `${iv}.${flipped.toString('base64url')}.${tag}` })
    .where('name', '=', 'botCheck.recaptchaSecretKey')
    .execute();
  const l = await list();
  assert.equal(l.statusCode, 200);
  const bad = l.json().secrets.find((s: { name: string }) => s.name === 'botCheck.recaptchaSecretKey');
  assert.equal(bad.set, true);
  assert.equal(bad.readable, false);
  assert.equal((await t.s.secrets.resolve('botCheck.recaptchaSecretKey')).state, 'unreadable');
  const login2 = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { ...ROOT, botCheck: verifier.token('t', 0.9) } });
  assert.equal(login2.json().error.code, 'BOT_CHECK_UNAVAILABLE');
  const r = await rotate();
  assert.equal(r.statusCode, 409);
  assert.equal(r.json().error.code, 'SECRETS_UNREADABLE');
  assert.deepEqual(r.json().error.details.names, ['botCheck.recaptchaSecretKey']);
  assert.deepEqual(await t.s.secrets.resolve('sms.gatewayPassword'), { state: 'set', value: VALUE }, 'nothing rotated');
  // A ciphertext moved to another name does not open either (the name is bound as associated data).
  const good = await t.s.db.selectFrom('secrets').select(['ciphertext', 'key_id']).where('name', '=', 'sms.gatewayPassword').executeTakeFirstOrThrow();
  await t.s.db
    .insertInto('secrets')
    .values({ ...good, name: 'moved', created_at: 0, created_by: null, created_by_name: 'x', updated_at: 0, updated_by: null, updated_by_name: 'x' })
    .execute();
  assert.equal((await t.s.secrets.resolve('moved')).state, 'unreadable');
  // Writing it again repairs it.
  assert.equal((await put('botCheck.recaptchaSecretKey', { value: RECAPTCHA })).statusCode, 200);
  assert.equal((await del('moved')).statusCode, 204);
  assert.equal((await rotate()).statusCode, 200);
});

test('one value written four times under one key, twice to each of two names, gets four fresh 96-bit IVs and four ciphertexts; each still opens [ASVS V11.3.4]', async () => {
  const seen: Array<{ key_id: string; ciphertext: string }> = [];
  for (const name of ['iv.first', 'iv.second', 'iv.first', 'iv.second']) {
    assert.equal((await put(name, { value: VALUE })).statusCode, 200);
    seen.push(await t.s.db.selectFrom('secrets').select(['key_id', 'ciphertext']).where('name', '=', name).executeTakeFirstOrThrow());
  }
  assert.equal(new Set(seen.map((r) => r.key_id)).size, 1, 'one key');
  const ivs = seen.map((r) => Buffer.from(r.ciphertext.split('.')[0]!, 'base64url'));
  for (const iv of ivs) assert.equal(iv.length, 12);
  assert.equal(new Set(ivs.map((iv) => iv.toString('hex'))).size, 4, 'no IV used twice under the key');
  assert.equal(new Set(seen.map((r) => r.ciphertext.split('.')[1])).size, 4, 'no ciphertext repeats');
  for (const name of ['iv.first', 'iv.second']) assert.deepEqual(await t.s.secrets.resolve(name), { state: 'set', value: VALUE });
  for (const name of ['iv.first', 'iv.second']) assert.equal((await del(name)).statusCode, 204);
});

test('a reCAPTCHA secret sealed in the settings row before the store existed moves into it at start, once', async () => {
  const { createSealer } = await import('../../src/config/seal.js');
  const { makeApp } = await import('../helpers/app.js');
  assert.equal((await patchBotCheck({ ...recaptcha(), recaptchaSecretKey: 'placeholder' })).statusCode, 200);
  // The row as the previous version wrote it: the value sealed under APP_KEY, no secret-store entry.
  const raw = JSON.parse((await t.s.db.selectFrom('settings').select('value').where('key', '=', 'botCheck').executeTakeFirstOrThrow()).value);
  raw.recaptchaSecretKey = createSealer(t.shared.appKey).seal(RECAPTCHA, 'botCheck.recaptchaSecretKey');
  await t.s.db
    .updateTable('settings')
    .set({ value: JSON.stringify(raw) })
    .where('key', '=', 'botCheck')
    .execute();
  await t.s.db.deleteFrom('secrets').execute();
  // Still readable before the move (the legacy form is opened on read).
  assert.equal((await login(t, ROOT.username, ROOT.password, { botCheck: verifier.token('m1', 0.9) })).res.statusCode, 200);

  const peer = await makeApp({ peerOf: t });
  try {
    const row = JSON.parse((await t.s.db.selectFrom('settings').select('value').where('key', '=', 'botCheck').executeTakeFirstOrThrow()).value);
    assert.equal(row.recaptchaSecretKey, 'secret-store:v1');
    assert.deepEqual(await peer.s.secrets.resolve('botCheck.recaptchaSecretKey'), { state: 'set', value: RECAPTCHA });
    assert.ok(peer.logs.join('\n').includes('"event":"secrets.moved"'));
    assert.equal(peer.logs.join('\n').includes(RECAPTCHA), false);
    const moved = (await events(t, admin, 'secret.set')).find((e) => e.actor.name === 'system');
    assert.equal(moved?.details.name, 'botCheck.recaptchaSecretKey');
    const signIn = await peer.app.inject({ method: 'POST', url: '/api/auth/login', payload: { ...ROOT, botCheck: verifier.token('m2', 0.9) } });
    assert.equal(signIn.statusCode, 200, signIn.body);
    assert.equal(verifier.requests.at(-1)!.secret, RECAPTCHA);
  } finally {
    await peer.close();
  }
  // Idempotent: a second start finds nothing to move.
  const again = await makeApp({ peerOf: t });
  try {
    assert.equal(again.logs.join('\n').includes('secrets.moved'), false);
    assert.equal((await events(t, admin, 'secret.set')).filter((e) => e.actor.name === 'system').length, 1);
  } finally {
    await again.close();
  }
});
