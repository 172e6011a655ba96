// ASVS V13.2.1 (D448): Palisade authenticates to the SMS gateway with a TLS client certificate. Kannel's sendsms
// interface knows only a user name and password, so the gateway host puts a TLS front before it (stunnel, Debian's
// stunnel4) that admits only clients with a certificate of its CA, and Kannel listens on loopback behind it. The test
// runs that arrangement for real: Kannel (bearerbox, smsbox, fakesmsc) behind stunnel. Bug classes: the certificate
// not offered, the gateway's certificate not verified (another CA's front accepted), a refused handshake that hangs,
// opens the breaker for good or names a secret, and the settings not checked at start.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig, type Env } from '../../src/app-config.js';
import { AppError } from '../../src/errors.js';
import { createSmsChannel, type SmsChannel } from '../../src/sms/index.js';
import { configProblems, makeApp } from '../helpers/app.js';
import { certDir, issueClientTestSet } from '../helpers/certs.js';
import { TestKannel } from '../helpers/kannel.js';
import { startTlsFront, type TlsFront } from '../helpers/stunnel.js';

const TMP = mkdtempSync(path.join(tmpdir(), 'palisade-sms-tls-'));
const certs = certDir('palisade-sms-certs-');
const { file } = certs;
const kannel = new TestKannel();
let front: TlsFront;
let url = '';

before(async () => {
  issueClientTestSet(certs, 'gateway', 'palisade-sms');
  await kannel.start();
  const sendsms = new URL(kannel.url);
  front = await startTlsFront({ targetPort: Number(sendsms.port), cert: file('gateway.crt'), key: file('gateway.key'), clientCa: file('ca.crt') });
  url = `https://127.0.0.1:${front.port}${sendsms.pathname}`;
});
after(async () => {
  await front?.stop();
  await kannel.stop();
  rmSync(TMP, { recursive: true, force: true });
  certs.remove();
});

const tlsEnv = (cert = 'app', ca = 'ca'): Env => ({
  SMS_KANNEL_URL: url,
  SMS_KANNEL_TLS_CA: file(`${ca}.crt`),
  SMS_KANNEL_TLS_CERT: file(`${cert}.crt`),
  SMS_KANNEL_TLS_KEY: file(`${cert}.key`),
});

/** A channel made the way the server makes it: from the environment. */
function channel(env: Env): SmsChannel {
  const { config } = loadConfig({ APP_KEY: 'YtVyPMwVz4BU1_dtN2pejrg7moSkrWrUlN3bL8IR', DATA_DIR: TMP, ...kannel.env(), ...env }, { generateKey: false });
  return createSmsChannel(config.sms)!;
}

test("SMS through the gateway's TLS front with Palisade's client certificate: the phone gets the message [ASVS V13.2.1]", async () => {
  await channel(tlsEnv()).send('+4511223344', 'Code 771204');
  const sms = await kannel.waitFor('+4511223344');
  assert.equal(sms.text, 'Code 771204');
});

test('the front refuses Palisade without a certificate or with one of another CA, and Palisade refuses a front of another CA: fast SMS_UNAVAILABLE naming the TLS refusal, never a secret; nothing reaches the phone [ASVS V13.2.1]', async () => {
  const cases: Array<[string, Env, RegExp]> = [
    [
      'no certificate',
      { SMS_KANNEL_URL: url, SMS_KANNEL_TLS_CA: file('ca.crt') },
      /Kannel sendsms: Error: (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET)/,
    ],
    ['a certificate of another CA', tlsEnv('rogue'), /Kannel sendsms: Error: (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA|ECONNRESET)/],
    ['a gateway certificate Palisade does not trust', tlsEnv('app', 'rogue-ca'), /Kannel sendsms: Error: SELF_SIGNED_CERT_IN_CHAIN/],
  ];
  for (const [what, env, why] of cases) {
    const number = `+45600000${cases.findIndex((c) => c[0] === what)}1`;
    const t0 = Date.now();
    try {
      await channel(env).send(number, 'Code 000000');
      assert.fail(`${what}: sent`);
    } catch (e) {
      assert.ok(e instanceof AppError, String(e));
      assert.equal(e.code, 'SMS_UNAVAILABLE', what);
      assert.match(e.internal ?? '', why, what);
      const all = JSON.stringify({ m: e.message, i: e.internal, d: e.details, h: e.headers });
      for (const secret of [kannel.password, number, 'Code 000000']) assert.ok(!all.includes(secret), `${what}: names ${secret}`);
    }
    assert.ok(Date.now() - t0 < 5000, `${what}: answered in ${Date.now() - t0} ms`);
    await assert.rejects(kannel.waitFor(number, 1, 500), `${what}: nothing reached the phone`);
  }
});

test('SMS_KANNEL_TLS_* are checked at start: half a pair, without SMS_KANNEL_URL, with an http:// URL, a key of another certificate [ASVS V13.2.1]', () => {
  const base = { SMS_KANNEL_URL: 'https://sms.example.org/cgi-bin/sendsms', SMS_KANNEL_USER: 'palisade', SMS_KANNEL_PASSWORD: 'gw-secret-1' };
  assert.deepEqual(
    configProblems({ ...base, SMS_KANNEL_TLS_CA: file('ca.crt'), SMS_KANNEL_TLS_CERT: file('app.crt'), SMS_KANNEL_TLS_KEY: file('app.key') }),
    [],
  );
  assert.match(
    configProblems({ ...base, SMS_KANNEL_TLS_CERT: file('app.crt') }).join('\n'),
    /SMS_KANNEL_TLS_CERT and SMS_KANNEL_TLS_KEY are set together or not at all/,
  );
  assert.match(
    configProblems({ SMS_KANNEL_TLS_CERT: file('app.crt'), SMS_KANNEL_TLS_KEY: file('app.key') }).join('\n'),
    /SMS_KANNEL_TLS_CERT, SMS_KANNEL_TLS_KEY need SMS_KANNEL_URL/,
  );
  assert.match(
    configProblems({
      ...base,
      SMS_KANNEL_URL: 'http://127.0.0.1:13013/cgi-bin/sendsms',
      SMS_KANNEL_TLS_CERT: file('app.crt'),
      SMS_KANNEL_TLS_KEY: file('app.key'),
    }).join('\n'),
    /need an https:\/\/ SMS_KANNEL_URL/,
  );
  assert.match(
    configProblems({ ...base, SMS_KANNEL_TLS_CERT: file('app.crt'), SMS_KANNEL_TLS_KEY: file('rogue.key') }).join('\n'),
    /SMS_KANNEL_TLS_CERT and SMS_KANNEL_TLS_KEY do not make a TLS client certificate/,
  );
});

test('the doctor passes an SMS gateway reached with a client certificate and warns while the sendsms password alone admits Palisade [ASVS V13.2.1]', async () => {
  for (const [env, status] of [
    [tlsEnv(), 'pass'],
    [{}, 'warn'],
  ] as const) {
    const t = await makeApp({ env: { ...kannel.env(), ...env } });
    try {
      const check = (await t.s.doctor.run()).checks.find((c) => c.id === 'sms-auth')!;
      assert.equal(check.status, status, check.detail);
    } finally {
      await t.close();
    }
  }
});
