// The Kannel sendsms channel against a real Kannel (bearerbox, smsbox and the fakesmsc test SMSC):
// what the phone receives, what is refused before any request, and a gateway that fails or hangs
// giving a fast SMS_UNAVAILABLE that names neither the number, the text nor the gateway password.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig, type Env } from '../../src/app-config.js';
import { AppError } from '../../src/errors.js';
import { createSmsChannel, type SmsChannel } from '../../src/sms/index.js';
import { TestKannel } from '../helpers/kannel.js';

const TMP = mkdtempSync(path.join(tmpdir(), 'palisade-sms-'));
const kannel = new TestKannel();
before(() => kannel.start());
after(async () => {
  await kannel.stop();
  rmSync(TMP, { recursive: true, force: true });
});

/** A channel made the way the server makes it: from the environment. */
function channel(env: Env = {}): SmsChannel {
  const { config } = loadConfig({ APP_KEY: 'YtVyPMwVz4BU1_dtN2pejrg7moSkrWrUlN3bL8IR', DATA_DIR: TMP, ...kannel.env(), ...env }, { generateKey: false });
  return createSmsChannel(config.sms)!;
}

/** A loopback port with nothing listening: a gateway that is down (set before the tests). */
let DOWN = '';
before(async () => {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  DOWN = `http://127.0.0.1:${(s.address() as AddressInfo).port}/cgi-bin/sendsms`;
  await new Promise((resolve) => s.close(resolve));
});

/** Sends and returns the SMS_UNAVAILABLE error with how long it took; fails if the send succeeded. */
async function unavailable(c: SmsChannel, to: string, text: string): Promise<{ err: AppError; ms: number }> {
  const t0 = Date.now();
  try {
    await c.send(to, text);
  } catch (e) {
    assert.ok(e instanceof AppError, String(e));
    assert.equal(e.code, 'SMS_UNAVAILABLE');
    assert.equal(e.status, 503);
    return { err: e, ms: Date.now() - t0 };
  }
  assert.fail('the message was sent');
}

/** Nothing in an error (client message, internal reason, headers) names the number, the text or the password. */
function assertLeaksNothing(err: AppError, ...secrets: string[]): void {
  const all = JSON.stringify({ m: err.message, i: err.internal, d: err.details, h: err.headers, s: err.stack });
  for (const s of [...secrets, kannel.password]) assert.ok(!all.includes(s), `the error names ${s}`);
}

test('a message reaches the phone with its sender and its text intact: reserved URL characters and UTF-8 [ASVS V1.2.2]', async () => {
  const text = 'Code 482913 & more: 100% +ok ?x=1#y æøå';
  await channel().send('+4512345678', text);
  const sms = await kannel.waitFor('+4512345678');
  assert.deepEqual(sms, { from: 'Palisade', to: '+4512345678', type: 'text', text });
});

test('a number that is not E.164 is refused before any request: one recipient, never a list', async () => {
  const before = kannel.messages.length;
  // Kannel's `to` takes several recipients separated by spaces: a smuggled second number must not pass.
  for (const to of ['4512345678', '+45 12345678', '+4512345678 +4587654321', '+4512345678&to=+4587654321', '+0451234567', '+4512345678901234', '']) {
    await assert.rejects(channel().send(to, 'Code 111111'), (e) => e instanceof AppError && e.code === 'PHONE_NUMBER_INVALID', to);
  }
  await channel().send('+4511112222', 'after the refusals');
  await kannel.waitFor('+4511112222');
  assert.equal(kannel.messages.length, before + 1, 'only the valid message was sent');
  assert.equal(kannel.to('+4587654321').length, 0);
});

test('an empty or over-long text is a caller mistake (TypeError), not an answer to a client', async () => {
  await assert.rejects(channel().send('+4512345678', ''), TypeError);
  await assert.rejects(channel().send('+4512345678', 'x'.repeat(161)), TypeError);
});

test('a gateway that refuses our sendsms-user is SMS_UNAVAILABLE, and the reason names no secret', async () => {
  const { err } = await unavailable(channel({ SMS_KANNEL_PASSWORD: 'not-the-password' }), '+4512340001', 'Code 222333');
  assert.match(err.internal ?? '', /^Kannel sendsms: status 403$/);
  assertLeaksNothing(err, '+4512340001', '222333', 'not-the-password');
  assert.equal(kannel.to('+4512340001').length, 0);
});

test('a gateway that is down answers SMS_UNAVAILABLE at once, with Retry-After', async () => {
  const { err, ms } = await unavailable(channel({ SMS_KANNEL_URL: DOWN }), '+4512340002', 'Code 444555');
  assert.ok(ms < 1000, `took ${ms} ms`);
  assert.match(err.internal ?? '', /ECONNREFUSED/);
  assert.equal(err.headers?.['retry-after'], '5');
  assertLeaksNothing(err, '+4512340002', '444555');
});

test('a gateway that hangs answers SMS_UNAVAILABLE after the timeout, and works again once it answers [ASVS V13.2.6]', async () => {
  const c = channel({ SMS_TIMEOUT_MS: '300' });
  kannel.pause();
  try {
    const { err, ms } = await unavailable(c, '+4512340003', 'Code 666777');
    assert.ok(ms >= 250 && ms < 1500, `took ${ms} ms`);
    assert.match(err.internal ?? '', /TimeoutError/);
    assertLeaksNothing(err, '+4512340003', '666777');
  } finally {
    kannel.resume();
  }
  await c.send('+4512340004', 'Code 888999');
  assert.equal((await kannel.waitFor('+4512340004')).text, 'Code 888999');
});

test('after three outages in a row the channel answers at once without asking the gateway, for a while [ASVS V13.2.6]', async () => {
  const c = channel({ SMS_KANNEL_URL: DOWN });
  for (let i = 0; i < 3; i++) assert.match((await unavailable(c, '+4512340005', 'Code 1')).err.internal ?? '', /ECONNREFUSED/);
  const { err, ms } = await unavailable(c, '+4512340005', 'Code 1');
  assert.equal(err.internal, 'Kannel sendsms: circuit open');
  assert.ok(ms < 50, `took ${ms} ms`);
  const retry = Number(err.headers?.['retry-after']);
  assert.ok(retry >= 1 && retry <= 10, String(retry));
});
