import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, makeApp, type Res, type TestApp } from '../../helpers/app.js';
import { type TestSmtp, linkToken, useMailApp } from '../../helpers/smtp.js';

/**
 * Finding F2 (AUTH-8): the forgot-password limits hold under concurrent requests, on both dialects and across
 * two instances. Before, both were counted first and written afterwards, so PostgreSQL let a burst through
 * (31 mails where 3 were allowed, 33 requests where 5 were). Every answer stays 202 alike or 429 alike.
 */

let t: TestApp;
let smtp: TestSmtp;
let admin: string;
const PUBLIC_URL = 'https://palisade.example.org/';
/** The environment a second instance needs to share this one's mail and links. */
const env = () => ({ SMTP_URL: smtp.url, MAIL_FROM: 'Palisade <noreply@example.org>', PUBLIC_URL });

useMailApp(
  (app, token, server) => {
    t = app;
    admin = token;
    smtp = server;
  },
  { PUBLIC_URL },
);

const BURST = 60;
const forgot = (app: TestApp, email: string, ip: string) =>
  app.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { email }, remoteAddress: ip });

const settings = (payload: Record<string, number>) =>
  t.app.inject({ method: 'PATCH', url: '/api/admin/settings/password-reset', headers: bearer(admin), payload });

/** Mails to `address` that carry a link, once every background task has finished. */
async function linkMails(address: string, ...apps: TestApp[]) {
  for (const a of [t, ...apps]) await a.s.tasks.drain();
  return smtp.to(address).filter((m) => m.decoded.includes('#token='));
}

async function requested(subjectId: string | null, result: string): Promise<number> {
  await t.s.tasks.drain();
  const res = await t.app.inject({ method: 'GET', url: '/api/admin/security-events?type=password.reset_requested&limit=500', headers: bearer(admin) });
  assert.equal(res.statusCode, 200);
  const all: Array<Record<string, any>> = res.json().events;
  return all.filter((e) => e.details.result === result && (subjectId === null || e.subjectId === subjectId)).length;
}

async function resetLinks(userId: string): Promise<number> {
  const rows = await t.s.db.selectFrom('password_tokens').select('id').where('user_id', '=', userId).where('kind', '=', 'reset').execute();
  return rows.length;
}

/** What a client sees of an answer, minus what differs on every response. */
function observable(r: Res) {
  const { date: _d, 'x-request-id': _id, ...rest } = r.headers;
  const headers = Object.fromEntries(Object.entries(rest).filter(([k]) => !k.startsWith('ratelimit-')));
  return { status: r.statusCode, body: r.body, headers };
}

function statuses(rs: Res[]): Record<number, number> {
  const m: Record<number, number> = {};
  for (const r of rs) m[r.statusCode] = (m[r.statusCode] ?? 0) + 1;
  return m;
}

test(`${BURST} concurrent forgot requests for one account send forgotPerAccount mails, no more, and the user can reset`, async () => {
  const id = await createUser(t, admin, 'rush', 'Quiet-meadow-2931', { email: 'rush@example.org' });
  // From as many addresses, so that only the per-account limit (3 an hour, the default) is in play.
  const rs = await Promise.all(Array.from({ length: BURST }, (_, i) => forgot(t, 'rush@example.org', `203.0.113.${i + 1}`)));
  assert.deepEqual(statuses(rs), { 202: BURST });
  for (const r of rs) assert.deepEqual(observable(r), observable(rs[0]!), 'every answer alike');

  const mails = await linkMails('rush@example.org');
  assert.equal(mails.length, 3, 'exactly the limit: the first requests got their mail, no more');
  assert.equal(await resetLinks(id), 3);
  assert.equal(await requested(id, 'mail'), 3);
  assert.equal(await requested(id, 'account_throttled'), BURST - 3);

  // The newest link voided the others; the user resets with it.
  const outcomes = [];
  for (const m of mails) {
    const r = await t.app.inject({ method: 'POST', url: '/api/auth/password/reset', payload: { token: linkToken(m), newPassword: 'Amber-harbour-8842' } });
    outcomes.push(r.statusCode);
  }
  assert.equal(outcomes.filter((s) => s === 204).length, 1, `one live link: ${outcomes}`);
});

test(`${BURST} concurrent forgot requests from one address: forgotPerIp are accepted (and mailed), the rest answer 429`, async () => {
  await settings({ forgotPerIp: 5, forgotPerAccount: 100 });
  try {
    const id = await createUser(t, admin, 'flood', 'Quiet-meadow-2931', { email: 'flood@example.org' });
    const rs = await Promise.all(Array.from({ length: BURST }, () => forgot(t, 'flood@example.org', '198.51.100.77')));
    assert.deepEqual(statuses(rs), { 202: 5, 429: BURST - 5 });
    const refused = rs.filter((r) => r.statusCode === 429);
    for (const r of refused) assert.deepEqual(observable(r), observable(refused[0]!));
    // The accepted ones did their work: the account's limit is high, so each mailed a link.
    assert.equal((await linkMails('flood@example.org')).length, 5);
    assert.equal(await resetLinks(id), 5);
    // Another address is not affected.
    assert.equal((await forgot(t, 'flood@example.org', '198.51.100.78')).statusCode, 202);
  } finally {
    await settings({ forgotPerIp: 20, forgotPerAccount: 3 });
  }
});

test('both limits hold across two instances', async () => {
  await settings({ forgotPerIp: 5 });
  const peer = await makeApp({ peerOf: t, env: env() });
  try {
    const id = await createUser(t, admin, 'twin', 'Quiet-meadow-2931', { email: 'twin@example.org' });
    const perAccount = await Promise.all(Array.from({ length: BURST }, (_, i) => forgot(i % 2 === 0 ? t : peer, 'twin@example.org', `192.0.2.${i + 1}`)));
    assert.deepEqual(statuses(perAccount), { 202: BURST });
    assert.equal((await linkMails('twin@example.org', peer)).length, 3);
    assert.equal(await resetLinks(id), 3);

    const perIp = await Promise.all(Array.from({ length: BURST }, (_, i) => forgot(i % 2 === 0 ? t : peer, `nobody-${i}@example.org`, '198.51.100.99')));
    assert.deepEqual(statuses(perIp), { 202: 5, 429: BURST - 5 });
    await peer.s.tasks.drain();
  } finally {
    await peer.close();
    await settings({ forgotPerIp: 20 });
  }
});
