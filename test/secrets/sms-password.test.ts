// The SMS gateway password in the secret store (DATA-1): `sms.kannelPassword`, looked up at each send, wins
// over SMS_KANNEL_PASSWORD, which keeps working while none is stored; an unreadable one fails closed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearer, login, makeApp } from '../helpers/app.js';
import { createSmsChannel, SMS_PASSWORD_SECRET, type SmsConfig } from '../../src/sms/index.js';
import { AppError } from '../../src/errors.js';

/** A sendsms endpoint that records the password of each request and answers 202. */
const seen: string[] = [];
let server: Server;
let url = '';
before(async () => {
  server = createServer((req, res) => {
    seen.push(new URL(req.url ?? '/', 'http://x').searchParams.get('password') ?? '');
    res.writeHead(202).end('0: Accepted for delivery');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cgi-bin/sendsms`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const config = (password: string): SmsConfig => ({ kannel: { url, username: 'palisade', password, tls: null }, from: null, timeoutMs: 2000 });

test('the stored password wins over the env one; the env one is used while none is stored; none at all fails closed', async () => {
  let stored: { state: 'set'; value: string } | { state: 'unset' } | { state: 'unreadable' } = { state: 'unset' };
  const channel = createSmsChannel(config('from-env'), async () => stored)!;
  await channel.send('+4512340001', 'Code 1');
  assert.equal(seen.at(-1), 'from-env');
  stored = { state: 'set', value: 'from-the-store' };
  await channel.send('+4512340001', 'Code 2');
  assert.equal(seen.at(-1), 'from-the-store');
  const before = seen.length;
  stored = { state: 'unreadable' };
  await assert.rejects(channel.send('+4512340001', 'Code 3'), (e: unknown) => e instanceof AppError && e.code === 'SMS_UNAVAILABLE');
  const bare = createSmsChannel(config(''), async () => ({ state: 'unset' }))!;
  await assert.rejects(bare.send('+4512340001', 'Code 4'), (e: unknown) => e instanceof AppError && e.code === 'SMS_UNAVAILABLE');
  assert.equal(seen.length, before, 'nothing was sent without a usable password');
});

test('a deployment with a gateway lists sms.kannelPassword on the Secrets screen; the store feeds the channel', async () => {
  const t = await makeApp({ env: { SMS_KANNEL_URL: url, SMS_KANNEL_USER: 'palisade' } });
  try {
    const admin = (await login(t)).token;
    const list = await t.app.inject({ method: 'GET', url: '/api/admin/secrets', headers: bearer(admin) });
    const row = list.json().secrets.find((s: { name: string }) => s.name === SMS_PASSWORD_SECRET);
    assert.equal(row.set, false);
    assert.match(row.usedBy, /SMS gateway/);
    const put = await t.app.inject({
      method: 'PUT',
      url: `/api/admin/secrets/${SMS_PASSWORD_SECRET}`,
      headers: bearer(admin),
      payload: { value: 'gateway-pw-in-store' },
    });
    assert.equal(put.statusCode, 200);
    // The same lookup services.ts gives the channel.
    const channel = createSmsChannel(t.s.config.sms, () => t.s.secrets.resolve(SMS_PASSWORD_SECRET))!;
    await channel.send('+4512340002', 'Code 5');
    assert.equal(seen.at(-1), 'gateway-pw-in-store');
    assert.equal(t.logs.join('\n').includes('gateway-pw-in-store'), false);
  } finally {
    await t.close();
  }
});
