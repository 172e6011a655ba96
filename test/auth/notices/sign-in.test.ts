// ASVS V6.3.5: a user is told of a suspicious sign-in, by mail through a real SMTP server: from a client and network
// their recent sessions did not come from, after several failed attempts, after long inactivity, and a right
// password whose second factor then failed. A routine sign-in from the known client is told nothing; each kind is
// told at most once in 10 minutes; the `lockout` setting `signInNotices` turns them off (src/auth/notices/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, login, type TestApp } from '../../helpers/app.js';
import { type TestSmtp, useMailApp, type ReceivedMail } from '../../helpers/smtp.js';
import { clientFamily, networkOf } from '../../../src/auth/notices/index.js';
import { challenge, enrolTotp, totp, verify } from '../mfa/world.js';

const PW = 'Quarterly-report-4411';
const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SUBJECT = 'New sign-in to your Palisade account';

let t: TestApp;
let smtp: TestSmtp;
let admin: string;
useMailApp(
  (app, token, server) => {
    t = app;
    admin = token;
    smtp = server;
  },
  { SESSION_VALIDITY: '24h', TOKEN_VALIDITY: '24h' },
);

const seen = new Map<string, number>();
/** The mails to `address` since the previous call for it. */
async function newMails(address: string): Promise<ReceivedMail[]> {
  await t.s.tasks.drain();
  const all = smtp.to(address);
  const from = seen.get(address) ?? 0;
  seen.set(address, all.length);
  return all.slice(from);
}

/** A password sign-in from a client (user agent) and address; answers the raw response. */
function signInFrom(username: string, from: { ua?: string; ip?: string } = {}, password = PW) {
  return t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username, password },
    headers: from.ua ? { 'user-agent': from.ua } : {},
    ...(from.ip ? { remoteAddress: from.ip } : {}),
  });
}

async function signedIn(username: string, from: { ua?: string; ip?: string } = {}): Promise<void> {
  const r = await signInFrom(username, from);
  assert.equal(r.statusCode, 200, r.body);
}

/** A user with an address, signed in once (a first sign-in has nothing to compare with and is told nothing). */
async function userWithHistory(name: string): Promise<string> {
  const address = `${name}@example.org`;
  await createUser(t, admin, name, PW, { email: address });
  await signedIn(name);
  assert.deepEqual(await newMails(address), [], 'a first sign-in is told nothing');
  return address;
}

test('a client and network pair the recent sessions do not know is told, once; a routine sign-in from the known client is not [ASVS V6.3.5]', async () => {
  const address = await userWithHistory('sara');
  // Routine: the same client from the same address.
  await signedIn('sara');
  assert.deepEqual(await newMails(address), []);

  // Another browser, from another network: told, with the address and the client's family (not the raw agent).
  await signedIn('sara', { ua: FIREFOX, ip: '203.0.113.9' });
  const [m, ...more] = await newMails(address);
  assert.equal(more.length, 0);
  assert.equal(m!.subject, SUBJECT);
  assert.match(m!.decoded, /It came from a device and network your recent sign-ins did not come from\./);
  assert.match(m!.decoded, /From the address: 203\.0\.113\.9/);
  assert.match(m!.decoded, /With: Firefox on Windows/);
  assert.doesNotMatch(m!.decoded, /https?:\/\/|rv:128/);
  assert.doesNotMatch(m!.decoded, /failed attempts|first sign-in in/);

  // Now known, and a neighbour in the same /24 is the same network: nothing more.
  await signedIn('sara', { ua: FIREFOX, ip: '203.0.113.9' });
  await signedIn('sara', { ua: FIREFOX, ip: '203.0.113.77' });
  // Bounded: another new pair within 10 minutes is not told again...
  await signedIn('sara', { ua: FIREFOX, ip: '198.51.100.4' });
  assert.deepEqual(await newMails(address), []);
  // ...and after them it is.
  t.clock.advance(11 * 60);
  await signedIn('sara', { ip: '192.0.2.44' });
  assert.deepEqual(
    (await newMails(address)).map((x) => x.subject),
    [SUBJECT],
  );
});

test('a sign-in after 3 or more failed attempts since the previous one is told; fewer are not [ASVS V6.3.5]', async () => {
  const address = await userWithHistory('tom');
  t.clock.advance(1);
  for (let i = 0; i < 3; i++) assert.equal((await signInFrom('tom', {}, 'Wrong-password-0000')).statusCode, 401);
  t.clock.advance(1);
  await signedIn('tom');
  const [m, ...more] = await newMails(address);
  assert.equal(more.length, 0);
  assert.equal(m!.subject, SUBJECT);
  assert.match(m!.decoded, /It came after 3 failed attempts on your account since the sign-in before it\./);
  assert.doesNotMatch(m!.decoded, /device and network/);

  // Two failures, then the right password: routine.
  t.clock.advance(11 * 60);
  for (let i = 0; i < 2; i++) assert.equal((await signInFrom('tom', {}, 'Wrong-password-0000')).statusCode, 401);
  t.clock.advance(1);
  await signedIn('tom');
  assert.deepEqual(await newMails(address), []);

  // A first sign-in has nothing else to compare with, but its failures count.
  await createUser(t, admin, 'tia', PW, { email: 'tia@example.org' });
  for (let i = 0; i < 4; i++) assert.equal((await signInFrom('tia', {}, 'Wrong-password-0000')).statusCode, 401);
  await signedIn('tia');
  assert.deepEqual(
    (await newMails('tia@example.org')).map((x) => x.subject),
    [SUBJECT],
  );
});

test('a right password followed by a wrong second factor is told at once, at most once in 10 minutes [ASVS V6.3.5]', async () => {
  await createUser(t, admin, 'vic', PW, { email: 'vic@example.org' });
  const { secret } = await enrolTotp(t, (await login(t, 'vic', PW)).token);
  t.clock.advance(30);
  await newMails('vic@example.org');

  const d = await challenge(t, 'vic');
  assert.equal((await verify(t, d.challengeToken, 'totp', '000000')).statusCode, 401);
  const [m, ...more] = await newMails('vic@example.org');
  assert.equal(more.length, 0);
  assert.equal(m!.subject, 'Someone has your Palisade password');
  assert.match(m!.decoded, /with the right password, then failed to give your second factor\. The sign-in did not complete\./);
  assert.match(m!.decoded, /From the address: 127\.0\.0\.1/);
  // Bounded: the next wrong code is not told again within 10 minutes.
  assert.equal((await verify(t, d.challengeToken, 'totp', '000001')).statusCode, 401);
  assert.deepEqual(await newMails('vic@example.org'), []);
  // The right factor completes the sign-in, from the known client: nothing to tell (two failures are not three).
  assert.equal((await verify(t, d.challengeToken, 'totp', totp(t, secret))).statusCode, 200);
  assert.deepEqual(await newMails('vic@example.org'), []);
  t.clock.advance(11 * 60);
  const e = await challenge(t, 'vic');
  assert.equal((await verify(t, e.challengeToken, 'totp', '000002')).statusCode, 401);
  assert.deepEqual(
    (await newMails('vic@example.org')).map((x) => x.subject),
    ['Someone has your Palisade password'],
  );
});

test('an administrator may turn sign-in notices off (lockout.signInNotices, on by default) [ASVS V6.3.5]', async () => {
  const root = (await login(t)).token;
  const set = (on: boolean) => t.app.inject({ method: 'PATCH', url: '/api/admin/settings/lockout', headers: bearer(root), payload: { signInNotices: on } });
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/settings/lockout', headers: bearer(root) })).json().signInNotices, true);
  const address = await userWithHistory('wes');
  assert.equal((await set(false)).statusCode, 200);
  try {
    await signedIn('wes', { ua: FIREFOX, ip: '203.0.113.50' });
    assert.deepEqual(await newMails(address), []);
  } finally {
    assert.equal((await set(true)).statusCode, 200);
  }
});

test('a sign-in after more than 90 days without one is told; after 89 days it is not [ASVS V6.3.5]', async () => {
  const address = await userWithHistory('ulla');
  t.clock.advance(89 * 86400);
  await signedIn('ulla');
  assert.deepEqual(await newMails(address), []);
  t.clock.advance(91 * 86400);
  await signedIn('ulla');
  const [m, ...more] = await newMails(address);
  assert.equal(more.length, 0);
  assert.equal(m!.subject, SUBJECT);
  assert.match(m!.decoded, /It was the first sign-in in 91 days\./);
});

test('what a sign-in is compared by: the client family without versions, the /24 or /48 network', () => {
  assert.equal(clientFamily(FIREFOX), 'Firefox on Windows');
  assert.equal(clientFamily(FIREFOX.replaceAll('128.0', '131.0')), 'Firefox on Windows');
  assert.equal(
    clientFamily('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0'),
    'Edge on Windows',
  );
  assert.equal(
    clientFamily('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36'),
    'Chrome on Linux',
  );
  assert.equal(
    clientFamily('Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'),
    'Safari on iOS',
  );
  assert.equal(clientFamily('curl/8.8.0'), 'curl');
  assert.equal(clientFamily(''), 'an unknown client');
  assert.equal(networkOf('203.0.113.9'), '203.0.113.0/24');
  assert.equal(networkOf('::ffff:203.0.113.9'), '203.0.113.0/24');
  assert.equal(networkOf('2001:db8:a:b:c::1'), '2001:db8:a::/48');
  assert.equal(networkOf('not an address'), 'unknown');
  assert.equal(networkOf(null), 'unknown');
});
