// EDGE-4, issue 14 (D451): a request past its budget is answered after `rateLimits.refusalDelay`, so that a client
// flooding over a few connections waits for each refusal; held refusals are bounded per address and in all, past
// which they are answered at once and their connection closed. Bug classes: a flood that costs the server as much as
// the readers it slows; a hold that an attacker turns into unbounded open requests; a hold that delays other clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearer, login, makeApp, type TestApp, useApp } from '../helpers/app.js';
import { HOLD_MAX_PER_SUBJECT } from '../../src/edge/refusal-delay.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  { realRateLimits: true, refusalDelay: 400 },
  true,
);

const limits = (body: Record<string, number>) =>
  t.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(admin), payload: body });
/** An anonymous read (401 within the budget, 429 past it): the address's read budget is taken before authentication. */
const read = (ip: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', remoteAddress: ip });

test('a read past its budget waits the refusal delay for its 429, while another address is answered meanwhile [ASVS V2.4.1]', async () => {
  assert.equal((await limits({ readPerIp: 2, refusalDelay: 400 })).statusCode, 200);
  for (let i = 0; i < 2; i++) assert.equal((await read('198.51.100.7')).statusCode, 401);
  const started = Date.now();
  let answered = false;
  const held = read('198.51.100.7').then((r) => {
    answered = true;
    return r;
  });
  // The legitimate client, within its own budget, is served while the flooder's refusal is held.
  const other = await read('203.0.113.9');
  assert.equal(other.statusCode, 401, other.body);
  assert.equal(answered, false, 'the refusal is still held');
  assert.equal(t.s.rateLimiter.delay.holding, 1);
  const r = await held;
  assert.equal(r.statusCode, 429);
  assert.equal(r.json().error.code, 'RATE_LIMITED');
  assert.ok(Date.now() - started >= 390, `held ${Date.now() - started} ms`);
  assert.ok(Number(r.headers['retry-after']) >= 1);
  assert.notEqual(r.headers.connection, 'close', 'a held refusal keeps its connection');
  assert.equal(t.s.rateLimiter.delay.holding, 0);
});

test(`past ${HOLD_MAX_PER_SUBJECT} held refusals of one address the others are answered at once and their connection closed [ASVS V2.4.1]`, async () => {
  assert.equal((await limits({ readPerIp: 1, refusalDelay: 1500 })).statusCode, 200);
  assert.equal((await read('198.51.100.8')).statusCode, 401);
  const extra = 6;
  const pending = Array.from({ length: HOLD_MAX_PER_SUBJECT + extra }, () => read('198.51.100.8'));
  // The ones past the bound come back while the others are still held.
  const first = await Promise.race(pending);
  assert.equal(first.statusCode, 429);
  assert.equal(first.headers.connection, 'close');
  assert.equal(t.s.rateLimiter.delay.holding, HOLD_MAX_PER_SUBJECT, 'the bound, no more');
  // Another address is neither held nor refused: the bound is per address.
  assert.equal((await read('203.0.113.10')).statusCode, 401);
  const all = await Promise.all(pending);
  assert.ok(all.every((r) => r.statusCode === 429));
  assert.equal(all.filter((r) => r.headers.connection === 'close').length, extra);
  assert.equal(t.s.rateLimiter.delay.holding, 0);
});

test('with a refusal delay of 0 a refusal is not held [ASVS V2.4.1]', async () => {
  assert.equal((await limits({ readPerIp: 1, refusalDelay: 0 })).statusCode, 200);
  assert.equal((await read('198.51.100.9')).statusCode, 401);
  const pending = read('198.51.100.9');
  assert.equal(t.s.rateLimiter.delay.holding, 0);
  const r = await pending;
  assert.equal(r.statusCode, 429);
  assert.notEqual(r.headers.connection, 'close');
});

test('the delay is a setting with bounds: above 10 s is refused [ASVS V2.4.1]', async () => {
  const r = await limits({ refusalDelay: 10_001 });
  assert.equal(r.statusCode, 400, r.body);
  assert.equal((await limits({ refusalDelay: 10_000 })).statusCode, 200);
});

/** A GET over a real connection from this process (127.0.0.1), with its socket. */
function realRead(port: number): { answer: Promise<http.IncomingMessage>; req: http.ClientRequest } {
  const req = http.request({ host: '127.0.0.1', port, path: '/api/auth/me', agent: new http.Agent({ keepAlive: true }) });
  const answer = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', (res) => {
      res.resume();
      resolve(res);
    });
    req.once('error', reject);
  });
  req.end();
  return { answer, req };
}

const until = async (what: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; !what(); ) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
};

test('a client that hangs up frees its held slot at once, and a refusal past the bound closes the connection [ASVS V2.4.1]', async () => {
  // The addresses' budgets are keyed by 127.0.0.1 here: the admin's own requests are injected from it too, so they go first.
  assert.equal((await limits({ readPerIp: 1, refusalDelay: 10_000 })).statusCode, 200);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = t.app.server.address() as AddressInfo;
  assert.equal((await realRead(port).answer).statusCode, 401);
  const held = realRead(port);
  held.answer.catch(() => undefined);
  assert.ok(await until(() => t.s.rateLimiter.delay.holding === 1, 5000), 'held');
  held.req.destroy();
  assert.ok(await until(() => t.s.rateLimiter.delay.holding === 0, 5000), 'the slot was freed when the client hung up, long before the delay');
  // Past the bound (a delay of 10 s keeps 64 held), the answer comes at once and the server closes the connection.
  const pending = Array.from({ length: HOLD_MAX_PER_SUBJECT }, () => realRead(port));
  for (const p of pending) p.answer.catch(() => undefined);
  assert.ok(await until(() => t.s.rateLimiter.delay.holding === HOLD_MAX_PER_SUBJECT, 5000));
  const past = realRead(port);
  const res = await past.answer;
  assert.equal(res.statusCode, 429);
  assert.equal(res.headers.connection, 'close');
  assert.ok(await until(() => past.req.socket?.destroyed === true, 5000), 'the server closed the connection');
  for (const p of pending) p.req.destroy();
  assert.ok(await until(() => t.s.rateLimiter.delay.holding === 0, 5000));
});

test('closing the server answers held refusals at once, with their connection closed [ASVS V2.4.1]', async () => {
  const own = await makeApp({ realRateLimits: true, refusalDelay: 10_000 });
  let closed = false;
  try {
    const token = (await login(own)).token;
    const set = await own.app.inject({ method: 'PATCH', url: '/api/admin/settings/rate-limits', headers: bearer(token), payload: { readPerIp: 1 } });
    assert.equal(set.statusCode, 200, set.body);
    assert.equal((await own.app.inject({ method: 'GET', url: '/api/auth/me', remoteAddress: '198.51.100.20' })).statusCode, 401);
    const held = own.app.inject({ method: 'GET', url: '/api/auth/me', remoteAddress: '198.51.100.20' });
    assert.ok(await until(() => own.s.rateLimiter.delay.holding === 1, 5000));
    const closing = Date.now();
    await own.close();
    closed = true;
    const r = await held;
    // Had the hold run its 10 s, the answer would have come at the end of it.
    assert.ok(Date.now() - closing < 5000, `answered ${Date.now() - closing} ms after close began, not at the end of the delay`);
    assert.equal(r.statusCode, 429);
    assert.equal(r.headers.connection, 'close');
    assert.equal(own.s.rateLimiter.delay.holding, 0);
  } finally {
    if (!closed) await own.close();
  }
});

test('a refused upload is answered with its connection closed, held or not: its body is not read to the end [ASVS V2.4.1]', async () => {
  assert.equal((await limits({ uploadBytesPerIp: 1000, uploadPerIp: 100, refusalDelay: 200 })).statusCode, 200);
  await t.s.rateLimiter.consume('upload', 'ip', '192.0.2.90', 600);
  const refusal = await t.s.rateLimiter.consume('upload', 'ip', '192.0.2.90', 600).then(
    () => null,
    (e: { code?: string; headers?: Record<string, string> }) => e,
  );
  assert.equal(refusal?.code, 'RATE_LIMITED');
  assert.equal(refusal?.headers?.connection, 'close');
});
